//! Point status now, and the park's automatic online monitoring rate.
//!
//! Input: when a point last reported (any flag) and last reported valid data (flag `N`), its
//! expected interval and optional allowed-gap override, and `now` from the caller.
//! Output: a [`PointStatus`] per point, and a [`MonitoringRate`] per park (policy target: 100%).
//! Pure: no IO, no clock.

use chrono::{DateTime, Utc};

/// How many expected intervals may pass without data before a point counts as not reporting.
pub const GAP_INTERVALS: i64 = 3;

/// The smallest default allowed gap, seconds: real-time data every 30–60 s would otherwise go
/// offline after one late packet.
pub const MIN_ALLOWED_GAP_SECS: i64 = 300;

/// A monitoring point's state now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PointStatus {
    /// A valid (flag `N`) reading arrived within the allowed gap.
    Online,
    /// Readings arrive within the allowed gap, but none of them is valid (maintenance, fault…).
    Invalid,
    /// The point reported once, but nothing recent.
    Offline,
    /// The point has never reported.
    NeverReported,
}

impl PointStatus {
    /// The `snake_case` name used in JSON and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Online => "online",
            Self::Invalid => "invalid",
            Self::Offline => "offline",
            Self::NeverReported => "never_reported",
        }
    }
}

/// What [`point_status`] needs to know about one point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusInput {
    /// Time of the latest reading with any flag.
    pub last_reading: Option<DateTime<Utc>>,
    /// Time of the latest reading flagged `N`.
    pub last_valid: Option<DateTime<Utc>>,
    /// The point's expected reporting interval, seconds.
    pub interval_secs: i64,
    /// The registry's override of the allowed gap, seconds.
    pub allowed_gap_secs: Option<i64>,
}

/// The longest silence, in seconds, after which a point no longer counts as reporting.
///
/// A positive `override_secs` wins. Otherwise [`GAP_INTERVALS`] × `interval_secs`, and at least
/// [`MIN_ALLOWED_GAP_SECS`]: 300 s for real-time data every 30–60 s, 30 min for minute data every
/// 10 min, 3 h for hourly data. A zero or negative override is ignored: it would make every point
/// offline.
pub fn allowed_gap_secs(interval_secs: i64, override_secs: Option<i64>) -> i64 {
    match override_secs {
        Some(gap) if gap > 0 => gap,
        _ => interval_secs
            .saturating_mul(GAP_INTERVALS)
            .max(MIN_ALLOWED_GAP_SECS),
    }
}

/// Whether `time` is within `gap_secs` of `now`. A timestamp more than the gap *ahead* of `now`
/// comes from a wrong device clock and is not trusted as recent.
fn recent(time: DateTime<Utc>, now: DateTime<Utc>, gap_secs: i64) -> bool {
    let age_ms = (now - time).num_milliseconds();
    age_ms.saturating_abs() <= gap_secs.saturating_mul(1000)
}

/// The point's status at `now`.
///
/// `never_reported` if there is no reading at all; `online` if a valid reading is recent;
/// `invalid` if a reading is recent but no valid one is; `offline` otherwise. "Recent" means
/// within [`allowed_gap_secs`] of `now`. A `last_valid` later than `last_reading` (inconsistent
/// input) is taken as the latest reading too.
pub fn point_status(input: &StatusInput, now: DateTime<Utc>) -> PointStatus {
    let gap = allowed_gap_secs(input.interval_secs, input.allowed_gap_secs);
    let last_any = match (input.last_reading, input.last_valid) {
        (Some(a), Some(v)) => Some(a.max(v)),
        (a, v) => a.or(v),
    };
    let Some(last_any) = last_any else {
        return PointStatus::NeverReported;
    };
    if input.last_valid.is_some_and(|v| recent(v, now, gap)) {
        PointStatus::Online
    } else if recent(last_any, now, gap) {
        PointStatus::Invalid
    } else {
        PointStatus::Offline
    }
}

/// A park's automatic online monitoring rate: online required points over required points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct MonitoringRate {
    /// Points the park must monitor.
    pub required: u32,
    /// Of those, the points that are [`PointStatus::Online`] now.
    pub online: u32,
}

impl MonitoringRate {
    /// Counts the statuses of a park's required points.
    pub fn from_statuses(statuses: impl IntoIterator<Item = PointStatus>) -> Self {
        statuses
            .into_iter()
            .fold(Self::default(), |acc, status| Self {
                required: acc.required.saturating_add(1),
                online: acc
                    .online
                    .saturating_add(u32::from(status == PointStatus::Online)),
            })
    }

    /// `online / required`, in 0..=1.
    ///
    /// A park with no required points returns 0.0, not 1.0: the target is that every outlet is
    /// monitored, and a park whose outlets were never registered has shown nothing, so it must not
    /// look compliant. `online` above `required` (inconsistent input) counts as `required`.
    pub fn rate(&self) -> f64 {
        if self.required == 0 {
            return 0.0;
        }
        f64::from(self.online.min(self.required)) / f64::from(self.required)
    }

    /// The policy target: every required point online, and at least one required point.
    pub fn compliant(&self) -> bool {
        self.required > 0 && self.online >= self.required
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(secs_before_now: i64) -> DateTime<Utc> {
        now() - chrono::Duration::seconds(secs_before_now)
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap()
    }

    #[test]
    fn allowed_gap() {
        let cases = [
            (30, None, 300),
            (60, None, 300),
            (600, None, 1800),
            (3600, None, 10800),
            (3600, Some(600), 600),
            (30, Some(7200), 7200),
            (600, Some(0), 1800),
            (600, Some(-5), 1800),
            (0, None, 300),
            (-60, None, 300),
            (i64::MAX, None, i64::MAX),
        ];
        for (interval, over, want) in cases {
            assert_eq!(
                allowed_gap_secs(interval, over),
                want,
                "{interval} {over:?}"
            );
        }
    }

    #[test]
    fn status_cases() {
        use PointStatus::*;
        // (last_reading, last_valid, interval, override, want)
        let cases = [
            (None, None, 60, None, NeverReported),
            (Some(t(10)), Some(t(10)), 60, None, Online),
            (Some(t(300)), Some(t(300)), 60, None, Online), // exactly at the gap
            (Some(t(301)), Some(t(301)), 60, None, Offline),
            (Some(t(10)), Some(t(200)), 60, None, Online), // latest is M, a valid one is recent
            (Some(t(10)), Some(t(400)), 60, None, Invalid), // recent data, all flagged
            (Some(t(10)), None, 60, None, Invalid),        // never a valid reading
            (Some(t(900)), Some(t(900)), 60, None, Offline),
            (Some(t(900)), None, 60, None, Offline),
            (Some(t(5000)), Some(t(5000)), 3600, None, Online), // hourly data, 3 h gap
            (Some(t(5000)), Some(t(5000)), 3600, Some(3600), Offline),
            (None, Some(t(10)), 60, None, Online), // inconsistent input, still sensible
            (Some(t(-60)), Some(t(-60)), 60, None, Online), // slightly fast clock
            (Some(t(-86_400)), Some(t(-86_400)), 60, None, Offline), // clock a day ahead
        ];
        for (i, (last_reading, last_valid, interval_secs, allowed_gap_secs, want)) in
            cases.into_iter().enumerate()
        {
            let input = StatusInput {
                last_reading,
                last_valid,
                interval_secs,
                allowed_gap_secs,
            };
            assert_eq!(point_status(&input, now()), want, "case {i}");
        }
    }

    #[test]
    fn status_serialises_snake_case() {
        for s in [
            PointStatus::Online,
            PointStatus::Invalid,
            PointStatus::Offline,
            PointStatus::NeverReported,
        ] {
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.as_str()));
        }
    }

    #[test]
    fn monitoring_rate() {
        // (required, online, rate, compliant)
        let cases = [
            (0, 0, 0.0, false),
            (4, 4, 1.0, true),
            (4, 3, 0.75, false),
            (4, 0, 0.0, false),
            (1, 1, 1.0, true),
            (2, 3, 1.0, true), // inconsistent input is clamped
        ];
        for (required, online, rate, compliant) in cases {
            let m = MonitoringRate { required, online };
            assert_eq!(m.rate(), rate, "{m:?}");
            assert_eq!(m.compliant(), compliant, "{m:?}");
        }
    }

    #[test]
    fn rate_from_statuses() {
        use PointStatus::*;
        let m = MonitoringRate::from_statuses([Online, Invalid, Online, NeverReported, Offline]);
        assert_eq!(
            m,
            MonitoringRate {
                required: 5,
                online: 2
            }
        );
        assert_eq!(MonitoringRate::from_statuses([]), MonitoringRate::default());
    }
}
