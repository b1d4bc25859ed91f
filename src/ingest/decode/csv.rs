//! CSV readings, one reading a line, for the history import (`greenmon import readings`). Pure:
//! the header names the columns, then each line decodes to one [`Reading`] or a
//! [`DecodeError`]. Plausibility and the registry checks come after, as for any message.
//!
//! Columns, in any order, named in the header row:
//! - `time`: RFC 3339, or local `YYYY-MM-DD hh:mm:ss` in `ingest.timezone`;
//! - `point`: the monitoring point's id;
//! - `pollutant`: an HJ 212 code or an alias (`cod`, `ph`, …);
//! - `value`: a finite number;
//! - optional `flag` (HJ 212 data flag, default `N`), `min`, `max`, `cou` (interval
//!   statistics), `kind` (`rtd`, `min`, `hour` or `day`, default `rtd`) and `park` (default:
//!   the park the point is registered to).
//!
//! Fields are separated by commas and may be wrapped in double quotes; none of them needs a comma.

use chrono::{DateTime, Utc};

use super::json::parse_time;
use super::{DecodeContext, DecodeError};
use crate::domain::{parse_pollutant, Flag, PointId, Reading, ReadingKind};

/// Where each column is, from the header row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvColumns {
    time: usize,
    point: usize,
    pollutant: usize,
    value: usize,
    flag: Option<usize>,
    min: Option<usize>,
    max: Option<usize>,
    cou: Option<usize>,
    kind: Option<usize>,
    park: Option<usize>,
    /// Fields a line must have.
    width: usize,
}

/// One decoded line: the park it names (if it has a `park` column) and its reading.
#[derive(Debug, Clone, PartialEq)]
pub struct CsvReading {
    pub park: Option<String>,
    pub reading: Reading,
}

impl CsvColumns {
    /// Reads the header row.
    ///
    /// # Errors
    /// An unknown or repeated column, or a required one missing.
    pub fn parse(header: &str) -> Result<Self, String> {
        let names: Vec<&str> = fields(header).collect();
        let find = |name: &str| -> Result<Option<usize>, String> {
            let mut at = names.iter().enumerate().filter(|(_, n)| **n == name);
            let first = at.next().map(|(i, _)| i);
            if at.next().is_some() {
                return Err(format!("column {name:?} appears twice"));
            }
            Ok(first)
        };
        const KNOWN: [&str; 10] = [
            "time",
            "point",
            "pollutant",
            "value",
            "flag",
            "min",
            "max",
            "cou",
            "kind",
            "park",
        ];
        if let Some(unknown) = names.iter().find(|n| !KNOWN.contains(n)) {
            return Err(format!(
                "unknown column {unknown:?} (expected {})",
                KNOWN.join(", ")
            ));
        }
        let required = |name: &str| -> Result<usize, String> {
            find(name)?.ok_or_else(|| format!("the header has no {name:?} column"))
        };
        Ok(Self {
            time: required("time")?,
            point: required("point")?,
            pollutant: required("pollutant")?,
            value: required("value")?,
            flag: find("flag")?,
            min: find("min")?,
            max: find("max")?,
            cou: find("cou")?,
            kind: find("kind")?,
            park: find("park")?,
            width: names.len(),
        })
    }
}

/// The fields of a line, trimmed and unquoted.
fn fields(line: &str) -> impl Iterator<Item = &str> {
    line.split(',').map(|f| {
        let f = f.trim();
        f.strip_prefix('"')
            .and_then(|f| f.strip_suffix('"'))
            .unwrap_or(f)
    })
}

/// Decodes one data line.
///
/// # Errors
/// The first problem found.
pub fn decode_csv_line(
    ctx: &DecodeContext,
    columns: &CsvColumns,
    line: &[u8],
    now: DateTime<Utc>,
) -> Result<CsvReading, DecodeError> {
    let line = std::str::from_utf8(line)
        .map_err(|_| DecodeError::InvalidCsv("line is not valid UTF-8".into()))?;
    let mut f = [""; 10];
    let mut n = 0;
    for field in fields(line) {
        if n == columns.width || n == f.len() {
            n += 1;
            break;
        }
        f[n] = field;
        n += 1;
    }
    if n != columns.width {
        return Err(DecodeError::InvalidCsv(format!(
            "line has {} fields, the header {}",
            line.split(',').count(),
            columns.width
        )));
    }
    let opt = |i: Option<usize>| i.map(|i| f[i]).filter(|s| !s.is_empty());
    let number = |name: &str, s: &str| -> Result<f64, DecodeError> {
        let x: f64 = s
            .parse()
            .map_err(|_| DecodeError::InvalidCsv(format!("{name} {s:?} is not a number")))?;
        if x.is_finite() {
            Ok(x)
        } else {
            Err(DecodeError::NonFiniteValue(name.to_string()))
        }
    };
    let time = parse_time(f[columns.time], ctx)?;
    if (time - now).num_seconds() > ctx.max_future_secs {
        return Err(DecodeError::FutureTimestamp {
            ts: time.to_rfc3339(),
            limit_secs: ctx.max_future_secs,
        });
    }
    let point = PointId::parse(f[columns.point])
        .map_err(|e| DecodeError::InvalidCsv(format!("point: {e}")))?;
    let pollutant = parse_pollutant(f[columns.pollutant])
        .map_err(|e| DecodeError::UnknownPollutant(e.to_string()))?;
    let value = number("value", f[columns.value])?;
    let flag = match opt(columns.flag) {
        None => Flag::Normal,
        Some(s) => Flag::parse(s).ok_or_else(|| DecodeError::InvalidFlag(s.to_string()))?,
    };
    let kind = match opt(columns.kind) {
        None | Some("rtd") => ReadingKind::Sample,
        Some("min") => ReadingKind::Minute,
        Some("hour") => ReadingKind::Hour,
        Some("day") => ReadingKind::Day,
        Some(other) => {
            return Err(DecodeError::InvalidCsv(format!(
                "kind {other:?} is not rtd, min, hour or day"
            )))
        }
    };
    let stat = |name: &str, i: Option<usize>| opt(i).map(|s| number(name, s)).transpose();
    Ok(CsvReading {
        park: opt(columns.park).map(str::to_string),
        reading: Reading {
            time,
            point,
            pollutant,
            kind,
            value,
            min: stat("min", columns.min)?,
            max: stat("max", columns.max)?,
            cou: stat("cou", columns.cou)?,
            flag,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> DecodeContext {
        DecodeContext {
            topic_prefix: "greenmon".into(),
            timezone: chrono_tz::Asia::Shanghai,
            max_payload_bytes: 65536,
            max_future_secs: 300,
            limits: std::sync::Arc::new(crate::domain::limits::ValueLimits::default()),
        }
    }

    fn now() -> DateTime<Utc> {
        "2026-11-27T08:00:00Z".parse().unwrap()
    }

    fn line(columns: &CsvColumns, text: &str) -> Result<CsvReading, DecodeError> {
        decode_csv_line(&ctx(), columns, text.as_bytes(), now())
    }

    #[test]
    fn header_names_the_columns_in_any_order() {
        let c = CsvColumns::parse("value,time,point,pollutant").unwrap();
        assert_eq!((c.value, c.time, c.width), (0, 1, 4));
        assert!(CsvColumns::parse("time,point,pollutant")
            .unwrap_err()
            .contains("\"value\""));
        assert!(CsvColumns::parse("time,point,pollutant,value,colour")
            .unwrap_err()
            .contains("colour"));
        assert!(CsvColumns::parse("time,point,pollutant,value,value")
            .unwrap_err()
            .contains("twice"));
    }

    #[test]
    fn lines_decode_to_readings() {
        let c = CsvColumns::parse("time,point,pollutant,value,flag,min,max,cou,kind").unwrap();
        let r = line(&c, "2026-11-27 15:00:00,a-out,cod,42.5,M,40,45.5,12,hour").unwrap();
        assert_eq!(r.park, None);
        let r = r.reading;
        assert_eq!(
            r.time,
            "2026-11-27T07:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(
            (r.point.as_str(), r.pollutant.as_str(), r.kind),
            ("a-out", "w01018", ReadingKind::Hour)
        );
        assert_eq!(
            (r.value, r.min, r.max, r.cou, r.flag),
            (42.5, Some(40.0), Some(45.5), Some(12.0), Flag::Maintenance)
        );
        // Optional fields may be empty; quotes and blanks are stripped.
        let r = line(&c, " \"2026-11-27T07:00:00Z\" ,a-out,w01018,7,,,,,").unwrap();
        assert_eq!(
            (r.reading.flag, r.reading.kind, r.reading.min),
            (Flag::Normal, ReadingKind::Sample, None)
        );
        let c = CsvColumns::parse("park,time,point,pollutant,value").unwrap();
        let r = line(&c, "park-a,2026-11-27T07:00:00Z,a-out,ph,7").unwrap();
        assert_eq!(r.park.as_deref(), Some("park-a"));
    }

    #[test]
    fn bad_lines_give_their_reason() {
        let c = CsvColumns::parse("time,point,pollutant,value,flag,kind").unwrap();
        let cases = [
            ("2026-11-27T07:00:00Z,a-out,cod,1", "invalid_csv"),
            (
                "2026-11-27T07:00:00Z,a-out,cod,1,N,rtd,extra",
                "invalid_csv",
            ),
            ("yesterday,a-out,cod,1,N,rtd", "invalid_timestamp"),
            ("2026-11-27T09:00:00Z,a-out,cod,1,N,rtd", "future_timestamp"),
            ("2026-11-27T07:00:00Z,Bad Id,cod,1,N,rtd", "invalid_csv"),
            (
                "2026-11-27T07:00:00Z,a-out,xyz,1,N,rtd",
                "unknown_pollutant",
            ),
            ("2026-11-27T07:00:00Z,a-out,cod,abc,N,rtd", "invalid_csv"),
            (
                "2026-11-27T07:00:00Z,a-out,cod,inf,N,rtd",
                "non_finite_value",
            ),
            ("2026-11-27T07:00:00Z,a-out,cod,1,Q,rtd", "invalid_flag"),
            ("2026-11-27T07:00:00Z,a-out,cod,1,N,week", "invalid_csv"),
        ];
        for (text, code) in cases {
            assert_eq!(line(&c, text).unwrap_err().code(), code, "{text}");
        }
        let err = decode_csv_line(&ctx(), &c, b"\xff,a", now()).unwrap_err();
        assert_eq!(err.code(), "invalid_csv");
    }
}
