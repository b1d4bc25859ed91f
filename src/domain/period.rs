//! Energy-report periods: a month (`2018-03`), a quarter (`2018-Q1`) or a year (`2018`); and
//! the first instant of a local calendar day.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

/// A calendar period in the configured local zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Period {
    Month { year: i32, month: u32 },
    Quarter { year: i32, quarter: u32 },
    Year { year: i32 },
}

/// The period string was not `YYYY`, `YYYY-MM` or `YYYY-Qn`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("period {0:?} must be a year (2018), a quarter (2018-Q1) or a month (2018-03)")]
pub struct PeriodError(pub String);

impl FromStr for Period {
    type Err = PeriodError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || PeriodError(s.to_string());
        let year_of = |y: &str| -> Result<i32, PeriodError> {
            if y.len() == 4 && y.bytes().all(|b| b.is_ascii_digit()) {
                let year: i32 = y.parse().map_err(|_| err())?;
                if (1990..=2100).contains(&year) {
                    return Ok(year);
                }
            }
            Err(err())
        };
        match s.split_once('-') {
            None => Ok(Period::Year { year: year_of(s)? }),
            Some((y, rest)) => {
                let year = year_of(y)?;
                if let Some(q) = rest.strip_prefix('Q').or_else(|| rest.strip_prefix('q')) {
                    match q {
                        "1" | "2" | "3" | "4" => Ok(Period::Quarter {
                            year,
                            quarter: q.parse().map_err(|_| err())?,
                        }),
                        _ => Err(err()),
                    }
                } else if rest.len() == 2 && rest.bytes().all(|b| b.is_ascii_digit()) {
                    let month: u32 = rest.parse().map_err(|_| err())?;
                    if (1..=12).contains(&month) {
                        Ok(Period::Month { year, month })
                    } else {
                        Err(err())
                    }
                } else {
                    Err(err())
                }
            }
        }
    }
}

impl Period {
    pub fn year(self) -> i32 {
        match self {
            Period::Month { year, .. } | Period::Quarter { year, .. } | Period::Year { year } => {
                year
            }
        }
    }

    /// `month`, `quarter` or `year`: the value of `energy_reports.period_kind`.
    pub fn kind(self) -> &'static str {
        match self {
            Period::Month { .. } => "month",
            Period::Quarter { .. } => "quarter",
            Period::Year { .. } => "year",
        }
    }

    /// First day of the period.
    pub fn start(self) -> NaiveDate {
        let (y, m) = match self {
            Period::Month { year, month } => (year, month),
            Period::Quarter { year, quarter } => (year, (quarter - 1) * 3 + 1),
            Period::Year { year } => (year, 1),
        };
        NaiveDate::from_ymd_opt(y, m, 1).expect("validated year and month")
    }

    /// The day after the period's last day.
    pub fn end(self) -> NaiveDate {
        let months = match self {
            Period::Month { .. } => 1,
            Period::Quarter { .. } => 3,
            Period::Year { .. } => 12,
        };
        self.start() + chrono::Months::new(months)
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Period::Month { year, month } => write!(f, "{year}-{month:02}"),
            Period::Quarter { year, quarter } => write!(f, "{year}-Q{quarter}"),
            Period::Year { year } => write!(f, "{year}"),
        }
    }
}

/// The first instant of local day `day` in `tz`: its midnight, or, when midnight falls in a
/// daylight-saving gap (skipped in some zones), the first local minute after the gap.
pub fn local_midnight(day: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let naive = day.and_time(chrono::NaiveTime::MIN);
    // Real gaps last at most a few hours; search a day to stay total.
    (0..=24 * 60)
        .filter_map(|m| naive.checked_add_signed(chrono::Duration::minutes(m)))
        .find_map(|n| tz.from_local_datetime(&n).earliest())
        .map_or_else(|| naive.and_utc(), |t| t.with_timezone(&Utc))
}

/// The start of `t`'s UTC hour (the rollups' hour).
pub fn floor_hour(t: DateTime<Utc>) -> DateTime<Utc> {
    let secs = t.timestamp();
    DateTime::from_timestamp(secs - secs.rem_euclid(3600), 0).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_bounds() {
        let cases = [
            ("2018-03", "2018-03-01", "2018-04-01", "month"),
            ("2018-Q4", "2018-10-01", "2019-01-01", "quarter"),
            ("2018", "2018-01-01", "2019-01-01", "year"),
            ("2018-12", "2018-12-01", "2019-01-01", "month"),
        ];
        for (s, start, end, kind) in cases {
            let p: Period = s.parse().unwrap();
            assert_eq!(p.to_string(), s);
            assert_eq!(p.start().to_string(), start);
            assert_eq!(p.end().to_string(), end);
            assert_eq!(p.kind(), kind);
        }
        for bad in [
            "",
            "18",
            "2018-13",
            "2018-00",
            "2018-Q5",
            "2018-3",
            "2018-03-01",
            "abcd",
            "1800",
        ] {
            assert!(bad.parse::<Period>().is_err(), "{bad}");
        }
    }
}
