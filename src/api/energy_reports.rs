//! A park's energy reports: listed, and submitted over HTTP by the park itself (or the bureau),
//! validated exactly as the MQTT energy topic is.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::extract::{Body, Caller, Path};
use super::parks::visible_park;
use super::AppState;
use crate::domain::{EnergyPayloadError, EnergyReport, ParkId};
use crate::store::api_queries::{self, EnergyReportRow};

/// A park's energy reports, oldest period first.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportList {
    pub park_id: String,
    pub reports: Vec<EnergyReportRow>,
}

/// `GET /api/v1/parks/{park}/energy-reports`.
#[utoipa::path(
    get,
    path = "/parks/{park}/energy-reports",
    operation_id = "list_energy_reports",
    tag = "energy",
    summary = "The park's energy reports",
    params(("park" = String, Path, description = "Park id")),
    security(("bearer" = [])),
    extensions(("x-access" = json!("park_scoped"))),
    responses(
        (status = 200, description = "The park's reports", body = ReportList),
        (status = 401, description = "No token, or an unknown, revoked or expired one", body = ErrorBody),
        (status = 404, description = "Unknown park, or another park's (park tokens)", body = ErrorBody),
        (status = 500, description = "Database failure", body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(park): Path<String>,
) -> Result<axum::Json<ReportList>, ApiError> {
    visible_park(&state, &caller, &park).await?;
    let reports = api_queries::energy_reports(&state.read, &park).await?;
    Ok(axum::Json(ReportList {
        park_id: park,
        reports,
    }))
}

/// An energy report of one period, as over MQTT.
// The handler parses the bytes with `EnergyReport::from_json` (the MQTT topic's parser); this
// type is the payload's schema in the document, and a test checks that the parser accepts what
// it describes.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = EnergyReport)]
pub struct EnergyReportBody {
    /// `2018-03` (month), `2018-Q1` (quarter) or `2018` (year).
    pub period: String,
    /// Energy consumed, tonnes of standard coal equivalent, ≥ 0.
    #[schema(minimum = 0.0)]
    pub energy_tce: f64,
    /// Industrial value added at current prices, 10,000 yuan, > 0.
    #[schema(exclusive_minimum = 0.0)]
    pub value_added_10k_yuan: f64,
    /// Price index relative to the park's baseline year, > 0 (default 1).
    #[schema(exclusive_minimum = 0.0, default = 1.0)]
    pub price_index: Option<f64>,
}

/// The stored report, as submitted.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubmittedReport {
    pub park_id: String,
    pub period: String,
    pub energy_tce: f64,
    pub value_added_10k_yuan: f64,
    pub price_index: f64,
    /// Always `api`.
    pub source: &'static str,
}

/// `POST /api/v1/parks/{park}/energy-reports` with the MQTT payload:
/// `{"period": "2018-03", "energy_tce": …, "value_added_10k_yuan": …, "price_index": …}`.
/// A later report for the same period replaces the earlier one.
#[utoipa::path(
    post,
    path = "/parks/{park}/energy-reports",
    operation_id = "submit_energy_report",
    tag = "energy",
    summary = "Submit an energy report (a park may submit its own)",
    description = "A later report for the same period replaces the earlier one.",
    params(("park" = String, Path, description = "Park id")),
    request_body = EnergyReportBody,
    security(("bearer" = [])),
    extensions(("x-access" = json!("park_scoped"))),
    responses(
        (status = 201, description = "The report, stored", body = SubmittedReport),
        (status = 400, description = "The body is not JSON, or a malformed park id", body = ErrorBody),
        (status = 401, description = "No token, or an unknown, revoked or expired one", body = ErrorBody),
        (status = 404, description = "Unknown park, or another park's (park tokens)", body = ErrorBody),
        (status = 422, description = "Unknown fields, a bad period or out-of-range values", body = ErrorBody),
        (status = 500, description = "Database failure", body = ErrorBody),
    )
)]
pub async fn submit(
    State(state): State<AppState>,
    caller: Caller,
    Path(park): Path<String>,
    Body(body): Body,
) -> Result<(StatusCode, axum::Json<SubmittedReport>), ApiError> {
    visible_park(&state, &caller, &park).await?;
    let id = ParkId::parse(&park).map_err(|e| ApiError::Unprocessable(e.to_string()))?;
    let report = EnergyReport::from_json(id, &body).map_err(|e| match e {
        EnergyPayloadError::Json(_) => ApiError::BadRequest(e.to_string()),
        other => ApiError::Unprocessable(other.to_string()),
    })?;
    api_queries::submit_energy_report(&state.pool, &report).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(SubmittedReport {
            park_id: park,
            period: report.period.to_string(),
            energy_tce: report.energy_tce,
            value_added_10k_yuan: report.value_added_10k_yuan,
            price_index: report.price_index,
            source: "api",
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The documented payload is what the parser reads: every documented field is accepted, the
    /// optional one may be left out, and nothing else is.
    #[test]
    fn the_documented_payload_parses() {
        let park = ParkId::parse("park-a").unwrap();
        let full = EnergyReportBody {
            period: "2018-Q1".into(),
            energy_tce: 10.0,
            value_added_10k_yuan: 20.0,
            price_index: Some(1.1),
        };
        let bytes = serde_json::to_vec(&full).unwrap();
        let report = EnergyReport::from_json(park.clone(), &bytes).unwrap();
        assert_eq!(report.price_index, 1.1);
        let bare = serde_json::to_vec(&EnergyReportBody {
            price_index: None,
            ..full
        })
        .unwrap();
        assert_eq!(
            EnergyReport::from_json(park.clone(), &bare)
                .unwrap()
                .price_index,
            1.0
        );
        let extra = br#"{"period": "2018", "energy_tce": 1, "value_added_10k_yuan": 2, "x": 1}"#;
        assert!(EnergyReport::from_json(park, extra).is_err());
    }
}
