//! The registry file: parks, their monitoring points (with HJ 212 MN), discharge limits and
//! energy baselines, as imported by `greenmon registry import FILE`.
//!
//! ```toml
//! [[parks]]
//! id = "sjz-hitech"
//! name = "石家庄高新区"
//! name_en = "Shijiazhuang High-tech Zone"
//! baseline_year = 2015
//! baseline_intensity = 0.62      # tce per 10,000 yuan in the baseline year
//!
//! [[parks.points]]
//! id = "sjz-hitech-wwtp-out"
//! name = "Treatment plant outlet"
//! kind = "treatment_outlet"
//! mn = "010000A8900016F000169DC0"
//! interval_secs = 60
//! allowed_gap_secs = 600         # optional: offline after 10 min without valid data
//! hj212_password = "123456"      # optional: the PW the logger must send
//! crc_modes = ["hj212"]          # accepted CRCs: hj212 (default), modbus, modbus_swapped
//! hj212_st = "32"                # optional: the ST the logger must send
//! hj212_set_clock = false        # optional: greenmon sets the logger's clock when it drifts
//! monitored_since = 2018-03-15   # commissioning: a date (local midnight) or an RFC 3339 time
//! retired_at = 2020-06-30T12:00:00+08:00   # optional: out of service from then on
//! [parks.points.limits]
//! cod = { upper = 50 }
//! ph = { lower = 6, upper = 9 }
//! ```

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::Deserialize;

use super::{parse_pollutant, CrcMode, Mn, ParkId, PointId, PollutantCode};

/// The largest plausible baseline intensity, tce per 10,000 yuan (real parks: 0.05 to 5).
pub const MAX_BASELINE_INTENSITY: f64 = 1000.0;
/// The largest magnitude of a discharge limit: far above any standard's, far below overflow.
pub const MAX_ABS_LIMIT: f64 = 1e9;

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryFile {
    #[serde(default)]
    pub parks: Vec<ParkEntry>,
}

/// One park.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ParkEntry {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub name_en: Option<String>,
    #[serde(default = "default_baseline_year")]
    #[schema(default = default_baseline_year)]
    pub baseline_year: i32,
    /// Energy intensity in the baseline year, tce per 10,000 yuan.
    pub baseline_intensity: f64,
    #[serde(default = "default_target_year")]
    #[schema(default = default_target_year)]
    pub target_year: i32,
    /// Required cut by the target year, as a fraction (0.20 = 20%).
    #[serde(default = "default_target_reduction")]
    #[schema(default = default_target_reduction)]
    pub target_reduction: f64,
    #[serde(default)]
    pub points: Vec<PointEntry>,
}

/// One monitoring point of a park.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PointEntry {
    pub id: String,
    pub name: String,
    /// `sewage_outlet`, `treatment_inlet`, `treatment_outlet` or `other`.
    pub kind: String,
    /// HJ 212 device id of the data logger reporting for this point.
    #[serde(default)]
    pub mn: Option<String>,
    /// Counts towards the park's automatic online monitoring rate.
    #[serde(default = "default_true")]
    #[schema(default = default_true)]
    pub required: bool,
    /// Expected seconds between readings.
    #[serde(default = "default_interval")]
    #[schema(default = default_interval)]
    pub interval_secs: i32,
    /// Seconds without a valid reading before the point counts as offline (default: 3 ×
    /// interval, at least 5 minutes).
    #[serde(default)]
    pub allowed_gap_secs: Option<i32>,
    /// HJ 212 password (PW) the logger must send; unset = not checked.
    #[serde(default)]
    pub hj212_password: Option<String>,
    /// CRC variants accepted from the logger: `hj212` (default), `modbus`, `modbus_swapped`.
    #[serde(default = "default_crc_modes")]
    #[schema(default = default_crc_modes)]
    pub crc_modes: Vec<String>,
    /// HJ 212 system code (ST) the logger must send, e.g. `32`; unset = not checked.
    #[serde(default)]
    pub hj212_st: Option<String>,
    /// Let greenmon set the logger's clock (HJ 212 CN 1012) when it drifts beyond
    /// `alerts.rules.clock_drift.limit_secs`. Default off.
    #[serde(default)]
    pub hj212_set_clock: bool,
    /// Commissioning: the point owes data from then on. A date (`2018-03-15`: local midnight
    /// in `ingest.timezone`) or an RFC 3339 time. Unset: when it is first registered (an update
    /// without it keeps the stored value).
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "2018-03-15")]
    pub monitored_since: Option<TimeText>,
    /// Retirement: the point owes nothing from then on (same forms). Unset: in service.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "2020-06-30T12:00:00+08:00")]
    pub retired_at: Option<TimeText>,
    /// Discharge limits by pollutant (code or alias).
    #[serde(default)]
    pub limits: BTreeMap<String, LimitEntry>,
}

/// A date or time as written in the registry: a TOML date or date-time, or a JSON string.
/// Checked by [`RegistryFile::validate`], so problems name the park, point and field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeText(pub String);

impl<'de> Deserialize<'de> for TimeText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = TimeText;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a date (2018-03-15) or an RFC 3339 time")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<TimeText, E> {
                Ok(TimeText(v.to_string()))
            }
            // A TOML date or date-time arrives as a one-entry map holding its text.
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<TimeText, A::Error> {
                match m.next_entry::<String, String>()? {
                    Some((_, text)) => Ok(TimeText(text)),
                    None => Err(serde::de::Error::custom("empty date")),
                }
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// A commissioning or retirement: a local calendar date (its midnight in the service's zone) or
/// an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceTime {
    Date(NaiveDate),
    Instant(DateTime<Utc>),
}

impl ServiceTime {
    /// Parses `2018-03-15` or an RFC 3339 time (`2018-03-15T08:00:00+08:00`).
    ///
    /// # Errors
    /// A message saying which forms are accepted, or that the year is outside 2000–2100.
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        let parsed = NaiveDate::parse_from_str(t, "%Y-%m-%d")
            .map(ServiceTime::Date)
            .or_else(|_| {
                DateTime::parse_from_rfc3339(t).map(|x| ServiceTime::Instant(x.with_timezone(&Utc)))
            })
            .map_err(|_| format!("{text:?} is neither a date (2018-03-15) nor an RFC 3339 time"))?;
        let year = match parsed {
            ServiceTime::Date(d) => d.year(),
            ServiceTime::Instant(i) => i.year(),
        };
        if !(2000..=2100).contains(&year) {
            return Err(format!("{text:?} must be in the years 2000 to 2100"));
        }
        Ok(parsed)
    }

    /// The instant, a date taken as local midnight in `tz`.
    pub fn instant(&self, tz: Tz) -> DateTime<Utc> {
        match *self {
            ServiceTime::Date(d) => crate::domain::local_midnight(d, tz),
            ServiceTime::Instant(i) => i,
        }
    }
}

/// Discharge limit of one pollutant.
#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitEntry {
    #[serde(default)]
    pub lower: Option<f64>,
    #[serde(default)]
    pub upper: Option<f64>,
}

/// Point kinds accepted in the registry.
pub const POINT_KINDS: &[&str] = &[
    "sewage_outlet",
    "treatment_inlet",
    "treatment_outlet",
    "other",
];

fn default_baseline_year() -> i32 {
    2015
}
fn default_target_year() -> i32 {
    2020
}
fn default_target_reduction() -> f64 {
    0.20
}
fn default_true() -> bool {
    true
}
fn default_interval() -> i32 {
    60
}
fn default_crc_modes() -> Vec<String> {
    vec!["hj212".to_string()]
}

/// A registry checked and normalised: ids parsed, aliases mapped to codes.
#[derive(Debug, Clone)]
pub struct Registry {
    pub parks: Vec<Park>,
}

/// A validated park.
#[derive(Debug, Clone)]
pub struct Park {
    pub id: ParkId,
    pub name: String,
    pub name_en: Option<String>,
    pub baseline_year: i32,
    pub baseline_intensity: f64,
    pub target_year: i32,
    pub target_reduction: f64,
    pub points: Vec<Point>,
}

/// A validated monitoring point.
#[derive(Debug, Clone)]
pub struct Point {
    pub id: PointId,
    pub name: String,
    pub kind: String,
    pub mn: Option<Mn>,
    pub required: bool,
    pub interval_secs: i32,
    pub allowed_gap_secs: Option<i32>,
    pub hj212_password: Option<String>,
    pub crc_modes: Vec<CrcMode>,
    pub hj212_st: Option<String>,
    pub hj212_set_clock: bool,
    /// Commissioning; `None` keeps the stored value (or, for a new point, its registration).
    pub monitored_since: Option<ServiceTime>,
    /// Retirement; `None` while in service.
    pub retired_at: Option<ServiceTime>,
    pub limits: Vec<(PollutantCode, LimitEntry)>,
}

impl RegistryFile {
    /// Parses the TOML text.
    ///
    /// # Errors
    /// The TOML error, with the line and key, as text.
    pub fn parse(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// Checks every entry; returns all problems, each naming the park or point.
    ///
    /// # Errors
    /// The list of problems.
    pub fn validate(self) -> Result<Registry, Vec<String>> {
        let mut problems = Vec::new();
        let mut parks = Vec::new();
        let mut park_ids = HashSet::new();
        let mut point_ids = HashSet::new();
        let mut mns = HashSet::new();
        for p in self.parks {
            let at = format!("park {:?}", p.id);
            let id = ParkId::parse(&p.id).map_err(|e| problems.push(format!("{at}: {e}")));
            if !park_ids.insert(p.id.clone()) {
                problems.push(format!("{at}: duplicate park id"));
            }
            if p.name.trim().is_empty() {
                problems.push(format!("{at}: name must not be empty"));
            }
            if !(p.baseline_intensity.is_finite()
                && p.baseline_intensity > 0.0
                && p.baseline_intensity <= MAX_BASELINE_INTENSITY)
            {
                problems.push(format!(
                    "{at}: baseline_intensity must be a number > 0 and ≤ {MAX_BASELINE_INTENSITY}"
                ));
            }
            if !(2000..=2100).contains(&p.baseline_year) {
                problems.push(format!("{at}: baseline_year must be 2000 to 2100"));
            }
            if !(2000..=2100).contains(&p.target_year) {
                problems.push(format!("{at}: target_year must be 2000 to 2100"));
            }
            if p.target_year <= p.baseline_year {
                problems.push(format!("{at}: target_year must be after baseline_year"));
            }
            if !(p.target_reduction > 0.0 && p.target_reduction < 1.0) {
                problems.push(format!("{at}: target_reduction must be between 0 and 1"));
            }
            let mut points = Vec::new();
            for pt in p.points {
                let at = format!("{at}, point {:?}", pt.id);
                let pid = PointId::parse(&pt.id).map_err(|e| problems.push(format!("{at}: {e}")));
                if !point_ids.insert(pt.id.clone()) {
                    problems.push(format!("{at}: duplicate point id"));
                }
                if !POINT_KINDS.contains(&pt.kind.as_str()) {
                    problems.push(format!(
                        "{at}: kind must be one of {}",
                        POINT_KINDS.join(", ")
                    ));
                }
                if !(1..=86_400).contains(&pt.interval_secs) {
                    problems.push(format!("{at}: interval_secs must be 1 to 86400"));
                }
                if pt
                    .allowed_gap_secs
                    .is_some_and(|g| !(1..=30 * 86_400).contains(&g))
                {
                    problems.push(format!("{at}: allowed_gap_secs must be 1 to 2592000"));
                }
                let mut crc_modes = Vec::new();
                for m in &pt.crc_modes {
                    match m.parse::<CrcMode>() {
                        Ok(mode) => crc_modes.push(mode),
                        Err(e) => problems.push(format!("{at}: {e}")),
                    }
                }
                if pt.crc_modes.is_empty() {
                    problems.push(format!("{at}: crc_modes must name at least one mode"));
                }
                if pt
                    .hj212_password
                    .as_deref()
                    .is_some_and(|pw| pw.is_empty() || pw.contains([';', ',', '=', '&']))
                {
                    problems.push(format!(
                        "{at}: hj212_password must be non-empty, without ; , = or &"
                    ));
                }
                if pt.hj212_st.as_deref().is_some_and(|st| {
                    st.is_empty() || st.len() > 5 || !st.bytes().all(|b| b.is_ascii_alphanumeric())
                }) {
                    problems.push(format!(
                        "{at}: hj212_st must be a system code of 1 to 5 letters or digits (e.g. 32)"
                    ));
                }
                let mn = match pt.mn.as_deref().map(Mn::parse).transpose() {
                    Ok(Some(mn)) => {
                        if !mns.insert(mn.clone()) {
                            problems
                                .push(format!("{at}: MN {} is used by another point", mn.as_str()));
                        }
                        Some(mn)
                    }
                    Ok(None) => None,
                    Err(e) => {
                        problems.push(format!("{at}: {e}"));
                        None
                    }
                };
                let mut service_time = |field: &str, text: &Option<TimeText>| {
                    text.as_ref().and_then(|t| {
                        ServiceTime::parse(&t.0)
                            .map_err(|e| problems.push(format!("{at}: {field} {e}")))
                            .ok()
                    })
                };
                let monitored_since = service_time("monitored_since", &pt.monitored_since);
                let retired_at = service_time("retired_at", &pt.retired_at);
                if pt.retired_at.is_some() && pt.monitored_since.is_none() {
                    problems.push(format!(
                        "{at}: retired_at needs monitored_since (the service period it ends)"
                    ));
                }
                if let (Some(since), Some(until)) = (monitored_since, retired_at) {
                    // Any zone gives the same order for two dates, and for a date against an
                    // instant it can differ only within a day; Asia/Shanghai is the usual one,
                    // and the database checks the order again in the real zone.
                    let tz = chrono_tz::Asia::Shanghai;
                    if until.instant(tz) <= since.instant(tz) {
                        problems.push(format!("{at}: retired_at must be after monitored_since"));
                    }
                }
                let mut limits = Vec::new();
                for (code, limit) in pt.limits {
                    match parse_pollutant(&code) {
                        Ok(c) => {
                            let finite = |v: Option<f64>| {
                                v.is_none_or(|v| v.is_finite() && v.abs() <= MAX_ABS_LIMIT)
                            };
                            if limit.lower.is_none() && limit.upper.is_none() {
                                problems.push(format!("{at}: limit {code} needs lower or upper"));
                            } else if !finite(limit.lower) || !finite(limit.upper) {
                                problems.push(format!(
                                    "{at}: limit {code} must be finite, within ±{MAX_ABS_LIMIT:e}"
                                ));
                            } else if let (Some(l), Some(u)) = (limit.lower, limit.upper) {
                                if l > u {
                                    problems
                                        .push(format!("{at}: limit {code} lower is above upper"));
                                }
                            }
                            if limits.iter().any(|(existing, _)| existing == &c) {
                                problems.push(format!("{at}: limit {code} given twice"));
                            }
                            limits.push((c, limit));
                        }
                        Err(e) => problems.push(format!("{at}: {e}")),
                    }
                }
                if let Ok(id) = pid {
                    points.push(Point {
                        id,
                        name: pt.name,
                        kind: pt.kind,
                        mn,
                        required: pt.required,
                        interval_secs: pt.interval_secs,
                        allowed_gap_secs: pt.allowed_gap_secs,
                        hj212_password: pt.hj212_password,
                        crc_modes,
                        hj212_st: pt.hj212_st,
                        hj212_set_clock: pt.hj212_set_clock,
                        monitored_since,
                        retired_at,
                        limits,
                    });
                }
            }
            if let Ok(id) = id {
                parks.push(Park {
                    id,
                    name: p.name,
                    name_en: p.name_en,
                    baseline_year: p.baseline_year,
                    baseline_intensity: p.baseline_intensity,
                    target_year: p.target_year,
                    target_reduction: p.target_reduction,
                    points,
                });
            }
        }
        if problems.is_empty() {
            Ok(Registry { parks })
        } else {
            Err(problems)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_registry_is_valid() {
        let text = include_str!("../../config/demo-registry.toml");
        let reg = RegistryFile::parse(text).unwrap().validate().unwrap();
        assert!(reg.parks.len() >= 10);
        assert!(reg
            .parks
            .iter()
            .all(|p| p.points.iter().any(|pt| pt.required)));
    }

    #[test]
    fn problems_name_their_place() {
        let text = r#"
[[parks]]
id = "A"
name = ""
baseline_intensity = -1
[[parks.points]]
id = "p1"
name = "x"
kind = "chimney"
mn = "bad mn!"
[parks.points.limits]
chlorine = { upper = 1 }
ph = { lower = 9, upper = 6 }
"#;
        let problems = RegistryFile::parse(text).unwrap().validate().unwrap_err();
        let all = problems.join("\n");
        for needle in [
            "park id",
            "name must not be empty",
            "baseline_intensity",
            "kind must be",
            "MN",
            "chlorine",
            "lower is above upper",
        ] {
            assert!(all.contains(needle), "missing {needle}: {all}");
        }
    }

    #[test]
    fn commissioning_dates() {
        let park = |point: &str| {
            format!(
                "[[parks]]\nid='a'\nname='a'\nbaseline_intensity=1\n[[parks.points]]\nid='a-1'\nname='x'\nkind='other'\n{point}\n"
            )
        };
        let tz = chrono_tz::Asia::Shanghai;
        let reg = RegistryFile::parse(&park(
            "monitored_since = 2018-03-16\nretired_at = 2018-03-20T10:20:00+08:00",
        ))
        .unwrap()
        .validate()
        .unwrap();
        let pt = &reg.parks[0].points[0];
        // Local midnight of 2018-03-16 in Beijing is 16:00 UTC the day before.
        let since = pt.monitored_since.unwrap().instant(tz);
        assert_eq!(since.to_rfc3339(), "2018-03-15T16:00:00+00:00");
        let until = pt.retired_at.unwrap().instant(tz);
        assert_eq!(until.to_rfc3339(), "2018-03-20T02:20:00+00:00");
        // JSON (the API) gives strings.
        let entry: PointEntry = serde_json::from_str(
            r#"{"id":"a-1","name":"x","kind":"other","monitored_since":"2018-03-16"}"#,
        )
        .unwrap();
        assert_eq!(entry.monitored_since, Some(TimeText("2018-03-16".into())));
        for (point, needle) in [
            (
                "monitored_since = 1999-12-31",
                "monitored_since \"1999-12-31\" must be in the years 2000 to 2100",
            ),
            (
                "monitored_since = 'soon'",
                "monitored_since \"soon\" is neither a date",
            ),
            (
                "monitored_since = 2018-03-16\nretired_at = 2018-03-16",
                "retired_at must be after monitored_since",
            ),
            (
                "monitored_since = 2018-03-16\nretired_at = 2101-01-01",
                "retired_at \"2101-01-01\" must be in the years",
            ),
            (
                "retired_at = 2019-01-01",
                "retired_at needs monitored_since",
            ),
        ] {
            let all = RegistryFile::parse(&park(point))
                .unwrap()
                .validate()
                .unwrap_err()
                .join("\n");
            assert!(all.contains("park \"a\", point \"a-1\": "), "{all}");
            assert!(all.contains(needle), "missing {needle}: {all}");
        }
    }

    #[test]
    fn unknown_keys_rejected() {
        let err = RegistryFile::parse(
            "[[parks]]\nid='a'\nname='a'\nbaseline_intensity=1\ncolour='red'\n",
        )
        .unwrap_err();
        assert!(err.contains("colour"), "{err}");
    }
}
