//! The registry in the database: importing parks, points and limits from a validated
//! [`Registry`]. Import is idempotent: re-importing the same file changes nothing, and a changed
//! file updates rows in place. Points missing from the file are kept (their readings stay
//! meaningful); limits of the points in the file are replaced by the file's.

use chrono_tz::Tz;
use sqlx::PgPool;

use super::StoreError;
use crate::domain::registry::Registry;

/// Counts of what an import wrote.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ImportSummary {
    pub parks: usize,
    pub points: usize,
    pub limits: usize,
}

/// Imports the registry in one transaction. Commissioning and retirement dates are local
/// midnights in `tz`. A point without `monitored_since` keeps its stored one (a new point: its
/// registration time); `retired_at` is set as given (unset: in service).
///
/// # Errors
/// Database errors (e.g. an MN already used by a point outside the file, or a retirement not
/// after the stored commissioning).
pub async fn import(
    pool: &PgPool,
    registry: &Registry,
    tz: Tz,
) -> Result<ImportSummary, StoreError> {
    let mut tx = pool.begin().await?;
    let mut summary = ImportSummary::default();
    for park in &registry.parks {
        sqlx::query(
            "INSERT INTO parks (id, name, name_en, baseline_year, baseline_intensity,
                                target_year, target_reduction)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (id) DO UPDATE SET
                 name = EXCLUDED.name, name_en = EXCLUDED.name_en,
                 baseline_year = EXCLUDED.baseline_year,
                 baseline_intensity = EXCLUDED.baseline_intensity,
                 target_year = EXCLUDED.target_year,
                 target_reduction = EXCLUDED.target_reduction,
                 updated_at = now()",
        )
        .bind(park.id.as_str())
        .bind(&park.name)
        .bind(&park.name_en)
        .bind(park.baseline_year)
        .bind(park.baseline_intensity)
        .bind(park.target_year)
        .bind(park.target_reduction)
        .execute(&mut *tx)
        .await?;
        summary.parks += 1;
        for point in &park.points {
            sqlx::query(
                "INSERT INTO monitoring_points
                     (id, park_id, name, kind, mn, required, interval_secs, allowed_gap_secs,
                      hj212_password, hj212_crc_modes, monitored_since, retired_at,
                      hj212_set_clock, hj212_st)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, coalesce($11, now()), $12, $13,
                         $14)
                 ON CONFLICT (id) DO UPDATE SET
                     park_id = EXCLUDED.park_id, name = EXCLUDED.name, kind = EXCLUDED.kind,
                     mn = EXCLUDED.mn, required = EXCLUDED.required,
                     interval_secs = EXCLUDED.interval_secs,
                     allowed_gap_secs = EXCLUDED.allowed_gap_secs,
                     hj212_password = EXCLUDED.hj212_password,
                     hj212_crc_modes = EXCLUDED.hj212_crc_modes,
                     monitored_since = coalesce($11, monitoring_points.monitored_since),
                     retired_at = EXCLUDED.retired_at,
                     hj212_set_clock = EXCLUDED.hj212_set_clock,
                     hj212_st = EXCLUDED.hj212_st, updated_at = now()",
            )
            .bind(point.id.as_str())
            .bind(park.id.as_str())
            .bind(&point.name)
            .bind(&point.kind)
            .bind(point.mn.as_ref().map(|m| m.as_str()))
            .bind(point.required)
            .bind(point.interval_secs)
            .bind(point.allowed_gap_secs)
            .bind(&point.hj212_password)
            .bind(
                point
                    .crc_modes
                    .iter()
                    .map(|m| m.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(point.monitored_since.map(|t| t.instant(tz)))
            .bind(point.retired_at.map(|t| t.instant(tz)))
            .bind(point.hj212_set_clock)
            .bind(&point.hj212_st)
            .execute(&mut *tx)
            .await?;
            summary.points += 1;
            sqlx::query("DELETE FROM discharge_limits WHERE point_id = $1")
                .bind(point.id.as_str())
                .execute(&mut *tx)
                .await?;
            for (pollutant, limit) in &point.limits {
                sqlx::query(
                    "INSERT INTO discharge_limits (point_id, pollutant, lower, upper)
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(point.id.as_str())
                .bind(pollutant.as_str())
                .bind(limit.lower)
                .bind(limit.upper)
                .execute(&mut *tx)
                .await?;
                summary.limits += 1;
            }
        }
    }
    tx.commit().await?;
    Ok(summary)
}
