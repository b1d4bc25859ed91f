//! The annual assessment as one self-contained HTML document: a table of every park and whether
//! it met each target, then a page per park with its twelve months (chart and table) and its
//! energy intensity against the path. Pure: an [`Assessment`] in, HTML out.

use std::fmt::Write as _;

use chrono_tz::Tz;

use super::annual::{AnnualPark, Assessment};
use super::html::{document, energy_chart, esc, evaluated, fig, monitoring_chart, num, table, td};
use super::lang::{pct, Lang};
use super::page::month_labels;

fn name(lang: Lang, p: &AnnualPark) -> &str {
    lang.park_name(&p.name, p.name_en.as_deref())
}

/// The whole assessment.
pub fn render(a: &Assessment, lang: Lang, tz: Tz) -> String {
    let title = format!(
        "{} {}",
        lang.pick(
            "园区绿色发展年度考核",
            "Park green development annual assessment"
        ),
        lang.year(a.year)
    );
    let rows: Vec<String> = a
        .parks
        .iter()
        .map(|p| {
            let m = p.monitoring;
            format!(
                "{}{}{}{}{}{}",
                td(name(lang, p)),
                fig(&format!("{}.monitoring.met", p.park_id), lang.met(m.met)),
                num(&format!("{} / {}", m.months_passed, m.months_owing)),
                fig(&format!("{}.energy_met", p.park_id), lang.met(p.energy_met)),
                fig(
                    &format!("{}.energy.reduction", p.park_id),
                    &format!(
                        "{} ({} {})",
                        pct(p.energy.map(|e| e.reduction)),
                        lang.pick("要求", "required"),
                        pct(p.energy.map(|e| e.required_reduction))
                    )
                ),
                num(&p.exceedance_hours.to_string()),
            )
        })
        .collect();
    let mut body = format!(
        "<header><h1>{}</h1>{}</header><section class=\"summary\"><h2>{}</h2>{}</section>",
        esc(&title),
        evaluated(lang, &a.evaluated, tz),
        esc(lang.pick("各园区目标完成情况", "Targets met, park by park")),
        table(
            "assessment",
            &[
                lang.pick("园区", "Park"),
                lang.pick("监测率 100%", "Monitoring at 100%"),
                lang.pick("达标月数 / 应报月数", "Months at 100% / owing"),
                lang.pick("能耗强度路径", "Energy path"),
                lang.pick("较基准年下降", "Reduction since baseline"),
                lang.pick("超标小时数 (h)", "Exceedance hours (h)"),
            ],
            &rows,
        )
    );
    for p in &a.parks {
        let _ = write!(
            body,
            "<section class=\"park\" data-park=\"{}\"><h2>{} <small>({})</small></h2>",
            esc(&p.park_id),
            esc(name(lang, p)),
            esc(&p.park_id)
        );
        if let Some(e) = &p.error {
            let _ = write!(body, "<p class=\"error\">{}</p>", esc(e));
        }
        let _ = write!(
            body,
            "<h3>{}</h3>{}<h3>{}</h3>{}</section>",
            esc(lang.pick("各月监测率", "Monitoring rate by month")),
            monitoring_chart(lang, &p.months, &month_labels(lang, &p.months)),
            esc(lang.pick("能耗强度与目标路径", "Energy intensity against the path")),
            energy_chart(lang, &p.energy_path)
        );
    }
    document(lang, &title, &body)
}
