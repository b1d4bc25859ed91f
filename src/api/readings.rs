//! Readings of one point and pollutant over a range: raw readings for ranges up to
//! `http.raw_max_hours`, hourly rollups (`readings_hourly`) beyond, so a 30-day chart reads 720
//! rows, not 43,200.

use axum::extract::State;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::compliance::time_range;
use super::error::{ApiError, ErrorBody};
use super::extract::{Caller, Path, Query};
use super::{params, AppState};
use crate::store::api_queries::{self, HourlyReading, RawReading};

/// Most raw readings one page holds.
pub const MAX_RAW_ROWS: i64 = 10_000;

/// `raw`, `hour`, or `auto` (raw for short ranges).
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Resolution {
    #[default]
    Auto,
    Raw,
    Hour,
}

/// Query of a readings request.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReadingsQuery {
    /// HJ 212-2017 code or alias (cod, nh3n, tp, tn, ph, flow).
    pub pollutant: String,
    /// Range start (RFC 3339; default: 24 hours before `to`).
    pub from: Option<DateTime<Utc>>,
    /// Range end, exclusive (RFC 3339; default: now).
    pub to: Option<DateTime<Utc>>,
    /// `auto` (default: raw up to `http.raw_max_hours`, hourly beyond), `raw` or `hour`.
    #[serde(default)]
    #[param(inline)]
    pub resolution: Resolution,
    /// Raw rows per page, 1 to 10,000 (default 10,000); a full page gives `next_from`.
    pub limit: Option<i64>,
}

/// `GET /api/v1/parks/{park}/points/{point}/readings?pollutant=&from=&to=&resolution=&limit=`
/// (default: the last 24 hours).
#[utoipa::path(
    get,
    path = "/parks/{park}/points/{point}/readings",
    operation_id = "get_readings",
    tag = "readings",
    summary = "Readings of a point and pollutant: raw for short ranges, hourly rollups for long ones",
    params(
        ("park" = String, Path, description = "Park id"),
        ("point" = String, Path, description = "Monitoring point id"),
        ReadingsQuery,
    ),
    security(("bearer" = [])),
    extensions(("x-access" = json!("park_scoped"))),
    responses(
        (status = 200, description = "Raw readings (`resolution` raw) or hourly rollups (`resolution` hour)", body = ReadingsAnswer),
        (status = 400, description = "Malformed query string (e.g. no `pollutant`), a malformed park, point or pollutant id, or a time outside 2000 to 2100", body = ErrorBody),
        (status = 401, description = "No token, or an unknown, revoked or expired one", body = ErrorBody),
        (status = 404, description = "Unknown park or point, or another park's (park tokens)", body = ErrorBody),
        (status = 422, description = "Unknown pollutant, bad range or limit, raw over a too long range", body = ErrorBody),
        (status = 500, description = "Database failure", body = ErrorBody),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path((park, point)): Path<(String, String)>,
    Query(q): Query<ReadingsQuery>,
) -> Result<axum::Json<ReadingsAnswer>, ApiError> {
    // Every parameter is checked before the first query.
    caller.may_read(&park)?;
    params::point(&point)?;
    let pollutant = params::pollutant(&q.pollutant)?;
    let (from, to) = time_range(&state, q.from, q.to, Duration::hours(24))?;
    // The point's own park decides: one query answers both "is the park visible" and "is the
    // point in it".
    if api_queries::point_park(&state.read, &point)
        .await?
        .as_deref()
        != Some(park.as_str())
    {
        return Err(ApiError::NotFound(format!(
            "point {point:?} not found in park {park:?}"
        )));
    }
    let raw_max = Duration::try_hours(state.limits.raw_max_hours).unwrap_or(Duration::MAX);
    // Both ends lie in 2000 to 2100 (`time_range`): the span cannot overflow.
    let span = to.signed_duration_since(from);
    let raw = match q.resolution {
        Resolution::Raw if span > raw_max => {
            return Err(ApiError::Unprocessable(format!(
                "raw readings are served for ranges up to {} hours; use resolution=hour",
                state.limits.raw_max_hours
            )))
        }
        Resolution::Raw => true,
        Resolution::Hour => false,
        Resolution::Auto => span <= raw_max,
    };
    let rows = if raw {
        let limit = q.limit.unwrap_or(MAX_RAW_ROWS);
        if !(1..=MAX_RAW_ROWS).contains(&limit) {
            return Err(ApiError::Unprocessable(format!(
                "limit must be 1 to {MAX_RAW_ROWS}"
            )));
        }
        let mut rows =
            api_queries::raw_readings(&state.read, &point, pollutant.as_str(), from, to, limit)
                .await?;
        // A full page continues at the time of its last row; rows at that instant are left to
        // the next page, so no reading is skipped or repeated.
        let next_from = if rows.len() as i64 == limit {
            let last = rows.last().map(|r| r.time);
            let keep = rows.iter().filter(|r| Some(r.time) != last).count();
            if keep > 0 {
                rows.truncate(keep);
                last
            } else {
                // A whole page at one instant cannot be split by time.
                None
            }
        } else {
            None
        };
        Rows::Raw {
            readings: rows,
            next_from,
        }
    } else {
        Rows::Hour {
            readings: api_queries::hourly_readings(
                &state.read,
                &point,
                pollutant.as_str(),
                from,
                to,
            )
            .await?,
            next_from: None,
        }
    };
    Ok(axum::Json(ReadingsAnswer {
        park_id: park,
        point_id: point,
        pollutant: pollutant.as_str().to_string(),
        from,
        to,
        rows,
    }))
}

/// Readings of one point and pollutant in `[from, to)`.
// Serialised straight from the rows (a 30-day answer is 720 of them).
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadingsAnswer {
    park_id: String,
    point_id: String,
    /// HJ 212-2017 code (aliases are resolved).
    pollutant: String,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    #[serde(flatten)]
    rows: Rows,
}

/// Raw readings or hourly rollups, tagged by `resolution`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ReadingRows)]
#[serde(tag = "resolution", rename_all = "lowercase")]
enum Rows {
    Raw {
        readings: Vec<RawReading>,
        /// Where the next page starts, when this one is full.
        next_from: Option<DateTime<Utc>>,
    },
    Hour {
        readings: Vec<HourlyReading>,
        /// Always null: hourly answers are bounded by `http.max_range_days`.
        next_from: Option<DateTime<Utc>>,
    },
}
