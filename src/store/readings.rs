//! Writes to `readings`: one multi-row `INSERT ... SELECT FROM UNNEST(...)` per batch, with
//! `ON CONFLICT DO NOTHING` so a redelivered message stores nothing twice.

use chrono::{DateTime, Utc};

use super::StoreError;
use crate::domain::Reading;

/// Inserts the rows; returns how many were new.
///
/// # Errors
/// Database errors.
pub(super) async fn insert(
    tx: &mut sqlx::PgConnection,
    rows: &[&Reading],
) -> Result<u64, StoreError> {
    let mut time: Vec<DateTime<Utc>> = Vec::with_capacity(rows.len());
    let mut point: Vec<&str> = Vec::with_capacity(rows.len());
    let mut pollutant: Vec<&str> = Vec::with_capacity(rows.len());
    let mut value: Vec<f64> = Vec::with_capacity(rows.len());
    let mut flag: Vec<&str> = Vec::with_capacity(rows.len());
    for r in rows {
        time.push(r.time);
        point.push(r.point.as_str());
        pollutant.push(r.pollutant.as_str());
        value.push(r.value);
        flag.push(r.flag.code());
    }
    let done = sqlx::query(
        "INSERT INTO readings (time, point_id, pollutant, value, flag)
         SELECT * FROM UNNEST($1::timestamptz[], $2::text[], $3::text[], $4::float8[], $5::text[])
         ON CONFLICT DO NOTHING",
    )
    .bind(&time)
    .bind(&point)
    .bind(&pollutant)
    .bind(&value)
    .bind(&flag)
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected())
}
