//! One simulated HJ 212 data logger, pure: the packets it sends and what it makes of what the
//! platform sends back. No IO and no clock: the caller passes the time in, so the behaviour is
//! unit-tested here and driven over TCP by [`super::tcp`].
//!
//! Input: a registry point with an MN (its password, its model of values) and the time. Output:
//! framed packets (CN 2011 real-time data asking for an answer, QN = the send time; CN 2061
//! hourly data from its history buffer, answering a platform's request; its clock, CN 1011)
//! and, for each frame received, an [`Incoming`] the connection loop acts on.
//!
//! The history buffer holds the hourly data of the last `history_hours` hours, as a logger's
//! memory does whether or not the platform received them live. Its values are a function of
//! (MN, hour), so the buffer costs no memory and answers the same on every request.

use chrono::{DateTime, DurationRound, NaiveDateTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use hj212::{format_hj_time, parse_packet, Packet, PacketBuilder, PacketFlag, RawFrame, Request};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::values::{sample_values, PointModel, Pollutant};
use crate::domain::parse_pollutant;

/// The password a logger sends when its point registers none.
const DEFAULT_PASSWORD: &str = "123456";

/// What a logger knows about itself.
#[derive(Debug, Clone)]
pub(crate) struct LoggerIdentity {
    pub(crate) mn: String,
    pub(crate) password: String,
    pub(crate) model: PointModel,
    /// The zone its clock shows (DataTime and QN are local times).
    pub(crate) tz: Tz,
}

impl LoggerIdentity {
    pub(crate) fn new(mn: String, password: Option<String>, model: PointModel, tz: Tz) -> Self {
        Self {
            mn,
            password: password.unwrap_or_else(|| DEFAULT_PASSWORD.to_string()),
            model,
            tz,
        }
    }

    /// Local time as the logger's clock shows it.
    pub(crate) fn local(&self, t: DateTime<Utc>) -> NaiveDateTime {
        t.with_timezone(&self.tz).naive_local()
    }

    /// The instant a local time of the logger's stands for.
    pub(crate) fn instant(&self, t: &NaiveDateTime) -> Option<DateTime<Utc>> {
        self.tz
            .from_local_datetime(t)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
    }

    /// The hours of its history buffer (the `history_hours` whole hours before `now`) whose
    /// start lies in `[begin, end]` (local times, as a request gives them).
    pub(crate) fn buffered_hours(
        &self,
        begin: &NaiveDateTime,
        end: &NaiveDateTime,
        now: DateTime<Utc>,
        history_hours: u32,
    ) -> Vec<DateTime<Utc>> {
        let hour = TimeDelta::hours(1);
        let latest = now.duration_trunc(hour).unwrap_or(now) - hour;
        let oldest = latest - hour * (history_hours as i32 - 1);
        let (Some(begin), Some(end)) = (self.instant(begin), self.instant(end)) else {
            return Vec::new();
        };
        let mut h = begin.duration_trunc(hour).unwrap_or(begin);
        if h < begin {
            h += hour;
        }
        let mut out = Vec::new();
        while h <= end.min(latest) {
            if h >= oldest {
                out.push(h);
            }
            h += hour;
        }
        out
    }

    /// Hourly data (CN 2061) of the hour starting at `hour`, from the history buffer, as the
    /// answer to the request `qn` (no answer asked: the 9012 closes the exchange).
    pub(crate) fn hourly(&self, hour: DateTime<Utc>, qn: &str) -> Vec<u8> {
        let seed = self.mn.bytes().fold(hour.timestamp() as u64, |h, b| {
            h.rotate_left(5) ^ u64::from(b)
        });
        let mut rng = StdRng::seed_from_u64(seed);
        let values = sample_values(&self.model, hour + TimeDelta::minutes(30), &mut rng);
        let mut cp = format!("DataTime={}", format_hj_time(&self.local(hour)));
        for p in Pollutant::ALL {
            let code = code_of(p);
            let v = values[p as usize];
            cp.push_str(&format!(
                ";{code}-Min={v},{code}-Avg={v},{code}-Max={v},{code}-Flag=N"
            ));
        }
        let flag = PacketFlag::from_parts(1, false, false);
        self.builder(qn.to_string(), "2061", flag, cp).encode()
    }

    /// Its clock (CN 1011 `SystemTime`), answering the request `qn`.
    pub(crate) fn clock(&self, clock: DateTime<Utc>, qn: &str) -> Vec<u8> {
        let cp = format!("SystemTime={}", self.local(clock).format("%Y%m%d%H%M%S"));
        let flag = PacketFlag::from_parts(1, false, false);
        self.builder(qn.to_string(), "1011", flag, cp).encode()
    }

    /// A packet from this logger: ST=32 (wastewater), its MN and password.
    fn builder(&self, qn: String, cn: &str, flag: PacketFlag, cp: String) -> PacketBuilder {
        PacketBuilder {
            qn: Some(qn),
            st: "32".into(),
            cn: cn.into(),
            pw: Some(self.password.clone()),
            mn: self.mn.clone(),
            flag: Some(flag),
            cp,
            ..PacketBuilder::default()
        }
    }

    /// Real-time data (CN 2011) measured at `ts`, asking for an answer (Flag=5): its QN (the
    /// time, to the millisecond, which also makes it the packet's identity) and its bytes.
    pub(crate) fn realtime(&self, ts: DateTime<Utc>, rng: &mut impl Rng) -> (String, Vec<u8>) {
        let values = sample_values(&self.model, ts, rng);
        let local = self.local(ts);
        let qn = local.format("%Y%m%d%H%M%S%3f").to_string();
        let mut cp = format!("DataTime={}", format_hj_time(&local));
        for p in Pollutant::ALL {
            let code = code_of(p);
            cp.push_str(&format!(";{code}-Rtd={},{code}-Flag=N", values[p as usize]));
        }
        let flag = PacketFlag::from_parts(1, false, true);
        let bytes = self.builder(qn.clone(), "2011", flag, cp).encode();
        (qn, bytes)
    }
}

/// The HJ 212-2017 code of a simulated pollutant.
fn code_of(p: Pollutant) -> String {
    // The six aliases are greenmon's own table: they always parse.
    parse_pollutant(p.alias()).map_or_else(|_| p.alias().to_string(), |c| c.to_string())
}

/// What one frame from the platform means to the logger.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Incoming {
    /// 9014: the upload with this QN was stored.
    Stored { qn: String },
    /// 9011 answering one of its uploads: refused with this `QnRtn`.
    Refused { qn: String, qn_rtn: String },
    /// A request of the platform's (history, clock), with the packet it came in.
    Request(Request, Box<Packet>),
    /// Anything else (a bad frame, an unknown command): ignored, as loggers do.
    Other,
}

/// Reads one frame the platform sent.
pub(crate) fn incoming(frame: &RawFrame) -> Incoming {
    let Ok(p) = parse_packet(frame) else {
        return Incoming::Other;
    };
    let Some(qn) = p.qn.clone() else {
        return Incoming::Other;
    };
    match p.cn.as_str() {
        "9014" => Incoming::Stored { qn },
        "9011" => {
            let qn_rtn = p.cp.field("QnRtn").unwrap_or("").to_string();
            Incoming::Refused { qn, qn_rtn }
        }
        _ => match request_of(frame) {
            Some(r) => Incoming::Request(r, Box::new(p)),
            None => Incoming::Other,
        },
    }
}

fn request_of(frame: &RawFrame) -> Option<Request> {
    Request::parse(&hj212::parse_packet_ref(frame.as_frame_ref()).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::registry::RegistryFile;
    use hj212::{answer_9011, answer_9014, split_frames, QnRtn};
    use rand::SeedableRng;

    pub(crate) fn identity() -> LoggerIdentity {
        let registry = RegistryFile::parse(
            r#"
[[parks]]
id = "p"
name = "P"
baseline_intensity = 1
[[parks.points]]
id = "o"
name = "O"
kind = "treatment_outlet"
mn = "AAAA0000000000000000000A"
"#,
        )
        .unwrap()
        .validate()
        .unwrap();
        let point = &registry.parks[0].points[0];
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        LoggerIdentity::new(
            "AAAA0000000000000000000A".into(),
            None,
            PointModel::new(point, &mut rng),
            chrono_tz::Asia::Shanghai,
        )
    }

    fn one(bytes: &[u8]) -> RawFrame {
        split_frames(bytes).remove(0).unwrap()
    }

    #[test]
    fn realtime_packets_carry_six_values_at_beijing_time() {
        let id = identity();
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        let ts: DateTime<Utc> = "2026-01-01T00:00:00.250Z".parse().unwrap();
        let (qn, bytes) = id.realtime(ts, &mut rng);
        assert_eq!(qn, "20260101080000250");
        let p = parse_packet(&one(&bytes)).unwrap();
        assert_eq!((p.cn.as_str(), p.st.as_str()), ("2011", "32"));
        assert!(p.ack_required() && !p.is_2005());
        assert_eq!(p.pw.as_deref(), Some(DEFAULT_PASSWORD));
        assert_eq!(p.cp.items.len(), 6);
        assert_eq!(
            p.cp.data_time,
            Some(hj212::parse_hj_time("20260101080000250").unwrap())
        );
        // What the platform answers, the logger understands.
        assert_eq!(
            incoming(&one(&answer_9014(&p))),
            Incoming::Stored { qn: qn.clone() }
        );
        assert_eq!(
            incoming(&one(&answer_9011(&p, QnRtn::PwError))),
            Incoming::Refused {
                qn,
                qn_rtn: "3".into()
            }
        );
        let other = hj212::encode_frame("ST=91;CN=9013;MN=AAAA0000000000000000000A;CP=&&&&");
        assert_eq!(incoming(&one(&other)), Incoming::Other);
    }

    #[test]
    fn history_requests_are_answered_from_the_buffer() {
        let id = identity();
        let t = |s: &str| hj212::parse_hj_time(s).unwrap();
        let request = Request::History {
            cn: "2061".into(),
            begin: t("20260101080000"),
            end: t("20260101100000"),
        };
        let bytes = request.encode("20260101120000000", "32", Some("123456"), &id.mn);
        let Incoming::Request(r, _) = incoming(&one(&bytes)) else {
            panic!()
        };
        assert_eq!(r, request);
        // 08:00-10:00 Beijing = 00:00-02:00 UTC; the buffer holds the 2 hours before 02:30 UTC.
        let now: DateTime<Utc> = "2026-01-01T02:30:00Z".parse().unwrap();
        let hours = id.buffered_hours(&t("20260101080000"), &t("20260101100000"), now, 2);
        let at = |h: u32| {
            format!("2026-01-01T{h:02}:00:00Z")
                .parse::<DateTime<Utc>>()
                .unwrap()
        };
        assert_eq!(hours, [at(0), at(1)]);
        assert_eq!(
            id.buffered_hours(&t("20260101080000"), &t("20260101100000"), now, 24),
            [at(0), at(1)],
            "never the hour still running"
        );
        assert!(id
            .buffered_hours(&t("20250101080000"), &t("20250101100000"), now, 24)
            .is_empty());
        // The same hour gives the same packet; it parses as hourly data at its start.
        let packet = id.hourly(at(1), "20260101120000000");
        assert_eq!(packet, id.hourly(at(1), "20260101120000000"));
        let p = parse_packet(&one(&packet)).unwrap();
        assert_eq!((p.cn.as_str(), p.cp.items.len()), ("2061", 6));
        assert_eq!(p.cp.data_time, Some(t("20260101090000")));
        assert!(!p.ack_required());
        let clock = parse_packet(&one(&id.clock(at(1), "1"))).unwrap();
        assert_eq!(clock.cp.field("SystemTime"), Some("20260101090000"));
    }
}
