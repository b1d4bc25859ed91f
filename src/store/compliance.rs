//! Reads for the compliance engine: the registry with each point's last readings, hourly slot
//! counts, exceeding hours, and energy reports. Long ranges read `readings_hourly`, never raw
//! readings. The range queries are not kept prepared (`persistent(false)`): a cached generic
//! plan of `$1 IS NULL OR park_id = $1` misjudges one park against all of them.
//!
//! "As of" a past time T (`as_of = Some(T)`), the same queries read what was known at T instead:
//! [`KNOWN_AT`] defines CTEs named like the rollups, computed from the version of each reading
//! that was current at T (the stored row if received by T, else the revision received by T and
//! superseded after it), so the query text that follows is the same. This reads raw readings:
//! seconds for a month of a city, where the rollups take milliseconds.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::StoreError;
use crate::domain::{EnergyReport, ParkId, Period};

/// A park with its energy target (also the API's view of a park).
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ParkRow {
    pub id: String,
    pub name: String,
    pub name_en: Option<String>,
    pub baseline_year: i32,
    pub baseline_intensity: f64,
    pub target_year: i32,
    pub target_reduction: f64,
}

/// A monitoring point with what its status needs.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PointRow {
    pub id: String,
    pub park_id: String,
    pub name: String,
    pub kind: String,
    pub required: bool,
    pub interval_secs: i32,
    pub allowed_gap_secs: Option<i32>,
    /// Commissioning: the first instant the point owes data.
    pub monitored_since: DateTime<Utc>,
    /// Retirement (exclusive); `None` while in service.
    pub retired_at: Option<DateTime<Utc>>,
    pub last_reading: Option<DateTime<Utc>>,
    pub last_valid: Option<DateTime<Utc>>,
}

/// Readings of one point in one hour, over all pollutants.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SlotRow {
    pub point_id: String,
    pub hour: DateTime<Utc>,
    pub count: i64,
    pub valid_count: i64,
}

/// Readings of one point and pollutant in one hour.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PollutantSlotRow {
    pub point_id: String,
    pub pollutant: String,
    pub hour: DateTime<Utc>,
    pub count: i64,
    pub valid_count: i64,
}

/// An hour whose valid average lies outside the point's limit for a pollutant.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ExceedingHour {
    pub park_id: String,
    pub point_id: String,
    pub pollutant: String,
    pub hour: DateTime<Utc>,
    pub valid_avg: f64,
    pub lower: Option<f64>,
    pub upper: Option<f64>,
}

/// Parks, all or one.
///
/// # Errors
/// Database errors.
pub async fn parks(pool: &PgPool, park: Option<&str>) -> Result<Vec<ParkRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, name, name_en, baseline_year, baseline_intensity, target_year, target_reduction
         FROM parks WHERE $1::text IS NULL OR id = $1 ORDER BY id",
    )
    .bind(park)
    .fetch_all(pool)
    .await?)
}

/// Points with their last readings, all or one park's.
///
/// # Errors
/// Database errors.
pub async fn points(pool: &PgPool, park: Option<&str>) -> Result<Vec<PointRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT p.id, p.park_id, p.name, p.kind, p.required, p.interval_secs, p.allowed_gap_secs,
                p.monitored_since, p.retired_at, s.last_reading, s.last_valid
         FROM monitoring_points p LEFT JOIN point_last_seen s ON s.point_id = p.id
         WHERE $1::text IS NULL OR p.park_id = $1
         ORDER BY p.park_id, p.id",
    )
    .bind(park)
    .fetch_all(pool)
    .await?)
}

/// The rollups as they stood at `$4`, for the parks `$1` (all when NULL) and hours in
/// `[$2, $3)`: `readings_hourly` (point, pollutant, hour, count, valid_count, valid_avg) and
/// `readings_hourly_point` (point, hour, count, valid_count). Prefixed to a rollup query, they
/// shadow the tables of the same names.
const KNOWN_AT: &str = "
WITH known_points AS (
    SELECT id FROM monitoring_points WHERE $1::text IS NULL OR park_id = $1
), known AS (
    SELECT r.point_id, r.pollutant, r.time, r.value, r.flag
    FROM readings r
    WHERE r.point_id IN (SELECT id FROM known_points) AND r.kind <> 'day'
      AND r.time >= $2 AND r.time < $3 AND r.received_at <= $4
    UNION ALL
    SELECT v.point_id, v.pollutant, v.time, v.value, v.flag
    FROM reading_revisions v
    WHERE v.point_id IN (SELECT id FROM known_points) AND v.kind <> 'day'
      AND v.time >= $2 AND v.time < $3 AND v.outcome = 'replaced'
      AND v.received_at <= $4 AND v.superseded_at > $4
), readings_hourly AS (
    SELECT point_id, pollutant, date_trunc('hour', time, 'UTC') AS hour, count(*) AS count,
           count(*) FILTER (WHERE flag = 'N') AS valid_count,
           avg(value) FILTER (WHERE flag = 'N') AS valid_avg
    FROM known GROUP BY 1, 2, 3
), readings_hourly_point AS (
    SELECT point_id, hour, sum(count)::bigint AS count, sum(valid_count)::bigint AS valid_count
    FROM readings_hourly GROUP BY 1, 2
)";

/// `sql`, reading the rollups as they stood at `as_of` (bound as `$4`) when given.
fn known_at(sql: &str, as_of: Option<DateTime<Utc>>) -> String {
    match as_of {
        Some(_) => format!("{KNOWN_AT} {sql}"),
        None => sql.to_owned(),
    }
}

/// Hourly reading counts per point in `[from, to)`.
///
/// # Errors
/// Database errors.
pub async fn slots(
    pool: &PgPool,
    park: Option<&str>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    as_of: Option<DateTime<Utc>>,
) -> Result<Vec<SlotRow>, StoreError> {
    let sql = known_at(
        "SELECT h.point_id, h.hour, h.count, h.valid_count
         FROM readings_hourly_point h JOIN monitoring_points p ON p.id = h.point_id
         WHERE h.hour >= $2 AND h.hour < $3 AND ($1::text IS NULL OR p.park_id = $1)",
        as_of,
    );
    let query = sqlx::query_as(&sql).bind(park).bind(from).bind(to);
    Ok(bind_as_of(query, as_of)
        .persistent(false)
        .fetch_all(pool)
        .await?)
}

/// Hourly reading counts per point and pollutant in `[from, to)` (each pollutant's own data
/// rates, and the effect of review marks on one pollutant).
///
/// # Errors
/// Database errors.
pub async fn pollutant_slots(
    pool: &PgPool,
    park: Option<&str>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    as_of: Option<DateTime<Utc>>,
) -> Result<Vec<PollutantSlotRow>, StoreError> {
    let sql = known_at(
        "SELECT h.point_id, h.pollutant, h.hour, h.count, h.valid_count
         FROM readings_hourly h JOIN monitoring_points p ON p.id = h.point_id
         WHERE h.hour >= $2 AND h.hour < $3 AND ($1::text IS NULL OR p.park_id = $1)",
        as_of,
    );
    let query = sqlx::query_as(&sql).bind(park).bind(from).bind(to);
    Ok(bind_as_of(query, as_of)
        .persistent(false)
        .fetch_all(pool)
        .await?)
}

/// Hours in `[from, to)` whose valid average is outside the limit, ordered for episode merging.
///
/// # Errors
/// Database errors.
pub async fn exceeding_hours(
    pool: &PgPool,
    park: Option<&str>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    as_of: Option<DateTime<Utc>>,
) -> Result<Vec<ExceedingHour>, StoreError> {
    let sql = known_at(
        "SELECT p.park_id, h.point_id, h.pollutant, h.hour, h.valid_avg, l.lower, l.upper
         FROM readings_hourly h
         JOIN discharge_limits l ON l.point_id = h.point_id AND l.pollutant = h.pollutant
         JOIN monitoring_points p ON p.id = h.point_id
         WHERE h.hour >= $2 AND h.hour < $3 AND ($1::text IS NULL OR p.park_id = $1)
           AND (h.valid_avg > l.upper OR h.valid_avg < l.lower)
         ORDER BY h.point_id, h.pollutant, h.hour",
        as_of,
    );
    let query = sqlx::query_as(&sql).bind(park).bind(from).bind(to);
    Ok(bind_as_of(query, as_of)
        .persistent(false)
        .fetch_all(pool)
        .await?)
}

/// Energy reports of one or all parks, for years in `[from_year, to_year]`.
///
/// # Errors
/// Database errors; a stored period that no longer parses is skipped with a warning.
pub async fn energy_reports(
    pool: &PgPool,
    park: Option<&str>,
    from_year: i32,
    to_year: i32,
    as_of: Option<DateTime<Utc>>,
) -> Result<Vec<EnergyReport>, StoreError> {
    let select = "SELECT park_id, period, energy_tce, value_added_10k_yuan, price_index
         FROM energy_reports
         WHERE ($1::text IS NULL OR park_id = $1)
           AND extract(year FROM period_start) BETWEEN $2 AND $3
         ORDER BY park_id, period_start";
    // As of T: each period's version current at T (the CTE shadows the table; inside it the
    // name is still the table's).
    let sql = match as_of {
        None => select.to_owned(),
        Some(_) => format!(
            "WITH energy_reports AS (
                 SELECT park_id, period, period_start, energy_tce, value_added_10k_yuan,
                        price_index
                 FROM energy_reports WHERE received_at <= $4
                 UNION ALL
                 SELECT v.park_id, v.period, e.period_start, v.energy_tce,
                        v.value_added_10k_yuan, v.price_index
                 FROM energy_report_revisions v
                 JOIN energy_reports e ON e.park_id = v.park_id AND e.period = v.period
                 WHERE v.received_at <= $4 AND v.superseded_at > $4
             ) {select}"
        ),
    };
    let query = sqlx::query_as(&sql)
        .bind(park)
        .bind(from_year)
        .bind(to_year);
    let rows: Vec<(String, String, f64, f64, f64)> =
        bind_as_of(query, as_of).fetch_all(pool).await?;
    Ok(rows
        .into_iter()
        .filter_map(|(park, period, energy, va, pi)| {
            let parsed = ParkId::parse(&park).ok().zip(period.parse::<Period>().ok());
            if parsed.is_none() {
                tracing::warn!(
                    park,
                    period,
                    "Skipping an energy report with an unreadable key."
                );
            }
            parsed.map(|(park, period)| EnergyReport {
                park,
                period,
                energy_tce: energy,
                value_added_10k_yuan: va,
                price_index: pi,
            })
        })
        .collect())
}

/// Binds `as_of` as the query's last parameter when given.
fn bind_as_of<'q, O>(
    query: sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments>,
    as_of: Option<DateTime<Utc>>,
) -> sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments> {
    match as_of {
        Some(t) => query.bind(t),
        None => query,
    }
}
