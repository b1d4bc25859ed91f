//! Writes to `readings`, two ways:
//! - [`copy`]: binary `COPY` (the fast path, about twice the rate of an insert), which fails
//!   with a unique violation if any row is already stored;
//! - [`upsert`]: a multi-row `INSERT ... SELECT FROM UNNEST(...) ON CONFLICT DO NOTHING`, used
//!   for a batch that holds a reading already stored (a redelivery, a re-send, a correction),
//!   then [`corrections::apply`](super::corrections::apply) for the rows it skipped: identical
//!   ones are duplicates, differing ones corrections.

use std::collections::HashMap;

use chrono::{DateTime, TimeZone, Utc};

use super::corrections::{self, Columns, Corrected, Incoming};
use super::StoreError;

/// What [`upsert`] did with its rows.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Upserted {
    pub inserted: u64,
    pub duplicate: u64,
    pub corrected: Corrected,
}

/// Inserts the new rows and applies the corrections among the others.
///
/// # Errors
/// Database errors.
pub(super) async fn upsert(
    tx: &mut sqlx::PgConnection,
    rows: &[Incoming<'_>],
) -> Result<Upserted, StoreError> {
    let columns = Columns::of(rows);
    let query = sqlx::query_as(
        "INSERT INTO readings (time, point_id, pollutant, kind, value, min, max, cou, flag,
                               source, sender)
         SELECT * FROM UNNEST($1::timestamptz[], $2::text[], $3::text[], $4::text[],
                              $5::float8[], $6::float8[], $7::float8[], $8::float8[], $9::text[],
                              $10::text[], $11::text[])
         ON CONFLICT DO NOTHING
         RETURNING point_id, pollutant, kind, time",
    );
    let inserted: Vec<(String, String, String, DateTime<Utc>)> =
        columns.bind(query).fetch_all(&mut *tx).await?;
    let mut fresh: HashMap<corrections::Key<'_>, ()> = inserted
        .iter()
        .map(|(p, pol, k, t)| ((p.as_str(), pol.as_str(), k.as_str(), *t), ()))
        .collect();
    // A row whose key this statement inserted is that insert, once; every other row met a
    // stored reading (or an earlier row of this batch) and may correct it.
    let skipped: Vec<Incoming<'_>> = rows
        .iter()
        .filter(|row| fresh.remove(&corrections::key(row.reading)).is_none())
        .copied()
        .collect();
    let corrected = corrections::apply(tx, &skipped).await?;
    Ok(Upserted {
        inserted: inserted.len() as u64,
        duplicate: corrected.identical,
        corrected,
    })
}

/// The constraint a redelivered reading violates in [`copy`].
pub(super) const PRIMARY_KEY: &str = "readings_pkey";

/// Copies the rows in PostgreSQL's binary COPY format; returns how many were written.
///
/// # Errors
/// Database errors, among them a unique violation of [`PRIMARY_KEY`] when a row exists.
pub(super) async fn copy(
    tx: &mut sqlx::PgConnection,
    rows: &[Incoming<'_>],
) -> Result<u64, StoreError> {
    let mut copy = tx
        .copy_in_raw(
            "COPY readings (time, point_id, pollutant, kind, value, min, max, cou, flag, source,
                            sender)
             FROM STDIN WITH (FORMAT binary)",
        )
        .await?;
    let buf = encode_binary(rows);
    // On error the COPY is abandoned with the transaction; the caller rolls back.
    copy.send(buf).await?;
    Ok(copy.finish().await?)
}

/// PostgreSQL's binary COPY format: a header, then per row the field count and each field as
/// length + bytes (timestamptz as microseconds since 2000-01-01 UTC, float8 as IEEE bits).
fn encode_binary(rows: &[Incoming<'_>]) -> Vec<u8> {
    // A valid UTC date: always a single instant.
    let epoch = Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).unwrap();
    let mut buf = Vec::with_capacity(19 + rows.len() * 110 + 2);
    buf.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
    buf.extend_from_slice(&0i32.to_be_bytes()); // flags
    buf.extend_from_slice(&0i32.to_be_bytes()); // header extension length
    let text = |buf: &mut Vec<u8>, s: Option<&str>| match s {
        Some(s) => {
            buf.extend_from_slice(&(s.len() as i32).to_be_bytes());
            buf.extend_from_slice(s.as_bytes());
        }
        None => buf.extend_from_slice(&(-1i32).to_be_bytes()), // NULL
    };
    let float = |buf: &mut Vec<u8>, v: Option<f64>| match v {
        Some(v) => {
            buf.extend_from_slice(&8i32.to_be_bytes());
            buf.extend_from_slice(&v.to_bits().to_be_bytes());
        }
        None => buf.extend_from_slice(&(-1i32).to_be_bytes()), // NULL
    };
    for row in rows {
        let r = row.reading;
        buf.extend_from_slice(&11i16.to_be_bytes());
        let micros = (r.time - epoch).num_microseconds().unwrap_or(i64::MAX);
        buf.extend_from_slice(&8i32.to_be_bytes());
        buf.extend_from_slice(&micros.to_be_bytes());
        text(&mut buf, Some(r.point.as_str()));
        text(&mut buf, Some(r.pollutant.as_str()));
        text(&mut buf, Some(r.kind.code()));
        float(&mut buf, Some(r.value));
        float(&mut buf, r.min);
        float(&mut buf, r.max);
        float(&mut buf, r.cou);
        text(&mut buf, Some(r.flag.code()));
        text(&mut buf, Some(row.source));
        text(&mut buf, row.sender);
    }
    buf.extend_from_slice(&(-1i16).to_be_bytes());
    buf
}

/// Readings older than this may lie outside the TimescaleDB refresh policy's look-back (30 days)
/// by the time it next runs.
const LATE_AFTER_DAYS: i64 = 29;

/// Queues the hours of readings older than [`LATE_AFTER_DAYS`] for the rollup worker to refresh
/// (`readings_note_late`: TimescaleDB only; plain PostgreSQL's rollups need nothing), in the
/// transaction that stores them. Nothing is sent for a batch of recent readings.
///
/// # Errors
/// Database errors.
pub(super) async fn note_late(
    tx: &mut sqlx::PgConnection,
    rows: &[Incoming<'_>],
) -> Result<(), StoreError> {
    let Some(late) = Utc::now().checked_sub_signed(chrono::Duration::days(LATE_AFTER_DAYS)) else {
        return Ok(());
    };
    let mut hours: Vec<DateTime<Utc>> = rows
        .iter()
        .map(|row| row.reading.time)
        .filter(|t| *t < late)
        .map(crate::domain::floor_hour)
        .collect();
    if hours.is_empty() {
        return Ok(());
    }
    hours.sort_unstable();
    hours.dedup();
    sqlx::query("SELECT readings_note_late($1)")
        .bind(&hours)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Keeps `point_last_seen` (latest reading and latest valid reading per point) current, in the
/// transaction that stores the rows.
///
/// # Errors
/// Database errors.
pub(super) async fn update_last_seen(
    tx: &mut sqlx::PgConnection,
    rows: &[Incoming<'_>],
) -> Result<(), StoreError> {
    let mut latest: HashMap<&str, (DateTime<Utc>, Option<DateTime<Utc>>)> = HashMap::new();
    for r in rows.iter().map(|row| row.reading) {
        let valid = r.flag.is_valid().then_some(r.time);
        latest
            .entry(r.point.as_str())
            .and_modify(|(last, last_valid)| {
                *last = (*last).max(r.time);
                *last_valid = (*last_valid).max(valid);
            })
            .or_insert((r.time, valid));
    }
    let mut points = Vec::with_capacity(latest.len());
    let mut last = Vec::with_capacity(latest.len());
    let mut last_valid = Vec::with_capacity(latest.len());
    // One lock order for every transaction: concurrent commits cannot deadlock here.
    let mut latest: Vec<_> = latest.into_iter().collect();
    latest.sort_unstable_by_key(|(p, _)| *p);
    for (p, (l, v)) in latest {
        points.push(p);
        last.push(l);
        last_valid.push(v);
    }
    sqlx::query(
        "INSERT INTO point_last_seen (point_id, last_reading, last_valid)
         SELECT * FROM UNNEST($1::text[], $2::timestamptz[], $3::timestamptz[])
         ON CONFLICT (point_id) DO UPDATE SET
             last_reading = GREATEST(point_last_seen.last_reading, EXCLUDED.last_reading),
             last_valid = GREATEST(point_last_seen.last_valid, EXCLUDED.last_valid)",
    )
    .bind(&points)
    .bind(&last)
    .bind(&last_valid)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The newest reading time of any point (from `point_last_seen`, one row per point); `None`
/// before the first reading. The demo replays only the time since then.
///
/// # Errors
/// Database errors.
pub async fn latest_reading_time(pool: &sqlx::PgPool) -> Result<Option<DateTime<Utc>>, StoreError> {
    let (latest,): (Option<DateTime<Utc>>,) =
        sqlx::query_as("SELECT max(last_reading) FROM point_last_seen")
            .fetch_one(pool)
            .await?;
    Ok(latest)
}
