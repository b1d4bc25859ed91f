//! What the monthly bulletin and the annual assessment share in HTML: escaping, the document
//! shell with its inline CSS (A4 pages, a park per page, CJK fonts), the statement of what the
//! figures cover, and the two charts with the tables of their numbers: the monitoring rate by
//! month and the energy intensity against the path. Pure.
//!
//! Figures a reader (or a test) looks up carry `data-figure="…"`, named as in the JSON.

use std::fmt::Write as _;

use chrono_tz::Tz;

use super::lang::{self, intensity, pct, Lang};
use super::model::{EnergyPath, MonthFigure};
use super::svg::{y_range_of, LineChart, Marker, Series, Stroke};
use crate::compliance::service::Evaluated;

pub use super::svg::esc;

const CSS: &str = r#"
@page { size: A4; margin: 14mm 12mm; }
* { box-sizing: border-box; }
body { font-family: "Noto Sans CJK SC", "Noto Sans SC", "WenQuanYi Micro Hei", "Microsoft YaHei", "PingFang SC", sans-serif;
       font-size: 10pt; color: #000; background: #fff; margin: 0 auto; max-width: 190mm; line-height: 1.45; }
h1 { font-size: 18pt; margin: 0 0 4px; }
h2 { font-size: 14pt; margin: 0 0 4px; border-bottom: 2px solid #000; }
h3 { font-size: 11pt; margin: 10px 0 3px; }
p.cover { margin: 2px 0; font-size: 9pt; }
section.park, section.page { break-before: page; }
table { border-collapse: collapse; width: 100%; margin: 3px 0 8px; break-inside: auto; }
tr { break-inside: avoid; }
th, td { border: 1px solid #555; padding: 2px 5px; text-align: left; vertical-align: top; }
th { background: #eee; font-weight: bold; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.time { white-space: nowrap; }
svg.chart { width: 100%; max-width: 170mm; height: auto; display: block; font-family: inherit; }
figure { margin: 4px 0; break-inside: avoid; }
figcaption { font-size: 9pt; font-weight: bold; }
.error { border: 2px dashed #000; padding: 4px 8px; font-weight: bold; }
.note { font-size: 8.5pt; }
"#;

/// A whole document: `title` in the head, `body` as given.
pub fn document(lang: Lang, title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"{}\"><head><meta charset=\"utf-8\"><title>{}</title>\
         <style>{CSS}</style></head><body>{body}</body></html>\n",
        lang.code(),
        esc(title)
    )
}

/// The statement of what the figures cover, as a paragraph.
pub fn evaluated(lang: Lang, e: &Evaluated, tz: Tz) -> String {
    let mut s = format!(
        "<p class=\"cover evaluated\">{} <span data-figure=\"evaluated.up_to\">{}</span>；{} <span data-figure=\"evaluated.data_cutoff\">{}</span>",
        lang.pick("统计截至", "Hours counted up to"),
        lang::time(e.up_to, tz),
        lang.pick("数据截止", "data received up to"),
        lang::time(e.data_cutoff, tz),
    );
    if let Some(a) = e.as_of {
        let _ = write!(
            s,
            "；{} <span data-figure=\"evaluated.as_of\">{}</span> {}",
            lang.pick("按", "reproduced as known at"),
            lang::time(a, tz),
            lang.pick("时已知的数据重现", "")
        );
    }
    let _ = write!(s, "（{}，{tz}）</p>", lang.pick("北京时间", "local time"));
    s
}

/// A table from a header and rows of cells already in HTML (`<td …>…</td>`).
pub fn table(class: &str, head: &[&str], rows: &[String]) -> String {
    let mut s = format!("<table class=\"{class}\"><thead><tr>");
    for h in head {
        let _ = write!(s, "<th>{}</th>", esc(h));
    }
    s.push_str("</tr></thead><tbody>");
    for r in rows {
        let _ = write!(s, "<tr>{r}</tr>");
    }
    s.push_str("</tbody></table>");
    s
}

/// A cell of text.
pub fn td(text: &str) -> String {
    format!("<td>{}</td>", esc(text))
}

/// A numeric cell.
pub fn num(text: &str) -> String {
    format!("<td class=\"num\">{}</td>", esc(text))
}

/// A numeric cell that names its figure.
pub fn fig(name: &str, text: &str) -> String {
    format!(
        "<td class=\"num\" data-figure=\"{}\">{}</td>",
        esc(name),
        esc(text)
    )
}

/// A time cell.
pub fn time_td(text: &str) -> String {
    format!("<td class=\"time\">{}</td>", esc(text))
}

/// Percent of a fraction for a chart (unrounded: the table shows the rounded figure).
fn pc(x: Option<f64>) -> Option<f64> {
    x.map(|x| x * 100.0)
}

/// The monitoring rate and effective transmission rate of each month, against the 100% target:
/// the chart and the table of its numbers. `labels` name the months (same order as `months`).
pub fn monitoring_chart(lang: Lang, months: &[MonthFigure], labels: &[String]) -> String {
    let at = |i: usize| i as f64;
    let series = vec![
        Series {
            name: lang.pick("监测率", "monitoring rate").into(),
            points: months
                .iter()
                .enumerate()
                .map(|(i, m)| (at(i), pc(m.monitoring_rate)))
                .collect(),
            stroke: Stroke::Solid,
            marker: Marker::Circle,
        },
        Series {
            name: lang.pick("传输有效率", "effective transmission").into(),
            points: months
                .iter()
                .enumerate()
                .map(|(i, m)| (at(i), pc(m.effective)))
                .collect(),
            stroke: Stroke::Dashed,
            marker: Marker::Square,
        },
        Series {
            name: lang.pick("目标 100%", "target 100%").into(),
            points: vec![
                (-0.5, Some(100.0)),
                (at(months.len().saturating_sub(1)) + 0.5, Some(100.0)),
            ],
            stroke: Stroke::Dotted,
            marker: Marker::None,
        },
    ];
    let chart = LineChart {
        title: lang
            .pick("监测率（按月）", "Monitoring rate by month")
            .into(),
        y_label: lang.pick("百分比 (%)", "percent (%)").into(),
        x_ticks: labels
            .iter()
            .enumerate()
            .map(|(i, l)| (at(i), l.clone()))
            .collect(),
        x_range: (-0.5, at(months.len().saturating_sub(1)) + 0.5),
        y_range: (0.0, 100.0),
        y_format: |v| format!("{v:.0}"),
        series,
    };
    let rows: Vec<String> = months
        .iter()
        .zip(labels)
        .map(|(m, label)| {
            format!(
                "{}{}{}{}{}",
                td(label),
                fig(
                    &format!("history.{}.monitoring_rate", m.month),
                    &pct(m.monitoring_rate)
                ),
                fig(&format!("history.{}.effective", m.month), &pct(m.effective)),
                td(m.verdict.map_or("—", |v| lang.verdict(v))),
                num(&m.exceedance_hours.map_or("—".into(), |h| h.to_string())),
            )
        })
        .collect();
    format!(
        "<figure>{}<figcaption>{}</figcaption></figure>{}",
        chart.svg(),
        esc(lang.pick(
            "图：监测率（实线、圆点）与传输有效率（虚线、方块），点线为 100% 目标",
            "Chart: monitoring rate (solid, circles) and effective transmission rate (dashed, squares); the dotted line is the 100% target"
        )),
        table(
            "history",
            &[
                lang.pick("月份", "Month"),
                lang.pick("监测率 (%)", "Monitoring rate (%)"),
                lang.pick("传输有效率 (%)", "Effective transmission (%)"),
                lang.pick("结论", "Verdict"),
                lang.pick("超标小时数 (h)", "Exceedance hours (h)"),
            ],
            &rows,
        )
    )
}

/// The energy intensity against the path to the target: the path line, the park's figures per
/// year and the projection to the target year; the chart and the table of its numbers.
pub fn energy_chart(lang: Lang, e: &EnergyPath) -> String {
    let x = |y: i32| f64::from(y);
    let mut series = vec![Series {
        name: lang.pick("目标路径", "path to target").into(),
        points: e
            .path
            .iter()
            .map(|p| (x(p.year), Some(p.intensity)))
            .collect(),
        stroke: Stroke::Dashed,
        marker: Marker::None,
    }];
    let mut actual = vec![(x(e.baseline_year), Some(e.baseline_intensity))];
    actual.extend(
        e.actual
            .iter()
            .map(|a| (x(a.year), Some(a.status.intensity))),
    );
    series.push(Series {
        name: lang
            .pick("实际（含基准年）", "actual (with baseline)")
            .into(),
        points: actual.clone(),
        stroke: Stroke::Solid,
        marker: Marker::Circle,
    });
    if let (Some(p), Some(last)) = (e.projected, e.actual.last()) {
        series.push(Series {
            name: lang.pick("趋势预测", "projection").into(),
            points: vec![
                (x(last.year), Some(last.status.intensity)),
                (x(p.year), Some(p.intensity)),
            ],
            stroke: Stroke::Dotted,
            marker: Marker::Triangle,
        });
    }
    let last_year = e
        .actual
        .last()
        .map_or(e.target_year, |a| a.year)
        .max(e.target_year);
    let values = series
        .iter()
        .flat_map(|s| s.points.iter().filter_map(|(_, y)| *y))
        .collect::<Vec<_>>();
    let chart = LineChart {
        title: lang
            .pick("能耗强度与目标路径", "Energy intensity against the path")
            .into(),
        y_label: lang.intensity_unit().into(),
        x_ticks: (e.baseline_year..=last_year)
            .map(|y| (x(y), y.to_string()))
            .collect(),
        x_range: (x(e.baseline_year) - 0.5, x(last_year) + 0.5),
        y_range: y_range_of(values.into_iter(), 0.0),
        y_format: |v| format!("{v:.2}"),
        series,
    };
    let mut rows: Vec<String> = e
        .path
        .iter()
        .filter(|p| p.year <= last_year)
        .map(|p| {
            let a = e.actual.iter().find(|a| a.year == p.year);
            let base = p.year == e.baseline_year;
            let actual = if base {
                Some(e.baseline_intensity)
            } else {
                a.map(|a| a.status.intensity)
            };
            format!(
                "{}{}{}{}{}{}{}",
                td(&p.year.to_string()),
                num(&intensity(Some(p.intensity))),
                fig(&format!("energy.{}.intensity", p.year), &intensity(actual)),
                fig(
                    &format!("energy.{}.reduction", p.year),
                    &pct(if base {
                        Some(0.0)
                    } else {
                        a.map(|a| a.status.reduction)
                    })
                ),
                num(&pct(a.map(|a| a.status.required_reduction))),
                td(a.map_or("—", |a| lang.yes_no(a.status.on_track))),
                num(&a.map_or("—".into(), |a| a.status.months_covered.to_string())),
            )
        })
        .collect();
    if let Some(p) = e.projected {
        rows.push(format!(
            "{}{}{}{}{}{}{}",
            td(&format!(
                "{} {}",
                p.year,
                lang.pick("（预测）", "(projected)")
            )),
            num("—"),
            fig("energy.projected.intensity", &intensity(Some(p.intensity))),
            fig(
                "energy.projected.reduction",
                &pct(Some(1.0 - p.intensity / e.baseline_intensity))
            ),
            num(&pct(Some(e.target_reduction))),
            td("—"),
            num("—"),
        ));
    }
    format!(
        "<figure>{}<figcaption>{}</figcaption></figure>{}",
        chart.svg(),
        esc(lang.pick(
            "图：目标路径（虚线）、实际能耗强度（实线、圆点）与到目标年的趋势预测（点线、三角）",
            "Chart: the path (dashed), the actual intensity (solid, circles) and the projection to the target year (dotted, triangles)"
        )),
        table(
            "energy",
            &[
                lang.pick("年份", "Year"),
                lang.pick("路径允许强度（吨标准煤/万元）", "Path allows (tce/10^4 yuan)"),
                lang.pick("实际强度（吨标准煤/万元）", "Actual (tce/10^4 yuan)"),
                lang.pick("较基准年下降 (%)", "Reduction since baseline (%)"),
                lang.pick("路径要求下降 (%)", "Path requires (%)"),
                lang.pick("在路径上", "On path"),
                lang.pick("覆盖月数", "Months covered"),
            ],
            &rows,
        )
    )
}
