//! Validity review marks: what bureau staff declare about a point's (or one pollutant's) data
//! over a time range, and what each kind does to the data rates (docs/compliance.md).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};

use super::limits::{earliest_time, latest_time};
use super::parse_pollutant;

/// The kind of a review mark.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ReviewKind {
    /// Declared maintenance: the hours are not owed.
    Maintenance,
    /// Declared calibration: the hours are not owed.
    Calibration,
    /// Instrument fault: data received in the hours is invalid.
    Fault,
    /// Data judged invalid on review.
    Invalid,
}

/// What a mark does to the hours it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewEffect {
    /// Removed from the denominator of the transmission rate: not owed.
    Excused,
    /// Still owed and counted as received when data arrived, but never valid.
    Invalid,
}

impl ReviewKind {
    /// Every kind, in the order of the database's check constraint.
    pub const ALL: [ReviewKind; 4] = [
        ReviewKind::Maintenance,
        ReviewKind::Calibration,
        ReviewKind::Fault,
        ReviewKind::Invalid,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewKind::Maintenance => "maintenance",
            ReviewKind::Calibration => "calibration",
            ReviewKind::Fault => "fault",
            ReviewKind::Invalid => "invalid",
        }
    }

    /// Maintenance and calibration excuse hours; fault and invalid invalidate data.
    pub fn effect(self) -> ReviewEffect {
        match self {
            ReviewKind::Maintenance | ReviewKind::Calibration => ReviewEffect::Excused,
            ReviewKind::Fault | ReviewKind::Invalid => ReviewEffect::Invalid,
        }
    }
}

impl fmt::Display for ReviewKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ReviewKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                format!("unknown review kind {s:?}: maintenance, calibration, fault or invalid")
            })
    }
}

/// A mark's target and range, checked: the pollutant's code (an alias such as `cod` becomes
/// `w01018`), a non-empty range within the years 2000–2100, and a reason and an author.
///
/// # Errors
/// Every problem found, as one message.
pub fn check_mark(
    pollutant: Option<&str>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    reason: &str,
    by: &str,
) -> Result<Option<String>, String> {
    let mut problems = Vec::new();
    let code = match pollutant.map(parse_pollutant).transpose() {
        Ok(c) => c.map(|c| c.as_str().to_string()),
        Err(e) => {
            problems.push(e.to_string());
            None
        }
    };
    if to <= from {
        problems.push("the end must be after the start".to_string());
    }
    if from < earliest_time() || to > latest_time() {
        problems.push("the range must lie within the years 2000–2100".to_string());
    }
    if reason.trim().is_empty() {
        problems.push("a reason is required".to_string());
    }
    if by.trim().is_empty() {
        problems.push("the author (by) is required".to_string());
    }
    if problems.is_empty() {
        Ok(code)
    } else {
        Err(problems.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_and_effects() {
        for k in ReviewKind::ALL {
            assert_eq!(k.as_str().parse::<ReviewKind>(), Ok(k));
        }
        assert!("repair".parse::<ReviewKind>().is_err());
        let effects: Vec<_> = ReviewKind::ALL.map(ReviewKind::effect).into();
        use ReviewEffect::*;
        assert_eq!(effects, [Excused, Excused, Invalid, Invalid]);
    }

    #[test]
    fn marks_are_checked() {
        let t = |h| earliest_time() + chrono::Duration::hours(h);
        assert_eq!(
            check_mark(Some("cod"), t(1), t(2), "r", "a"),
            Ok(Some("w01018".into()))
        );
        assert_eq!(check_mark(None, t(1), t(2), "r", "a"), Ok(None));
        let err = check_mark(Some("xyz"), t(2), t(2), " ", "").unwrap_err();
        for part in ["xyz", "after the start", "reason", "author"] {
            assert!(err.contains(part), "{err}");
        }
        assert!(check_mark(None, t(-1), t(2), "r", "a").is_err());
    }
}
