//! Plausibility: the range a measured value can take at all, per pollutant, and the span of time
//! greenmon stores. A value outside it is not an exceedance but a broken analyser or a hostile
//! logger; it is quarantined (`value_out_of_range`, `time_out_of_range`) before it can reach the
//! rollups, where one absurd value (1.7e308) would overflow every sum it joins.
//!
//! Defaults are wide on purpose: ten times any discharge limit of GB 8978, and every physically
//! possible pH. Operators narrow or widen them per pollutant with `ingest.value_limits`.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use serde::Deserialize;

use super::PollutantCode;

/// The largest magnitude of a cumulative amount (`Cou`, e.g. total flow in m³ since midnight).
/// Far above any real outlet's daily volume, and far below where sums of it could overflow.
pub const MAX_ABS_CUMULATIVE: f64 = 1e15;

/// Inclusive bounds of a plausible value.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValueRange {
    pub min: f64,
    pub max: f64,
}

impl ValueRange {
    /// Whether `v` is finite and inside the range.
    pub fn contains(self, v: f64) -> bool {
        v.is_finite() && v >= self.min && v <= self.max
    }

    /// Whether the bounds make sense: finite, ordered, and small enough that a day of values
    /// cannot overflow a double when summed (|bound| ≤ 1e15).
    pub fn is_sane(self) -> bool {
        self.min.is_finite()
            && self.max.is_finite()
            && self.min <= self.max
            && self.min.abs() <= MAX_ABS_CUMULATIVE
            && self.max.abs() <= MAX_ABS_CUMULATIVE
    }
}

/// Built-in ranges by HJ 212-2017 code: (code, min, max).
const BUILT_IN: &[(&str, f64, f64)] = &[
    ("w01001", 0.0, 14.0),         // pH
    ("w01018", -100.0, 100_000.0), // COD, mg/L
    ("w21003", -10.0, 20_000.0),   // ammonia nitrogen, mg/L
    ("w21011", -10.0, 10_000.0),   // total phosphorus, mg/L
    ("w21001", -10.0, 20_000.0),   // total nitrogen, mg/L
    ("w00000", -1_000.0, 1.0e8),   // waste-water flow (L/s or m³/h)
    ("w01010", -50.0, 150.0),      // water temperature, °C
];

/// The default range of a pollutant without its own: wide, but nowhere near overflow.
pub const DEFAULT_RANGE: ValueRange = ValueRange {
    min: -1.0e9,
    max: 1.0e9,
};

/// Plausible ranges per pollutant, with a default for the rest.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueLimits {
    default: ValueRange,
    by_code: BTreeMap<String, ValueRange>,
}

impl Default for ValueLimits {
    fn default() -> Self {
        Self {
            default: DEFAULT_RANGE,
            by_code: BUILT_IN
                .iter()
                .map(|&(c, min, max)| (c.to_string(), ValueRange { min, max }))
                .collect(),
        }
    }
}

/// A value outside its plausible range: which field, what it was, what was allowed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{pollutant} {field} = {value} is outside the plausible range [{min}, {max}]")]
pub struct OutOfRange {
    pub pollutant: String,
    /// `value`, `min`, `max` or `cou`.
    pub field: &'static str,
    pub value: f64,
    pub min: f64,
    pub max: f64,
}

impl ValueLimits {
    /// The built-in ranges with `overrides` on top: keys are HJ 212 codes or aliases, or
    /// `default` for every pollutant without a range of its own.
    ///
    /// # Errors
    /// Each bad key or range, as `(key, problem)`.
    pub fn with_overrides(
        overrides: &BTreeMap<String, ValueRange>,
    ) -> Result<Self, Vec<(String, String)>> {
        let mut limits = Self::default();
        let mut problems = Vec::new();
        for (key, range) in overrides {
            if !range.is_sane() {
                problems.push((
                    key.clone(),
                    format!(
                        "range [{}, {}] must be finite, min ≤ max, within ±1e15",
                        range.min, range.max
                    ),
                ));
                continue;
            }
            if key == "default" {
                limits.default = *range;
                continue;
            }
            match super::parse_pollutant(key) {
                Ok(code) => {
                    limits.by_code.insert(code.as_str().to_string(), *range);
                }
                Err(e) => problems.push((key.clone(), e.to_string())),
            }
        }
        if problems.is_empty() {
            Ok(limits)
        } else {
            Err(problems)
        }
    }

    /// The range that applies to `code`.
    pub fn range(&self, code: &PollutantCode) -> ValueRange {
        self.by_code
            .get(code.as_str())
            .copied()
            .unwrap_or(self.default)
    }

    /// Checks a value and its interval statistics.
    ///
    /// # Errors
    /// The first field outside its range.
    pub fn check(
        &self,
        code: &PollutantCode,
        value: f64,
        min: Option<f64>,
        max: Option<f64>,
        cou: Option<f64>,
    ) -> Result<(), OutOfRange> {
        let range = self.range(code);
        let out = |field, value: f64, r: ValueRange| OutOfRange {
            pollutant: code.as_str().to_string(),
            field,
            value,
            min: r.min,
            max: r.max,
        };
        for (field, v) in [("value", Some(value)), ("min", min), ("max", max)] {
            if let Some(v) = v {
                if !range.contains(v) {
                    return Err(out(field, v, range));
                }
            }
        }
        let cou_range = ValueRange {
            min: -MAX_ABS_CUMULATIVE,
            max: MAX_ABS_CUMULATIVE,
        };
        match cou {
            Some(c) if !cou_range.contains(c) => Err(out("cou", c, cou_range)),
            _ => Ok(()),
        }
    }
}

/// The first instant greenmon stores: 2000-01-01T00:00:00Z. Nothing older is monitoring data
/// of these parks, and PostgreSQL's range ends long before chrono's.
pub fn earliest_time() -> DateTime<Utc> {
    // A fixed, valid date: `single()` cannot be `None`.
    Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0)
        .single()
        .expect("2000-01-01 is a valid UTC time")
}

/// The end of the span greenmon stores (exclusive): 2101-01-01T00:00:00Z.
pub fn latest_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2101, 1, 1, 0, 0, 0)
        .single()
        .expect("2101-01-01 is a valid UTC time")
}

/// Whether `t` lies in the span greenmon stores (years 2000 to 2100).
pub fn time_in_span(t: DateTime<Utc>) -> bool {
    t >= earliest_time() && t < latest_time()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(s: &str) -> PollutantCode {
        super::super::parse_pollutant(s).unwrap()
    }

    #[test]
    fn values_in_and_out_of_range() {
        let l = ValueLimits::default();
        type Case = (
            &'static str,
            f64,
            Option<f64>,
            Option<f64>,
            Option<f64>,
            Option<&'static str>,
        );
        let cases: &[Case] = &[
            ("cod", 23.1, None, None, None, None),
            ("cod", 1.7e308, None, None, None, Some("value")),
            ("cod", f64::INFINITY, None, None, None, Some("value")),
            ("cod", f64::NAN, None, None, None, Some("value")),
            ("cod", 23.1, Some(-1e300), None, None, Some("min")),
            ("cod", 23.1, None, Some(1e6), None, Some("max")),
            ("cod", 23.1, None, None, Some(1e16), Some("cou")),
            ("ph", 14.0, None, None, None, None),
            ("ph", 14.5, None, None, None, Some("value")),
            ("w99999", 1e9, None, None, None, None),
            ("w99999", 1.000001e9, None, None, None, Some("value")),
            ("w99999", -1e9, None, None, Some(1e15), None),
        ];
        for &(c, v, min, max, cou, bad) in cases {
            let got = l.check(&code(c), v, min, max, cou).err().map(|e| e.field);
            assert_eq!(got, bad, "{c} {v} {min:?} {max:?} {cou:?}");
        }
    }

    #[test]
    fn overrides_replace_and_name_bad_keys() {
        let mut o = BTreeMap::new();
        o.insert(
            "cod".to_string(),
            ValueRange {
                min: 0.0,
                max: 500.0,
            },
        );
        o.insert(
            "default".to_string(),
            ValueRange {
                min: 0.0,
                max: 10.0,
            },
        );
        let l = ValueLimits::with_overrides(&o).unwrap();
        assert!(l.check(&code("w01018"), 501.0, None, None, None).is_err());
        assert!(l.check(&code("w99999"), 11.0, None, None, None).is_err());
        assert!(l.check(&code("ph"), 7.0, None, None, None).is_ok());

        let mut bad = BTreeMap::new();
        bad.insert("notacode".to_string(), ValueRange { min: 0.0, max: 1.0 });
        bad.insert("tp".to_string(), ValueRange { min: 2.0, max: 1.0 });
        bad.insert(
            "tn".to_string(),
            ValueRange {
                min: 0.0,
                max: f64::INFINITY,
            },
        );
        let keys: Vec<String> = ValueLimits::with_overrides(&bad)
            .unwrap_err()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(keys, ["notacode", "tn", "tp"]);
    }

    #[test]
    fn time_span() {
        assert!(time_in_span("2018-03-01T00:00:00Z".parse().unwrap()));
        assert!(!time_in_span("1999-12-31T23:59:59Z".parse().unwrap()));
        assert!(!time_in_span("2101-01-01T00:00:00Z".parse().unwrap()));
        assert!(!time_in_span(DateTime::<Utc>::MIN_UTC));
    }
}
