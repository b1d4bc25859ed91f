//! Discharge exceedance episodes: runs of consecutive hours whose average of valid readings lies
//! outside a point's limits for one pollutant.
//!
//! Input: hourly averages ([`HourlyAvg`]) in any order, and the [`Limit`].
//! Output: [`Episode`]s in time order, the last one possibly still open.
//! Pure: no IO, no clock.

use chrono::{DateTime, Duration, Utc};

/// A pollutant's discharge limits at a point; either bound may be absent (pH has both).
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct Limit {
    /// Values strictly below it exceed.
    pub lower: Option<f64>,
    /// Values strictly above it exceed.
    pub upper: Option<f64>,
}

/// One hour's average of the valid (flag `N`) readings of one pollutant at one point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HourlyAvg {
    pub hour_start: DateTime<Utc>,
    /// `None` if the hour has no valid reading.
    pub avg: Option<f64>,
}

/// Which limit an episode crosses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Above the upper limit.
    Above,
    /// Below the lower limit.
    Below,
}

/// Consecutive hours beyond the same limit.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Episode {
    /// Start of the first exceeding hour.
    pub start: DateTime<Utc>,
    /// Exclusive: the start of the last exceeding hour + 1 h.
    pub end: DateTime<Utc>,
    /// The worst hourly average: the highest above an upper limit, the lowest below a lower one.
    pub peak: f64,
    /// The limit crossed.
    pub limit: f64,
    pub direction: Direction,
    /// Number of exceeding hours.
    pub hours: u32,
    /// The last hour examined still exceeds: the episode is ongoing.
    pub open: bool,
}

impl Limit {
    /// The limit `avg` crosses, if any. With a lower limit above the upper one (a registry
    /// error), the upper limit is checked first.
    pub fn crossed(&self, avg: f64) -> Option<(Direction, f64)> {
        match (self.upper, self.lower) {
            (Some(u), _) if avg > u => Some((Direction::Above, u)),
            (_, Some(l)) if avg < l => Some((Direction::Below, l)),
            _ => None,
        }
    }
}

/// Sorts by hour and merges duplicate hours: the mean of their averages (independent of input
/// order); non-finite averages count as missing.
fn normalise(hours: &[HourlyAvg]) -> Vec<(DateTime<Utc>, Option<f64>)> {
    let mut sorted: Vec<HourlyAvg> = hours.to_vec();
    sorted.sort_by_key(|h| h.hour_start);
    sorted
        .chunk_by(|a, b| a.hour_start == b.hour_start)
        .filter_map(|same| {
            let mut avgs: Vec<f64> = same
                .iter()
                .filter_map(|h| h.avg)
                .filter(|a| a.is_finite())
                .collect();
            // Sorted, so the floating-point sum does not depend on input order.
            avgs.sort_by(f64::total_cmp);
            let mean = (!avgs.is_empty()).then(|| avgs.iter().sum::<f64>() / avgs.len() as f64);
            Some((same.first()?.hour_start, mean))
        })
        .collect()
}

/// The exceedance episodes in `hours`, in time order.
///
/// An hour exceeds when its average is strictly above `limit.upper` or strictly below
/// `limit.lower`. Exceeding hours exactly one hour apart and on the same side merge into one
/// episode. A missing hour, an hour without a valid average, an hour within limits, or a switch
/// from above to below ends it. Input order does not matter; duplicate hours are merged (the
/// mean of their averages). The last episode is `open` when it reaches the last hour given.
pub fn episodes(hours: &[HourlyAvg], limit: &Limit) -> Vec<Episode> {
    let hours = normalise(hours);
    let mut out: Vec<Episode> = Vec::new();
    // The hour after the last one added to the episode at the end of `out`, while it can grow.
    let mut next_hour: Option<DateTime<Utc>> = None;
    for &(start, avg) in &hours {
        let crossed = avg.and_then(|a| limit.crossed(a).map(|(d, l)| (d, l, a)));
        let Some((direction, lim, avg)) = crossed else {
            next_hour = None;
            continue;
        };
        let end = start
            .checked_add_signed(Duration::hours(1))
            .unwrap_or(start);
        match out.last_mut() {
            Some(ep) if next_hour == Some(start) && ep.direction == direction => {
                ep.peak = match direction {
                    Direction::Above => ep.peak.max(avg),
                    Direction::Below => ep.peak.min(avg),
                };
                ep.end = end;
                ep.hours += 1;
            }
            _ => out.push(Episode {
                start,
                end,
                peak: avg,
                limit: lim,
                direction,
                hours: 1,
                open: false,
            }),
        }
        next_hour = Some(end);
    }
    // `next_hour` is still set only if the last hour examined exceeded, in the last episode.
    if let Some(ep) = out.last_mut() {
        ep.open = next_hour.is_some();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// `"0:12 1:15 2:- 4:9"`: hour offset:average ("-" for no valid average) from 2024-05-01T00Z.
    fn hours(spec: &str) -> Vec<HourlyAvg> {
        let t0 = Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap();
        let one = |item: &str| {
            let (h, avg) = item.split_once(':').unwrap();
            let hour_start = t0 + Duration::hours(h.parse().unwrap());
            HourlyAvg {
                hour_start,
                avg: avg.parse().ok(),
            }
        };
        spec.split_whitespace().map(one).collect()
    }

    /// Episodes as `"start+hours dir peak/limit"`, with `" open"` when ongoing.
    fn show(eps: &[Episode]) -> String {
        let t0 = Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap();
        let one = |e: &Episode| {
            let start = (e.start - t0).num_hours();
            assert_eq!((e.end - e.start).num_hours(), i64::from(e.hours), "{e:?}");
            let dir = if e.direction == Direction::Above {
                "above"
            } else {
                "below"
            };
            let open = if e.open { " open" } else { "" };
            format!("{start}+{} {dir} {}/{}{open}", e.hours, e.peak, e.limit)
        };
        eps.iter().map(one).collect::<Vec<_>>().join(", ")
    }

    #[test]
    fn episode_table() {
        let cod = Limit {
            lower: None,
            upper: Some(50.0),
        };
        let ph = Limit {
            lower: Some(6.0),
            upper: Some(9.0),
        };
        #[rustfmt::skip]
        let cases = [
            ("no data", cod, "", ""),
            ("within limits, equal is fine", cod, "0:10 1:50 2:49.9", ""),
            ("merge", cod, "0:40 1:55 2:70 3:60 4:45", "1+3 above 70/50"),
            ("unsorted", cod, "3:60 1:55 4:45 2:70 0:40", "1+3 above 70/50"),
            ("missing hour splits", cod, "1:55 2:70 4:60 5:45", "1+2 above 70/50, 4+1 above 60/50"),
            ("no valid average splits", cod, "1:55 2:- 3:60 4:1", "1+1 above 55/50, 3+1 above 60/50"),
            ("NaN average splits", cod, "1:55 2:NaN 3:60 4:1", "1+1 above 55/50, 3+1 above 60/50"),
            ("duplicates: mean", cod, "1:55 1:65 2:40 2:- 3:52", "1+1 above 60/50, 3+1 above 52/50 open"),
            ("open at the end", cod, "0:10 1:51 2:53", "1+2 above 53/50 open"),
            ("closed by a last good hour", cod, "0:51 1:10", "0+1 above 51/50"),
            ("closed by a last empty hour", cod, "0:51 1:-", "0+1 above 51/50"),
            ("pH below 6", ph, "0:7 1:5.5 2:5 3:6", "1+2 below 5/6"),
            ("pH above 9", ph, "0:9 1:9.5 2:10", "1+2 above 10/9 open"),
            ("pH flips side", ph, "0:10 1:5 2:4", "0+1 above 10/9, 1+2 below 4/6 open"),
            ("no limits", Limit::default(), "0:1000 1:-5", ""),
            ("lower only", Limit { lower: Some(1.0), upper: None }, "0:0.5 1:1000", "0+1 below 0.5/1"),
        ];
        for (name, limit, spec, want) in cases {
            assert_eq!(show(&episodes(&hours(spec), &limit)), want, "{name}");
        }
    }

    proptest::proptest! {
        #[test]
        fn order_free_and_disjoint(raw in proptest::collection::vec((0i64..30, -1.0f64..12.0), 0..60)) {
            let hs: Vec<HourlyAvg> = raw.iter().map(|&(h, a)| HourlyAvg {
                hour_start: Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap() + Duration::hours(h),
                avg: (a >= 0.0).then_some(a),
            }).collect();
            let ph = Limit { lower: Some(6.0), upper: Some(9.0) };
            let eps = episodes(&hs, &ph);
            let rev: Vec<HourlyAvg> = hs.iter().rev().copied().collect();
            proptest::prop_assert_eq!(&eps, &episodes(&rev, &ph));
            for pair in eps.windows(2) {
                proptest::prop_assert!(pair[0].end <= pair[1].start && !pair[0].open);
            }
        }
    }

    #[test]
    fn serialises() {
        let ep = &episodes(
            &hours("0:60"),
            &Limit {
                lower: None,
                upper: Some(50.0),
            },
        )[0];
        let json = serde_json::to_value(ep).unwrap();
        assert_eq!(json["direction"], "above");
        assert_eq!(
            (json["hours"].as_u64(), json["open"].as_bool()),
            (Some(1), Some(true))
        );
        assert_eq!(json["start"], "2024-05-01T00:00:00Z");
    }
}
