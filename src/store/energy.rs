//! Writes to `energy_reports`: one row per park and period; a later report for the same period
//! replaces the earlier one (parks correct their figures), and a redelivery changes nothing.

use std::collections::HashMap;

use super::StoreError;
use crate::domain::EnergyReport;

/// Upserts the reports (the last one wins within a batch); returns how many rows were written
/// or changed (an identical re-send is not counted).
///
/// # Errors
/// Database errors.
pub(crate) async fn upsert(
    tx: &mut sqlx::PgConnection,
    reports: &[&EnergyReport],
    source: &str,
) -> Result<u64, StoreError> {
    // One statement must not touch a row twice: keep the last report per (park, period).
    let mut last: HashMap<(&str, String), &EnergyReport> = HashMap::new();
    for r in reports {
        last.insert((r.park.as_str(), r.period.to_string()), r);
    }
    let (mut park, mut period, mut kind, mut start, mut end) =
        (vec![], vec![], vec![], vec![], vec![]);
    let (mut energy, mut va, mut pi) = (vec![], vec![], vec![]);
    for ((p, per), r) in last {
        park.push(p);
        period.push(per);
        kind.push(r.period.kind());
        start.push(r.period.start());
        end.push(r.period.end());
        energy.push(r.energy_tce);
        va.push(r.value_added_10k_yuan);
        pi.push(r.price_index);
    }
    let done = sqlx::query(
        "INSERT INTO energy_reports (park_id, period, period_kind, period_start, period_end,
                                     energy_tce, value_added_10k_yuan, price_index, source)
         SELECT p, per, k, s, e, en, va, pi, $9
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::date[], $5::date[],
                     $6::float8[], $7::float8[], $8::float8[]) AS t(p, per, k, s, e, en, va, pi)
         ON CONFLICT (park_id, period) DO UPDATE SET
             energy_tce = EXCLUDED.energy_tce,
             value_added_10k_yuan = EXCLUDED.value_added_10k_yuan,
             price_index = EXCLUDED.price_index,
             source = EXCLUDED.source,
             received_at = now()
         -- An identical re-send changes nothing: received_at (what \"as of\" reads) stays, and
         -- no revision is kept (the trigger energy_reports_keep_revision keeps the replaced
         -- version of a real change).
         WHERE (energy_reports.energy_tce, energy_reports.value_added_10k_yuan,
                energy_reports.price_index)
               IS DISTINCT FROM (EXCLUDED.energy_tce, EXCLUDED.value_added_10k_yuan,
                                 EXCLUDED.price_index)",
    )
    .bind(&park)
    .bind(&period)
    .bind(&kind)
    .bind(&start)
    .bind(&end)
    .bind(&energy)
    .bind(&va)
    .bind(&pi)
    .bind(source)
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected())
}
