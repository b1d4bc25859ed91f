//! One simulated HJ 212 data logger, pure: the packets it sends and what it makes of what the
//! platform sends back. No IO and no clock: the caller passes the time in, so the behaviour is
//! unit-tested here and driven over TCP by [`super::tcp`].
//!
//! Input: a registry point with an MN (its password, its model of values) and the time. Output:
//! framed packets (CN 2011 real-time data asking for an answer, QN = the send time) and, for each
//! frame received, an [`Incoming`] the connection loop acts on.

use chrono::{DateTime, NaiveDateTime, Utc};
use chrono_tz::Tz;
use hj212::{format_hj_time, parse_packet, PacketBuilder, PacketFlag, RawFrame};
use rand::Rng;

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
    fn local(&self, t: DateTime<Utc>) -> NaiveDateTime {
        t.with_timezone(&self.tz).naive_local()
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Incoming {
    /// 9014: the upload with this QN was stored.
    Stored { qn: String },
    /// 9011 answering one of its uploads: refused with this `QnRtn`.
    Refused { qn: String, qn_rtn: String },
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
        _ => Incoming::Other,
    }
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
}
