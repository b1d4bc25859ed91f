//! The bulletin's words and number formats: Chinese first (the bureau's language), English as an
//! option. Times in the local zone, 24-hour (`2018-04-02 09:00`); months as `2018年3月`; rates
//! as percentages with one decimal, rounded as `compliance::rounding` says. Pure.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::Deserialize;

use crate::compliance::report::MonitoringVerdict;
use crate::compliance::rounding::{percent, rate_tenths};
use crate::domain::units::unit_of;

/// The bulletin's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// Simplified Chinese (zh-CN), the default.
    #[default]
    Zh,
    /// English.
    En,
}

impl Lang {
    /// The words in this language.
    pub fn pick(self, zh: &'static str, en: &'static str) -> &'static str {
        match self {
            Self::Zh => zh,
            Self::En => en,
        }
    }

    /// The `lang` attribute of the HTML document.
    pub fn code(self) -> &'static str {
        self.pick("zh-CN", "en")
    }

    /// `2018年3月` or `March 2018`.
    pub fn month(self, first_day: NaiveDate) -> String {
        match self {
            Self::Zh => format!("{}年{}月", first_day.year(), first_day.month()),
            Self::En => first_day.format("%B %Y").to_string(),
        }
    }

    /// `3月` or `Mar`: a month in a chart's axis or a table of the year.
    pub fn short_month(self, first_day: NaiveDate) -> String {
        match self {
            Self::Zh => format!("{}月", first_day.month()),
            Self::En => first_day.format("%b").to_string(),
        }
    }

    /// `2018年` or `2018`.
    pub fn year(self, year: i32) -> String {
        match self {
            Self::Zh => format!("{year}年"),
            Self::En => year.to_string(),
        }
    }

    /// A park's name: the registered (Chinese) one, or in English its English name when set.
    pub fn park_name<'a>(self, name: &'a str, name_en: Option<&'a str>) -> &'a str {
        match (self, name_en) {
            (Self::En, Some(en)) if !en.trim().is_empty() => en,
            _ => name,
        }
    }

    /// A verdict on the monitoring target.
    pub fn verdict(self, v: MonitoringVerdict) -> &'static str {
        match v {
            MonitoringVerdict::Passed => self.pick("达标", "target met"),
            MonitoringVerdict::BelowTarget => self.pick("未达标", "below target"),
            MonitoringVerdict::NoMonitoringRegistered => {
                self.pick("未登记监测点", "no monitoring registered")
            }
            MonitoringVerdict::NothingOwed => self.pick("本月无应报时段", "no hours owed"),
        }
    }

    /// Yes or no, with a mark that survives black-and-white print.
    pub fn yes_no(self, yes: bool) -> &'static str {
        if yes {
            self.pick("✓ 是", "✓ yes")
        } else {
            self.pick("✗ 否", "✗ no")
        }
    }

    /// A target met or not.
    pub fn met(self, met: Option<bool>) -> &'static str {
        match met {
            Some(true) => self.pick("✓ 达标", "✓ met"),
            Some(false) => self.pick("✗ 未达标", "✗ not met"),
            None => "—",
        }
    }

    /// An alert's severity.
    pub fn severity(self, severity: &str) -> String {
        let word = match severity {
            "info" => self.pick("提示", "info"),
            "warning" => self.pick("一般", "warning"),
            "major" => self.pick("重要", "major"),
            "critical" => self.pick("紧急", "critical"),
            other => return other.to_string(),
        };
        word.to_string()
    }

    /// A review mark's kind (HJ 356-2019 terms).
    pub fn review_kind(self, kind: &str) -> String {
        let word = match kind {
            "maintenance" => self.pick("维护", "maintenance"),
            "calibration" => self.pick("校准", "calibration"),
            "fault" => self.pick("故障", "fault"),
            "invalid" => self.pick("无效", "invalid"),
            other => return other.to_string(),
        };
        word.to_string()
    }

    /// A pollutant's name with its HJ 212-2017 code: `化学需氧量 (w01018)`.
    pub fn pollutant(self, code: &str) -> String {
        let name = match code {
            "w00000" => Some(self.pick("污水流量", "wastewater flow")),
            "w01001" => Some(self.pick("pH值", "pH")),
            "w01012" => Some(self.pick("悬浮物", "suspended solids")),
            "w01017" => Some(self.pick("五日生化需氧量", "BOD5")),
            "w01018" => Some(self.pick("化学需氧量", "COD")),
            "w21001" => Some(self.pick("总氮", "total nitrogen")),
            "w21003" => Some(self.pick("氨氮", "ammonia nitrogen")),
            "w21011" => Some(self.pick("总磷", "total phosphorus")),
            _ => None,
        };
        match name {
            Some(n) => format!("{n} ({code})"),
            None => code.to_string(),
        }
    }

    /// The unit of a pollutant's values and limits; `—` when unknown.
    pub fn unit(self, code: &str) -> &'static str {
        match unit_of(code) {
            Some("dimensionless") => self.pick("无量纲", "dimensionless"),
            Some("degree") => self.pick("度", "degree"),
            Some(u) => u,
            None => "—",
        }
    }

    /// The unit of energy intensity.
    pub fn intensity_unit(self) -> &'static str {
        self.pick("吨标准煤/万元", "tce per 10,000 yuan")
    }
}

/// A local time as the bureau writes it, 24-hour: `2018-04-02 09:00`.
pub fn time(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string()
}

/// A rate as a percentage with one decimal and the sign: `66.7%`; `—` for none.
pub fn pct(x: Option<f64>) -> String {
    match percent(x).as_str() {
        "-" => "—".to_string(),
        p => format!("{p}%"),
    }
}

/// An energy intensity, tce per 10,000 yuan, to four decimals; `—` for none.
pub fn intensity(x: Option<f64>) -> String {
    x.filter(|x| x.is_finite())
        .map_or_else(|| "—".to_string(), |x| format!("{x:.4}"))
}

/// The change between two rates as shown (the difference of the rounded figures, in percentage
/// points) with an arrow: `↑ 3.2`, `↓ 0.5`, `→ 0.0`; `—` when either is missing.
pub fn change_points(now: Option<f64>, before: Option<f64>) -> String {
    let (Some(a), Some(b)) = (now.and_then(rate_tenths), before.and_then(rate_tenths)) else {
        return "—".to_string();
    };
    let d = a - b;
    let arrow = match d.signum() {
        1 => "↑",
        -1 => "↓",
        _ => "→",
    };
    format!("{arrow} {}.{}", d.abs() / 10, d.abs() % 10)
}

/// The change between two counts with an arrow: `↑ 3`, `↓ 1`, `→ 0`.
pub fn change_count(now: Option<u32>, before: Option<u32>) -> String {
    let (Some(a), Some(b)) = (now, before) else {
        return "—".to_string();
    };
    match a.cmp(&b) {
        std::cmp::Ordering::Greater => format!("↑ {}", a - b),
        std::cmp::Ordering::Less => format!("↓ {}", b - a),
        std::cmp::Ordering::Equal => "→ 0".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let march = NaiveDate::from_ymd_opt(2018, 3, 1).unwrap();
        assert_eq!(Lang::Zh.month(march), "2018年3月");
        assert_eq!(Lang::En.month(march), "March 2018");
        let t = "2018-04-02T01:00:00Z".parse().unwrap();
        assert_eq!(time(t, chrono_tz::Asia::Shanghai), "2018-04-02 09:00");
        assert_eq!(pct(Some(0.0125)), "1.3%");
        assert_eq!(pct(Some(0.99996)), "99.9%");
        assert_eq!(pct(None), "—");
        assert_eq!(change_points(Some(2.0 / 3.0), Some(1.0)), "↓ 33.3");
        assert_eq!(change_points(Some(1.0), Some(0.5)), "↑ 50.0");
        assert_eq!(change_points(Some(0.5), Some(0.5)), "→ 0.0");
        assert_eq!(change_points(Some(0.5), None), "—");
        assert_eq!(change_count(Some(3), Some(0)), "↑ 3");
        assert_eq!(Lang::Zh.unit("w01001"), "无量纲");
        assert_eq!(Lang::Zh.pollutant("w01018"), "化学需氧量 (w01018)");
        assert_eq!(intensity(Some(0.8)), "0.8000");
    }
}
