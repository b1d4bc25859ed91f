//! The monthly report as text: aligned tables for people (rates as percentages with one decimal,
//! rounded as `rounding` says; every header names its unit) and CSV for spreadsheets (exact
//! fractions, unrounded).

use std::fmt::Write as _;

use super::report::{MonthlyReport, PointMonth};
use super::rounding::percent;

/// Text of an optional number, exact.
fn exact(v: Option<f64>) -> String {
    v.map_or_else(String::new, |x| x.to_string())
}

/// Whether the energy figures are on the path, as words.
fn on_path(r: &MonthlyReport) -> &'static str {
    match r.energy {
        Some(e) if e.on_track => "yes",
        Some(_) => "no",
        None => "-",
    }
}

/// The reports as three aligned tables: parks, points, exceedances.
pub fn render_table(reports: &[MonthlyReport]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<18} {:<7} {:<24} {:>19} {:>8} {:>5} {:>16} {:>12} {:>13} {:>20} {:>25} {:>17} {:>17} {:>14}  points below threshold",
        "park", "month", "verdict", "monitoring rate (%)", "required", "short",
        "transmission (%)", "validity (%)", "effective (%)", "exceedance hours (h)",
        "intensity (tce/10^4 yuan)", "reduction (%)", "path requires (%)", "on path to cut",
    );
    for r in reports {
        let (intensity, reduction, required) =
            r.energy
                .map_or(("-".to_string(), "-".to_string(), "-".to_string()), |e| {
                    (
                        format!("{:.4}", e.intensity),
                        percent(Some(e.reduction)),
                        percent(Some(e.required_reduction)),
                    )
                });
        let below: Vec<&str> = r
            .points_below_threshold
            .iter()
            .map(|p| p.point_id.as_str())
            .collect();
        let _ = writeln!(
            out,
            "{:<18} {:<7} {:<24} {:>19} {:>8} {:>5} {:>16} {:>12} {:>13} {:>20} {:>25} {:>17} {:>17} {:>14}  {}",
            r.park_id,
            r.month,
            r.verdict.label(),
            percent(r.monitoring_rate),
            r.required_points,
            r.required_points_short,
            percent(r.transmission),
            percent(r.validity),
            percent(r.effective),
            r.exceedance_hours,
            intensity,
            reduction,
            required,
            on_path(r),
            if below.is_empty() { "-".to_string() } else { below.join(" ") }
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<18} {:<24} {:<8} {:>9} {:>16} {:>12} {:>13}  below threshold",
        "park",
        "point",
        "required",
        "owed (h)",
        "transmission (%)",
        "validity (%)",
        "effective (%)",
    );
    for r in reports {
        for p in &r.points {
            let _ = writeln!(
                out,
                "{:<18} {:<24} {:<8} {:>9} {:>16} {:>12} {:>13}  {}",
                r.park_id,
                p.point_id,
                if p.required { "yes" } else { "no" },
                p.hours.expected,
                percent(p.transmission),
                percent(p.validity),
                percent(p.effective),
                if p.below_threshold { "yes" } else { "no" },
            );
        }
    }
    let exceeding: Vec<(&MonthlyReport, &PointMonth)> = reports
        .iter()
        .flat_map(|r| r.points.iter().map(move |p| (r, p)))
        .filter(|(_, p)| !p.exceedances.is_empty())
        .collect();
    if !exceeding.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{:<18} {:<24} {:<9} {:>9} {:>10} {:>10} {:<6} unit",
            "park", "point", "pollutant", "hours (h)", "peak", "limit", "bound"
        );
        for (r, p) in exceeding {
            for e in &p.exceedances {
                let _ = writeln!(
                    out,
                    "{:<18} {:<24} {:<9} {:>9} {:>10} {:>10} {:<6} {}",
                    r.park_id,
                    p.point_id,
                    e.pollutant,
                    e.hours,
                    format!("{:.2}", e.peak),
                    e.limit,
                    match e.direction {
                        super::exceedance::Direction::Above => "upper",
                        super::exceedance::Direction::Below => "lower",
                    },
                    e.unit.unwrap_or("-"),
                );
            }
        }
    }
    out
}

/// The parks as CSV with a header row: exact fractions (not percentages), unrounded.
pub fn render_csv(reports: &[MonthlyReport]) -> String {
    let mut out = String::from(
        "park,month,required_points,verdict,monitoring_rate,required_points_owing,required_points_short,expected_hours,received_hours,valid_hours,transmission,validity,effective,exceedance_episodes,exceedance_hours,energy_baseline_year,energy_target_year,energy_target_reduction,energy_months_covered,intensity,reduction,required_reduction,on_track,points_below_threshold\n",
    );
    for r in reports {
        let e = r.energy;
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            r.park_id,
            r.month,
            r.required_points,
            serde_json::to_value(r.verdict)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            exact(r.monitoring_rate),
            r.required_points_owing,
            r.required_points_short,
            r.hours.expected,
            r.hours.received,
            r.hours.valid,
            exact(r.transmission),
            exact(r.validity),
            exact(r.effective),
            r.exceedance_episodes,
            r.exceedance_hours,
            r.energy_baseline_year
                .map_or_else(String::new, |y| y.to_string()),
            r.energy_target_year
                .map_or_else(String::new, |y| y.to_string()),
            exact(r.energy_target_reduction),
            e.map_or_else(String::new, |e| e.months_covered.to_string()),
            exact(e.map(|e| e.intensity)),
            exact(e.map(|e| e.reduction)),
            exact(e.map(|e| e.required_reduction)),
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
