//! HJ 212 records: split uploads whose parts did not all arrive.

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
