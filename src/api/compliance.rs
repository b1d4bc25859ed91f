//! Compliance views over the engine in `compliance::service`: the bureau summary, a park's
//! monitoring rate now, its daily data rates over a date range, its exceedance episodes and its
//! energy intensity against the required path.

use axum::extract::State;
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::extract::{not_found_park, Caller, Path, Query};
use super::parks::visible_park;
use super::{params, AppState};
use crate::compliance::energy::EnergyStatus;
use crate::compliance::report::{self, MonthlyReport};
use crate::compliance::service::{
    self, Evaluated, Exceedance, ParkEnergy, ParkNow, ParkRates, ParkSummary,
};
use crate::domain::limits::earliest_time;

/// The bureau's overview: one row per visible park.
#[derive(Debug, Serialize, ToSchema)]
pub struct ComplianceSummary {
    /// The figures are as of this time: data stored by then, today's hours up to it.
    pub data_cutoff: DateTime<Utc>,
    pub parks: Vec<SummaryRow>,
}

/// One park's line of the overview. When its figures could not be computed, `error` says so and
/// the figures are null; the other parks' lines are computed as usual.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = BureauRow)]
pub struct SummaryRow {
    pub park_id: String,
    pub name: Option<String>,
    pub required_points: Option<u32>,
    pub online_required_points: Option<u32>,
    pub monitoring_rate: Option<f64>,
    /// Effective transmission rate of the current local day so far (completed hours).
    pub effective_today: Option<f64>,
    /// Effective transmission rate of the previous local day.
    pub effective_yesterday: Option<f64>,
    pub open_exceedances: Option<usize>,
    pub energy: Option<EnergyStatus>,
    /// Null when the line was computed; otherwise why not (the cause is logged, not sent).
    pub error: Option<String>,
}

impl SummaryRow {
    fn from_summary(s: ParkSummary) -> Self {
        match s.row {
            Ok(r) => Self {
                park_id: r.park_id,
                name: Some(r.name),
                required_points: Some(r.required_points),
                online_required_points: Some(r.online_required_points),
                monitoring_rate: Some(r.monitoring_rate),
                effective_today: r.effective_today,
                effective_yesterday: r.effective_yesterday,
                open_exceedances: Some(r.open_exceedances),
                energy: r.energy,
                error: None,
            },
            Err(_) => Self {
                park_id: s.park_id,
                name: None,
                required_points: None,
                online_required_points: None,
                monitoring_rate: None,
                effective_today: None,
                effective_yesterday: None,
                open_exceedances: None,
                energy: None,
                error: Some(
                    "this park's figures could not be computed; the cause is logged".into(),
                ),
            },
        }
    }
}

/// `GET /api/v1/compliance`: the bureau's overview (a park token sees its own row only).
#[utoipa::path(
    get,
    path = "/compliance",
    operation_id = "compliance_summary",
    tag = "compliance",
    summary = "Every visible park's monitoring rate, data rates, open exceedances and energy status",
    description = "A park token sees its own park's row only. A park whose figures cannot be computed has `error` set and null figures; the other parks are answered as usual.",
    security(("bearer" = [])),
    extensions(("x-access" = json!("park_scoped"))),
    responses(
        (status = 200, description = "One row per visible park", body = ComplianceSummary),
        (status = 401, description = "No token, or an unknown, revoked or expired one", body = ErrorBody),
        (status = 500, description = "Database failure", body = ErrorBody),
    )
)]
pub async fn summary(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<axum::Json<ComplianceSummary>, ApiError> {
    // A park token's summary computes its own park only.
    let now = Utc::now();
    let rows = service::bureau_summary_by_park(&state.read, state.tz, caller.scope(), now).await?;
    let parks: Vec<_> = rows
        .into_iter()
        .filter(|r| caller.scope().is_none_or(|p| p == r.park_id))
        .inspect(|r| {
            if r.row.is_err() {
                state.http_metrics.park_failures.inc();
            }
        })
        .map(SummaryRow::from_summary)
        .collect();
    Ok(axum::Json(ComplianceSummary {
        data_cutoff: now,
        parks,
    }))
}

/// `GET /api/v1/parks/{park}/compliance`: monitoring rate and point statuses now.
#[utoipa::path(
    get,
    path = "/parks/{park}/compliance",
    operation_id = "get_park_compliance",
    tag = "compliance",
    summary = "Monitoring rate and point statuses now",
    params(("park" = String, Path, description = "Park id")),
    security(("bearer" = [])),
    extensions(("x-access" = json!("park_scoped"))),
    responses(
        (status = 200, description = "The park's monitoring rate and points", body = ParkNow),
        (status = 401, description = "No token, or an unknown, revoked or expired one", body = ErrorBody),
        (status = 404, description = "Unknown park, or another park's (park tokens)", body = ErrorBody),
        (status = 500, description = "Database failure", body = ErrorBody),
    )
)]
pub async fn now(
    State(state): State<AppState>,
    caller: Caller,
    Path(park): Path<String>,
) -> Result<axum::Json<ParkNow>, ApiError> {
    // The engine reads the park itself: an unknown park comes back empty (one query fewer than
    // checking first; this is the endpoint a park's dashboard polls).
    caller.may_read(&park)?;
    let now = service::parks_now(&state.read, Some(&park), Utc::now()).await?;
    let park_now = now
        .into_iter()
        .next()
        .ok_or_else(|| not_found_park(&park))?;
    Ok(axum::Json(park_now))
}

/// A date range of local days, both ends included.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DaysQuery {
    /// First local day (default: `to`).
    pub from: Option<NaiveDate>,
    /// Last local day, included (default: today).
    pub to: Option<NaiveDate>,
    /// Reproduce the figures as they were known at this time (RFC 3339; default: now).
    pub as_of: Option<DateTime<Utc>>,
}

/// `GET /api/v1/parks/{park}/compliance/rates?from=YYYY-MM-DD&to=YYYY-MM-DD`: daily
/// transmission, valid and effective transmission rates (default: today).
#[utoipa::path(
    get,
    path = "/parks/{park}/compliance/rates",
    operation_id = "get_compliance_rates",
    tag = "compliance",
    summary = "Daily transmission, valid and effective transmission rates over local days",
    params(("park" = String, Path, description = "Park id"), DaysQuery),
    security(("bearer" = [])),
    extensions(("x-access" = json!("park_scoped"))),
    responses(
        (status = 200, description = "The park's rates, summed and per point and day", body = ParkRates),
        (status = 400, description = "Malformed query string, a malformed park id, or a day outside 2000 to 2100", body = ErrorBody),
        (status = 401, description = "No token, or an unknown, revoked or expired one", body = ErrorBody),
        (status = 404, description = "Unknown park, or another park's (park tokens)", body = ErrorBody),
        (status = 422, description = "`from` after `to`, or a range over `http.max_range_days`", body = ErrorBody),
        (status = 500, description = "Database failure", body = ErrorBody),
    )
)]
pub async fn rates(
    State(state): State<AppState>,
    caller: Caller,
    Path(park): Path<String>,
    Query(q): Query<DaysQuery>,
) -> Result<axum::Json<Option<ParkRates>>, ApiError> {
    let from = q.from.map(|d| params::date("from", d)).transpose()?;
    let to = q.to.map(|d| params::date("to", d)).transpose()?;
    let now = Utc::now();
    let at = params::as_of(q.as_of, now)?;
    visible_park(&state, &caller, &park).await?;
    let today = now.with_timezone(&state.tz).date_naive();
    let to = to.unwrap_or(today);
    let from = from.unwrap_or(to);
    if from > to {
        return Err(ApiError::Unprocessable("from is after to".into()));
    }
    // Both days lie in 2000 to 2100: the difference cannot overflow.
    if to.signed_duration_since(from).num_days() >= state.limits.max_range_days {
        return Err(too_long(state.limits.max_range_days));
    }
    let rates = service::rates(&state.read, state.tz, Some(&park), from, to, at).await?;
    Ok(axum::Json(rates.into_iter().next()))
}

/// An instant range.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TimeQuery {
    /// Range start (RFC 3339; default: 7 days before `to`).
    pub from: Option<DateTime<Utc>>,
    /// Range end, exclusive (RFC 3339; default: now).
    pub to: Option<DateTime<Utc>>,
    /// Reproduce the episodes as they were known at this time (RFC 3339; default: now).
    pub as_of: Option<DateTime<Utc>>,
}

/// `[from, to)` of a query: `to` defaults to now, `from` to `default_span` before `to` (but not
/// before 2000). Both must lie in the span greenmon stores (2000 to 2100), so neither the
/// arithmetic here nor PostgreSQL can overflow.
///
/// # Errors
/// 400 naming `from` or `to` outside the span; 422 when `from` is not before `to` or the range
/// exceeds `http.max_range_days`.
pub fn time_range(
    state: &AppState,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    default_span: Duration,
) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
    let from = from.map(|f| params::time("from", f)).transpose()?;
    let to = params::time("to", to.unwrap_or_else(Utc::now))?;
    let from = match from {
        Some(f) => f,
        None => to
            .checked_sub_signed(default_span)
            .map_or(earliest_time(), |f| f.max(earliest_time())),
    };
    if from >= to {
        return Err(ApiError::Unprocessable("from must be before to".into()));
    }
    let longest = Duration::try_days(state.limits.max_range_days).unwrap_or(Duration::MAX);
    if to.signed_duration_since(from) > longest {
        return Err(too_long(state.limits.max_range_days));
    }
    Ok((from, to))
}

fn too_long(days: i64) -> ApiError {
    ApiError::Unprocessable(format!("the range may span at most {days} days"))
}

/// Exceedance episodes of a park over a range.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExceedanceList {
    pub park_id: String,
    pub from: DateTime<Utc>,
    /// Exclusive.
    pub to: DateTime<Utc>,
    /// Hours looked at up to, and the data cut-off.
    pub evaluated: Evaluated,
    pub exceedances: Vec<Exceedance>,
}

/// `GET /api/v1/parks/{park}/exceedances?from=&to=`: exceedance episodes (hourly valid average
/// outside the limits) overlapping the range (default: the last 7 days).
#[utoipa::path(
    get,
    path = "/parks/{park}/exceedances",
    operation_id = "list_exceedances",
    tag = "compliance",
    summary = "Discharge exceedance episodes overlapping a range (default: the last 7 days)",
    params(("park" = String, Path, description = "Park id"), TimeQuery),
    security(("bearer" = [])),
    extensions(("x-access" = json!("park_scoped"))),
    responses(
        (status = 200, description = "Episodes of hourly valid averages outside the limits", body = ExceedanceList),
        (status = 400, description = "Malformed query string, a malformed park id, or a time outside 2000 to 2100", body = ErrorBody),
        (status = 401, description = "No token, or an unknown, revoked or expired one", body = ErrorBody),
        (status = 404, description = "Unknown park, or another park's (park tokens)", body = ErrorBody),
        (status = 422, description = "`from` not before `to`, or a range over `http.max_range_days`", body = ErrorBody),
        (status = 500, description = "Database failure", body = ErrorBody),
    )
)]
pub async fn exceedances(
    State(state): State<AppState>,
    caller: Caller,
    Path(park): Path<String>,
    Query(q): Query<TimeQuery>,
) -> Result<axum::Json<ExceedanceList>, ApiError> {
    let (from, to) = time_range(&state, q.from, q.to, Duration::days(7))?;
    let at = params::as_of(q.as_of, Utc::now())?;
    visible_park(&state, &caller, &park).await?;
    let list = service::exceedances(&state.read, Some(&park), from, to, at).await?;
    Ok(axum::Json(ExceedanceList {
        park_id: park,
        from,
        to,
        evaluated: at.evaluated(to),
        exceedances: list,
    }))
}

/// A year.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct YearQuery {
    /// 2000 to 2100 (default: the current year, to date).
    pub year: Option<i32>,
    /// Reproduce the figures from the reports as they were known at this time (RFC 3339;
    /// default: now).
    pub as_of: Option<DateTime<Utc>>,
}

/// `GET /api/v1/parks/{park}/energy?year=`: energy intensity, reduction and the required path
/// (default: the current year, to date).
#[utoipa::path(
    get,
    path = "/parks/{park}/energy",
    operation_id = "get_park_energy",
    tag = "compliance",
    summary = "Energy intensity and reduction against the required path",
    params(("park" = String, Path, description = "Park id"), YearQuery),
    security(("bearer" = [])),
    extensions(("x-access" = json!("park_scoped"))),
    responses(
        (status = 200, description = "The park's target and its status in the year", body = ParkEnergy),
        (status = 400, description = "Malformed query string, a malformed park id, or a year outside 2000 to 2100", body = ErrorBody),
        (status = 401, description = "No token, or an unknown, revoked or expired one", body = ErrorBody),
        (status = 404, description = "Unknown park, or another park's (park tokens)", body = ErrorBody),
        (status = 500, description = "Database failure", body = ErrorBody),
    )
)]
pub async fn energy(
    State(state): State<AppState>,
    caller: Caller,
    Path(park): Path<String>,
    Query(q): Query<YearQuery>,
) -> Result<axum::Json<Option<ParkEnergy>>, ApiError> {
    let year = q.year.map(|y| params::year("year", y)).transpose()?;
    let at = params::as_of(q.as_of, Utc::now())?;
    visible_park(&state, &caller, &park).await?;
    let today = at.cutoff().with_timezone(&state.tz).date_naive();
    let year = year.unwrap_or(today.year());
    // 2000 to 2100: the next year exists.
    let year_end = NaiveDate::from_ymd_opt(year + 1, 1, 1).unwrap_or(today);
    let through = today.min(year_end);
    let energy = service::energy_at(&state.read, Some(&park), year, through, at).await?;
    Ok(axum::Json(energy.into_iter().next()))
}

/// The monthly report's options.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// Effective transmission rate a required point must reach to count as monitored (0 to 1;
    /// default 0.9).
    pub threshold: Option<f64>,
    /// Reproduce the month as it was known at this time (RFC 3339; default: now).
    pub as_of: Option<DateTime<Utc>>,
}

/// `GET /api/v1/parks/{park}/reports/{month}?threshold=&as_of=`: the month's compliance report,
/// exact numbers (what `greenmon report --format json` prints).
#[utoipa::path(
    get,
    path = "/parks/{park}/reports/{month}",
    operation_id = "get_monthly_report",
    tag = "compliance",
    summary = "A month's compliance report: the monitoring rate against the 100% target, data rates, exceedances, energy",
    params(
        ("park" = String, Path, description = "Park id"),
        ("month" = String, Path, description = "Local calendar month, YYYY-MM"),
        ReportQuery
    ),
    security(("bearer" = [])),
    extensions(("x-access" = json!("park_scoped"))),
    responses(
        (status = 200, description = "The park's month, with what the figures cover (`evaluated`)", body = MonthlyReport),
        (status = 400, description = "Malformed query string, park id or month, or a time outside 2000 to 2100", body = ErrorBody),
        (status = 401, description = "No token, or an unknown, revoked or expired one", body = ErrorBody),
        (status = 404, description = "Unknown park, or another park's (park tokens)", body = ErrorBody),
        (status = 422, description = "A threshold outside 0 to 1, or `as_of` in the future", body = ErrorBody),
        (status = 500, description = "Database failure", body = ErrorBody),
    )
)]
pub async fn monthly_report(
    State(state): State<AppState>,
    caller: Caller,
    Path((park, month)): Path<(String, String)>,
    Query(q): Query<ReportQuery>,
) -> Result<axum::Json<MonthlyReport>, ApiError> {
    let first_day = params::month(&month)?;
    let threshold = params::threshold(q.threshold)?;
    let at = params::as_of(q.as_of, Utc::now())?;
    visible_park(&state, &caller, &park).await?;
    let reports =
        report::monthly(&state.read, state.tz, Some(&park), first_day, threshold, at).await?;
    reports
        .into_iter()
        .next()
        .map(axum::Json)
        .ok_or_else(|| not_found_park(&park))
}
