//! HJ 212 records: split uploads whose parts did not all arrive, and the requests greenmon sends
//! to loggers (history and clock; `hj212_requests`) with what the requester needs to make them.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::StoreError;

/// Records one gap.
///
/// # Errors
/// Database errors.
pub async fn record_gap(
    pool: &PgPool,
    mn: &str,
    cn: &str,
    data_time: Option<DateTime<Utc>>,
    pnum: u32,
    received: &[u32],
) -> Result<(), StoreError> {
    let received: Vec<i32> = received
        .iter()
        .map(|&p| i32::try_from(p).unwrap_or(i32::MAX))
        .collect();
    sqlx::query(
        "INSERT INTO hj212_gaps (mn, cn, data_time, pnum, received_pno) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(mn)
    .bind(cn)
    .bind(data_time)
    .bind(i32::try_from(pnum).unwrap_or(i32::MAX))
    .bind(&received)
    .execute(pool)
    .await?;
    Ok(())
}

/// The registered point of an HJ 212 device, with what the requester needs of it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LoggerPoint {
    pub id: String,
    pub park_id: String,
    pub required: bool,
    pub monitored_since: DateTime<Utc>,
    pub retired_at: Option<DateTime<Utc>>,
    /// The password registered for it, sent with requests; `None`: the one the logger sends.
    pub hj212_password: Option<String>,
    /// greenmon may set the logger's clock.
    pub hj212_set_clock: bool,
    /// The system code its logger sends, when registered.
    pub hj212_st: Option<String>,
}

/// The point registered with `mn`.
///
/// # Errors
/// Database errors.
pub async fn point_of_mn(pool: &PgPool, mn: &str) -> Result<Option<LoggerPoint>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, park_id, required, monitored_since, retired_at, hj212_password,
                hj212_set_clock, hj212_st
         FROM monitoring_points WHERE mn = $1",
    )
    .bind(mn)
    .fetch_optional(pool)
    .await?)
}

/// The point `id` and its MN, if it has one.
///
/// # Errors
/// Database errors.
pub async fn mn_of_point(pool: &PgPool, id: &str) -> Result<Option<Option<String>>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT mn FROM monitoring_points WHERE id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await?,
    )
}

/// A request to queue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRequest {
    pub point_id: String,
    pub mn: String,
    /// `2051`, `2061` or `2031` (history), `1011` or `1012` (clock).
    pub cn: String,
    /// History: `[begin, end)`.
    pub range: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// `scan`, `reconnect`, `manual` or `clock`.
    pub origin: &'static str,
}

/// Queues requests; returns their ids.
///
/// # Errors
/// Database errors (an unknown point is a constraint error).
pub async fn queue(pool: &PgPool, requests: &[NewRequest]) -> Result<Vec<i64>, StoreError> {
    let mut tx = pool.begin().await?;
    let mut ids = Vec::with_capacity(requests.len());
    for r in requests {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO hj212_requests (point_id, mn, cn, begin_time, end_time, origin)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(&r.point_id)
        .bind(&r.mn)
        .bind(&r.cn)
        .bind(r.range.map(|r| r.0))
        .bind(r.range.map(|r| r.1))
        .bind(r.origin)
        .fetch_one(&mut *tx)
        .await?;
        ids.push(id);
    }
    tx.commit().await?;
    Ok(ids)
}

/// The loggers (MNs) with queued requests.
///
/// # Errors
/// Database errors.
pub async fn queued_mns(pool: &PgPool) -> Result<Vec<String>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT DISTINCT mn FROM hj212_requests WHERE status = 'queued'")
            .fetch_all(pool)
            .await?,
    )
}

/// A request taken to be sent.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Claimed {
    pub id: i64,
    pub point_id: String,
    pub cn: String,
    pub begin_time: Option<DateTime<Utc>>,
    pub end_time: Option<DateTime<Utc>>,
    pub system_time: Option<DateTime<Utc>>,
    /// Sends so far, this one included.
    pub attempts: i32,
}

/// Takes the oldest queued request for the logger `mn`, marking it sent with `qn` (another
/// instance holding a connection of the same MN skips it).
///
/// # Errors
/// Database errors.
pub async fn claim_next(
    pool: &PgPool,
    mn: &str,
    qn: &str,
    system_time: Option<DateTime<Utc>>,
) -> Result<Option<Claimed>, StoreError> {
    Ok(sqlx::query_as(
        "UPDATE hj212_requests SET status = 'sent', qn = $2, sent_at = now(),
                attempts = attempts + 1,
                system_time = CASE WHEN cn = '1012' THEN $3 ELSE system_time END
         WHERE id = (SELECT id FROM hj212_requests WHERE mn = $1 AND status = 'queued'
                     ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
         RETURNING id, point_id, cn, begin_time, end_time, system_time, attempts",
    )
    .bind(mn)
    .bind(qn)
    .bind(system_time)
    .fetch_optional(pool)
    .await?)
}

/// Appends one answer of the logger (`answer` as received, e.g. `9011 QnRtn=1`), with its
/// `QnRtn` or `ExeRtn` when it carries one.
///
/// # Errors
/// Database errors.
pub async fn note_answer(
    pool: &PgPool,
    id: i64,
    answer: &str,
    qn_rtn: Option<i32>,
    exe_rtn: Option<i32>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE hj212_requests SET answers = answers || $2,
                qn_rtn = coalesce($3, qn_rtn), exe_rtn = coalesce($4, exe_rtn)
         WHERE id = $1",
    )
    .bind(id)
    .bind(answer)
    .bind(qn_rtn)
    .bind(exe_rtn)
    .execute(pool)
    .await?;
    Ok(())
}

/// Records a request's outcome: `recovered`, `no_data`, `rejected`, `failed`, `timed_out`,
/// `done`, or `queued` again (a retry).
///
/// # Errors
/// Database errors.
pub async fn finish(
    pool: &PgPool,
    id: i64,
    status: &str,
    recovered: Option<i64>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE hj212_requests SET status = $2,
                finished_at = CASE WHEN $2 = 'queued' THEN NULL ELSE now() END,
                recovered = coalesce($3, recovered)
         WHERE id = $1",
    )
    .bind(id)
    .bind(status)
    .bind(recovered.map(|n| i32::try_from(n).unwrap_or(i32::MAX)))
    .execute(pool)
    .await?;
    Ok(())
}

/// Requests left `sent` by an instance that stopped before their outcome: queued again.
///
/// # Errors
/// Database errors.
pub async fn requeue_stale(pool: &PgPool, older_than: DateTime<Utc>) -> Result<u64, StoreError> {
    Ok(sqlx::query(
        "UPDATE hj212_requests SET status = 'queued' WHERE status = 'sent' AND sent_at < $1",
    )
    .bind(older_than)
    .execute(pool)
    .await?
    .rows_affected())
}

/// Readings of `point` with `kind` in `[from, to)`.
///
/// # Errors
/// Database errors.
pub async fn count_readings(
    pool: &PgPool,
    point: &str,
    kind: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM readings
         WHERE point_id = $1 AND kind = $2 AND time >= $3 AND time < $4",
    )
    .bind(point)
    .bind(kind)
    .bind(from)
    .bind(to)
    .fetch_one(pool)
    .await?)
}

/// The hours of `[from, to)` in which `point` has no reading and that no request of the last
/// `retry_after` covers (a timed-out or failed request older than that is asked again).
///
/// # Errors
/// Database errors.
pub async fn missing_hours(
    pool: &PgPool,
    point: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    retry_after: chrono::Duration,
) -> Result<Vec<DateTime<Utc>>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT h FROM generate_series($2::timestamptz, $3::timestamptz - interval '1 hour',
                                       interval '1 hour') h
         WHERE NOT EXISTS (SELECT 1 FROM readings_hourly_point r
                           WHERE r.point_id = $1 AND r.hour = h AND r.count > 0)
           AND NOT EXISTS (SELECT 1 FROM hj212_requests q
                           WHERE q.point_id = $1 AND q.begin_time <= h AND q.end_time > h
                             AND (q.status NOT IN ('timed_out', 'failed') OR q.created_at > $4))
         ORDER BY h",
    )
    .bind(point)
    .bind(from)
    .bind(to)
    .bind(Utc::now() - retry_after)
    .persistent(false)
    .fetch_all(pool)
    .await?)
}

/// One request as the API and `greenmon hj212 requests` show it.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct RequestRow {
    pub id: i64,
    pub park_id: String,
    pub point_id: String,
    pub mn: String,
    /// `2051`, `2061`, `2031` (history), `1011`, `1012` (clock).
    pub cn: String,
    pub begin_time: Option<DateTime<Utc>>,
    pub end_time: Option<DateTime<Utc>>,
    /// CN 1012: the time set.
    pub system_time: Option<DateTime<Utc>>,
    /// `scan`, `reconnect`, `manual` or `clock`.
    pub origin: String,
    /// `queued`, `sent`, `recovered`, `no_data`, `rejected`, `failed`, `timed_out` or `done`.
    pub status: String,
    pub qn: Option<String>,
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub qn_rtn: Option<i32>,
    pub exe_rtn: Option<i32>,
    /// The logger's answers as received (`9011 QnRtn=1`, `9012 ExeRtn=1`, ...).
    pub answers: Vec<String>,
    /// History: readings stored from the answer.
    pub recovered: Option<i32>,
}

/// Requests, newest first: all, one park's, or one point's.
///
/// # Errors
/// Database errors.
pub async fn list_requests(
    pool: &PgPool,
    park: Option<&str>,
    point: Option<&str>,
    limit: i64,
) -> Result<Vec<RequestRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT q.id, p.park_id, q.point_id, q.mn, q.cn, q.begin_time, q.end_time, q.system_time,
                q.origin, q.status, q.qn, q.attempts, q.created_at, q.sent_at, q.finished_at,
                q.qn_rtn, q.exe_rtn, q.answers, q.recovered
         FROM hj212_requests q JOIN monitoring_points p ON p.id = q.point_id
         WHERE ($1::text IS NULL OR p.park_id = $1) AND ($2::text IS NULL OR q.point_id = $2)
         ORDER BY q.id DESC LIMIT $3",
    )
    .bind(park)
    .bind(point)
    .bind(limit)
    .persistent(false)
    .fetch_all(pool)
    .await?)
}

/// Records a logger's clock drift (its clock minus greenmon's, in seconds), measured at `at`
/// from `source` (`datatime` or `1011`).
///
/// # Errors
/// Database errors.
pub async fn record_clock(
    pool: &PgPool,
    point: &str,
    mn: &str,
    drift_secs: f64,
    source: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO hj212_clocks (point_id, mn, drift_secs, source, measured_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (point_id) DO UPDATE SET mn = EXCLUDED.mn, drift_secs = EXCLUDED.drift_secs,
             source = EXCLUDED.source, measured_at = EXCLUDED.measured_at
         WHERE hj212_clocks.measured_at <= EXCLUDED.measured_at",
    )
    .bind(point)
    .bind(mn)
    .bind(drift_secs)
    .bind(source)
    .bind(at)
    .execute(pool)
    .await?;
    Ok(())
}

/// A logger's last measured clock drift.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClockRow {
    pub park_id: String,
    pub point_id: String,
    pub mn: String,
    pub drift_secs: f64,
    pub source: String,
    pub measured_at: DateTime<Utc>,
}

/// The clocks measured since `since`.
///
/// # Errors
/// Database errors.
pub async fn clocks(pool: &PgPool, since: DateTime<Utc>) -> Result<Vec<ClockRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT p.park_id, c.point_id, c.mn, c.drift_secs, c.source, c.measured_at
         FROM hj212_clocks c JOIN monitoring_points p ON p.id = c.point_id
         WHERE c.measured_at >= $1 ORDER BY p.park_id, c.point_id",
    )
    .bind(since)
    .fetch_all(pool)
    .await?)
}
