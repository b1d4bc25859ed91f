//! Alert state, events and the notification outbox.
//!
//! A transition, its event rows and its notification rows are written in one transaction
//! ([`apply`]); delivery workers claim due notifications with `FOR UPDATE SKIP LOCKED`, one
//! per alert and receiver at a time, oldest first, so a receiver never sees "resolved" before
//! "firing".

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};

use super::StoreError;
use crate::domain::alert::{AlertKey, Condition, RuleKind, Severity};
use crate::domain::alert::{Event, Lifecycle, State};

/// An alert as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct AlertRow {
    pub id: i64,
    pub rule: String,
    pub park_id: String,
    pub point_id: String,
    pub pollutant: String,
    pub state: String,
    pub severity: String,
    pub summary: String,
    pub summary_zh: String,
    pub description: String,
    pub description_zh: String,
    pub value: Option<f64>,
    pub threshold: Option<f64>,
    pub active_since: DateTime<Utc>,
    pub fired_at: Option<DateTime<Utc>>,
    pub clear_since: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub last_notified_at: Option<DateTime<Utc>>,
    pub escalated_at: Option<DateTime<Utc>>,
    pub acked_by: Option<String>,
    pub acked_at: Option<DateTime<Utc>>,
    pub ack_comment: Option<String>,
    pub updated_at: DateTime<Utc>,
}

const ALERT_COLUMNS: &str = "id, rule, park_id, point_id, pollutant, state, severity, summary, \
    summary_zh, description, description_zh, value, threshold, active_since, fired_at, \
    clear_since, resolved_at, last_notified_at, escalated_at, acked_by, acked_at, ack_comment, \
    updated_at";

impl AlertRow {
    /// The key and lifecycle, or `None` for a row with an unknown rule, state or severity
    /// (written by a newer version); such rows are left alone.
    pub fn lifecycle(&self) -> Option<(AlertKey, Lifecycle)> {
        let key = AlertKey::pollutant(
            RuleKind::parse(&self.rule)?,
            &self.park_id,
            &self.point_id,
            &self.pollutant,
        );
        Some((
            key,
            Lifecycle {
                state: State::parse(&self.state)?,
                severity: Severity::parse(&self.severity)?,
                active_since: self.active_since,
                fired_at: self.fired_at,
                clear_since: self.clear_since,
                resolved_at: self.resolved_at,
                last_notified_at: self.last_notified_at,
                escalated_at: self.escalated_at,
                acknowledged: self.acked_at.is_some(),
            },
        ))
    }
}

/// Open (pending or firing) alerts.
///
/// # Errors
/// Database errors.
pub async fn open_alerts(conn: &mut PgConnection) -> Result<Vec<AlertRow>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "SELECT {ALERT_COLUMNS} FROM alerts WHERE state <> 'resolved' ORDER BY id"
    ))
    .fetch_all(conn)
    .await?)
}

/// The state filters a caller may ask for: `all`, or one [`AlertFilter::state`] takes.
pub const STATE_FILTERS: [&str; 5] = ["open", "pending", "firing", "resolved", "all"];

/// Which alerts [`list`] returns.
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    /// `open` (pending or firing), `pending`, `firing`, `resolved`; `None` = all.
    pub state: Option<String>,
    pub park: Option<String>,
    pub rule: Option<String>,
    pub limit: i64,
}

/// Alerts, newest first.
///
/// # Errors
/// Database errors.
pub async fn list(pool: &PgPool, f: &AlertFilter) -> Result<Vec<AlertRow>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "SELECT {ALERT_COLUMNS} FROM alerts
         WHERE ($1::text IS NULL OR ($1 = 'open' AND state <> 'resolved') OR state = $1)
           AND ($2::text IS NULL OR park_id = $2)
           AND ($3::text IS NULL OR rule = $3)
         ORDER BY id DESC LIMIT $4"
    ))
    .bind(&f.state)
    .bind(&f.park)
    .bind(&f.rule)
    .bind(f.limit)
    .persistent(false)
    .fetch_all(pool)
    .await?)
}

/// One alert.
///
/// # Errors
/// Database errors.
pub async fn get(pool: &PgPool, id: i64) -> Result<Option<AlertRow>, StoreError> {
    Ok(
        sqlx::query_as(&format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE id = $1"))
            .bind(id)
            .fetch_optional(pool)
            .await?,
    )
}

/// What an acknowledgement did.
#[derive(Debug, Clone, PartialEq)]
pub enum AckOutcome {
    Acknowledged(AlertRow),
    /// Already acknowledged (by whom, when): nothing changed.
    AlreadyAcknowledged(AlertRow),
    /// Resolved alerts need no acknowledgement.
    Resolved(AlertRow),
    NotFound,
}

/// Acknowledges an open alert: stops its re-notification and escalation; it still resolves on
/// its own. Recorded as an `acknowledged` event.
///
/// # Errors
/// Database errors.
pub async fn acknowledge(
    pool: &PgPool,
    id: i64,
    by: &str,
    comment: Option<&str>,
) -> Result<AckOutcome, StoreError> {
    let mut tx = pool.begin().await?;
    let row: Option<AlertRow> = sqlx::query_as(&format!(
        "SELECT {ALERT_COLUMNS} FROM alerts WHERE id = $1 FOR UPDATE"
    ))
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        return Ok(AckOutcome::NotFound);
    };
    if row.state == "resolved" {
        return Ok(AckOutcome::Resolved(row));
    }
    if row.acked_at.is_some() {
        return Ok(AckOutcome::AlreadyAcknowledged(row));
    }
    let row: AlertRow = sqlx::query_as(&format!(
        "UPDATE alerts SET acked_by = $2, acked_at = now(), ack_comment = $3, updated_at = now()
         WHERE id = $1 RETURNING {ALERT_COLUMNS}"
    ))
    .bind(id)
    .bind(by)
    .bind(comment)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO alert_events (alert_id, kind, severity, actor, detail)
         VALUES ($1, 'acknowledged', $2, $3, $4)",
    )
    .bind(id)
    .bind(&row.severity)
    .bind(by)
    .bind(comment.unwrap_or(""))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(AckOutcome::Acknowledged(row))
}

/// One alert's transition, decided by the engine.
#[derive(Debug, Clone)]
pub struct Change {
    /// `None` for a new alert.
    pub id: Option<i64>,
    pub key: AlertKey,
    pub lifecycle: Lifecycle,
    /// The condition as evaluated now (texts and values are refreshed from it), if it holds.
    pub condition: Option<Condition>,
    pub events: Vec<Event>,
    /// Severity before this step (differs after an escalation).
    pub previous_severity: Severity,
}

/// A notification to queue: the receiver and its payload, chosen by the engine.
pub struct Queued {
    pub receiver: String,
    pub payload: serde_json::Value,
}

/// Writes one change, its events and the notifications `route` chooses for each notifying
/// event, on `conn` (inside the caller's transaction). Returns the stored row.
///
/// # Errors
/// Database errors.
pub async fn apply(
    conn: &mut PgConnection,
    change: &Change,
    mut route: impl FnMut(Event, &AlertRow) -> Vec<Queued>,
) -> Result<AlertRow, StoreError> {
    let lc = &change.lifecycle;
    let c = change.condition.as_ref();
    let row: AlertRow = match change.id {
        None => {
            let c = c.expect("a new alert comes from a condition that holds");
            sqlx::query_as(&format!(
                "INSERT INTO alerts (rule, park_id, point_id, pollutant, state, severity,
                    summary, summary_zh, description, description_zh, value, threshold,
                    active_since, fired_at, last_notified_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
                 RETURNING {ALERT_COLUMNS}"
            ))
            .bind(change.key.rule.as_str())
            .bind(&change.key.park)
            .bind(&change.key.point)
            .bind(&change.key.pollutant)
            .bind(lc.state.as_str())
            .bind(lc.severity.as_str())
            .bind(&c.texts.summary)
            .bind(&c.texts.summary_zh)
            .bind(&c.texts.description)
            .bind(&c.texts.description_zh)
            .bind(c.value)
            .bind(c.threshold)
            .bind(lc.active_since)
            .bind(lc.fired_at)
            .bind(lc.last_notified_at)
            .fetch_one(&mut *conn)
            .await?
        }
        Some(id) => {
            sqlx::query_as(&format!(
                "UPDATE alerts SET state = $2, severity = $3, active_since = $4, fired_at = $5,
                    clear_since = $6, resolved_at = $7, last_notified_at = $8, escalated_at = $9,
                    summary = coalesce($10, summary), summary_zh = coalesce($11, summary_zh),
                    description = coalesce($12, description),
                    description_zh = coalesce($13, description_zh),
                    value = CASE WHEN $14 THEN $15 ELSE value END,
                    threshold = CASE WHEN $14 THEN $16 ELSE threshold END,
                    updated_at = now()
                 WHERE id = $1
                 RETURNING {ALERT_COLUMNS}"
            ))
            .bind(id)
            .bind(lc.state.as_str())
            .bind(lc.severity.as_str())
            .bind(lc.active_since)
            .bind(lc.fired_at)
            .bind(lc.clear_since)
            .bind(lc.resolved_at)
            .bind(lc.last_notified_at)
            .bind(lc.escalated_at)
            .bind(c.map(|c| &c.texts.summary))
            .bind(c.map(|c| &c.texts.summary_zh))
            .bind(c.map(|c| &c.texts.description))
            .bind(c.map(|c| &c.texts.description_zh))
            .bind(c.is_some())
            .bind(c.and_then(|c| c.value))
            .bind(c.and_then(|c| c.threshold))
            .fetch_one(&mut *conn)
            .await?
        }
    };
    for &event in &change.events {
        let event_id: i64 = sqlx::query_scalar(
            "INSERT INTO alert_events (alert_id, kind, severity, detail)
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(row.id)
        .bind(event.as_str())
        .bind(&row.severity)
        .bind(if event == Event::Escalated {
            format!("from {}", change.previous_severity)
        } else {
            String::new()
        })
        .fetch_one(&mut *conn)
        .await?;
        if !event.notifies() {
            continue;
        }
        for q in route(event, &row) {
            sqlx::query(
                "INSERT INTO notification_outbox (alert_id, event_id, receiver, payload)
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(row.id)
            .bind(event_id)
            .bind(&q.receiver)
            .bind(&q.payload)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(row)
}

/// A notification claimed for delivery.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutboxRow {
    pub id: i64,
    pub receiver: String,
    pub payload: serde_json::Value,
    pub attempts: i32,
}

/// Claims up to `limit` due notifications for `lease`: they are not due again until the lease
/// ends, so a worker that dies mid-send leaves them to be retried after it. Only the oldest
/// pending notification of each alert and receiver is due, so order is kept per receiver.
///
/// # Errors
/// Database errors.
pub async fn claim_due(
    pool: &PgPool,
    limit: i64,
    lease: chrono::Duration,
) -> Result<Vec<OutboxRow>, StoreError> {
    Ok(sqlx::query_as(
        "UPDATE notification_outbox SET next_attempt_at = now() + $2
         WHERE id IN (
             SELECT o.id FROM notification_outbox o
             WHERE o.status = 'pending' AND o.next_attempt_at <= now()
               AND NOT EXISTS (
                   SELECT 1 FROM notification_outbox e
                   WHERE e.alert_id = o.alert_id AND e.receiver = o.receiver
                     AND e.status = 'pending' AND e.id < o.id)
             ORDER BY o.id
             LIMIT $1
             FOR UPDATE SKIP LOCKED)
         RETURNING id, receiver, payload, attempts",
    )
    .bind(limit)
    .bind(lease)
    .fetch_all(pool)
    .await?)
}

/// Marks a notification delivered.
///
/// # Errors
/// Database errors.
pub async fn delivered(pool: &PgPool, id: i64) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE notification_outbox
         SET status = 'delivered', attempts = attempts + 1, delivered_at = now(), last_error = NULL
         WHERE id = $1",
    )
    .bind(id)
    .execute(pool)
    .await?;
    Ok(())
}

/// Records a failed attempt: retried at `retry_at`, or dead when `retry_at` is `None`.
///
/// # Errors
/// Database errors.
pub async fn failed(
    pool: &PgPool,
    id: i64,
    error: &str,
    retry_at: Option<DateTime<Utc>>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE notification_outbox
         SET attempts = attempts + 1, last_error = $2,
             status = CASE WHEN $3::timestamptz IS NULL THEN 'dead' ELSE 'pending' END,
             next_attempt_at = coalesce($3, next_attempt_at)
         WHERE id = $1",
    )
    .bind(id)
    .bind(error)
    .bind(retry_at)
    .execute(pool)
    .await?;
    Ok(())
}

/// The outbox at a glance, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct OutboxStats {
    pub pending: i64,
    pub dead: i64,
    /// Age of the oldest undelivered (pending) notification, seconds.
    pub oldest_pending_secs: f64,
}

/// Counts of the outbox.
///
/// # Errors
/// Database errors.
pub async fn outbox_stats(pool: &PgPool) -> Result<OutboxStats, StoreError> {
    // Each part reads its own partial index: the delivered rows, which accumulate, are never
    // scanned (this runs after every delivery round).
    let (pending, dead, oldest): (i64, i64, Option<f64>) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM notification_outbox WHERE status = 'pending'),
                (SELECT count(*) FROM notification_outbox WHERE status = 'dead'),
                (SELECT extract(epoch FROM now() - min(created_at))::float8
                 FROM notification_outbox WHERE status = 'pending')",
    )
    .fetch_one(pool)
    .await?;
    Ok(OutboxStats {
        pending,
        dead,
        oldest_pending_secs: oldest.unwrap_or(0.0).max(0.0),
    })
}

/// Firing alerts (for re-posting to Alertmanager and for metrics).
///
/// # Errors
/// Database errors.
pub async fn firing(pool: &PgPool) -> Result<Vec<AlertRow>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "SELECT {ALERT_COLUMNS} FROM alerts WHERE state = 'firing' ORDER BY id"
    ))
    .fetch_all(pool)
    .await?)
}

/// Current hourly averages of valid readings for (point, pollutant, hour start) keys, from raw
/// readings through the primary key: what the exceedance fast path checks right after ingest.
///
/// # Errors
/// Database errors.
pub async fn hour_averages(
    pool: &PgPool,
    keys: &[(String, String, DateTime<Utc>)],
) -> Result<Vec<(String, String, DateTime<Utc>, f64)>, StoreError> {
    let points: Vec<&str> = keys.iter().map(|k| k.0.as_str()).collect();
    let pollutants: Vec<&str> = keys.iter().map(|k| k.1.as_str()).collect();
    let hours: Vec<DateTime<Utc>> = keys.iter().map(|k| k.2).collect();
    Ok(sqlx::query_as(
        "SELECT k.point_id, k.pollutant, k.hour, avg(r.value)
         FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS k (point_id, pollutant, hour)
         JOIN readings r ON r.point_id = k.point_id AND r.pollutant = k.pollutant
          AND r.kind IN ('rtd', 'min', 'hour')
          AND r.time >= k.hour AND r.time < k.hour + interval '1 hour'
         WHERE r.flag = 'N'
         GROUP BY 1, 2, 3",
    )
    .bind(points)
    .bind(pollutants)
    .bind(hours)
    .persistent(false)
    .fetch_all(pool)
    .await?)
}

/// One event of an alert's history.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct EventRow {
    pub at: DateTime<Utc>,
    pub kind: String,
    pub severity: String,
    pub actor: Option<String>,
    pub detail: String,
}

/// An alert's transitions and acknowledgements, oldest first.
///
/// # Errors
/// Database errors.
pub async fn events(pool: &PgPool, alert_id: i64) -> Result<Vec<EventRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT at, kind, severity, actor, detail FROM alert_events
         WHERE alert_id = $1 ORDER BY id",
    )
    .bind(alert_id)
    .fetch_all(pool)
    .await?)
}
