//! Daily data rates of one point, in the style of HJ 356 and the MEE assessment: transmission rate
//! (传输率), valid rate (有效率) and effective transmission rate (传输有效率).
//!
//! Input: one local calendar day, the zone, the point's [`Service`] period (commissioning to
//! retirement), `now`, and the point's
//! hourly summaries ([`HourSlot`]: readings in the hour and those flagged `N`).
//! Output: [`DailyRates`] counts, which sum over points and days ([`DailyRates::merge`]).
//! Pure: no IO, no clock.
//!
//! The unit is the hour: a day has one slot per local hour (24 in Asia/Shanghai; the count comes
//! from the real local day length, so a zone with daylight saving gets 23 or 25). Following
//! `domain/hj212.md` §3 for wastewater, one abnormal value makes the whole hour abnormal.
//!
//! Review marks ([`MarkSpan`], from `review_marks`) change hours they cover wholly: an excused
//! hour (maintenance, calibration) is not owed; an invalidated hour (fault, invalid) is owed and
//! received if data arrived, but not valid.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;

use crate::domain::{local_midnight, ReviewEffect};

/// The effective transmission rate a point must reach: "不低于90%" from 2022. The assessment
/// started in 2014 with a 75% pass line ([`HISTORICAL_EFFECTIVE_THRESHOLD`]).
pub const DEFAULT_EFFECTIVE_THRESHOLD: f64 = 0.90;

/// The 2014 pass line of the effective transmission rate (12th five-year plan assessment).
pub const HISTORICAL_EFFECTIVE_THRESHOLD: f64 = 0.75;

const HOUR_SECS: i64 = 3600;

/// One hour of a point's hourly rollup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HourSlot {
    /// Start of the hour; it is assigned to the local slot that contains it.
    pub hour_start: DateTime<Utc>,
    /// Readings in the hour, any flag.
    pub count: u32,
    /// Readings in the hour flagged `N` (values above `count` count as `count`).
    pub valid_count: u32,
}

/// Slot counts of one point and day, or their sum over points and days.
///
/// As produced by [`daily_rates`] and [`DailyRates::merge`], `valid ≤ received ≤ expected`.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, utoipa::ToSchema)]
pub struct DailyRates {
    /// Completed hours the point owed.
    pub expected: u32,
    /// Owed hours with at least one reading.
    pub received: u32,
    /// Received hours whose readings are all flagged `N`.
    pub valid: u32,
}

fn ratio(num: u32, den: u32) -> Option<f64> {
    (den > 0).then(|| f64::from(num) / f64::from(den))
}

impl DailyRates {
    /// Transmission rate (传输率) = received / expected; `None` when nothing was owed.
    pub fn transmission(&self) -> Option<f64> {
        ratio(self.received, self.expected)
    }

    /// Valid rate (有效率) = valid / received; `None` when nothing was received.
    pub fn validity(&self) -> Option<f64> {
        ratio(self.valid, self.received)
    }

    /// Effective transmission rate (传输有效率) = transmission × validity = valid / expected;
    /// `None` when nothing was owed, 0 when something was owed and nothing received.
    pub fn effective(&self) -> Option<f64> {
        ratio(self.valid, self.expected)
    }

    /// Adds another point's or day's counts. A park's rate is the ratio of the sums over its
    /// required points, never an average of the points' ratios.
    pub fn merge(&mut self, other: DailyRates) {
        self.expected = self.expected.saturating_add(other.expected);
        self.received = self.received.saturating_add(other.received);
        self.valid = self.valid.saturating_add(other.valid);
    }
}

/// The UTC bounds of local day `day` in `tz`: `[00:00, 24:00)` local time.
pub fn local_day_bounds(day: NaiveDate, tz: Tz) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = local_midnight(day, tz);
    let end = day.succ_opt().map_or_else(
        || {
            start
                .checked_add_signed(Duration::days(1))
                .unwrap_or(DateTime::<Utc>::MAX_UTC)
        },
        |next| local_midnight(next, tz),
    );
    (start, end)
}

/// When a point owes data: from its commissioning (`monitored_since`) to its retirement
/// (`retired_at`, exclusive; `None` while in service). Its registration in greenmon does not
/// matter: a point commissioned in 2018 and registered today owes 2018's hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Service {
    pub since: DateTime<Utc>,
    pub until: Option<DateTime<Utc>>,
}

impl Service {
    /// Whether the hour `[start, end)` lies wholly within the service period.
    fn covers(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> bool {
        start >= self.since && self.until.is_none_or(|u| end <= u)
    }
}

/// A review mark in force over `[from, to)`, already chosen for the series being scored (the
/// point's own marks, plus the pollutant's for a pollutant's series).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarkSpan {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub effect: ReviewEffect,
}

impl MarkSpan {
    /// Whether the mark covers the hour `[start, end)` wholly: a mark 08:30–14:00 affects
    /// 09:00–14:00, not the 08:00 hour.
    fn covers(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> bool {
        self.from <= start && end <= self.to
    }
}

/// Per slot: whether any reading arrived, and whether any reading was not valid.
#[derive(Debug, Clone, Copy, Default)]
struct SlotState {
    received: bool,
    abnormal: bool,
}

/// The rates of one point on local day `day` in `tz`, as of `now`.
///
/// Slot `i` runs from local midnight + `i` h to one hour later (the last slot ends at the next
/// local midnight). A slot is owed (expected) when
/// - it lies wholly within the point's `service`: a point commissioned mid-hour owes nothing for
///   that partial hour and starts owing from the first full hour after commissioning
///   (commissioned at 10:20, it owes 11:00 onwards; at 10:00 sharp, it owes 10:00); a point
///   retired at 10:20 owes up to 10:00 (its last owed hour is 09:00–10:00);
/// - it has ended by `now`: the hour in progress is not yet owed, and future days owe nothing.
///
/// Each [`HourSlot`] goes to the slot containing its `hour_start`. Entries outside the day or in a
/// slot that is not owed are ignored, so `valid ≤ received ≤ expected` always holds. Several
/// entries for one slot are merged: it is received if any has readings, and valid only if no
/// entry has an abnormal reading.
pub fn daily_rates(
    day: NaiveDate,
    tz: Tz,
    service: Service,
    now: DateTime<Utc>,
    slots: &[HourSlot],
) -> DailyRates {
    daily_rates_marked(day, tz, service, now, slots, &[])
}

/// [`daily_rates`] with review marks: a slot wholly covered by an [`ReviewEffect::Excused`] mark
/// is not owed (nor received, nor valid); one wholly covered by an [`ReviewEffect::Invalid`]
/// mark is owed and received as its readings say, but never valid.
pub fn daily_rates_marked(
    day: NaiveDate,
    tz: Tz,
    service: Service,
    now: DateTime<Utc>,
    slots: &[HourSlot],
    marks: &[MarkSpan],
) -> DailyRates {
    let (start, end) = local_day_bounds(day, tz);
    let day_secs = (end - start).num_seconds().max(0);
    // Ceiling: a zone with a half-hour shift has a short last slot.
    let n = usize::try_from((day_secs + HOUR_SECS - 1) / HOUR_SECS).unwrap_or(0);
    let mut state = vec![SlotState::default(); n];
    for s in slots {
        if s.hour_start < start || s.hour_start >= end {
            continue;
        }
        let Ok(i) = usize::try_from((s.hour_start - start).num_seconds() / HOUR_SECS) else {
            continue;
        };
        if let Some(slot) = state.get_mut(i) {
            slot.received |= s.count > 0;
            slot.abnormal |= s.valid_count < s.count;
        }
    }
    let mut rates = DailyRates::default();
    for (i, slot) in state.iter().enumerate() {
        let hours = Duration::hours(i64::try_from(i).unwrap_or(0));
        let Some(slot_start) = start.checked_add_signed(hours) else {
            break;
        };
        let slot_end = slot_start
            .checked_add_signed(Duration::hours(1))
            .map_or(end, |t| t.min(end));
        if !service.covers(slot_start, slot_end) || slot_end > now {
            continue;
        }
        let marked = |effect| {
            marks
                .iter()
                .any(|m| m.effect == effect && m.covers(slot_start, slot_end))
        };
        if marked(ReviewEffect::Excused) {
            continue;
        }
        rates.expected += 1;
        if slot.received {
            rates.received += 1;
            if !slot.abnormal && !marked(ReviewEffect::Invalid) {
                rates.valid += 1;
            }
        }
    }
    rates
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use chrono_tz::Asia::Shanghai;
    use proptest::prelude::*;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    /// Beijing day 2024-03-10 starts at 2024-03-09T16:00Z; local hour `h` starts at UTC 16 + h.
    fn bj_hour(h: i64) -> DateTime<Utc> {
        utc(2024, 3, 9, 16, 0) + Duration::hours(h)
    }

    fn slot(h: i64, count: u32, valid_count: u32) -> HourSlot {
        HourSlot {
            hour_start: bj_hour(h),
            count,
            valid_count,
        }
    }

    fn rates(expected: u32, received: u32, valid: u32) -> DailyRates {
        DailyRates {
            expected,
            received,
            valid,
        }
    }

    #[test]
    fn day_bounds() {
        // (local day, zone, start in UTC (y, m, d, h), local hours)
        #[rustfmt::skip]
        let cases = [
            ((2024, 3, 10), Shanghai, (2024, 3, 9, 16), 24),
            ((2024, 3, 10), Tz::UTC, (2024, 3, 10, 0), 24),
            ((2024, 3, 10), Tz::America__New_York, (2024, 3, 10, 5), 23), // daylight saving
            ((2024, 11, 3), Tz::America__New_York, (2024, 11, 3, 4), 25),
            ((2024, 9, 8), Tz::America__Santiago, (2024, 9, 8, 4), 23), // 00:00 skipped
        ];
        for ((y, m, d), tz, (sy, sm, sd, sh), hours) in cases {
            let (s, e) = local_day_bounds(day(y, m, d), tz);
            assert_eq!(s, utc(sy, sm, sd, sh, 0), "{d} {tz}");
            assert_eq!((e - s).num_hours(), hours, "{d} {tz}");
        }
    }

    /// See [`rates_table`].
    type Case = (
        &'static str,
        Option<&'static [i64]>,
        &'static [(i64, u32, u32)],
        i64,
        i64,
        (u32, u32, u32),
    );

    #[test]
    fn rates_table() {
        const OLD: i64 = -100_000; // registered long ago (minutes from local midnight)
        const END: i64 = 24 * 60 + 5; // the whole day has passed
        const ALL: Option<&[i64]> = Some(&[]);
        // (name, base: every local hour valid (60 N readings) except those listed, extra
        // (local hour, count, valid count) entries, registered at, now (minutes from local
        // midnight), want (expected, received, valid)).
        #[rustfmt::skip]
        let cases: [Case; 17] = [
            ("complete day", ALL, &[], OLD, END, (24, 24, 24)),
            ("no data", None, &[], OLD, END, (24, 0, 0)),
            ("gaps", Some(&[0, 7, 8, 23]), &[], OLD, END, (24, 20, 20)),
            ("one M reading among N", Some(&[5]), &[(5, 60, 59)], OLD, END, (24, 24, 23)),
            ("an all-M hour", None, &[(5, 60, 0), (6, 60, 60)], OLD, END, (24, 2, 1)),
            ("empty rows", None, &[(2, 0, 0)], OLD, END, (24, 0, 0)),
            ("duplicate valid hour", ALL, &[(3, 60, 60)], OLD, END, (24, 24, 24)),
            ("duplicate with an M reading", ALL, &[(4, 1, 0)], OLD, END, (24, 24, 23)),
            ("neighbouring days ignored", ALL, &[(-1, 5, 0), (24, 5, 0)], OLD, END, (24, 24, 24)),
            ("registered 10:20: owes 11:00 on", ALL, &[], 620, END, (13, 13, 13)),
            ("registered 10:00 sharp", ALL, &[], 600, END, (14, 14, 14)),
            ("data before registration", None, &[(9, 9, 9), (10, 9, 9)], 620, END, (13, 0, 0)),
            ("registered after the day", ALL, &[], 1800, END, (0, 0, 0)),
            ("today at 09:59", ALL, &[], OLD, 599, (9, 9, 9)),
            ("today at 10:00", ALL, &[], OLD, 600, (10, 10, 10)),
            ("a future day", ALL, &[], OLD, -300, (0, 0, 0)),
            ("valid count above count", None, &[(1, 3, 9)], OLD, END, (24, 1, 1)),
        ];
        for (name, base, extra, reg, now, (e, r, v)) in cases {
            let base = base.map(|skip| (0..24).filter(|h| !skip.contains(h)).map(|h| (h, 60, 60)));
            let slots: Vec<HourSlot> = base
                .into_iter()
                .flatten()
                .chain(extra.iter().copied())
                .map(|(h, c, v)| slot(h, c, v))
                .collect();
            let at = |min: i64| bj_hour(0) + Duration::minutes(min);
            let got = daily_rates(day(2024, 3, 10), Shanghai, from(at(reg)), at(now), &slots);
            assert_eq!(got, rates(e, r, v), "{name}");
        }
    }

    fn from(since: DateTime<Utc>) -> Service {
        Service { since, until: None }
    }

    #[test]
    fn retirement_ends_the_owed_hours() {
        let full: Vec<HourSlot> = (0..24).map(|h| slot(h, 60, 60)).collect();
        let at = |min: i64| bj_hour(0) + Duration::minutes(min);
        let end = at(48 * 60);
        // (name, commissioned, retired (minutes from local midnight), want expected)
        let cases = [
            ("retired 10:20: owes 00:00–10:00", 0, Some(620), 10),
            ("retired 10:00 sharp", 0, Some(600), 10),
            ("retired at midnight", 0, Some(0), 0),
            ("retired the next day", 0, Some(30 * 60), 24),
            ("in service 06:00 to 18:00", 360, Some(1080), 12),
            ("never retired", 0, None, 24),
        ];
        for (name, since, until, want) in cases {
            let service = Service {
                since: at(since),
                until: until.map(at),
            };
            let got = daily_rates(day(2024, 3, 10), Shanghai, service, end, &full);
            assert_eq!(got, rates(want, want, want), "{name}");
        }
    }

    #[test]
    fn review_marks_excuse_or_invalidate_whole_hours() {
        let full: Vec<HourSlot> = (0..24).map(|h| slot(h, 60, 60)).collect();
        let end = bj_hour(48);
        let mark = |from: i64, to: i64, effect| MarkSpan {
            from: bj_hour(0) + Duration::minutes(from),
            to: bj_hour(0) + Duration::minutes(to),
            effect,
        };
        use ReviewEffect::{Excused, Invalid};
        // (name, marks (minutes from local midnight), want (expected, received, valid))
        let cases = [
            ("none", vec![], (24, 24, 24)),
            // 08:00–14:00 maintenance: 24 − 6 = 18 owed, all received and valid.
            ("6 h excused", vec![mark(480, 840, Excused)], (18, 18, 18)),
            // 08:30–14:00 covers 09–14 wholly: 24 − 5 = 19.
            (
                "partial first hour",
                vec![mark(510, 840, Excused)],
                (19, 19, 19),
            ),
            // 10:00–13:00 fault: still owed and received, 24 − 3 = 21 valid.
            ("3 h invalid", vec![mark(600, 780, Invalid)], (24, 24, 21)),
            (
                "shorter than an hour",
                vec![mark(600, 650, Invalid)],
                (24, 24, 24),
            ),
            // Both over 10–13: excused wins (not owed at all).
            (
                "overlap",
                vec![mark(600, 780, Invalid), mark(600, 780, Excused)],
                (21, 21, 21),
            ),
            (
                "whole day and more",
                vec![mark(-60, 1500, Excused)],
                (0, 0, 0),
            ),
        ];
        for (name, marks, (e, r, v)) in cases {
            let svc = from(bj_hour(-100));
            let got = daily_rates_marked(day(2024, 3, 10), Shanghai, svc, end, &full, &marks);
            assert_eq!(got, rates(e, r, v), "{name}");
        }
        // Invalid 00–03 with no data at 00: hour 0 stays missing; 1 and 2 are received, not valid:
        // 23 received, 23 − 2 = 21 valid.
        let gap: Vec<HourSlot> = (1..24).map(|h| slot(h, 60, 60)).collect();
        let marks = [mark(0, 180, Invalid)];
        let got = daily_rates_marked(
            day(2024, 3, 10),
            Shanghai,
            from(bj_hour(-100)),
            end,
            &gap,
            &marks,
        );
        assert_eq!(got, rates(24, 23, 21));
    }

    #[test]
    fn extreme_dates_do_not_panic() {
        let (lo, hi) = (DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC);
        let s = [HourSlot {
            hour_start: hi,
            count: 1,
            valid_count: 1,
        }];
        for d in [NaiveDate::MIN, NaiveDate::MAX] {
            for tz in [Shanghai, Tz::America__New_York] {
                let _ = daily_rates(d, tz, from(lo), hi, &s);
                let _ = daily_rates(
                    d,
                    tz,
                    Service {
                        since: lo,
                        until: Some(lo),
                    },
                    hi,
                    &s,
                );
            }
        }
    }

    #[test]
    fn utc_late_evening_is_next_beijing_day() {
        // A reading at 23:30 UTC on 03-10 is in the hour 23:00Z = 07:00 Beijing on 03-11.
        let s = [HourSlot {
            hour_start: utc(2024, 3, 10, 23, 0),
            count: 1,
            valid_count: 1,
        }];
        let (reg, now) = (utc(2020, 1, 1, 0, 0), utc(2024, 3, 12, 0, 0));
        for (d, tz, received) in [(10, Shanghai, 0), (11, Shanghai, 1), (10, Tz::UTC, 1)] {
            let got = daily_rates(day(2024, 3, d), tz, from(reg), now, &s);
            assert_eq!(got.received, received, "{d} {tz}");
        }
    }

    #[test]
    fn ratios_and_merge() {
        let r = rates(24, 20, 18);
        assert_eq!(r.transmission(), Some(20.0 / 24.0));
        assert_eq!(r.validity(), Some(0.9));
        assert_eq!(r.effective(), Some(0.75));
        let none = rates(0, 0, 0);
        assert_eq!(
            (none.transmission(), none.validity(), none.effective()),
            (None, None, None)
        );
        let silent = rates(24, 0, 0);
        assert_eq!((silent.validity(), silent.effective()), (None, Some(0.0)));
        // Park: sum of counts, not the mean of ratios (which would be (0.75 + 1.0) / 2).
        let mut park = r;
        park.merge(rates(8, 8, 8));
        assert_eq!(park, rates(32, 28, 26));
        assert_eq!(park.effective(), Some(26.0 / 32.0));
    }

    #[test]
    fn thresholds() {
        assert!(rates(24, 22, 22).effective().unwrap() >= DEFAULT_EFFECTIVE_THRESHOLD);
        assert!(rates(24, 21, 21).effective().unwrap() < DEFAULT_EFFECTIVE_THRESHOLD);
        assert!(rates(24, 18, 18).effective().unwrap() >= HISTORICAL_EFFECTIVE_THRESHOLD);
    }

    proptest! {
        #[test]
        fn rates_are_bounded(
            raw in prop::collection::vec((-30i64..60, 0u32..5, 0u32..6), 0..80),
            reg_h in -30i64..40,
            now_h in -30i64..60,
        ) {
            let slots: Vec<HourSlot> = raw
                .iter()
                .map(|&(h, count, valid_count)| HourSlot {
                    hour_start: bj_hour(0) + Duration::minutes(h * 30),
                    count,
                    valid_count,
                })
                .collect();
            let (reg, now) = (bj_hour(reg_h), bj_hour(now_h));
            let r = daily_rates(day(2024, 3, 10), Shanghai, from(reg), now, &slots);
            prop_assert!(r.valid <= r.received && r.received <= r.expected && r.expected <= 24);
            for x in [r.transmission(), r.validity(), r.effective()].into_iter().flatten() {
                prop_assert!((0.0..=1.0).contains(&x));
            }
        }
    }
}
