//! The monthly compliance bulletin: per park, the month's data rates, the points below the
//! validity threshold, discharge exceedances and the energy-intensity status, rendered as a
//! table, JSON or CSV (`greenmon report`).

use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use sqlx::PgPool;

use super::energy::EnergyStatus;
use super::rates::local_day_bounds;
use super::service;
use crate::store::StoreError;

/// One park's month.
#[derive(Debug, Clone, Serialize)]
pub struct MonthlyReport {
    pub park_id: String,
    pub month: String,
    pub required_points: usize,
    /// Sums over required points and days: 传输率, 有效率, 传输有效率.
    pub transmission: Option<f64>,
    pub validity: Option<f64>,
    pub effective: Option<f64>,
    /// Required points whose effective transmission rate is below the threshold.
    pub points_below_threshold: Vec<PointBelow>,
    pub exceedance_episodes: usize,
    pub exceedance_hours: u32,
    /// Year to date as of the month's end.
    pub energy: Option<EnergyStatus>,
}

/// A required point below the effective-transmission threshold.
#[derive(Debug, Clone, Serialize)]
pub struct PointBelow {
    pub point_id: String,
    pub effective: Option<f64>,
}

/// Builds the month's report for one park or all.
///
/// # Errors
/// Database errors.
pub async fn monthly(
    pool: &PgPool,
    tz: Tz,
    park: Option<&str>,
    first_day: NaiveDate,
    threshold: f64,
    now: DateTime<Utc>,
) -> Result<Vec<MonthlyReport>, StoreError> {
    let next = first_day + chrono::Months::new(1);
    let last_day = next.pred_opt().unwrap_or(first_day);
    let (from, _) = local_day_bounds(first_day, tz);
    let (to, _) = local_day_bounds(next, tz);
    let rates = service::rates(pool, tz, park, first_day, last_day, now).await?;
    let exceedances = service::exceedances(pool, park, from, to, now).await?;
    let energy = service::energy(pool, park, chrono::Datelike::year(&first_day), next).await?;
    Ok(rates
        .into_iter()
        .map(|r| {
            let own = exceedances.iter().filter(|e| e.park_id == r.park_id);
            MonthlyReport {
                month: first_day.format("%Y-%m").to_string(),
                required_points: r.points.iter().filter(|p| p.required).count(),
                transmission: r.transmission,
                validity: r.validity,
                effective: r.effective,
                points_below_threshold: r
                    .points
                    .iter()
                    .filter(|p| p.required && p.rates.effective().is_none_or(|e| e < threshold))
                    .map(|p| PointBelow {
                        point_id: p.point_id.clone(),
                        effective: p.rates.effective(),
                    })
                    .collect(),
                exceedance_episodes: own.clone().count(),
                exceedance_hours: own.map(|e| e.episode.hours).sum(),
                energy: energy
                    .iter()
                    .find(|e| e.park_id == r.park_id)
                    .and_then(|e| e.status),
                park_id: r.park_id,
            }
        })
        .collect())
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), |x| format!("{:.1}%", x * 100.0))
}

/// The reports as an aligned text table.
pub fn render_table(reports: &[MonthlyReport]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<18} {:<7} {:>6} {:>8} {:>8} {:>8} {:>9} {:>7} {:>11} {:>10} {:>10}  points below threshold",
        "park", "month", "points", "transm", "valid", "effect", "exceed", "hours", "intensity", "reduction", "required"
    );
    for r in reports {
        let (intensity, reduction, required) =
            r.energy
                .map_or(("-".to_string(), "-".to_string(), "-".to_string()), |e| {
                    (
                        format!("{:.4}", e.intensity),
                        pct(Some(e.reduction)),
                        pct(Some(e.required_reduction)),
                    )
                });
        let below: Vec<&str> = r
            .points_below_threshold
            .iter()
            .map(|p| p.point_id.as_str())
            .collect();
        let _ = writeln!(
            out,
            "{:<18} {:<7} {:>6} {:>8} {:>8} {:>8} {:>9} {:>7} {:>11} {:>10} {:>10}  {}",
            r.park_id,
            r.month,
            r.required_points,
            pct(r.transmission),
            pct(r.validity),
            pct(r.effective),
            r.exceedance_episodes,
            r.exceedance_hours,
            intensity,
            reduction,
            required,
            if below.is_empty() {
                "-".to_string()
            } else {
                below.join(" ")
            }
        );
    }
    out
}

/// The reports as CSV with a header row (fractions, not percentages).
pub fn render_csv(reports: &[MonthlyReport]) -> String {
    let mut out = String::from(
        "park,month,required_points,transmission,validity,effective,exceedance_episodes,exceedance_hours,energy_months_covered,intensity,reduction,required_reduction,on_track,points_below_threshold\n",
    );
    let num = |v: Option<f64>| v.map_or_else(String::new, |x| format!("{x:.6}"));
    for r in reports {
        let e = r.energy;
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            r.park_id,
            r.month,
            r.required_points,
            num(r.transmission),
            num(r.validity),
            num(r.effective),
            r.exceedance_episodes,
            r.exceedance_hours,
            e.map_or_else(String::new, |e| e.months_covered.to_string()),
            num(e.map(|e| e.intensity)),
            num(e.map(|e| e.reduction)),
            num(e.map(|e| e.required_reduction)),
            e.map_or_else(String::new, |e| e.on_track.to_string()),
            r.points_below_threshold
                .iter()
                .map(|p| p.point_id.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> MonthlyReport {
        MonthlyReport {
            park_id: "park-a".into(),
            month: "2018-03".into(),
            required_points: 2,
            transmission: Some(0.95),
            validity: Some(0.9),
            effective: Some(0.855),
            points_below_threshold: vec![PointBelow {
                point_id: "a-out".into(),
                effective: Some(0.7),
            }],
            exceedance_episodes: 1,
            exceedance_hours: 3,
            energy: None,
        }
    }

    #[test]
    fn table_and_csv() {
        let t = render_table(&[sample()]);
        assert!(
            t.contains("park-a") && t.contains("85.5%") && t.contains("a-out"),
            "{t}"
        );
        let c = render_csv(&[sample()]);
        let lines: Vec<&str> = c.lines().collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].split(',').count(), lines[1].split(',').count());
        assert!(lines[1].starts_with("park-a,2018-03,2,0.950000,0.900000,0.855000,1,3,"));
    }
}
