//! Hourly rollups on plain PostgreSQL: folding the pending per-statement aggregates into
//! `readings_hourly` and `readings_hourly_point`, and the worker that does it at a cadence.
//!
//! Input: `readings_hourly_pending`, which the statement trigger on `readings` appends to in each
//! ingest transaction (migration `20261128000100`). Output: the rollup tables, behind by at most
//! `rollup.fold_interval_ms` plus one fold. The fold itself is the SQL function
//! `readings_hourly_fold()`: one statement, one transaction, one fold at a time across instances
//! (an advisory lock), so it is exact and crash-safe. A corrected reading (an UPDATE) makes the
//! fold recompute its series-hour from `readings`.
//!
//! On TimescaleDB the function does nothing: the continuous aggregate maintains itself, except
//! for corrections older than its refresh policy's 30-day look-back. Those hours are queued in
//! `readings_hourly_stale` by a trigger, and [`fold`] refreshes them.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use super::StoreError;
use crate::clock::Clock;
use crate::telemetry::Metrics;

/// Folds every committed pending aggregate into the rollup tables; returns the number of
/// readings folded (0 on TimescaleDB). Readers that must see every committed reading (the
/// compliance engine, `greenmon report`) call this before they read the rollups.
///
/// # Errors
/// Database errors; nothing is folded then (the pending rows stay for the next fold).
pub async fn fold(pool: &PgPool) -> Result<u64, StoreError> {
    let folded: i64 = sqlx::query_scalar("SELECT readings_hourly_fold()")
        .fetch_one(pool)
        .await?;
    refresh_stale(pool).await?;
    Ok(u64::try_from(folded).unwrap_or(0))
}

/// Refreshes the continuous aggregate over the hours corrections and late readings made stale
/// (TimescaleDB; the queue stays empty on plain PostgreSQL), then drops them from the queue. Only
/// hours below the aggregate's watermark need it: above, real-time aggregation reads the raw
/// readings, and refreshing there would move the watermark over hours never materialised. A
/// failed refresh leaves the hours queued for the next fold.
async fn refresh_stale(pool: &PgPool) -> Result<(), StoreError> {
    let queued: Vec<(i64, DateTime<Utc>)> =
        sqlx::query_as("SELECT id, hour FROM readings_hourly_stale ORDER BY hour")
            .fetch_all(pool)
            .await?;
    let Some(last_id) = queued.iter().map(|(id, _)| *id).max() else {
        return Ok(());
    };
    // The end of the materialised hours (TimescaleDB's own function since 2.12).
    let watermark: Option<DateTime<Utc>> = sqlx::query_scalar(
        "SELECT _timescaledb_functions.to_timestamp(
                    _timescaledb_functions.cagg_watermark(mat_hypertable_id))
         FROM _timescaledb_catalog.continuous_agg WHERE user_view_name = 'readings_hourly'",
    )
    .fetch_optional(pool)
    .await?;
    let hours: Vec<DateTime<Utc>> = queued
        .into_iter()
        .map(|(_, hour)| hour)
        .filter(|hour| watermark.is_some_and(|w| *hour < w))
        .collect();
    for (from, to) in windows(&hours) {
        let to = watermark.map_or(to, |w| to.min(w));
        // CALL may not run inside a transaction, which a prepared statement would open.
        sqlx::raw_sql(&format!(
            "CALL refresh_continuous_aggregate('readings_hourly', '{}', '{}')",
            from.to_rfc3339(),
            to.to_rfc3339()
        ))
        .execute(pool)
        .await?;
    }
    sqlx::query("DELETE FROM readings_hourly_stale WHERE id <= $1")
        .bind(last_id)
        .execute(pool)
        .await?;
    Ok(())
}

/// Sorted hour starts merged into `[from, to)` windows of consecutive hours.
fn windows(hours: &[DateTime<Utc>]) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let hour = chrono::Duration::hours(1);
    let mut out: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
    for &h in hours {
        let end = h + hour;
        match out.last_mut() {
            Some((_, to)) if h <= *to => *to = (*to).max(end),
            _ => out.push((h, end)),
        }
    }
    out
}

/// How many series-hours the fold has set aside (`rollup_set_aside`): their readings are stored
/// but missing from the rollups.
///
/// # Errors
/// Database errors.
pub async fn set_aside(pool: &PgPool) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar("SELECT count(*) FROM rollup_set_aside")
        .fetch_one(pool)
        .await?)
}

/// Marks the space of folded pending rows reusable, so the next appends fill it and the next
/// fold's scan stays as short as what is pending. Cannot run inside a transaction.
async fn vacuum_pending(pool: &PgPool) -> Result<(), StoreError> {
    // The simple protocol: VACUUM may not run in the implicit transaction of a prepared
    // statement's pipeline.
    sqlx::raw_sql("VACUUM readings_hourly_pending")
        .execute(pool)
        .await?;
    Ok(())
}

/// The periodic fold. Several instances may run one each: the fold's advisory lock makes them
/// take turns, and each pending row is folded once.
pub struct RollupWorker {
    pub pool: PgPool,
    /// Time between the end of one fold and the start of the next (`rollup.fold_interval_ms`).
    pub interval: Duration,
    pub metrics: Metrics,
    /// Times the interval: the system clock in production; a manual clock in tests, where a
    /// fold follows each move of the clock by `interval`.
    pub clock: Clock,
}

impl RollupWorker {
    /// Folds every `interval` until `shutdown`, then once more, so a cleanly stopped service
    /// leaves nothing pending. A failed fold is logged and retried at the next tick.
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            let stop = tokio::select! {
                () = self.clock.sleep(self.interval) => false,
                () = shutdown.cancelled() => true,
            };
            self.tick().await;
            if stop {
                return;
            }
        }
    }

    async fn tick(&self) {
        let started = std::time::Instant::now();
        let result = fold(&self.pool).await;
        let m = &self.metrics;
        m.rollup_fold_seconds
            .observe(started.elapsed().as_secs_f64());
        match result {
            Ok(0) => {}
            Ok(readings) => {
                m.rollup_readings_folded.inc_by(readings);
                tracing::debug!(
                    readings,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "Folded pending readings into the hourly rollups."
                );
                if let Err(e) = vacuum_pending(&self.pool).await {
                    tracing::warn!(error = %e, "Cannot vacuum the pending rollups; autovacuum will.");
                }
            }
            Err(e) => {
                m.rollup_fold_failures.inc();
                tracing::warn!(error = %e, "Cannot fold the pending rollups; retrying at the next tick.");
            }
        }
        match set_aside(&self.pool).await {
            Ok(n) => {
                if n > m.rollup_set_aside.get() {
                    tracing::error!(
                        set_aside = n,
                        "Series-hours could not be folded into the rollups and were set aside; see table rollup_set_aside."
                    );
                }
                m.rollup_set_aside.set(n);
            }
            Err(e) => tracing::warn!(error = %e, "Cannot count the set-aside rollups."),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_hours_make_one_window() {
        let h =
            |n: i64| DateTime::from_timestamp(1_520_000_000 / 3600 * 3600 + n * 3600, 0).unwrap();
        assert_eq!(
            windows(&[h(0), h(0), h(1), h(2), h(5), h(7), h(8)]),
            [(h(0), h(3)), (h(5), h(6)), (h(7), h(9))]
        );
        assert!(windows(&[]).is_empty());
    }
}
