//! The monthly report as text: aligned tables for people (rates as percentages with one decimal,
//! rounded as `rounding` says; every header names its unit) and CSV for spreadsheets (exact
//! fractions, unrounded).

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

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

/// A local time as the bureau writes it: `2018-04-01 00:00:00`.
fn local(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S").to_string()
}

/// The reports as three aligned tables (parks, points, exceedances), under a line that states
/// what the figures cover, in local time of `tz`.
pub fn render_table(reports: &[MonthlyReport], tz: Tz) -> String {
    let mut out = String::new();
    if let Some(e) = reports.first().map(|r| r.evaluated) {
        let _ = write!(
            out,
            "hours counted up to {} ({tz}); data received up to {}",
            local(e.up_to, tz),
            local(e.data_cutoff, tz)
        );
        let _ = match e.as_of {
            Some(_) => writeln!(out, " (as of: reproduced as known then)"),
            None => writeln!(out),
        };
    }
    let _ = writeln!(
        out,
        "{:<18} {:<7} {:<24} {:>19} {:>8} {:>5} {:>16} {:>12} {:>13} {:>20} {:>25} {:>28} {:>17} {:>14} {:>7}  points below threshold",
        "park", "month", "verdict", "monitoring rate (%)", "required", "short",
        "transmission (%)", "validity (%)", "effective (%)", "exceedance hours (h)",
        "intensity (tce/10^4 yuan)", "reduction since baseline (%)", "path requires (%)",
        "target cut (%)", "on path",
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
            "{:<18} {:<7} {:<24} {:>19} {:>8} {:>5} {:>16} {:>12} {:>13} {:>20} {:>25} {:>28} {:>17} {:>14} {:>7}  {}",
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
            percent(r.energy_target_reduction),
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
        "park,month,required_points,verdict,monitoring_rate,required_points_owing,required_points_short,expected_hours,received_hours,valid_hours,transmission,validity,effective,exceedance_episodes,exceedance_hours,energy_baseline_year,energy_target_year,energy_target_reduction,energy_months_covered,intensity,reduction,required_reduction,on_track,points_below_threshold,evaluated_up_to,data_cutoff,as_of\n",
    );
    for r in reports {
        let e = r.energy;
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
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
                .join(" "),
            r.evaluated.up_to.to_rfc3339(),
            r.evaluated.data_cutoff.to_rfc3339(),
            r.evaluated
                .as_of
                .map_or_else(String::new, |t| t.to_rfc3339()),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compliance::rates::DailyRates;
    use crate::compliance::report::{MonitoringVerdict, PointBelow};
    use crate::compliance::service::Evaluated;

    fn sample() -> MonthlyReport {
        let hours = DailyRates {
            expected: 80,
            received: 2,
            valid: 1,
        };
        MonthlyReport {
            park_id: "park-a".into(),
            month: "2018-03".into(),
            evaluated: Evaluated {
                up_to: "2018-03-31T16:00:00Z".parse().unwrap(),
                data_cutoff: "2018-04-02T01:00:00Z".parse().unwrap(),
                as_of: None,
            },
            verdict: MonitoringVerdict::BelowTarget,
            monitoring_rate: Some(0.5),
            threshold: 0.9,
            required_points: 2,
            required_points_owing: 2,
            required_points_short: 1,
            hours,
            transmission: Some(0.025),
            validity: Some(0.5),
            effective: Some(0.0125),
            points_below_threshold: vec![PointBelow {
                point_id: "a-out".into(),
                effective: Some(0.0125),
            }],
            points: Vec::new(),
            exceedance_episodes: 1,
            exceedance_hours: 3,
            energy_baseline_year: Some(2015),
            energy_target_year: Some(2020),
            energy_target_reduction: Some(0.2),
            energy: None,
        }
    }

    #[test]
    fn table_rounds_and_csv_is_exact() {
        let t = render_table(&[sample()], chrono_tz::Asia::Shanghai);
        assert_eq!(
            t.lines().next().unwrap(),
            "hours counted up to 2018-04-01 00:00:00 (Asia/Shanghai); data received up to 2018-04-02 09:00:00"
        );
        let row: Vec<&str> = t.lines().nth(2).unwrap().split_whitespace().collect();
        assert_eq!(
            row,
            [
                "park-a", "2018-03", "below", "target", "50.0", "2", "1", "2.5", "50.0", "1.3",
                "3", "-", "-", "-", "20.0", "-", "a-out"
            ],
            "{t}"
        );
        let c = render_csv(&[sample()]);
        let lines: Vec<&str> = c.lines().collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].split(',').count(), lines[1].split(',').count());
        assert!(
            lines[1].starts_with(
                "park-a,2018-03,2,below_target,0.5,2,1,80,2,1,0.025,0.5,0.0125,1,3,2015,2020,0.2,"
            ),
            "{}",
            lines[1]
        );
    }
}
