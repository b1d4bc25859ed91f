//! Compliance views over the engine in `compliance::service`: the bureau summary, a park's
//! monitoring rate now, its daily data rates over a date range, its exceedance episodes and its
//! energy intensity against the required path.

use axum::extract::State;
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::ApiError;
use super::extract::{not_found_park, Caller, Path, Query};
use super::parks::visible_park;
use super::AppState;
use crate::compliance::service;

/// `GET /api/v1/compliance`: the bureau's overview (a park token sees its own row only).
pub async fn summary(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<axum::Json<Value>, ApiError> {
    let rows = service::bureau_summary(&state.pool, state.tz, Utc::now()).await?;
    let parks: Vec<_> = rows
        .into_iter()
        .filter(|r| caller.scope().is_none_or(|p| p == r.park_id))
        .collect();
    Ok(axum::Json(json!({ "parks": parks })))
}

/// `GET /api/v1/parks/{park}/compliance`: monitoring rate and point statuses now.
pub async fn now(
    State(state): State<AppState>,
    caller: Caller,
    Path(park): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    // The engine reads the park itself: an unknown park comes back empty (one query fewer than
    // checking first; this is the endpoint a park's dashboard polls).
    caller.may_read(&park)?;
    let now = service::parks_now(&state.pool, Some(&park), Utc::now()).await?;
    let park_now = now
        .into_iter()
        .next()
        .ok_or_else(|| not_found_park(&park))?;
    Ok(axum::Json(json!(park_now)))
}

/// A date range of local days, both ends included.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaysQuery {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

/// `GET /api/v1/parks/{park}/compliance/rates?from=YYYY-MM-DD&to=YYYY-MM-DD`: daily
/// transmission, valid and effective transmission rates (default: today).
pub async fn rates(
    State(state): State<AppState>,
    caller: Caller,
    Path(park): Path<String>,
    Query(q): Query<DaysQuery>,
) -> Result<axum::Json<Value>, ApiError> {
    visible_park(&state, &caller, &park).await?;
    let now = Utc::now();
    let today = now.with_timezone(&state.tz).date_naive();
    let to = q.to.unwrap_or(today);
    let from = q.from.unwrap_or(to);
    if from > to {
        return Err(ApiError::Unprocessable("from is after to".into()));
    }
    if (to - from).num_days() >= state.limits.max_range_days {
        return Err(too_long(state.limits.max_range_days));
    }
    let rates = service::rates(&state.pool, state.tz, Some(&park), from, to, now).await?;
    Ok(axum::Json(json!(rates.into_iter().next())))
}

/// An instant range.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeQuery {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// `[from, to)` of a query: `to` defaults to now, `from` to `default_span` before `to`.
///
/// # Errors
/// 422 when `from` is not before `to` or the range exceeds `http.max_range_days`.
pub fn time_range(
    state: &AppState,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    default_span: Duration,
) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
    let to = to.unwrap_or_else(Utc::now);
    let from = from.unwrap_or(to - default_span);
    if from >= to {
        return Err(ApiError::Unprocessable("from must be before to".into()));
    }
    if to - from > Duration::days(state.limits.max_range_days) {
        return Err(too_long(state.limits.max_range_days));
    }
    Ok((from, to))
}

fn too_long(days: i64) -> ApiError {
    ApiError::Unprocessable(format!("the range may span at most {days} days"))
}

/// `GET /api/v1/parks/{park}/exceedances?from=&to=`: exceedance episodes (hourly valid average
/// outside the limits) overlapping the range (default: the last 7 days).
pub async fn exceedances(
    State(state): State<AppState>,
    caller: Caller,
    Path(park): Path<String>,
    Query(q): Query<TimeQuery>,
) -> Result<axum::Json<Value>, ApiError> {
    visible_park(&state, &caller, &park).await?;
    let (from, to) = time_range(&state, q.from, q.to, Duration::days(7))?;
    let list = service::exceedances(&state.pool, Some(&park), from, to, Utc::now()).await?;
    Ok(axum::Json(
        json!({ "park_id": park, "from": from, "to": to, "exceedances": list }),
    ))
}

/// A year.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct YearQuery {
    pub year: Option<i32>,
}

/// `GET /api/v1/parks/{park}/energy?year=`: energy intensity, reduction and the required path
/// (default: the current year, to date).
pub async fn energy(
    State(state): State<AppState>,
    caller: Caller,
    Path(park): Path<String>,
    Query(q): Query<YearQuery>,
) -> Result<axum::Json<Value>, ApiError> {
    visible_park(&state, &caller, &park).await?;
    let today = Utc::now().with_timezone(&state.tz).date_naive();
    let year = q.year.unwrap_or(today.year());
    if !(1990..=2100).contains(&year) {
        return Err(ApiError::Unprocessable("year must be 1990 to 2100".into()));
    }
    let year_end = NaiveDate::from_ymd_opt(year + 1, 1, 1).unwrap_or(today);
    let energy = service::energy(&state.pool, Some(&park), year, today.min(year_end)).await?;
    Ok(axum::Json(json!(energy.into_iter().next())))
}
