//! Request parameters checked into the range greenmon supports before they reach the engine or
//! SQL: ids by the domain's parse constructors, times, dates and years inside the span greenmon
//! stores (2000 to 2100, `domain::limits`). Each refusal is a 400 whose message starts with the
//! parameter's name, and never echoes an overlong or binary value back.

use chrono::{DateTime, Datelike, NaiveDate, Utc};

use super::error::ApiError;
use crate::domain::limits::{earliest_time, latest_time, time_in_span};
use crate::domain::{parse_pollutant, ParkId, PointId, PollutantCode};

/// First and last year of the span.
pub const FIRST_YEAR: i32 = 2000;
pub const LAST_YEAR: i32 = 2100;

/// Longest pollutant parameter that can be a code or an alias (HJ 212 codes are 6 characters).
const MAX_POLLUTANT_LEN: usize = 16;

fn bad(name: &str, what: &str) -> ApiError {
    ApiError::BadRequest(format!("`{name}` {what}"))
}

const SLUG: &str =
    "must be 1 to 64 characters of a-z, 0-9, '-' or '_', starting with a letter or digit";

/// A park id (path or query parameter `park`).
///
/// # Errors
/// 400 naming `park`.
pub fn park(value: &str) -> Result<ParkId, ApiError> {
    ParkId::parse(value).map_err(|_| bad("park", SLUG))
}

/// A point id (path parameter `point`).
///
/// # Errors
/// 400 naming `point`.
pub fn point(value: &str) -> Result<PointId, ApiError> {
    PointId::parse(value).map_err(|_| bad("point", SLUG))
}

/// A pollutant code or alias: malformed is a 400, well-formed but unknown a 422.
///
/// # Errors
/// 400 or 422 naming `pollutant`.
pub fn pollutant(value: &str) -> Result<PollutantCode, ApiError> {
    if value.is_empty()
        || value.len() > MAX_POLLUTANT_LEN
        || !value.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Err(bad(
            "pollutant",
            "must be an HJ 212 code or alias: 1 to 16 letters and digits",
        ));
    }
    parse_pollutant(value).map_err(|e| ApiError::Unprocessable(format!("`pollutant`: {e}")))
}

/// An alert id (path parameter `id`): a positive integer.
///
/// # Errors
/// 400 naming `id`.
pub fn alert_id(value: &str) -> Result<i64, ApiError> {
    match value.parse::<i64>() {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(bad("id", "must be a positive integer (an alert id)")),
    }
}

/// An instant inside the span greenmon stores.
///
/// # Errors
/// 400 naming the parameter.
pub fn time(name: &str, t: DateTime<Utc>) -> Result<DateTime<Utc>, ApiError> {
    if time_in_span(t) {
        Ok(t)
    } else {
        Err(bad(
            name,
            &format!(
                "must be from {} and before {}",
                earliest_time().to_rfc3339(),
                latest_time().to_rfc3339()
            ),
        ))
    }
}

/// A calendar day of the years greenmon stores.
///
/// # Errors
/// 400 naming the parameter.
pub fn date(name: &str, d: NaiveDate) -> Result<NaiveDate, ApiError> {
    if (FIRST_YEAR..=LAST_YEAR).contains(&d.year()) {
        Ok(d)
    } else {
        Err(bad(
            name,
            &format!("must be a day from {FIRST_YEAR}-01-01 to {LAST_YEAR}-12-31"),
        ))
    }
}

/// A year greenmon stores.
///
/// # Errors
/// 400 naming the parameter.
pub fn year(name: &str, y: i32) -> Result<i32, ApiError> {
    if (FIRST_YEAR..=LAST_YEAR).contains(&y) {
        Ok(y)
    } else {
        Err(bad(name, &format!("must be {FIRST_YEAR} to {LAST_YEAR}")))
    }
}

/// The `limit` of a list: 100 when absent, else 1 to 1000.
///
/// # Errors
/// 422.
pub fn list_limit(limit: Option<i64>) -> Result<i64, ApiError> {
    let limit = limit.unwrap_or(100);
    if (1..=1000).contains(&limit) {
        Ok(limit)
    } else {
        Err(ApiError::Unprocessable("limit must be 1 to 1000".into()))
    }
}

/// The first day of a local calendar month (path parameter `month`, `YYYY-MM`).
///
/// # Errors
/// 400 naming `month`.
pub fn month(value: &str) -> Result<NaiveDate, ApiError> {
    match value.parse::<crate::domain::Period>() {
        Ok(p @ crate::domain::Period::Month { .. }) => date("month", p.start()),
        _ => Err(bad("month", "must be a month like 2018-03")),
    }
}

/// The effective transmission rate a required point must reach (`threshold`, 0 to 1); the
/// default when absent.
///
/// # Errors
/// 422 naming `threshold`.
pub fn threshold(value: Option<f64>) -> Result<f64, ApiError> {
    let t = value.unwrap_or(crate::compliance::rates::DEFAULT_EFFECTIVE_THRESHOLD);
    if (0.0..=1.0).contains(&t) {
        Ok(t)
    } else {
        Err(ApiError::Unprocessable(
            "`threshold` must be between 0 and 1".into(),
        ))
    }
}

/// A free-text field of a JSON body: at most `max` characters, no control characters other
/// than line breaks and tabs (PostgreSQL refuses NUL in text).
///
/// # Errors
/// 422 naming the field.
pub fn text(name: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.chars().count() > max {
        return Err(ApiError::Unprocessable(format!(
            "`{name}` may hold at most {max} characters"
        )));
    }
    if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(ApiError::Unprocessable(format!(
            "`{name}` must not contain control characters"
        )));
    }
    Ok(())
}

/// The `as_of` of a compliance query: figures as they were known at that time. `None` is now.
///
/// # Errors
/// 400 naming `as_of` outside the span; 422 when it lies in the future.
pub fn as_of(
    value: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<crate::compliance::service::Basis, ApiError> {
    use crate::compliance::service::Basis;
    match value {
        None => Ok(Basis::from(now)),
        Some(t) => {
            let t = time("as_of", t)?;
            if t > now {
                return Err(ApiError::Unprocessable(
                    "`as_of` is in the future; figures can only be reproduced as known at a past time"
                        .into(),
                ));
            }
            Ok(Basis::as_of(now, t))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(e: ApiError) -> String {
        e.to_string()
    }

    #[test]
    fn ids() {
        assert!(park("sjz-hitech").is_ok());
        assert!(point("a_out-1").is_ok());
        for v in ["", "a\0b", "A", "-a", &"x".repeat(65), "a/b", "a b", "é"] {
            assert!(message(park(v).unwrap_err()).starts_with("`park`"), "{v:?}");
            assert!(
                message(point(v).unwrap_err()).starts_with("`point`"),
                "{v:?}"
            );
        }
        // The message never echoes the value.
        assert!(!message(park(&"y".repeat(10_000)).unwrap_err()).contains("yyyy"));
        assert_eq!(alert_id("17").unwrap(), 17);
        for v in ["0", "-1", "abc", "", "99999999999999999999", "1.5", " 1"] {
            assert!(
                message(alert_id(v).unwrap_err()).starts_with("`id`"),
                "{v:?}"
            );
        }
    }

    #[test]
    fn pollutants() {
        assert_eq!(pollutant("cod").unwrap().as_str(), "w01018");
        assert!(matches!(
            pollutant("chlorine"),
            Err(ApiError::Unprocessable(_))
        ));
        for v in ["", "c\0d", "c d", &"w".repeat(17), "ü"] {
            assert!(
                matches!(pollutant(v), Err(ApiError::BadRequest(_))),
                "{v:?}"
            );
        }
    }

    #[test]
    fn times_dates_years() {
        let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        assert!(time("to", t("2000-01-01T00:00:00Z")).is_ok());
        assert!(time("to", t("2100-12-31T23:59:59Z")).is_ok());
        for bad in [
            DateTime::<Utc>::MIN_UTC,
            DateTime::<Utc>::MAX_UTC,
            t("1999-12-31T23:59:59Z"),
            t("2101-01-01T00:00:00Z"),
        ] {
            assert!(message(time("from", bad).unwrap_err()).starts_with("`from`"));
        }
        assert!(date("to", NaiveDate::MIN).is_err());
        assert!(date("to", NaiveDate::MAX).is_err());
        assert!(date("to", NaiveDate::from_ymd_opt(2100, 12, 31).unwrap()).is_ok());
        assert!(date("to", NaiveDate::from_ymd_opt(2101, 1, 1).unwrap()).is_err());
        for y in [i32::MIN, -1, 0, 1999, 2101, i32::MAX] {
            assert!(message(year("year", y).unwrap_err()).starts_with("`year`"));
        }
        assert!(year("year", 2000).is_ok() && year("year", 2100).is_ok());
    }

    #[test]
    fn texts() {
        assert!(text("by", "duty officer\nnight shift", 200).is_ok());
        assert!(text("by", "a\0b", 200).is_err());
        assert!(text("by", "\u{1b}[31m", 200).is_err());
        assert!(text("by", &"é".repeat(200), 200).is_ok());
        assert!(text("by", &"é".repeat(201), 200).is_err());
    }
}
