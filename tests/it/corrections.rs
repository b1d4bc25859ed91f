//! Corrections on both backends: a reading sent again with a different value replaces the stored
//! one, the old version is kept in `reading_revisions`, the rollups and the exceedances follow,
//! an identical re-send changes nothing, and a bureau correction outranks a logger's re-send.
//! On TimescaleDB also in a compressed chunk.

use chrono::{DateTime, Duration, TimeZone, Utc};
use greenmon::compliance::service;
use greenmon::domain::{Flag, Reading};
use greenmon::store::{self, corrections::BUREAU, BatchOutcome};
use sqlx::PgPool;

use crate::compliance::{reading, readings_item};
use crate::helpers::{on_both_backends, BackendDb, TestBackend};

on_both_backends!(a_correction_replaces_and_keeps_the_old_version);

/// 10:00–10:50 UTC on 2026-03-10, six COD readings of a-out (limit 50 mg/L).
fn hour() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 10, 10, 0, 0).unwrap()
}

fn cod(minute: i64, value: f64, flag: Flag) -> Reading {
    reading(
        "a-out",
        "cod",
        hour() + Duration::minutes(minute),
        value,
        flag,
    )
}

async fn write(pool: &PgPool, source: &'static str, readings: Vec<Reading>) -> BatchOutcome {
    let mut item = readings_item("park-a", "a-out", readings);
    item.source = source;
    if source == BUREAU {
        item.sender = Some("Wang Li".into());
    }
    store::write_batch(pool, &[item]).await.unwrap()
}

/// (value, flag, source, sender) of the stored reading at `minute`.
async fn stored(pool: &PgPool, minute: i64) -> (f64, String, String, Option<String>) {
    sqlx::query_as(
        "SELECT value, flag::text, source, sender FROM readings
         WHERE point_id = 'a-out' AND pollutant = 'w01018' AND time = $1",
    )
    .bind(hour() + Duration::minutes(minute))
    .fetch_one(pool)
    .await
    .unwrap()
}

/// (value, flag, source, outcome, by_source) of every revision, oldest first.
async fn revisions(pool: &PgPool) -> Vec<(f64, String, String, String, String)> {
    sqlx::query_as(
        "SELECT value, flag::text, source, outcome, by_source FROM reading_revisions ORDER BY id",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

/// The hour's valid average and (count, valid count) as the compliance engine reads them.
async fn hour_figures(pool: &PgPool) -> (f64, i64, i64) {
    store::rollup::fold(pool).await.unwrap();
    sqlx::query_as(
        "SELECT valid_avg, count, valid_count FROM readings_hourly
         WHERE point_id = 'a-out' AND pollutant = 'w01018' AND hour = $1",
    )
    .bind(hour())
    .fetch_one(pool)
    .await
    .unwrap()
}

async fn exceeding_hours(pool: &PgPool) -> u32 {
    let now = hour() + Duration::days(2);
    service::exceedances(
        pool,
        Some("park-a"),
        hour(),
        hour() + Duration::hours(1),
        now,
    )
    .await
    .unwrap()
    .iter()
    .map(|e| e.episode.hours)
    .sum()
}

async fn a_correction_replaces_and_keeps_the_old_version(backend: TestBackend) {
    let db = BackendDb::new(backend).await;
    let pool = &db.db.pool;
    // 60 mg/L all hour: one exceeding hour.
    let first: Vec<Reading> = (0..6).map(|i| cod(i * 10, 60.0, Flag::Normal)).collect();
    let out = write(pool, "mqtt", first.clone()).await;
    assert_eq!(out.readings_inserted, 6);
    assert_eq!(hour_figures(pool).await, (60.0, 6, 6));
    assert_eq!(exceeding_hours(pool).await, 1);

    // An identical re-send: a duplicate, no revision.
    let out = write(pool, "mqtt", first).await;
    assert_eq!(
        (
            out.readings_inserted,
            out.readings_duplicate,
            out.readings_corrected
        ),
        (0, 6, 0)
    );
    assert!(revisions(pool).await.is_empty());

    // The logger re-sends the hour after recalibration: 30 mg/L, and 10:50 flagged invalid.
    let mut fixed: Vec<Reading> = (0..5).map(|i| cod(i * 10, 30.0, Flag::Normal)).collect();
    fixed.push(cod(50, 30.0, Flag::Calibration));
    let out = write(pool, "tcp", fixed).await;
    assert_eq!(
        (
            out.readings_inserted,
            out.readings_duplicate,
            out.readings_corrected
        ),
        (0, 0, 6)
    );
    assert_eq!(
        stored(pool, 50).await,
        (30.0, "C".into(), "tcp".into(), None)
    );
    let revs = revisions(pool).await;
    assert_eq!(revs.len(), 6);
    assert_eq!(
        revs[5],
        (
            60.0,
            "N".into(),
            "mqtt".into(),
            "replaced".into(),
            "tcp".into()
        )
    );
    // The rollup follows: 5 valid readings of 30, 6 readings in all; no exceedance any more.
    assert_eq!(hour_figures(pool).await, (30.0, 6, 5));
    assert_eq!(exceeding_hours(pool).await, 0);
    let (count, valid): (i64, i64) = sqlx::query_as(
        "SELECT count, valid_count FROM readings_hourly_point WHERE point_id = 'a-out' AND hour = $1",
    )
    .bind(hour())
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!((count, valid), (6, 5), "per-point slot counts follow");

    // The bureau corrects 10:00 to 55 mg/L; the logger's re-send of 30 afterwards is overruled.
    let out = write(pool, BUREAU, vec![cod(0, 55.0, Flag::Normal)]).await;
    assert_eq!(out.readings_corrected, 1);
    let out = write(pool, "mqtt", vec![cod(0, 30.0, Flag::Normal)]).await;
    assert_eq!((out.readings_corrected, out.readings_overruled), (0, 1));
    assert_eq!(
        stored(pool, 0).await,
        (55.0, "N".into(), BUREAU.into(), Some("Wang Li".into()))
    );
    let revs = revisions(pool).await;
    assert_eq!(
        revs.last().unwrap(),
        &(
            30.0,
            "N".into(),
            "mqtt".into(),
            "overruled".into(),
            BUREAU.into()
        )
    );
    // (55 + 4 × 30) / 5 = 35.
    assert_eq!(hour_figures(pool).await, (35.0, 6, 5));

    // The record cannot be rewritten.
    let refused = sqlx::query("DELETE FROM reading_revisions")
        .execute(pool)
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("append-only"), "{refused}");
}

/// Two versions of one reading in one batch: the later one is stored, the earlier one kept as a
/// revision that was never current.
#[tokio::test]
async fn the_last_version_in_a_batch_wins() {
    let db = BackendDb::new(TestBackend::Postgres).await;
    let pool = &db.db.pool;
    let out = write(
        pool,
        "mqtt",
        vec![
            cod(0, 10.0, Flag::Normal),
            cod(10, 11.0, Flag::Normal),
            cod(0, 12.0, Flag::Normal),
        ],
    )
    .await;
    assert_eq!((out.readings_inserted, out.readings_corrected), (2, 1));
    assert_eq!(stored(pool, 0).await.0, 12.0);
    let (received, superseded): (DateTime<Utc>, DateTime<Utc>) =
        sqlx::query_as("SELECT received_at, superseded_at FROM reading_revisions")
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(received, superseded, "never current");
    assert_eq!(hour_figures(pool).await, (11.5, 2, 2));
}

/// A correction of a reading in a compressed chunk (TimescaleDB decompresses the rows it
/// updates), older than the continuous aggregate's 30-day refresh window: the hour is refreshed
/// by the fold, so the compliance queries see the corrected value. The same for a late reading.
#[tokio::test]
async fn a_correction_lands_in_a_compressed_chunk_on_timescaledb() {
    let db = BackendDb::new(TestBackend::TimescaleDb).await;
    let pool = &db.db.pool;
    write(
        pool,
        "mqtt",
        (0..6).map(|i| cod(i * 10, 60.0, Flag::Normal)).collect(),
    )
    .await;
    sqlx::query("CALL refresh_continuous_aggregate('readings_hourly', NULL, NULL)")
        .execute(pool)
        .await
        .unwrap();
    let compressed: i64 =
        sqlx::query_scalar("SELECT count(compress_chunk(c)) FROM show_chunks('readings') c")
            .fetch_one(pool)
            .await
            .unwrap();
    assert!(compressed >= 1);
    assert_eq!(hour_figures(pool).await, (60.0, 6, 6));

    let out = write(pool, "mqtt", vec![cod(0, 0.0, Flag::Normal)]).await;
    assert_eq!(out.readings_corrected, 1);
    assert_eq!(stored(pool, 0).await.0, 0.0);
    assert_eq!(revisions(pool).await.len(), 1);
    // (0 + 5 × 60) / 6 = 50: the fold refreshed the stale hour.
    assert_eq!(hour_figures(pool).await, (50.0, 6, 6));
    assert_eq!(exceeding_hours(pool).await, 0);

    // A late reading for an hour below the watermark (an import of old history) is refreshed
    // into the aggregate by the fold too.
    let earlier = hour() - Duration::hours(1);
    write(
        pool,
        "import",
        vec![reading("a-out", "cod", earlier, 20.0, Flag::Normal)],
    )
    .await;
    store::rollup::fold(pool).await.unwrap();
    let late: Option<f64> = sqlx::query_scalar(
        "SELECT valid_avg FROM readings_hourly WHERE point_id = 'a-out' AND hour = $1",
    )
    .bind(earlier)
    .fetch_optional(pool)
    .await
    .unwrap();
    assert_eq!(late, Some(20.0));
    let queued: i64 = sqlx::query_scalar("SELECT count(*) FROM readings_hourly_stale")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(queued, 0, "the queue is drained");
}
