//! A park's energy reports: listed, and submitted over HTTP by the park itself (or the bureau),
//! validated exactly as the MQTT energy topic is.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{json, Value};

use super::error::ApiError;
use super::extract::{Caller, Path};
use super::parks::visible_park;
use super::AppState;
use crate::domain::{EnergyPayloadError, EnergyReport, ParkId};
use crate::store::api_queries;

/// `GET /api/v1/parks/{park}/energy-reports`.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(park): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    visible_park(&state, &caller, &park).await?;
    let reports = api_queries::energy_reports(&state.pool, &park).await?;
    Ok(axum::Json(json!({ "park_id": park, "reports": reports })))
}

/// `POST /api/v1/parks/{park}/energy-reports` with the MQTT payload:
/// `{"period": "2018-03", "energy_tce": …, "value_added_10k_yuan": …, "price_index": …}`.
/// A later report for the same period replaces the earlier one.
pub async fn submit(
    State(state): State<AppState>,
    caller: Caller,
    Path(park): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, axum::Json<Value>), ApiError> {
    visible_park(&state, &caller, &park).await?;
    let id = ParkId::parse(&park).map_err(|e| ApiError::Unprocessable(e.to_string()))?;
    let report = EnergyReport::from_json(id, &body).map_err(|e| match e {
        EnergyPayloadError::Json(_) => ApiError::BadRequest(e.to_string()),
        other => ApiError::Unprocessable(other.to_string()),
    })?;
    api_queries::submit_energy_report(&state.pool, &report).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({
            "park_id": park,
            "period": report.period.to_string(),
            "energy_tce": report.energy_tce,
            "value_added_10k_yuan": report.value_added_10k_yuan,
            "price_index": report.price_index,
            "source": "api",
        })),
    ))
}
