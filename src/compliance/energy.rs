//! Energy intensity of a park and its path to the target ("by 2020, energy per 10,000 yuan of
//! industrial value added at least 20% below 2015", `domain/policy.md`).
//!
//! Input: a park's [`EnergyReport`]s (months, quarters, years) and its [`Target`].
//! Output: [`YearFigures`] per year and an [`EnergyStatus`]: reduction so far, the reduction the
//! geometric path requires for that year, and a projection to the target year.
//! Pure: no IO, no clock. Intensities are tce per 10,000 yuan at baseline-year prices.

use crate::domain::{EnergyReport, Period};

/// Tolerance for comparing reductions, so a park exactly on the path is on track.
const EPSILON: f64 = 1e-9;

/// How many of the latest years with data the projection's trend uses.
pub const TREND_YEARS: usize = 3;

/// Intensity = energy / (value added / price index): tce per 10,000 yuan at baseline-year prices.
/// `None` when value added or price index is not positive, or energy is negative or not finite.
pub fn intensity(energy_tce: f64, value_added_10k_yuan: f64, price_index: f64) -> Option<f64> {
    let ok = energy_tce.is_finite()
        && energy_tce >= 0.0
        && value_added_10k_yuan.is_finite()
        && value_added_10k_yuan > 0.0
        && price_index.is_finite()
        && price_index > 0.0;
    ok.then(|| energy_tce / (value_added_10k_yuan / price_index))
}

/// Reduction = 1 − intensity / baseline: 0.2 means 20% below the baseline, negative means above.
/// `baseline` must be positive, or the result is meaningless ([`energy_status`] checks it).
pub fn reduction(intensity: f64, baseline: f64) -> f64 {
    1.0 - intensity / baseline
}

/// A park's energy-intensity target: `target_reduction` below `baseline_intensity` by
/// `target_year`, on the geometric path (the same cut every year).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Target {
    pub baseline_year: i32,
    /// tce per 10,000 yuan in the baseline year.
    pub baseline_intensity: f64,
    pub target_year: i32,
    /// 0.2 for "20% lower"; values above 1 count as 1.
    pub target_reduction: f64,
}

impl Target {
    fn reduction_goal(&self) -> f64 {
        self.target_reduction.min(1.0)
    }

    /// The yearly cut on the geometric path: 1 − (1 − r)^(1 / years). 20% over 5 years is 4.3648%
    /// a year. A target year not after the baseline year asks for the whole reduction at once.
    pub fn annual_cut(&self) -> f64 {
        let r = self.reduction_goal();
        let years = self.target_year.saturating_sub(self.baseline_year);
        if years <= 0 {
            return r;
        }
        1.0 - (1.0 - r).powf(1.0 / f64::from(years))
    }

    /// The reduction required by `year`: 0 up to the baseline year, 1 − (1 − cut)^(year − baseline)
    /// on the path, and the full target from the target year on (the level must be held).
    pub fn required_reduction(&self, year: i32) -> f64 {
        if year <= self.baseline_year {
            0.0
        } else if year >= self.target_year {
            self.reduction_goal()
        } else {
            let years = year.saturating_sub(self.baseline_year);
            1.0 - (1.0 - self.annual_cut()).powi(years)
        }
    }
}

/// A park's energy and deflated value added summed over the reports of one year.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct YearFigures {
    pub year: i32,
    pub energy_tce: f64,
    /// Value added at baseline-year prices, 10,000 yuan: the sum of value added / price index.
    pub deflated_value_added: f64,
    /// Months the figures cover: 12 for a complete year, fewer for the year to date.
    pub months_covered: u32,
}

impl YearFigures {
    /// Energy over deflated value added; `None` when the value added is not positive.
    pub fn intensity(&self) -> Option<f64> {
        intensity(self.energy_tce, self.deflated_value_added, 1.0)
    }
}

/// Energy and deflated value added of one report; `None` if it cannot be deflated.
fn deflate(r: &EnergyReport) -> Option<(f64, f64)> {
    let usable = r.energy_tce.is_finite()
        && r.energy_tce >= 0.0
        && r.value_added_10k_yuan.is_finite()
        && r.price_index.is_finite()
        && r.price_index > 0.0;
    usable.then(|| (r.energy_tce, r.value_added_10k_yuan / r.price_index))
}

/// Sums one park's reports for `year`, without counting any month twice.
///
/// A year report covers the whole year and wins. Otherwise, per quarter, a quarter report wins
/// over the month reports inside it, and else the month reports count. Energy and deflated value
/// added are summed (ratios are never averaged). Reports for other years are ignored, and so is a
/// report that cannot be deflated (price index not positive, values not finite, negative energy):
/// its months count as not covered. When a period appears twice, the later report wins (a
/// correction). `months_covered` counts covered months, which need not be contiguous. `None` when
/// no report covers any month of the year.
pub fn roll_up_year(year: i32, reports: &[EnergyReport]) -> Option<YearFigures> {
    // The later report of a period wins, so look from the end.
    let find = |period: Period| reports.iter().rev().find(|r| r.period == period);
    let mut parts: Vec<(u32, (f64, f64))> = Vec::new();
    if let Some(f) = find(Period::Year { year }).and_then(deflate) {
        parts.push((12, f));
    } else {
        for quarter in 1..=4 {
            if let Some(f) = find(Period::Quarter { year, quarter }).and_then(deflate) {
                parts.push((3, f));
                continue;
            }
            for month in (quarter - 1) * 3 + 1..=quarter * 3 {
                if let Some(f) = find(Period::Month { year, month }).and_then(deflate) {
                    parts.push((1, f));
                }
            }
        }
    }
    let mut sum = YearFigures {
        year,
        energy_tce: 0.0,
        deflated_value_added: 0.0,
        months_covered: 0,
    };
    for (months, (energy, va)) in &parts {
        sum.energy_tce += energy;
        sum.deflated_value_added += va;
        sum.months_covered += months;
    }
    (!parts.is_empty()).then_some(sum)
}

/// Where a park stands against its energy-intensity target in one year.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct EnergyStatus {
    pub year: i32,
    /// 12 for a complete year; fewer when the figures are the year to date.
    pub months_covered: u32,
    /// tce per 10,000 yuan at baseline-year prices.
    pub intensity: f64,
    /// Reduction below the baseline intensity so far.
    pub reduction: f64,
    /// Reduction the geometric path requires for this year.
    pub required_reduction: f64,
    pub on_track: bool,
    /// Reduction expected in the target year if the recent trend continues; `None` with fewer
    /// than two years of data, or after the target year.
    pub projected_reduction: Option<f64>,
    /// Before or in the target year: whether the projection meets the target. After it: whether
    /// the target year's own figures met it (`None` when that year has no data).
    pub will_meet_target: Option<bool>,
}

/// The park's status in `year`, from its `years` of figures (any order).
///
/// The year-to-date (or full-year) reduction is compared with the path's value for the whole
/// year; seasonality is not corrected. The projection uses the [`TREND_YEARS`] latest years with
/// data up to `year` (a partial current year counts with its year-to-date intensity): the average
/// annual change is the geometric mean of the year-on-year intensity ratios,
/// `(I_last / I_first)^(1 / (y_last − y_first))` (a missing year in between is spread evenly),
/// applied from the latest year to the target year. The baseline itself is used only if `years`
/// contains figures for the baseline year. `None` when `year` has no usable figures or the
/// baseline intensity is not positive.
pub fn energy_status(target: &Target, years: &[YearFigures], year: i32) -> Option<EnergyStatus> {
    let base = target.baseline_intensity;
    if !(base.is_finite() && base > 0.0) {
        return None;
    }
    let current = years.iter().rev().find(|y| y.year == year)?;
    let now_intensity = current.intensity()?;
    let reduction_now = reduction(now_intensity, base);
    let required = target.required_reduction(year);
    let goal = target.reduction_goal();
    let meets = |r: f64| r + EPSILON >= goal;

    let (projected_reduction, will_meet_target) = if year > target.target_year {
        let met = years
            .iter()
            .rev()
            .find(|y| y.year == target.target_year)
            .and_then(YearFigures::intensity)
            .map(|i| meets(reduction(i, base)));
        (None, met)
    } else {
        let projected = project(years, year, target.target_year).map(|i| reduction(i, base));
        (projected, projected.map(meets))
    };

    Some(EnergyStatus {
        year,
        months_covered: current.months_covered,
        intensity: now_intensity,
        reduction: reduction_now,
        required_reduction: required,
        on_track: reduction_now + EPSILON >= required,
        projected_reduction,
        will_meet_target,
    })
}

/// The intensity in `target_year` if the trend of the latest [`TREND_YEARS`] years with positive
/// intensity, up to `up_to`, continues.
fn project(years: &[YearFigures], up_to: i32, target_year: i32) -> Option<f64> {
    // Reversed, so the stable sort and dedup keep the later entry of a year.
    let mut points: Vec<(i32, f64)> = years
        .iter()
        .rev()
        .filter(|y| y.year <= up_to)
        .filter_map(|y| Some((y.year, y.intensity().filter(|i| *i > 0.0)?)))
        .collect();
    points.sort_by_key(|p| p.0);
    points.dedup_by_key(|p| p.0);
    let window = &points[points.len().saturating_sub(TREND_YEARS)..];
    let (&(y0, i0), &(y1, i1)) = (window.first()?, window.last()?);
    let span = y1 - y0;
    if span <= 0 {
        return None;
    }
    let annual_ratio = (i1 / i0).powf(1.0 / f64::from(span));
    let ahead = target_year.saturating_sub(y1).max(0);
    Some(i1 * annual_ratio.powi(ahead))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ParkId;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    /// `"2018-Q1:300/1100/1.1 2018-04:…"`: period:energy/value added/price index, one park.
    fn reports(spec: &str) -> Vec<EnergyReport> {
        let num = |s: &str| s.parse::<f64>().unwrap();
        let one = |item: &str| {
            let (period, rest) = item.split_once(':').unwrap();
            let v: Vec<f64> = rest.split('/').map(num).collect();
            let park = ParkId::parse("sjz-hitech").unwrap();
            let period = period.parse().unwrap();
            EnergyReport {
                park,
                period,
                energy_tce: v[0],
                value_added_10k_yuan: v[1],
                price_index: v[2],
            }
        };
        spec.split_whitespace().map(one).collect()
    }

    /// `"2016:0.95 2018:0.86/5"`: year:intensity, optionally /months covered (default 12).
    fn figures(spec: &str) -> Vec<YearFigures> {
        let one = |item: &str| {
            let (year, rest) = item.split_once(':').unwrap();
            let (i, months) = rest.split_once('/').unwrap_or((rest, "12"));
            let energy_tce = i.parse::<f64>().unwrap() * 1000.0;
            let (year, months_covered) = (year.parse().unwrap(), months.parse().unwrap());
            YearFigures {
                year,
                energy_tce,
                deflated_value_added: 1000.0,
                months_covered,
            }
        };
        spec.split_whitespace().map(one).collect()
    }

    const T: Target = Target {
        baseline_year: 2015,
        baseline_intensity: 1.0,
        target_year: 2020,
        target_reduction: 0.2,
    };

    #[test]
    fn intensity_and_deflation() {
        // Value added 1,100 at price index 1.1 is 1,000 at baseline prices.
        #[rustfmt::skip]
        let cases = [
            (1000.0, 1100.0, 1.1, Some(1.0)), (500.0, 1000.0, 1.0, Some(0.5)),
            (0.0, 1000.0, 1.0, Some(0.0)), (1.0, 0.0, 1.0, None), (1.0, -5.0, 1.0, None),
            (1.0, 1.0, 0.0, None), (-1.0, 1.0, 1.0, None), (f64::NAN, 1.0, 1.0, None),
        ];
        for (e, va, pi, want) in cases {
            let got = intensity(e, va, pi);
            assert_eq!(got.is_some(), want.is_some(), "{e} {va} {pi}");
            assert!(
                got.zip(want).is_none_or(|(g, w)| close(g, w)),
                "{e} {va} {pi}"
            );
        }
        assert!(close(reduction(0.8, 1.0), 0.2) && close(reduction(1.1, 1.0), -0.1));
    }

    #[test]
    fn geometric_path() {
        // 1 − 0.8^(1/5) = 4.3648% a year; 2018 and 2019 are 12.53% and 16.35%.
        assert!(close(T.annual_cut(), 0.043_647_500), "{}", T.annual_cut());
        #[rustfmt::skip]
        let cases = [
            (2010, 0.0), (2015, 0.0), (2016, 0.043_647_500), (2017, 0.085_389_896),
            (2018, 0.125_310_341), (2019, 0.163_488_358), (2020, 0.2),
            (2025, 0.2), // held after the target year
        ];
        for (year, want) in cases {
            let got = T.required_reduction(year);
            assert!(close(got, want), "{year}: {got}");
        }
        let at_once = Target {
            target_year: 2015,
            ..T
        };
        assert_eq!(
            (at_once.annual_cut(), at_once.required_reduction(2016)),
            (0.2, 0.2)
        );
        let too_much = Target {
            target_reduction: 1.5,
            ..T
        };
        assert_eq!(too_much.required_reduction(2020), 1.0);
    }

    #[test]
    fn roll_up() {
        // (reports, want: (energy, deflated value added, months covered)) for 2018.
        #[rustfmt::skip]
        let cases = [
            ("", None),
            ("2017:9/99/1", None), // other years only
            ("2018-Q1:300/1100/1.1 2018-04:100/440/1.1 2018-05:100/330/1.1", Some((500.0, 1700.0, 5))),
            ("2018-01:100/1100/1.1 2018:1200/11000/1.1 2018-Q3:1/1/1", Some((1200.0, 10000.0, 12))),
            ("2018-04:100/1100/1.1 2018-Q2:300/3300/1.1 2018-07:50/550/1.1", Some((350.0, 3500.0, 4))),
            ("2017:9/99/1 2018-03:10/100/1 2019-Q1:9/9/1", Some((10.0, 100.0, 1))),
            ("2018-02:10/100/1 2018-02:20/100/1", Some((20.0, 100.0, 1))), // later one wins
            ("2018:1/1/0 2018-01:10/100/1", Some((10.0, 100.0, 1))), // unusable year report
        ];
        for (spec, want) in cases {
            let got = roll_up_year(2018, &reports(spec))
                .map(|f| (f.energy_tce, f.deflated_value_added, f.months_covered));
            let same = |(g, w): ((f64, f64, u32), (f64, f64, u32))| {
                close(g.0, w.0) && close(g.1, w.1) && g.2 == w.2
            };
            assert!(
                got.is_some() == want.is_some() && got.zip(want).is_none_or(same),
                "{spec}: {got:?}"
            );
        }
    }

    #[test]
    fn status_and_projection() {
        // (figures, year, want: "reduction on/off projected meet/miss"; "-" for None). E.g. the
        // third: 14% ≥ 12.53% required; trend (0.86 / 0.95)^(1/2) a year gives 0.86² / 0.95 =
        // 0.7785 in 2020, a 22.15% reduction. 2018 counts with its 5 months to date.
        #[rustfmt::skip]
        let cases = [
            ("2016:0.95", 2016, "0.0500 on - -"),
            ("2017:0.914610104", 2017, "0.0854 on - -"), // exactly on the path
            ("2016:0.95 2017:0.90 2018:0.86/5", 2018, "0.1400 on 0.2215 meet"),
            ("2018:0.88 2016:0.96 2017:0.92", 2018, "0.1200 off 0.1933 miss"), // 1 − 0.88²/0.96
            ("2015:2 2016:0.95 2017:0.90 2018:0.86", 2018, "0.1400 on 0.2215 meet"), // last 3 only
            ("2016:0.95 2018:0.86", 2018, "0.1400 on 0.2215 meet"), // gap spread evenly
            ("2016:0.95 2017:0.90 2019:0.5", 2017, "0.1000 on 0.2348 meet"), // 1 − 0.9(0.9/0.95)³
            ("2019:0.85 2020:0.81", 2020, "0.1900 off 0.1900 miss"),
            ("2020:0.79 2021:0.82", 2021, "0.1800 off - meet"), // 2020 met the target
            ("2021:0.78", 2021, "0.2200 on - -"), // 2020 unknown
        ];
        for (spec, year, want) in cases {
            let s = energy_status(&T, &figures(spec), year).unwrap();
            let got = format!(
                "{:.4} {} {} {}",
                s.reduction,
                if s.on_track { "on" } else { "off" },
                s.projected_reduction
                    .map_or("-".into(), |p| format!("{p:.4}")),
                s.will_meet_target
                    .map_or("-", |m| if m { "meet" } else { "miss" }),
            );
            assert_eq!(got, want, "{spec} in {year}");
            assert!(close(s.required_reduction, T.required_reduction(year)));
        }
        assert_eq!(energy_status(&T, &figures("2016:0.9"), 2017), None);
        let bad = Target {
            baseline_intensity: 0.0,
            ..T
        };
        assert_eq!(energy_status(&bad, &figures("2016:0.9"), 2016), None);
    }
}
