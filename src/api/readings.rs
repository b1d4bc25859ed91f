//! Readings of one point and pollutant over a range: raw readings for ranges up to
//! `http.raw_max_hours`, hourly rollups (`readings_hourly`) beyond, so a 30-day chart reads 720
//! rows, not 43,200.

use axum::extract::State;
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use super::compliance::time_range;
use super::error::ApiError;
use super::extract::{Caller, Path, Query};
use super::parks::visible_park;
use super::AppState;
use crate::domain::PollutantCode;
use crate::store::api_queries;

/// Most raw readings one page holds.
pub const MAX_RAW_ROWS: i64 = 10_000;

/// `raw`, `hour`, or `auto` (raw for short ranges).
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Resolution {
    #[default]
    Auto,
    Raw,
    Hour,
}

/// Query of a readings request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadingsQuery {
    /// HJ 212-2017 code or alias (cod, nh3n, tp, tn, ph, flow).
    pub pollutant: String,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    #[serde(default)]
    pub resolution: Resolution,
    /// Raw rows per page (at most 10,000).
    pub limit: Option<i64>,
}

/// `GET /api/v1/parks/{park}/points/{point}/readings?pollutant=&from=&to=&resolution=&limit=`
/// (default: the last 24 hours).
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path((park, point)): Path<(String, String)>,
    Query(q): Query<ReadingsQuery>,
) -> Result<axum::Json<Value>, ApiError> {
    visible_park(&state, &caller, &park).await?;
    if api_queries::point_park(&state.pool, &point)
        .await?
        .as_deref()
        != Some(park.as_str())
    {
        return Err(ApiError::NotFound(format!(
            "point {point:?} not found in park {park:?}"
        )));
    }
    let pollutant =
        PollutantCode::parse(&q.pollutant).map_err(|e| ApiError::Unprocessable(e.to_string()))?;
    let (from, to) = time_range(&state, q.from, q.to, Duration::hours(24))?;
    let raw_max = Duration::hours(state.limits.raw_max_hours);
    let raw = match q.resolution {
        Resolution::Raw if to - from > raw_max => {
            return Err(ApiError::Unprocessable(format!(
                "raw readings are served for ranges up to {} hours; use resolution=hour",
                state.limits.raw_max_hours
            )))
        }
        Resolution::Raw => true,
        Resolution::Hour => false,
        Resolution::Auto => to - from <= raw_max,
    };
    let head = json!({
        "park_id": park, "point_id": point, "pollutant": pollutant.as_str(),
        "from": from, "to": to,
    });
    let body = if raw {
        let limit = q.limit.unwrap_or(MAX_RAW_ROWS);
        if !(1..=MAX_RAW_ROWS).contains(&limit) {
            return Err(ApiError::Unprocessable(format!(
                "limit must be 1 to {MAX_RAW_ROWS}"
            )));
        }
        let mut rows =
            api_queries::raw_readings(&state.pool, &point, pollutant.as_str(), from, to, limit)
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
        json!({ "resolution": "raw", "readings": rows, "next_from": next_from })
    } else {
        let rows =
            api_queries::hourly_readings(&state.pool, &point, pollutant.as_str(), from, to).await?;
        json!({ "resolution": "hour", "readings": rows, "next_from": null })
    };
    let mut out = head;
    if let (Some(o), Value::Object(b)) = (out.as_object_mut(), body) {
        o.extend(b);
    }
    Ok(axum::Json(out))
}
