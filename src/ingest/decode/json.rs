//! JSON payloads: readings (one object, or `{"readings": [...]}`) and energy reports.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use serde_json::{Map, Value};

use super::{DecodeContext, DecodeError};
use crate::domain::{parse_pollutant, EnergyReport, Flag, ParkId, PointId, Reading};

/// Decodes the readings payload of one point.
///
/// # Errors
/// The first problem found; a message is accepted whole or not at all.
pub fn decode_readings(
    ctx: &DecodeContext,
    point: &PointId,
    payload: &[u8],
    now: DateTime<Utc>,
) -> Result<Vec<Reading>, DecodeError> {
    let root: Value =
        serde_json::from_slice(payload).map_err(|e| DecodeError::InvalidJson(e.to_string()))?;
    let Value::Object(obj) = root else {
        return Err(DecodeError::InvalidSchema(
            "payload must be a JSON object".into(),
        ));
    };
    let items: Vec<Map<String, Value>> = if obj.contains_key("readings") {
        if obj.len() != 1 {
            return Err(DecodeError::InvalidSchema(
                "a batch payload holds only \"readings\"".into(),
            ));
        }
        match obj.into_iter().next().map(|(_, v)| v) {
            Some(Value::Array(list)) => list
                .into_iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Value::Object(o) => Ok(o),
                    _ => Err(DecodeError::InvalidSchema(format!(
                        "readings[{i}] must be an object"
                    ))),
                })
                .collect::<Result<_, _>>()?,
            _ => {
                return Err(DecodeError::InvalidSchema(
                    "\"readings\" must be an array".into(),
                ))
            }
        }
    } else {
        vec![obj]
    };
    let mut out = Vec::new();
    for item in items {
        decode_one(ctx, point, item, now, &mut out)?;
    }
    if out.is_empty() {
        return Err(DecodeError::Empty);
    }
    Ok(out)
}

fn decode_one(
    ctx: &DecodeContext,
    point: &PointId,
    mut item: Map<String, Value>,
    now: DateTime<Utc>,
    out: &mut Vec<Reading>,
) -> Result<(), DecodeError> {
    if let Some(unknown) = item
        .keys()
        .find(|k| !matches!(k.as_str(), "ts" | "values" | "flags" | "flag"))
    {
        return Err(DecodeError::InvalidSchema(format!(
            "unknown field {unknown:?} (expected ts, values, flags, flag)"
        )));
    }
    let ts = match item.remove("ts") {
        Some(Value::String(s)) => parse_time(&s, ctx)?,
        Some(_) => return Err(DecodeError::InvalidSchema("\"ts\" must be a string".into())),
        None => return Err(DecodeError::InvalidSchema("missing \"ts\"".into())),
    };
    if (ts - now).num_seconds() > ctx.max_future_secs {
        return Err(DecodeError::FutureTimestamp {
            ts: ts.to_rfc3339(),
            limit_secs: ctx.max_future_secs,
        });
    }
    let default_flag = match item.remove("flag") {
        None => Flag::Normal,
        Some(v) => parse_flag(&v)?,
    };
    let mut flags = Vec::new();
    match item.remove("flags") {
        None => {}
        Some(Value::Object(map)) => {
            for (k, v) in map {
                let code = parse_pollutant(&k)
                    .map_err(|e| DecodeError::UnknownPollutant(e.to_string()))?;
                flags.push((code, parse_flag(&v)?));
            }
        }
        Some(_) => {
            return Err(DecodeError::InvalidSchema(
                "\"flags\" must be an object".into(),
            ))
        }
    }
    let values = match item.remove("values") {
        Some(Value::Object(map)) => map,
        Some(_) => {
            return Err(DecodeError::InvalidSchema(
                "\"values\" must be an object".into(),
            ))
        }
        None => return Err(DecodeError::InvalidSchema("missing \"values\"".into())),
    };
    let start = out.len();
    for (k, v) in values {
        let code = parse_pollutant(&k).map_err(|e| DecodeError::UnknownPollutant(e.to_string()))?;
        if out[start..].iter().any(|r| r.pollutant == code) {
            return Err(DecodeError::DuplicatePollutant(code.to_string()));
        }
        let value = number(&k, &v)?;
        let flag = flags
            .iter()
            .find(|(c, _)| *c == code)
            .map_or(default_flag, |(_, f)| *f);
        out.push(Reading::sample(ts, point.clone(), code, value, flag));
    }
    if let Some((code, _)) = flags
        .iter()
        .find(|(c, _)| !out[start..].iter().any(|r| &r.pollutant == c))
    {
        return Err(DecodeError::InvalidSchema(format!(
            "flag given for {code}, which has no value"
        )));
    }
    Ok(())
}

fn parse_flag(v: &Value) -> Result<Flag, DecodeError> {
    match v {
        Value::String(s) => Flag::parse(s).ok_or_else(|| DecodeError::InvalidFlag(s.clone())),
        other => Err(DecodeError::InvalidFlag(other.to_string())),
    }
}

/// A finite number, given as a JSON number or a numeric string.
fn number(key: &str, v: &Value) -> Result<f64, DecodeError> {
    let x =
        match v {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => Some(s.trim().parse::<f64>().map_err(|_| {
                DecodeError::InvalidSchema(format!("value of {key} is not a number"))
            })?),
            _ => None,
        };
    match x {
        Some(x) if x.is_finite() => Ok(x),
        Some(_) => Err(DecodeError::NonFiniteValue(key.to_string())),
        None => Err(DecodeError::InvalidSchema(format!(
            "value of {key} is not a number"
        ))),
    }
}

/// RFC 3339, or a local time without a zone read in the configured zone.
pub(super) fn parse_time(s: &str, ctx: &DecodeContext) -> Result<DateTime<Utc>, DecodeError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(s, fmt) {
            return ctx
                .timezone
                .from_local_datetime(&naive)
                .earliest()
                .map(|t| t.with_timezone(&Utc))
                .ok_or_else(|| DecodeError::InvalidTimestamp(s.to_string()));
        }
    }
    Err(DecodeError::InvalidTimestamp(s.to_string()))
}

/// Decodes an energy report of `park` (the payload's rules are the domain's, shared with the
/// HTTP API).
///
/// # Errors
/// The first problem found.
pub fn decode_energy(park: ParkId, payload: &[u8]) -> Result<EnergyReport, DecodeError> {
    Ok(EnergyReport::from_json(park, payload)?)
}

#[cfg(test)]
mod tests {
    use super::super::{decode, Decoded};
    use super::*;

    fn ctx() -> DecodeContext {
        DecodeContext {
            topic_prefix: "greenmon/v1".into(),
            timezone: chrono_tz::Asia::Shanghai,
            max_payload_bytes: 1024,
            max_future_secs: 300,
            limits: Default::default(),
        }
    }

    fn now() -> DateTime<Utc> {
        "2026-11-27T08:00:00Z".parse().unwrap()
    }

    const T: &str = "greenmon/v1/parks/a/points/p1/readings";

    fn readings(payload: &str) -> Result<Vec<Reading>, DecodeError> {
        match decode(&ctx(), T, payload.as_bytes(), now())? {
            Decoded::Readings { readings, .. } => Ok(readings),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn single_reading_with_aliases_and_flags() {
        let r = readings(
            r#"{"ts":"2026-11-27T15:00:00+08:00","values":{"cod":23.1,"nh3n":"1.25","tp":0.2,"tn":9,"ph":7.1,"flow":80,"w01012":3},"flags":{"cod":"M","w21003":"c"}}"#,
        )
        .unwrap();
        assert_eq!(r.len(), 7);
        let get = |c: &str| r.iter().find(|x| x.pollutant.as_str() == c).unwrap();
        assert_eq!(get("w01018").value, 23.1);
        assert_eq!(get("w01018").flag, Flag::Maintenance);
        assert_eq!(get("w21003").value, 1.25);
        assert_eq!(get("w21003").flag, Flag::Calibration);
        assert_eq!(get("w00000").flag, Flag::Normal);
        assert_eq!(
            get("w01001").time,
            "2026-11-27T07:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
    }

    #[test]
    fn batch_and_local_time() {
        let r = readings(
            r#"{"readings":[{"ts":"2026-11-27 15:00:00","values":{"cod":1}},{"ts":"2026-11-27T15:01:00","values":{"cod":2},"flag":"D"}]}"#,
        )
        .unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(
            r[0].time,
            "2026-11-27T07:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(r[1].flag, Flag::Fault);
    }

    #[test]
    fn every_rejection_has_its_reason() {
        let big = format!(
            r#"{{"ts":"2026-11-27T07:00:00Z","values":{{"cod":1}},"flag":"{}"}}"#,
            "N".repeat(2000)
        );
        let cases: &[(&str, &str)] = &[
            ("not json", "invalid_json"),
            ("[1,2]", "invalid_schema"),
            (r#"{"values":{"cod":1}}"#, "invalid_schema"),
            (
                r#"{"ts":"2026-11-27T07:00:00Z","values":{"cod":1},"vales":{}}"#,
                "invalid_schema",
            ),
            (
                r#"{"ts":"2026-11-27T07:00:00Z","values":{"cod":"abc"}}"#,
                "invalid_schema",
            ),
            (
                r#"{"ts":"2026-11-27T07:00:00Z","values":{"cod":"NaN"}}"#,
                "non_finite_value",
            ),
            (
                r#"{"ts":"2026-11-27T07:00:00Z","values":{"cod":"inf"}}"#,
                "non_finite_value",
            ),
            (
                r#"{"ts":"2026-11-27T07:00:00Z","values":{"chlorine":1}}"#,
                "unknown_pollutant",
            ),
            (
                r#"{"ts":"yesterday","values":{"cod":1}}"#,
                "invalid_timestamp",
            ),
            (
                r#"{"ts":"2026-11-27T08:06:00Z","values":{"cod":1}}"#,
                "future_timestamp",
            ),
            (
                r#"{"ts":"2026-11-27T07:00:00Z","values":{"cod":1},"flags":{"cod":"X"}}"#,
                "invalid_flag",
            ),
            (
                r#"{"ts":"2026-11-27T07:00:00Z","values":{"cod":1},"flags":{"tp":"M"}}"#,
                "invalid_schema",
            ),
            (
                r#"{"ts":"2026-11-27T07:00:00Z","values":{"cod":1,"w01018":2}}"#,
                "duplicate_pollutant",
            ),
            (
                r#"{"ts":"2026-11-27T07:00:00Z","values":{}}"#,
                "empty_message",
            ),
            (r#"{"readings":[]}"#, "empty_message"),
            (&big, "payload_too_large"),
        ];
        for (payload, code) in cases {
            let err = readings(payload).unwrap_err();
            assert_eq!(err.code(), *code, "{payload}: {err}");
        }
        // Five minutes ahead is still accepted.
        assert!(readings(r#"{"ts":"2026-11-27T08:05:00Z","values":{"cod":1}}"#).is_ok());
    }

    #[test]
    fn energy_reports() {
        let topic = "greenmon/v1/parks/a/energy";
        let ok = decode(
            &ctx(),
            topic,
            br#"{"period":"2018-Q1","energy_tce":10.5,"value_added_10k_yuan":100,"price_index":1.05}"#,
            now(),
        )
        .unwrap();
        let Decoded::Energy(e) = ok else { panic!() };
        assert_eq!(e.period.to_string(), "2018-Q1");
        assert_eq!(e.price_index, 1.05);
        let cases: &[(&str, &str)] = &[
            (
                r#"{"period":"2018-13","energy_tce":1,"value_added_10k_yuan":1}"#,
                "invalid_period",
            ),
            (
                r#"{"period":"2018","energy_tce":-1,"value_added_10k_yuan":1}"#,
                "invalid_energy_report",
            ),
            (
                r#"{"period":"2018","energy_tce":1,"value_added_10k_yuan":0}"#,
                "invalid_energy_report",
            ),
            (
                r#"{"period":"2018","energy_tce":1,"value_added_10k_yuan":1,"price_index":0}"#,
                "invalid_energy_report",
            ),
            (r#"{"period":"2018","energy_tce":1}"#, "invalid_schema"),
            (
                r#"{"period":"2018","energy_tce":"x","value_added_10k_yuan":1}"#,
                "invalid_schema",
            ),
            ("{", "invalid_json"),
        ];
        for (payload, code) in cases {
            let err = decode(&ctx(), topic, payload.as_bytes(), now()).unwrap_err();
            assert_eq!(err.code(), *code, "{payload}: {err}");
        }
    }
}
