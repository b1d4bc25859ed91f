//! The simulator's pure value model: what one monitoring point measures at one moment, and the
//! JSON readings payload carrying it (valid, flagged, over a limit, or deliberately malformed).
//!
//! Input: a [`PointModel`] built from a registry point, a timestamp and a seeded RNG. Output:
//! payload bytes and the number of readings in them. No IO and no clock: the caller passes the
//! time, so every function here is unit-tested.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Timelike, Utc};
use chrono_tz::Asia::Shanghai;
use rand::Rng;
use serde::Serialize;

use crate::domain::registry::Point;
use crate::domain::{parse_pollutant, PollutantCode};

/// The six parameters every simulated message carries, in payload order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pollutant {
    Cod,
    Nh3n,
    Tp,
    Tn,
    Ph,
    Flow,
}

impl Pollutant {
    /// All six, in payload order; `p as usize` indexes arrays ordered like this.
    pub(crate) const ALL: [Pollutant; 6] = [
        Pollutant::Cod,
        Pollutant::Nh3n,
        Pollutant::Tp,
        Pollutant::Tn,
        Pollutant::Ph,
        Pollutant::Flow,
    ];

    /// The JSON alias (DESIGN.md "Sources and payloads").
    pub(crate) fn alias(self) -> &'static str {
        match self {
            Self::Cod => "cod",
            Self::Nh3n => "nh3n",
            Self::Tp => "tp",
            Self::Tn => "tn",
            Self::Ph => "ph",
            Self::Flow => "flow",
        }
    }

    /// Decimals sent, after the HJ 212-2017 data types (hj212.md §10: COD N5.1, the others .2).
    fn decimals(self) -> i32 {
        match self {
            Self::Cod => 1,
            _ => 2,
        }
    }
}

/// Non-N flags the simulator sets (HJ 212-2017 Table 8): maintenance, calibration, fault,
/// instrument stopped, communication failure, over range.
pub(crate) const FLAGS: [&str; 6] = ["M", "C", "D", "F", "B", "T"];

/// A discharge limit as the simulator uses it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Limit {
    pub(crate) lower: Option<f64>,
    pub(crate) upper: Option<f64>,
}

impl Limit {
    fn is_set(self) -> bool {
        self.lower.is_some() || self.upper.is_some()
    }

    /// Whether `v` lies outside the limit.
    #[cfg(test)]
    pub(crate) fn is_exceeded_by(self, v: f64) -> bool {
        self.upper.is_some_and(|u| v > u) || self.lower.is_some_and(|l| v < l)
    }
}

/// Fractions of messages that are made special.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Rates {
    /// One pollutant pushed outside its limit.
    pub(crate) exceedance: f64,
    /// One pollutant carries a non-N flag.
    pub(crate) flag: f64,
    /// The whole message is malformed.
    pub(crate) invalid: f64,
}

/// What one point measures: its typical values, noise and limits. Built once per point.
#[derive(Debug, Clone)]
pub(crate) struct PointModel {
    pub(crate) kind: String,
    /// Typical value per pollutant (flow: the daily mean, L/s), indexed by `Pollutant as usize`.
    pub(crate) typical: [f64; 6],
    /// Standard deviation of the noise, in the pollutant's unit.
    pub(crate) sd: [f64; 6],
    /// Discharge limits from the registry; unset where the registry has none.
    pub(crate) limits: [Limit; 6],
}

/// Typical values and relative noise of a point kind: cod, nh3n, tp, tn, ph, flow.
fn kind_profile(kind: &str) -> ([f64; 6], [f64; 6]) {
    // pH noise (index 4) is absolute; the others are relative to the typical value.
    match kind {
        "treatment_outlet" => (
            [25.0, 1.5, 0.25, 9.0, 7.2, 85.0],
            [0.12, 0.2, 0.16, 0.12, 0.12, 0.06],
        ),
        "treatment_inlet" => (
            [300.0, 30.0, 4.0, 40.0, 7.4, 90.0],
            [0.15, 0.15, 0.18, 0.14, 0.25, 0.06],
        ),
        // Sewage outlets (and `other`) discharge pretreated industrial water: in between.
        _ => (
            [60.0, 6.0, 0.45, 18.0, 7.4, 20.0],
            [0.15, 0.2, 0.16, 0.15, 0.2, 0.08],
        ),
    }
}

impl PointModel {
    /// Builds the model of a registry point; `rng` varies the typical values per point
    /// (concentrations ±20%, pH ±0.3, flow ×0.5-1.5) so points differ.
    pub(crate) fn new(point: &Point, rng: &mut impl Rng) -> Self {
        let (mut typical, rel) = kind_profile(&point.kind);
        let conc = rng.random_range(0.8..1.2);
        for p in [
            Pollutant::Cod,
            Pollutant::Nh3n,
            Pollutant::Tp,
            Pollutant::Tn,
        ] {
            typical[p as usize] *= conc;
        }
        typical[Pollutant::Ph as usize] += rng.random_range(-0.3..0.3);
        typical[Pollutant::Flow as usize] *= rng.random_range(0.5..1.5);
        let mut sd = [0.0; 6];
        for p in Pollutant::ALL {
            let i = p as usize;
            sd[i] = if p == Pollutant::Ph {
                rel[i]
            } else {
                typical[i] * rel[i]
            };
        }
        let mut limits = [Limit::default(); 6];
        for (code, entry) in &point.limits {
            if let Some(p) = pollutant_of(code) {
                limits[p as usize] = Limit {
                    lower: entry.lower,
                    upper: entry.upper,
                };
            }
        }
        Self {
            kind: point.kind.clone(),
            typical,
            sd,
            limits,
        }
    }
}

/// The simulated pollutant a registry code stands for, if any.
fn pollutant_of(code: &PollutantCode) -> Option<Pollutant> {
    Pollutant::ALL
        .into_iter()
        .find(|p| parse_pollutant(p.alias()).is_ok_and(|c| &c == code))
}

/// A standard normal sample (Box-Muller; `rand_distr` is not a dependency).
pub(crate) fn normal(rng: &mut impl Rng) -> f64 {
    // 1 - [0, 1) is in (0, 1], so the logarithm is finite.
    let u1 = 1.0 - rng.random::<f64>();
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Flow relative to the daily mean at a local (Beijing) hour in `[0, 24)`: lowest (0.55) at
/// 04:00, highest (1.35) at 14:00, rising over 10 hours and falling over 14, smooth at both.
pub(crate) fn diurnal_flow_factor(local_hour: f64) -> f64 {
    const TROUGH: f64 = 4.0;
    const PEAK: f64 = 14.0;
    const MID: f64 = 0.95;
    const AMP: f64 = 0.40;
    let since_trough = (local_hour - TROUGH).rem_euclid(24.0);
    let rise = PEAK - TROUGH;
    if since_trough <= rise {
        MID - AMP * (std::f64::consts::PI * since_trough / rise).cos()
    } else {
        MID + AMP * (std::f64::consts::PI * (since_trough - rise) / (24.0 - rise)).cos()
    }
}

/// Hour of the day in Asia/Shanghai, with fractions.
pub(crate) fn local_hour(ts: DateTime<Utc>) -> f64 {
    let t = ts.with_timezone(&Shanghai);
    f64::from(t.hour()) + f64::from(t.minute()) / 60.0 + f64::from(t.second()) / 3600.0
}

/// RFC 3339 in Beijing time with milliseconds, e.g. `2024-05-01T14:03:00.123+08:00`.
pub(crate) fn format_ts(ts: DateTime<Utc>) -> String {
    ts.with_timezone(&Shanghai)
        .to_rfc3339_opts(SecondsFormat::Millis, false)
}

fn round_to(v: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (v * f).round() / f
}

/// Normal values at `ts`: noisy around the typical values, flow on the diurnal curve, never
/// negative, and kept inside the point's limits (5% margin) so only deliberate exceedances
/// exceed.
pub(crate) fn sample_values(model: &PointModel, ts: DateTime<Utc>, rng: &mut impl Rng) -> [f64; 6] {
    let flow_factor = diurnal_flow_factor(local_hour(ts));
    let mut values = [0.0; 6];
    for p in Pollutant::ALL {
        let i = p as usize;
        let mean = match p {
            Pollutant::Flow => model.typical[i] * flow_factor,
            // A plant's intake is more concentrated when the parks work (daytime load).
            Pollutant::Cod | Pollutant::Nh3n | Pollutant::Tp | Pollutant::Tn
                if model.kind == "treatment_inlet" =>
            {
                model.typical[i] * (0.85 + 0.15 * flow_factor)
            }
            _ => model.typical[i],
        };
        let sd = if p == Pollutant::Flow {
            model.sd[i] * flow_factor
        } else {
            model.sd[i]
        };
        let mut v = (mean + sd * normal(rng)).max(0.0);
        if p == Pollutant::Ph {
            v = v.min(14.0);
        }
        let limit = model.limits[i];
        if let Some(u) = limit.upper {
            v = v.min(u * 0.95);
        }
        if let Some(l) = limit.lower {
            v = v.max(l * 1.05);
        }
        values[i] = round_to(v, p.decimals());
    }
    values
}

/// A value clearly outside `limit`: 15-100% above the upper limit, or (when there is no upper
/// limit, or by a coin toss for a range like pH) below the lower one. `None` without a limit.
pub(crate) fn outside(limit: Limit, p: Pollutant, rng: &mut impl Rng) -> Option<f64> {
    let below = match (limit.lower, limit.upper) {
        (None, None) => return None,
        (Some(_), None) => true,
        (None, Some(_)) => false,
        (Some(_), Some(_)) => rng.random::<f64>() < 0.5,
    };
    let v = match (below, p) {
        (true, Pollutant::Ph) => limit.lower? - rng.random_range(0.4..2.0),
        (true, _) => limit.lower? * rng.random_range(0.0..0.85),
        (false, Pollutant::Ph) => limit.upper? + rng.random_range(0.4..2.0),
        (false, _) => limit.upper? * rng.random_range(1.15..2.0),
    };
    Some(round_to(v.max(0.0), p.decimals()))
}

/// Pushes one limited pollutant of `values` outside its limit; returns which, or `None` when
/// the point has no limits.
pub(crate) fn apply_exceedance(
    model: &PointModel,
    values: &mut [f64; 6],
    rng: &mut impl Rng,
) -> Option<Pollutant> {
    let limited: Vec<Pollutant> = Pollutant::ALL
        .into_iter()
        .filter(|p| model.limits[*p as usize].is_set())
        .collect();
    if limited.is_empty() {
        return None;
    }
    let p = limited[rng.random_range(0..limited.len())];
    values[p as usize] = outside(model.limits[p as usize], p, rng)?;
    Some(p)
}

/// The six values in payload order.
#[derive(Serialize)]
struct Values {
    cod: f64,
    nh3n: f64,
    tp: f64,
    tn: f64,
    ph: f64,
    flow: f64,
}

/// The JSON readings payload (one timestamp).
#[derive(Serialize)]
struct ReadingPayload {
    ts: String,
    values: Values,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    flags: BTreeMap<&'static str, &'static str>,
}

/// Serialises a valid readings payload; `flags` lists only non-N flags.
pub(crate) fn payload(
    ts: DateTime<Utc>,
    values: &[f64; 6],
    flags: &[(Pollutant, &'static str)],
) -> Vec<u8> {
    let body = ReadingPayload {
        ts: format_ts(ts),
        values: Values {
            cod: values[0],
            nh3n: values[1],
            tp: values[2],
            tn: values[3],
            ph: values[4],
            flow: values[5],
        },
        flags: flags.iter().map(|(p, f)| (p.alias(), *f)).collect(),
    };
    // Serialising a struct of strings and finite floats cannot fail; an empty payload would
    // be quarantined rather than lost, so no panic path is needed.
    serde_json::to_vec(&body).unwrap_or_default()
}

/// The ways a deliberately malformed message is broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InvalidKind {
    /// Truncated JSON.
    BrokenJson,
    /// A value given as the string `"NaN"`.
    NanString,
    /// A pollutant code that does not exist (`chlorine`).
    UnknownPollutant,
    /// A timestamp that is not RFC 3339.
    BadTimestamp,
}

/// A malformed payload built from a valid one.
pub(crate) fn invalid_payload(
    ts: DateTime<Utc>,
    values: &[f64; 6],
    rng: &mut impl Rng,
) -> (Vec<u8>, InvalidKind) {
    let valid = payload(ts, values, &[]);
    let kind = match rng.random_range(0..4) {
        0 => InvalidKind::BrokenJson,
        1 => InvalidKind::NanString,
        2 => InvalidKind::UnknownPollutant,
        _ => InvalidKind::BadTimestamp,
    };
    let mut json: serde_json::Value = serde_json::from_slice(&valid).unwrap_or_default();
    let bytes = match kind {
        InvalidKind::BrokenJson => {
            let mut cut = valid;
            cut.truncate(cut.len() * 2 / 3);
            return (cut, kind);
        }
        InvalidKind::NanString => {
            let p = Pollutant::ALL[rng.random_range(0..Pollutant::ALL.len())];
            json["values"][p.alias()] = "NaN".into();
            json
        }
        InvalidKind::UnknownPollutant => {
            json["values"]["chlorine"] = round_to(rng.random_range(0.05..0.5), 2).into();
            json
        }
        InvalidKind::BadTimestamp => {
            json["ts"] = "yesterday at noon".into();
            json
        }
    };
    (serde_json::to_vec(&bytes).unwrap_or_default(), kind)
}

/// One generated readings message.
#[derive(Debug, Clone)]
pub(crate) struct Message {
    pub(crate) payload: Vec<u8>,
    /// Readings a correct decoder stores from it (0 for a malformed message).
    pub(crate) readings: u64,
    /// Pollutant pushed outside its limit, if any.
    pub(crate) exceeded: Option<Pollutant>,
    /// Malformation, if any.
    pub(crate) invalid: Option<InvalidKind>,
}

/// Generates the message of `model` at `ts`: malformed with probability `rates.invalid`,
/// otherwise valid, with an exceedance and/or a non-N flag at their rates.
pub(crate) fn generate(
    model: &PointModel,
    ts: DateTime<Utc>,
    rates: Rates,
    rng: &mut impl Rng,
) -> Message {
    let mut values = sample_values(model, ts, rng);
    if rng.random::<f64>() < rates.invalid {
        let (payload, kind) = invalid_payload(ts, &values, rng);
        return Message {
            payload,
            readings: 0,
            exceeded: None,
            invalid: Some(kind),
        };
    }
    let exceeded = if rng.random::<f64>() < rates.exceedance {
        apply_exceedance(model, &mut values, rng)
    } else {
        None
    };
    let mut flags = Vec::new();
    if rng.random::<f64>() < rates.flag {
        let p = Pollutant::ALL[rng.random_range(0..Pollutant::ALL.len())];
        flags.push((p, FLAGS[rng.random_range(0..FLAGS.len())]));
    }
    Message {
        payload: payload(ts, &values, &flags),
        readings: Pollutant::ALL.len() as u64,
        exceeded,
        invalid: None,
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;
    use crate::domain::registry::RegistryFile;

    fn demo_points() -> Vec<Point> {
        let text = include_str!("../../config/demo-registry.toml");
        let reg = RegistryFile::parse(text).unwrap().validate().unwrap();
        reg.parks.into_iter().flat_map(|p| p.points).collect()
    }

    fn point_of_kind(kind: &str) -> Point {
        demo_points().into_iter().find(|p| p.kind == kind).unwrap()
    }

    fn beijing(h: u32, m: u32) -> DateTime<Utc> {
        Shanghai
            .with_ymd_and_hms(2024, 5, 1, h, m, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn diurnal_flow_peaks_in_the_afternoon() {
        let (mut max_h, mut max_v, mut min_h, mut min_v) = (0.0, f64::MIN, 0.0, f64::MAX);
        for step in 0..24 * 60 {
            let h = f64::from(step) / 60.0;
            let v = diurnal_flow_factor(h);
            if v > max_v {
                (max_h, max_v) = (h, v);
            }
            if v < min_v {
                (min_h, min_v) = (h, v);
            }
        }
        assert!((max_h - 14.0f64).abs() < 0.1, "peak at {max_h}");
        assert!((min_h - 4.0f64).abs() < 0.1, "trough at {min_h}");
        assert!(max_v > 1.3 && min_v < 0.6);
        // Continuous across midnight and at the joins.
        assert!((diurnal_flow_factor(0.0) - diurnal_flow_factor(23.9999)).abs() < 1e-3);
        assert!((diurnal_flow_factor(-1.0) - diurnal_flow_factor(23.0)).abs() < 1e-12);
        // The mean over a day is about 1 (the typical flow is the daily mean).
        let mean: f64 = (0..1440)
            .map(|m| diurnal_flow_factor(f64::from(m) / 60.0))
            .sum::<f64>()
            / 1440.0;
        assert!((mean - 1.0).abs() < 0.08, "mean {mean}");
    }

    #[test]
    fn sampled_flow_is_higher_at_14_than_at_04() {
        let model = PointModel::new(
            &point_of_kind("treatment_outlet"),
            &mut StdRng::seed_from_u64(1),
        );
        let mut rng = StdRng::seed_from_u64(2);
        let avg = |h, rng: &mut StdRng| {
            (0..200)
                .map(|_| sample_values(&model, beijing(h, 0), rng)[5])
                .sum::<f64>()
                / 200.0
        };
        let (afternoon, night) = (avg(14, &mut rng), avg(4, &mut rng));
        assert!(afternoon > night * 2.0, "{afternoon} vs {night}");
    }

    #[test]
    fn values_are_realistic_and_inside_limits() {
        let mut rng = StdRng::seed_from_u64(7);
        for point in demo_points() {
            let model = PointModel::new(&point, &mut rng);
            let mut sums = [0.0; 6];
            for i in 0..500 {
                let v = sample_values(&model, beijing(i % 24, 30), &mut rng);
                for p in Pollutant::ALL {
                    let x = v[p as usize];
                    assert!(x.is_finite() && x >= 0.0, "{} {:?} {x}", point.id, p);
                    assert!(
                        !model.limits[p as usize].is_exceeded_by(x),
                        "{} {:?} {x}",
                        point.id,
                        p
                    );
                    sums[p as usize] += x / 500.0;
                }
            }
            let (cod, ph) = (sums[0], sums[4]);
            match point.kind.as_str() {
                "treatment_outlet" => assert!((15.0..40.0).contains(&cod), "{cod}"),
                "treatment_inlet" => assert!((200.0..400.0).contains(&cod), "{cod}"),
                _ => assert!((40.0..90.0).contains(&cod), "{cod}"),
            }
            assert!((6.5..8.0).contains(&ph), "{ph}");
        }
    }

    #[test]
    fn exceedance_pushes_outside_the_limit() {
        let mut rng = StdRng::seed_from_u64(3);
        for kind in ["treatment_outlet", "sewage_outlet"] {
            let model = PointModel::new(&point_of_kind(kind), &mut rng);
            for _ in 0..500 {
                let mut v = sample_values(&model, beijing(10, 0), &mut rng);
                let p = apply_exceedance(&model, &mut v, &mut rng).unwrap();
                assert!(
                    model.limits[p as usize].is_exceeded_by(v[p as usize]),
                    "{p:?} {v:?}"
                );
                assert!(v[p as usize] >= 0.0);
            }
        }
        let no_limits = PointModel {
            limits: [Limit::default(); 6],
            ..PointModel::new(&point_of_kind("treatment_inlet"), &mut rng)
        };
        let mut v = [1.0; 6];
        assert_eq!(apply_exceedance(&no_limits, &mut v, &mut rng), None);
        assert_eq!(v, [1.0; 6]);
    }

    #[test]
    fn exceedance_rate_one_marks_every_limited_message() {
        let mut rng = StdRng::seed_from_u64(4);
        let model = PointModel::new(&point_of_kind("treatment_outlet"), &mut rng);
        let rates = Rates {
            exceedance: 1.0,
            ..Rates::default()
        };
        for _ in 0..100 {
            let m = generate(&model, beijing(9, 0), rates, &mut rng);
            let json: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
            let p = m.exceeded.unwrap();
            let v = json["values"][p.alias()].as_f64().unwrap();
            assert!(model.limits[p as usize].is_exceeded_by(v));
        }
    }

    #[test]
    fn payload_shape() {
        let ts = Shanghai
            .with_ymd_and_hms(2024, 5, 1, 14, 3, 0)
            .unwrap()
            .with_timezone(&Utc)
            + chrono::TimeDelta::milliseconds(123);
        let v = [23.1, 1.2, 0.21, 8.7, 7.21, 85.3];
        let json: serde_json::Value = serde_json::from_slice(&payload(ts, &v, &[])).unwrap();
        assert_eq!(json["ts"], "2024-05-01T14:03:00.123+08:00");
        assert_eq!(json["values"]["cod"], 23.1);
        assert_eq!(json["values"]["flow"], 85.3);
        assert!(json.get("flags").is_none());
        let flagged = payload(ts, &v, &[(Pollutant::Cod, "M")]);
        let json: serde_json::Value = serde_json::from_slice(&flagged).unwrap();
        assert_eq!(json["flags"], serde_json::json!({"cod": "M"}));
    }

    #[test]
    fn flag_rate_one_flags_every_message() {
        let mut rng = StdRng::seed_from_u64(5);
        let model = PointModel::new(&point_of_kind("sewage_outlet"), &mut rng);
        let rates = Rates {
            flag: 1.0,
            ..Rates::default()
        };
        for _ in 0..50 {
            let m = generate(&model, beijing(9, 0), rates, &mut rng);
            let json: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
            let flags = json["flags"].as_object().unwrap();
            assert_eq!(flags.len(), 1);
            let (alias, flag) = flags.iter().next().unwrap();
            assert!(Pollutant::ALL.iter().any(|p| p.alias() == alias));
            assert!(FLAGS.contains(&flag.as_str().unwrap()));
            assert_eq!(m.readings, 6);
        }
    }

    #[test]
    fn invalid_messages_are_all_broken() {
        let mut rng = StdRng::seed_from_u64(6);
        let model = PointModel::new(&point_of_kind("sewage_outlet"), &mut rng);
        let rates = Rates {
            invalid: 1.0,
            ..Rates::default()
        };
        let mut kinds = Vec::new();
        for _ in 0..200 {
            let m = generate(&model, beijing(9, 0), rates, &mut rng);
            assert_eq!(m.readings, 0);
            let kind = m.invalid.unwrap();
            kinds.push(kind);
            let parsed = serde_json::from_slice::<serde_json::Value>(&m.payload);
            match kind {
                InvalidKind::BrokenJson => assert!(parsed.is_err()),
                InvalidKind::NanString => {
                    let values = parsed.unwrap()["values"].clone();
                    assert!(values.as_object().unwrap().values().any(|v| v == "NaN"));
                }
                InvalidKind::UnknownPollutant => {
                    assert!(parsed.unwrap()["values"].get("chlorine").is_some());
                }
                InvalidKind::BadTimestamp => {
                    let ts = parsed.unwrap()["ts"].as_str().unwrap().to_string();
                    assert!(DateTime::parse_from_rfc3339(&ts).is_err());
                }
            }
        }
        for k in [
            InvalidKind::BrokenJson,
            InvalidKind::NanString,
            InvalidKind::UnknownPollutant,
            InvalidKind::BadTimestamp,
        ] {
            assert!(kinds.contains(&k), "{k:?} never generated");
        }
    }

    #[test]
    fn normal_noise_has_unit_variance() {
        let mut rng = StdRng::seed_from_u64(8);
        let xs: Vec<f64> = (0..20_000).map(|_| normal(&mut rng)).collect();
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64;
        assert!(
            mean.abs() < 0.03 && (var - 1.0).abs() < 0.05,
            "{mean} {var}"
        );
        assert!(xs.iter().all(|x| x.is_finite()));
    }
}
