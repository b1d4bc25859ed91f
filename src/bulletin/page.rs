//! The monthly bulletin as one self-contained HTML document (inline CSS and SVG, nothing
//! fetched): the month in short, the two rankings, and a page per park. Pure: a [`Bulletin`] in,
//! HTML out; every figure is the model's, rounded for display as `compliance::rounding` says.

use std::fmt::Write as _;

use chrono::NaiveDate;
use chrono_tz::Tz;

use super::html::{
    document, energy_chart, esc, evaluated, fig, monitoring_chart, num, table, td, time_td,
};
use super::lang::{self, change_count, change_points, intensity, pct, Lang};
use super::model::{Bulletin, MonthFigure, ParkPage, Rank};
use crate::compliance::exceedance::Direction;
use crate::compliance::report::MonthlyReport;

/// Corrections listed on a park's page at most; the JSON has them all.
const MAX_CORRECTIONS_SHOWN: usize = 100;

/// A park's name in the bulletin's language.
fn park_name(lang: Lang, p: &ParkPage) -> &str {
    lang.park_name(&p.name, p.name_en.as_deref())
}

/// The first day of a `YYYY-MM` month.
fn first_day(month: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d").ok()
}

/// Month labels of a park's history.
pub fn month_labels(lang: Lang, figures: &[MonthFigure]) -> Vec<String> {
    figures
        .iter()
        .map(|m| match first_day(&m.month) {
            Some(d) if d.format("%m").to_string() == "01" => lang.month(d),
            Some(d) => lang.short_month(d),
            None => m.month.clone(),
        })
        .collect()
}

/// The whole bulletin, or one park's page (a bulletin without rankings: no summary either).
pub fn render(b: &Bulletin, lang: Lang, tz: Tz) -> String {
    let month = first_day(&b.month).map_or(b.month.clone(), |d| lang.month(d));
    let title = format!(
        "{} {month}",
        lang.pick("园区绿色发展监测月报", "Park green development bulletin")
    );
    let mut body = format!(
        "<header><h1>{}</h1>{}<p class=\"cover\">{}</p></header>",
        esc(&title),
        evaluated(lang, &b.evaluated, tz),
        esc(&format!(
            "{} {}；{} {}",
            lang.pick(
                "监测率：应报时段的传输有效率达到阈值的必测监测点所占比例，阈值",
                "Monitoring rate: the share of required points whose effective transmission rate reached the threshold of"
            ),
            pct(Some(b.threshold)),
            lang.pick("目标", "target"),
            "100%"
        )),
    );
    let names = |ids: &[String]| -> String {
        let names: Vec<&str> = ids
            .iter()
            .map(|id| {
                b.parks
                    .iter()
                    .find(|p| &p.park_id == id)
                    .map_or(id.as_str(), |p| park_name(lang, p))
            })
            .collect();
        if names.is_empty() {
            "—".into()
        } else {
            names.join(lang.pick("、", ", "))
        }
    };
    if !b.ranking_monitoring.is_empty() {
        let s = &b.summary;
        let _ = write!(
            body,
            "<section class=\"summary\"><h2>{}</h2>{}",
            esc(lang.pick("本月概况", "The month in short")),
            table(
                "summary",
                &[
                    lang.pick("指标", "Indicator"),
                    lang.pick("园区数", "Parks"),
                    lang.pick("园区", "Parks")
                ],
                &[
                    format!(
                        "{}{}{}",
                        td(lang.pick("监测率达 100%", "Monitoring rate at 100%")),
                        fig(
                            "summary.parks_at_target",
                            &format!("{} / {}", s.parks_at_target.len(), s.parks)
                        ),
                        td(&names(&s.parks_at_target)),
                    ),
                    format!(
                        "{}{}{}",
                        td(lang.pick("能耗强度在目标路径上", "Energy intensity on the path")),
                        fig(
                            "summary.parks_on_energy_path",
                            &format!("{} / {}", s.parks_on_energy_path.len(), s.parks)
                        ),
                        td(&names(&s.parks_on_energy_path)),
                    ),
                ],
            )
        );
        let ranking = |title: &str, what: &str, rows: &[Rank], name: &str| {
            let rows: Vec<String> = rows
                .iter()
                .map(|r| {
                    let park = b
                        .parks
                        .iter()
                        .find(|p| p.park_id == r.park_id)
                        .map_or(r.park_id.as_str(), |p| park_name(lang, p));
                    format!(
                        "{}{}{}",
                        num(&r.rank.map_or("—".into(), |n| n.to_string())),
                        td(park),
                        fig(&format!("{name}.{}", r.park_id), &pct(r.value)),
                    )
                })
                .collect();
            format!(
                "<h3>{}</h3>{}",
                esc(title),
                table(
                    name,
                    &[lang.pick("名次", "Rank"), lang.pick("园区", "Park"), what],
                    &rows
                )
            )
        };
        body.push_str(&ranking(
            lang.pick("按监测率排名", "Ranking by monitoring rate"),
            lang.pick("监测率 (%)", "Monitoring rate (%)"),
            &b.ranking_monitoring,
            "ranking_monitoring",
        ));
        body.push_str(&ranking(
            lang.pick(
                "按能耗强度较基准年下降排名（本年累计）",
                "Ranking by energy-intensity reduction since the baseline (year to date)",
            ),
            lang.pick("下降 (%)", "Reduction (%)"),
            &b.ranking_energy,
            "ranking_energy",
        ));
        body.push_str("</section>");
    }
    for p in &b.parks {
        body.push_str(&park_page(lang, tz, p));
    }
    document(lang, &title, &body)
}

/// One park's page.
fn park_page(lang: Lang, tz: Tz, p: &ParkPage) -> String {
    let mut s = format!(
        "<section class=\"park\" data-park=\"{}\"><h2>{} <small>({})</small></h2>",
        esc(&p.park_id),
        esc(park_name(lang, p)),
        esc(&p.park_id)
    );
    match (&p.report, &p.error) {
        (Some(r), _) => {
            s.push_str(&evaluated(lang, &r.evaluated, tz));
            s.push_str(&headline(lang, r, &p.history));
        }
        (None, e) => {
            let _ = write!(
                s,
                "<p class=\"error\" data-figure=\"error\">{}: {}</p>",
                esc(lang.pick(
                    "本园区数据无法计算",
                    "This park's figures could not be computed"
                )),
                esc(e.as_deref().unwrap_or_default())
            );
        }
    }
    let _ = write!(
        s,
        "<h3>{}</h3>{}",
        esc(lang.pick(
            "近 12 个月监测率",
            "Monitoring rate over the last 12 months"
        )),
        monitoring_chart(lang, &p.history, &month_labels(lang, &p.history))
    );
    if let Some(r) = &p.report {
        s.push_str(&points(lang, r));
        s.push_str(&exceedances(lang, r));
    }
    let _ = write!(
        s,
        "<h3>{}</h3>{}",
        esc(lang.pick(
            "能耗强度：较基准年与到目标年的路径",
            "Energy intensity against the baseline and the path to the target"
        )),
        energy_chart(lang, &p.energy_path)
    );
    s.push_str(&alerts(lang, tz, p));
    s.push_str(&record(lang, tz, p));
    s.push_str("</section>");
    s
}

/// The headline figures with the change since last month.
fn headline(lang: Lang, r: &MonthlyReport, history: &[MonthFigure]) -> String {
    let before = history.len().checked_sub(2).and_then(|i| history.get(i));
    let prev = |f: fn(&MonthFigure) -> Option<f64>| before.and_then(f);
    let row = |label: &str, name: &str, value: String, extra: &str, change: String| {
        format!(
            "{}{}{}{}",
            td(label),
            fig(name, &value),
            td(extra),
            fig(&format!("change.{name}"), &change)
        )
    };
    let e = r.energy;
    let rows = vec![
        row(
            lang.pick("监测率（目标 100%）", "Monitoring rate (target 100%)"),
            "monitoring_rate",
            pct(r.monitoring_rate),
            lang.verdict(r.verdict),
            change_points(r.monitoring_rate, prev(|m| m.monitoring_rate)),
        ),
        row(
            lang.pick("必测点：应报 / 未达阈值", "Required points: owing / short"),
            "required_points",
            format!("{} / {}", r.required_points_owing, r.required_points_short),
            &format!(
                "{} {}",
                lang.pick("已登记", "registered"),
                r.required_points
            ),
            "—".into(),
        ),
        row(
            lang.pick("传输率", "Transmission rate"),
            "transmission",
            pct(r.transmission),
            "",
            "—".into(),
        ),
        row(
            lang.pick("有效率", "Validity rate"),
            "validity",
            pct(r.validity),
            "",
            "—".into(),
        ),
        row(
            lang.pick("传输有效率", "Effective transmission rate"),
            "effective",
            pct(r.effective),
            "",
            change_points(r.effective, prev(|m| m.effective)),
        ),
        row(
            lang.pick("超标小时数 (h)", "Exceedance hours (h)"),
            "exceedance_hours",
            r.exceedance_hours.to_string(),
            &format!(
                "{} {}",
                r.exceedance_episodes,
                lang.pick("个超标时段", "episodes")
            ),
            change_count(
                Some(r.exceedance_hours),
                before.and_then(|m| m.exceedance_hours),
            ),
        ),
        row(
            &format!(
                "{}（{}）",
                lang.pick("能耗强度，本年累计", "Energy intensity, year to date"),
                lang.intensity_unit()
            ),
            "energy.intensity",
            intensity(e.map(|e| e.intensity)),
            &e.map_or(String::new(), |e| {
                format!("{} {}", e.months_covered, lang.pick("个月", "months"))
            }),
            "—".into(),
        ),
        row(
            lang.pick("较基准年下降", "Reduction since the baseline"),
            "energy.reduction",
            pct(e.map(|e| e.reduction)),
            &format!(
                "{} {}",
                lang.pick("路径要求", "path requires"),
                pct(e.map(|e| e.required_reduction))
            ),
            change_points(e.map(|e| e.reduction), prev(|m| m.energy_reduction)),
        ),
        row(
            lang.pick("在目标路径上", "On the path"),
            "energy.on_track",
            e.map_or("—".into(), |e| lang.yes_no(e.on_track).to_string()),
            &format!(
                "{} {} {}",
                lang.pick("目标", "target"),
                r.energy_target_year.map_or("—".into(), |y| lang.year(y)),
                pct(r.energy_target_reduction)
            ),
            "—".into(),
        ),
    ];
    format!(
        "<h3>{}</h3>{}",
        esc(lang.pick("本月指标", "The month's figures")),
        table(
            "headline",
            &[
                lang.pick("指标", "Indicator"),
                lang.pick("数值", "Value"),
                lang.pick("说明", "Note"),
                lang.pick("较上月（百分点）", "Since last month (points)"),
            ],
            &rows,
        )
    )
}

/// The rates of each point.
fn points(lang: Lang, r: &MonthlyReport) -> String {
    let rows: Vec<String> = r
        .points
        .iter()
        .map(|p| {
            let id = &p.point_id;
            format!(
                "{}{}{}{}{}{}{}",
                td(id),
                td(lang.yes_no(p.required)),
                fig(
                    &format!("points.{id}.expected"),
                    &p.hours.expected.to_string()
                ),
                fig(&format!("points.{id}.transmission"), &pct(p.transmission)),
                fig(&format!("points.{id}.validity"), &pct(p.validity)),
                fig(&format!("points.{id}.effective"), &pct(p.effective)),
                td(if p.below_threshold {
                    lang.pick("✗ 低于阈值", "✗ below")
                } else {
                    ""
                }),
            )
        })
        .collect();
    format!(
        "<h3>{}</h3>{}",
        esc(lang.pick("各监测点数据率", "Rates of each point")),
        table(
            "points",
            &[
                lang.pick("监测点", "Point"),
                lang.pick("必测", "Required"),
                lang.pick("应报时数 (h)", "Owed (h)"),
                lang.pick("传输率 (%)", "Transmission (%)"),
                lang.pick("有效率 (%)", "Validity (%)"),
                lang.pick("传输有效率 (%)", "Effective (%)"),
                lang.pick("阈值", "Threshold"),
            ],
            &rows,
        )
    )
}

/// Exceedances with their limits and units.
fn exceedances(lang: Lang, r: &MonthlyReport) -> String {
    let rows: Vec<String> = r
        .points
        .iter()
        .flat_map(|p| p.exceedances.iter().map(move |e| (p, e)))
        .map(|(p, e)| {
            let key = format!("exceedances.{}.{}", p.point_id, e.pollutant);
            format!(
                "{}{}{}{}{}{}{}",
                td(&p.point_id),
                td(&lang.pollutant(&e.pollutant)),
                num(&e.episodes.to_string()),
                fig(&format!("{key}.hours"), &e.hours.to_string()),
                fig(&format!("{key}.peak"), &format!("{:.2}", e.peak)),
                fig(
                    &format!("{key}.limit"),
                    &format!(
                        "{} {}",
                        match e.direction {
                            Direction::Above => "≤",
                            Direction::Below => "≥",
                        },
                        e.limit
                    )
                ),
                td(lang.unit(&e.pollutant)),
            )
        })
        .collect();
    let body = if rows.is_empty() {
        format!(
            "<p>{}</p>",
            esc(lang.pick("本月无超标。", "No exceedance this month."))
        )
    } else {
        table(
            "exceedances",
            &[
                lang.pick("监测点", "Point"),
                lang.pick("污染物", "Pollutant"),
                lang.pick("超标时段数", "Episodes"),
                lang.pick("超标小时数 (h)", "Hours (h)"),
                lang.pick("最大（最小）小时均值", "Worst hourly average"),
                lang.pick("限值", "Limit"),
                lang.pick("单位", "Unit"),
            ],
            &rows,
        )
    };
    format!(
        "<h3>{}</h3>{body}",
        esc(lang.pick(
            "排放超标（小时均值）",
            "Discharge exceedances (hourly averages)"
        ))
    )
}

/// The month's alerts with their acknowledgement.
fn alerts(lang: Lang, tz: Tz, p: &ParkPage) -> String {
    let rows: Vec<String> = p
        .alerts
        .iter()
        .map(|a| {
            let took = a.acked_at.map_or("—".to_string(), |t| {
                let m = t.signed_duration_since(a.fired_at).num_minutes().max(0);
                format!("{}:{:02}", m / 60, m % 60)
            });
            format!(
                "{}{}{}{}{}{}{}",
                td(match lang {
                    Lang::Zh => &a.summary_zh,
                    Lang::En => &a.summary,
                }),
                td(&lang.severity(&a.severity)),
                time_td(&lang::time(a.fired_at, tz)),
                time_td(&a.acked_at.map_or("—".into(), |t| lang::time(t, tz))),
                td(a.acked_by.as_deref().unwrap_or("—")),
                num(&took),
                time_td(&a.resolved_at.map_or("—".into(), |t| lang::time(t, tz))),
            )
        })
        .collect();
    let body = if rows.is_empty() {
        format!(
            "<p>{}</p>",
            esc(lang.pick("本月无告警。", "No alert this month."))
        )
    } else {
        table(
            "alerts",
            &[
                lang.pick("告警", "Alert"),
                lang.pick("级别", "Severity"),
                lang.pick("触发时间", "Fired"),
                lang.pick("确认时间", "Acknowledged"),
                lang.pick("确认人", "By"),
                lang.pick("响应用时 (时:分)", "Took (h:mm)"),
                lang.pick("解除时间", "Resolved"),
            ],
            &rows,
        )
    };
    format!(
        "<h3>{}</h3>{body}",
        esc(lang.pick(
            "本月告警及确认",
            "The month's alerts and their acknowledgement"
        ))
    )
}

/// The review marks and the corrections that changed the month's figures.
fn record(lang: Lang, tz: Tz, p: &ParkPage) -> String {
    let marks: Vec<String> = p
        .review_marks
        .iter()
        .map(|m| {
            format!(
                "{}{}{}{}{}{}{}",
                td(&m.point_id),
                td(&m.pollutant.as_deref().map_or_else(
                    || lang.pick("全部", "all").to_string(),
                    |c| lang.pollutant(c)
                )),
                td(&lang.review_kind(&m.kind)),
                time_td(&lang::time(m.starts_at, tz)),
                time_td(&lang::time(m.ends_at, tz)),
                td(&m.reason),
                td(&format!(
                    "{} {}",
                    m.created_by,
                    lang::time(m.created_at, tz)
                )),
            )
        })
        .collect();
    let mut s = format!(
        "<h3>{}</h3>",
        esc(lang.pick(
            "审核标记（维护、校准、故障、无效）",
            "Review marks (maintenance, calibration, fault, invalid)"
        ))
    );
    if marks.is_empty() {
        let _ = write!(
            s,
            "<p>{}</p>",
            esc(lang.pick("本月无审核标记。", "No review mark this month."))
        );
    } else {
        s.push_str(&table(
            "marks",
            &[
                lang.pick("监测点", "Point"),
                lang.pick("污染物", "Pollutant"),
                lang.pick("类型", "Kind"),
                lang.pick("起", "From"),
                lang.pick("止", "To"),
                lang.pick("原因", "Reason"),
                lang.pick("标记人、时间", "By, at"),
            ],
            &marks,
        ));
    }
    let shown = p.corrections.len().min(MAX_CORRECTIONS_SHOWN);
    let corrections: Vec<String> = p.corrections[..shown]
        .iter()
        .map(|c| {
            format!(
                "{}{}{}{}{}{}{}",
                td(&c.point_id),
                td(&lang.pollutant(&c.pollutant)),
                time_td(&lang::time(c.time, tz)),
                num(&c.value.to_string()),
                td(&format!("{} ({})", c.flag, c.source)),
                time_td(&lang::time(c.superseded_at, tz)),
                td(&c.by_source),
            )
        })
        .collect();
    let _ = write!(
        s,
        "<h3>{} <span data-figure=\"corrections\">{}</span></h3>",
        esc(lang.pick(
            "数据更正（被替换的原值）",
            "Corrections (the replaced versions)"
        )),
        p.corrections.len()
    );
    if corrections.is_empty() {
        let _ = write!(
            s,
            "<p>{}</p>",
            esc(lang.pick("本月无数据更正。", "No correction this month."))
        );
    } else {
        s.push_str(&table(
            "corrections",
            &[
                lang.pick("监测点", "Point"),
                lang.pick("污染物", "Pollutant"),
                lang.pick("数据时间", "Reading time"),
                lang.pick("原值", "Replaced value"),
                lang.pick("原标记（来源）", "Flag (source)"),
                lang.pick("更正时间", "Corrected at"),
                lang.pick("更正来源", "Corrected by"),
            ],
            &corrections,
        ));
        if p.corrections.len() > shown {
            let _ = write!(
                s,
                "<p class=\"note\">{} {}</p>",
                esc(lang.pick(
                    "另有更正条数（完整清单见 JSON）：",
                    "More corrections (all in the JSON):"
                )),
                p.corrections.len() - shown
            );
        }
    }
    s
}
