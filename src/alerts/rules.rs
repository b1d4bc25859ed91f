//! The rules: from the compliance engine's views of now, the conditions that hold, one per alert
//! key. Pure: the engine loads the views, these functions only read them.

use chrono::{Datelike, NaiveDate, Utc};

use crate::compliance::exceedance::Direction;
use crate::compliance::service::{Exceedance, ParkEnergy, ParkNow, ParkRates};
use crate::compliance::status::PointStatus;
use crate::domain::alert::{AlertKey, Condition, RuleKind, Texts};
use crate::domain::{EnergyReport, Period};
use crate::store::hj212::ClockRow;

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// Required points offline or never reported. The condition starts at the last valid reading
/// (or the last reading, for a point whose data are all flagged).
pub fn point_offline(parks: &[ParkNow]) -> Vec<Condition> {
    let mut out = Vec::new();
    for park in parks {
        for pt in park.points.iter().filter(|p| p.required) {
            if !matches!(pt.status, PointStatus::Offline | PointStatus::NeverReported) {
                continue;
            }
            let since = pt.last_valid.or(pt.last_reading);
            let last = since.map_or_else(|| "never".to_string(), |t| t.to_rfc3339());
            out.push(Condition {
                key: AlertKey::point(RuleKind::PointOffline, &park.park_id, &pt.point_id),
                since,
                value: None,
                threshold: None,
                texts: Texts {
                    summary: format!("Point {} of park {} is offline", pt.point_id, park.park_id),
                    summary_zh: format!("园区 {} 监测点 {} 离线", park.park_id, pt.point_id),
                    description: format!(
                        "Required monitoring point {} ({}) has sent no valid data since {last}; \
                         the park's automatic online monitoring is below 100%.",
                        pt.point_id, pt.name
                    ),
                    description_zh: format!(
                        "必测监测点 {}（{}）自 {last} 起无有效数据，园区自动在线监控率低于100%。",
                        pt.point_id, pt.name
                    ),
                },
            });
        }
    }
    out
}

/// Parks with required points whose monitoring rate is below 100%.
pub fn park_monitoring_rate(parks: &[ParkNow]) -> Vec<Condition> {
    parks
        .iter()
        .filter(|p| p.required_points > 0 && !p.compliant)
        .map(|p| {
            let below: Vec<String> = p
                .below_target
                .iter()
                .map(|pt| format!("{} ({})", pt.point_id, pt.status.as_str()))
                .collect();
            let below = below.join(", ");
            Condition {
                key: AlertKey::park(RuleKind::ParkMonitoringRate, &p.park_id),
                since: None,
                value: Some(p.monitoring_rate),
                threshold: Some(1.0),
                texts: Texts {
                    summary: format!(
                        "Park {} online monitoring at {} ({} of {} required points)",
                        p.park_id,
                        pct(p.monitoring_rate),
                        p.online_required_points,
                        p.required_points
                    ),
                    summary_zh: format!(
                        "园区 {} 自动在线监控率 {}（{}/{} 个必测点在线）",
                        p.park_id,
                        pct(p.monitoring_rate),
                        p.online_required_points,
                        p.required_points
                    ),
                    description: format!(
                        "{} ({}) is below the 100% automatic online monitoring target. \
                         Points keeping it below: {below}.",
                        p.name, p.park_id
                    ),
                    description_zh: format!(
                        "{}（{}）未达到100%自动在线监控目标。未在线的监测点：{below}。",
                        p.name, p.park_id
                    ),
                },
            }
        })
        .collect()
}

/// Open exceedance episodes. The condition starts at the episode's first hour.
pub fn discharge_exceedance(exceedances: &[Exceedance]) -> Vec<Condition> {
    exceedances
        .iter()
        .filter(|e| e.episode.open)
        .map(|e| {
            let ep = &e.episode;
            let (word, word_zh) = match ep.direction {
                Direction::Above => ("above the upper", "超过上限"),
                Direction::Below => ("below the lower", "低于下限"),
            };
            Condition {
                key: AlertKey::pollutant(
                    RuleKind::DischargeExceedance,
                    &e.park_id,
                    &e.point_id,
                    &e.pollutant,
                ),
                since: Some(ep.start),
                value: Some(ep.peak),
                threshold: Some(ep.limit),
                texts: Texts {
                    summary: format!(
                        "{} at point {} {word} limit: {} vs {}",
                        e.pollutant, e.point_id, ep.peak, ep.limit
                    ),
                    summary_zh: format!(
                        "监测点 {} 的 {} 小时均值{word_zh}：{}（限值 {}）",
                        e.point_id, e.pollutant, ep.peak, ep.limit
                    ),
                    description: format!(
                        "The hourly average of {} at point {} (park {}) has been {word} limit \
                         {} since {} ({} hour(s)); worst hourly average {}.",
                        e.pollutant,
                        e.point_id,
                        e.park_id,
                        ep.limit,
                        ep.start.to_rfc3339(),
                        ep.hours,
                        ep.peak
                    ),
                    description_zh: format!(
                        "园区 {} 监测点 {} 的 {} 自 {} 起小时均值{word_zh}（限值 {}），持续 {} 小时，最大偏离值 {}。",
                        e.park_id,
                        e.point_id,
                        e.pollutant,
                        ep.start.to_rfc3339(),
                        ep.limit,
                        ep.hours,
                        ep.peak
                    ),
                },
            }
        })
        .collect()
}

/// Points whose effective transmission rate over `rates`' day range is below `threshold`.
/// `threshold_for(park, point)` gives the threshold after overrides.
pub fn low_effective_rate(
    rates: &[ParkRates],
    threshold_for: impl Fn(&str, &str) -> f64,
) -> Vec<Condition> {
    let mut out = Vec::new();
    for park in rates {
        for pt in &park.points {
            let Some(effective) = pt.rates.effective() else {
                continue;
            };
            let threshold = threshold_for(&park.park_id, &pt.point_id);
            if effective >= threshold {
                continue;
            }
            let day = park.to;
            out.push(Condition {
                key: AlertKey::point(RuleKind::LowEffectiveRate, &park.park_id, &pt.point_id),
                since: None,
                value: Some(effective),
                threshold: Some(threshold),
                texts: Texts {
                    summary: format!(
                        "Point {} effective transmission rate {} on {day}",
                        pt.point_id,
                        pct(effective)
                    ),
                    summary_zh: format!(
                        "监测点 {} {day} 有效传输率 {}",
                        pt.point_id,
                        pct(effective)
                    ),
                    description: format!(
                        "Point {} of park {} had an effective transmission rate of {} on {day}, \
                         below the {} threshold of the data-validity rules.",
                        pt.point_id,
                        park.park_id,
                        pct(effective),
                        pct(threshold)
                    ),
                    description_zh: format!(
                        "园区 {} 监测点 {} 在 {day} 的有效传输率为 {}，低于数据有效性考核要求 {}。",
                        park.park_id,
                        pt.point_id,
                        pct(effective),
                        pct(threshold)
                    ),
                },
            });
        }
    }
    out
}

/// Parks behind the required path this year, up to and including the target year.
pub fn energy_off_track(energy: &[ParkEnergy]) -> Vec<Condition> {
    energy
        .iter()
        .filter_map(|e| {
            let s = e.status?;
            (s.year <= e.target_year && !s.on_track).then(|| Condition {
                key: AlertKey::park(RuleKind::EnergyOffTrack, &e.park_id),
                since: None,
                value: Some(s.reduction),
                threshold: Some(s.required_reduction),
                texts: Texts {
                    summary: format!(
                        "Park {} energy intensity {} below baseline, path requires {}",
                        e.park_id,
                        pct(s.reduction),
                        pct(s.required_reduction)
                    ),
                    summary_zh: format!(
                        "园区 {} 单位增加值能耗较基准年下降 {}，低于路径要求 {}",
                        e.park_id,
                        pct(s.reduction),
                        pct(s.required_reduction)
                    ),
                    description: format!(
                        "In {} (data for {} month(s)) park {} used {:.4} tce per 10,000 yuan, \
                         {} below its {} baseline; the path to a {} cut by {} requires {}.",
                        s.year,
                        s.months_covered,
                        e.park_id,
                        s.intensity,
                        pct(s.reduction),
                        e.baseline_year,
                        pct(e.target_reduction),
                        e.target_year,
                        pct(s.required_reduction)
                    ),
                    description_zh: format!(
                        "园区 {} {} 年（{} 个月数据）单位增加值能耗 {:.4} 吨标准煤/万元，较 {} 年基准下降 {}；按 {} 年下降 {} 的路径，本年应下降 {}。",
                        e.park_id,
                        s.year,
                        s.months_covered,
                        s.intensity,
                        e.baseline_year,
                        pct(s.reduction),
                        e.target_year,
                        pct(e.target_reduction),
                        pct(s.required_reduction)
                    ),
                },
            })
        })
        .collect()
}

/// After the target year: parks whose target year fell short of the goal.
pub fn energy_target_missed(energy: &[ParkEnergy]) -> Vec<Condition> {
    energy
        .iter()
        .filter_map(|e| {
            let s = e.status?;
            (s.year > e.target_year && s.will_meet_target == Some(false)).then(|| Condition {
                key: AlertKey::park(RuleKind::EnergyTargetMissed, &e.park_id),
                since: None,
                value: None,
                threshold: Some(e.target_reduction),
                texts: Texts {
                    summary: format!(
                        "Park {} missed its {} energy-intensity target",
                        e.park_id, e.target_year
                    ),
                    summary_zh: format!(
                        "园区 {} 未完成 {} 年能耗强度目标",
                        e.park_id, e.target_year
                    ),
                    description: format!(
                        "Park {} did not cut its energy per 10,000 yuan of value added by {} \
                         from {} to {}.",
                        e.park_id,
                        pct(e.target_reduction),
                        e.baseline_year,
                        e.target_year
                    ),
                    description_zh: format!(
                        "园区 {} {} 年单位增加值能耗未较 {} 年下降 {}。",
                        e.park_id,
                        e.target_year,
                        e.baseline_year,
                        pct(e.target_reduction)
                    ),
                },
            })
        })
        .collect()
}

/// The latest month whose report is due by `today`: it ended (at 00:00 of the next month's
/// first day) at least `grace_days` ago.
pub fn month_due(today: NaiveDate, grace_days: u32) -> Option<(i32, u32)> {
    let cutoff = today - chrono::Duration::days(i64::from(grace_days));
    // The month before the cutoff's month ended on or before the cutoff.
    let first = cutoff.with_day(1)?;
    let last_month = first.pred_opt()?;
    Some((last_month.year(), last_month.month()))
}

/// Parks with no report (monthly, quarterly or annual) covering the latest month due.
/// `parks` lists every park with its id; `reports` every report of the relevant years.
pub fn energy_report_overdue(
    parks: &[(String, String)],
    reports: &[EnergyReport],
    today: NaiveDate,
    tz: chrono_tz::Tz,
    grace_days_for: impl Fn(&str) -> u32,
) -> Vec<Condition> {
    let mut out = Vec::new();
    for (park, name) in parks {
        let grace = grace_days_for(park);
        let Some((year, month)) = month_due(today, grace) else {
            continue;
        };
        let Ok(period) = format!("{year}-{month:02}").parse::<Period>() else {
            continue;
        };
        let covered = reports.iter().any(|r| {
            r.park.as_str() == park
                && r.period.start() <= period.start()
                && r.period.end() >= period.end()
        });
        if covered {
            continue;
        }
        let due = period.end() + chrono::Duration::days(i64::from(grace));
        let since = due
            .and_hms_opt(0, 0, 0)
            .and_then(|d| d.and_local_timezone(tz).earliest())
            .map(|d| d.with_timezone(&Utc));
        let days_late = (today - due).num_days().max(0);
        out.push(Condition {
            key: AlertKey::park(RuleKind::EnergyReportOverdue, park),
            since,
            value: Some(days_late as f64),
            threshold: None,
            texts: Texts {
                summary: format!("Park {park} has not reported energy for {year}-{month:02}"),
                summary_zh: format!("园区 {park} 未报送 {year}年{month}月 能耗数据"),
                description: format!(
                    "{name} ({park}) has no energy and value-added report covering {year}-{month:02}, \
                     due {due} ({grace} days after the month ended)."
                ),
                description_zh: format!(
                    "{name}（{park}）尚未报送覆盖 {year}年{month}月 的能耗与工业增加值数据，报送期限为 {due}（月末后 {grace} 天）。"
                ),
            },
        });
    }
    out
}

/// Loggers whose clock, at its last measurement, differs from greenmon's by more than their
/// limit (seconds). `clocks` are the measurements recent enough to speak for now.
pub fn clock_drift(clocks: &[ClockRow], limit_secs: impl Fn(&str, &str) -> u64) -> Vec<Condition> {
    clocks
        .iter()
        .filter_map(|c| {
            let limit = limit_secs(&c.park_id, &c.point_id) as f64;
            if c.drift_secs.abs() <= limit {
                return None;
            }
            let (ahead, ahead_zh) = if c.drift_secs > 0.0 {
                ("ahead of", "快")
            } else {
                ("behind", "慢")
            };
            let secs = c.drift_secs.abs().round();
            let how = if c.source == "1011" {
                "its answer to a clock request (CN 1011)"
            } else {
                "the DataTime of its real-time data"
            };
            Some(Condition {
                key: AlertKey::point(RuleKind::ClockDrift, &c.park_id, &c.point_id),
                since: None,
                value: Some(c.drift_secs),
                threshold: Some(limit),
                texts: Texts {
                    summary: format!(
                        "Logger of point {} (park {}) is {secs} s {ahead} greenmon's clock",
                        c.point_id, c.park_id
                    ),
                    summary_zh: format!(
                        "园区 {} 监测点 {} 数采仪时钟{ahead_zh} {secs} 秒",
                        c.park_id, c.point_id
                    ),
                    description: format!(
                        "The HJ 212 logger MN {} of point {} is {secs} s {ahead} greenmon's clock                          (limit {limit} s), by {how} at {}. Its data are time-stamped by its                          clock: hours may be misplaced or quarantined as future readings.",
                        c.mn,
                        c.point_id,
                        c.measured_at.to_rfc3339()
                    ),
                    description_zh: format!(
                        "监测点 {} 的数采仪（MN {}）时钟{ahead_zh} {secs} 秒（限值 {limit} 秒），                         数据时标可能错位。",
                        c.point_id, c.mn
                    ),
                },
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_beyond_their_limit() {
        let row = |point: &str, drift: f64| ClockRow {
            park_id: "p".into(),
            point_id: point.into(),
            mn: "MN".into(),
            drift_secs: drift,
            source: "datatime".into(),
            measured_at: Utc::now(),
        };
        let rows = [
            row("a", -600.0),
            row("b", 119.0),
            row("c", 121.5),
            row("d", 30.0),
        ];
        let got = clock_drift(&rows, |_, point| if point == "d" { 10 } else { 120 });
        let points: Vec<&str> = got.iter().map(|c| c.key.point.as_str()).collect();
        assert_eq!(points, ["a", "c", "d"]);
        assert!(
            got[0].texts.summary.contains("600 s behind"),
            "{}",
            got[0].texts.summary
        );
        assert!(
            got[1].texts.summary.contains("122 s ahead of"),
            "{}",
            got[1].texts.summary
        );
        assert_eq!(
            (got[0].value, got[0].threshold),
            (Some(-600.0), Some(120.0))
        );
    }

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn month_due_after_grace() {
        // March ends at 04-01 00:00; with 15 days' grace its report is due by 04-16.
        assert_eq!(month_due(d("2018-04-15"), 15), Some((2018, 2)));
        assert_eq!(month_due(d("2018-04-16"), 15), Some((2018, 3)));
        assert_eq!(month_due(d("2018-01-20"), 15), Some((2017, 12)));
        assert_eq!(month_due(d("2018-01-10"), 15), Some((2017, 11)));
    }

    fn report(park: &str, period: &str) -> EnergyReport {
        EnergyReport {
            park: crate::domain::ParkId::parse(park).unwrap(),
            period: period.parse().unwrap(),
            energy_tce: 1.0,
            value_added_10k_yuan: 1.0,
            price_index: 1.0,
        }
    }

    #[test]
    fn overdue_unless_a_month_quarter_or_year_covers_it() {
        let parks: Vec<(String, String)> = ["a", "b", "c", "d"]
            .iter()
            .map(|p| (p.to_string(), format!("Park {p}")))
            .collect();
        let reports = vec![
            report("a", "2018-03"),
            report("b", "2018-Q1"),
            report("c", "2018"),
            report("d", "2018-02"),
        ];
        let got = energy_report_overdue(
            &parks,
            &reports,
            d("2018-04-20"),
            chrono_tz::Asia::Shanghai,
            |_| 15,
        );
        let keys: Vec<&str> = got.iter().map(|c| c.key.park.as_str()).collect();
        assert_eq!(keys, ["d"]);
        assert_eq!(got[0].value, Some(4.0));
        // Due 2018-04-16 00:00 Beijing time = 04-15 16:00 UTC.
        assert_eq!(
            got[0].since.unwrap().to_rfc3339(),
            "2018-04-15T16:00:00+00:00"
        );
    }
}
