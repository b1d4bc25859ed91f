//! Split HJ 212 uploads (PNUM/PNO): every part carries complete pollutant items and is stored as
//! it arrives; this tracker only notices when a part never comes. Keyed by (MN, CN, DataTime),
//! as the standard reassembles them; after `timeout` the missing parts are reported as a gap.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

/// A split upload whose parts did not all arrive in time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitGap {
    pub mn: String,
    pub cn: String,
    pub data_time: Option<DateTime<Utc>>,
    pub pnum: u32,
    pub received: Vec<u32>,
}

type Key = (String, String, Option<DateTime<Utc>>);

/// Parts seen per split upload.
#[derive(Debug)]
pub struct SplitTracker {
    timeout: Duration,
    open: HashMap<Key, (u32, BTreeSet<u32>, Instant)>,
}

impl SplitTracker {
    pub fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            open: HashMap::new(),
        }
    }

    /// Records a stored part; forgets the upload once every part is in.
    pub fn part(
        &mut self,
        mn: &str,
        cn: &str,
        data_time: Option<DateTime<Utc>>,
        (pnum, pno): (u32, u32),
        now: Instant,
    ) {
        let key = (mn.to_string(), cn.to_string(), data_time);
        let entry = self
            .open
            .entry(key.clone())
            .or_insert_with(|| (pnum, BTreeSet::new(), now));
        entry.1.insert(pno);
        if (1..=entry.0).all(|n| entry.1.contains(&n)) {
            self.open.remove(&key);
        }
    }

    /// Uploads first seen more than `timeout` before `now` and still missing parts.
    pub fn expire(&mut self, now: Instant) -> Vec<SplitGap> {
        let timeout = self.timeout;
        let expired: Vec<Key> = self
            .open
            .iter()
            .filter(|(_, (_, _, first))| now.duration_since(*first) >= timeout)
            .map(|(k, _)| k.clone())
            .collect();
        expired
            .into_iter()
            .filter_map(|k| {
                let (pnum, parts, _) = self.open.remove(&k)?;
                Some(SplitGap {
                    mn: k.0,
                    cn: k.1,
                    data_time: k.2,
                    pnum,
                    received: parts.into_iter().collect(),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complete_uploads_are_forgotten_and_incomplete_ones_expire() {
        let t0 = Instant::now();
        let mut s = SplitTracker::new(Duration::from_secs(60));
        let dt = Some("2026-11-27T00:00:00Z".parse().unwrap());
        s.part("MN1", "2051", dt, (2, 1), t0);
        s.part("MN1", "2051", dt, (2, 2), t0);
        s.part("MN2", "2061", dt, (3, 1), t0);
        s.part("MN2", "2061", dt, (3, 3), t0);
        assert!(s.expire(t0 + Duration::from_secs(59)).is_empty());
        let gaps = s.expire(t0 + Duration::from_secs(60));
        assert_eq!(
            gaps,
            [SplitGap {
                mn: "MN2".into(),
                cn: "2061".into(),
                data_time: dt,
                pnum: 3,
                received: vec![1, 3]
            }]
        );
        assert!(s.expire(t0 + Duration::from_secs(600)).is_empty());
    }
}
