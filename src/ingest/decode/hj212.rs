//! HJ 212 packets → uploads for the store, plus the answers the logger is owed. Pure: the
//! device's registration (MN → point, password, CRC variants) is checked by the store in the
//! commit transaction; the answers are chosen by the committer from the store's verdict.
//!
//! Mapping (HJ 212-2017 §6.6.5): CN 2011 real-time data → samples at `SampleTime` (or
//! `DataTime`); CN 2051 minute, 2061 hourly and 2031 daily data → interval statistics (average,
//! min, max, cumulative) at `DataTime`, the start of the interval. Other CNs carry nothing
//! greenmon stores: they are counted and answered if the logger asks.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use hj212::{
    answer_9011, answer_9014, frames, parse_packet_ref, FrameError, FrameRef, Packet, PacketError,
    PacketRef, QnRtn, LENIENT_MAX_DATA_LEN,
};

use super::DecodeError;
use crate::domain::{Flag, Hj212Upload, Hj212Value, ReadingKind};
use crate::store::batch::{BAD_PASSWORD, BAD_ST, CRC_MODE_NOT_ALLOWED, UNKNOWN_MN};

/// What one packet decoded to.
#[derive(Debug, Clone, PartialEq)]
pub enum Hj212Item {
    /// Data to store.
    Upload(Hj212Upload),
    /// A packet greenmon has no use for (another CN, or data without values): counted, and
    /// answered when the logger asks.
    Ignored { cn: String },
}

/// The answers a logger is owed for one packet, by outcome, built on demand from the request's
/// header (only TCP loggers get them, and only one of them).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Replies {
    /// The request's data segment with its CP area emptied (`QN=…;ST=…;…;CP=&&&&`): answers
    /// repeat only header fields. Kept as one string, and parsed again only when an answer is
    /// due, so that decoding copies one string per packet for them rather than five.
    request: Option<Box<str>>,
}

impl Replies {
    /// The request's header fields.
    fn request(&self) -> Option<Packet> {
        let text = self.request.as_deref()?;
        let segment = FrameRef {
            raw: &[],
            data: text.as_bytes(),
            crc_hex: &[],
        };
        // These header fields parsed once already, so they parse again.
        parse_packet_ref(segment).ok().map(|p| p.to_packet())
    }

    /// After the packet's rows (or nothing, for an ignored packet) are committed: 9014 when the
    /// packet's flag asks for an answer.
    pub fn stored(&self) -> Option<Vec<u8>> {
        let p = self.request()?;
        p.ack_required().then(|| answer_9014(&p))
    }

    /// The 9011 answer for a packet quarantined with `reason`, if the logger is owed one: the
    /// MN, password, ST and CRC problems always; any other rejection when the packet asked.
    pub fn for_reason(&self, reason: &str) -> Option<Vec<u8>> {
        let p = self.request()?;
        let qn_rtn = match reason {
            UNKNOWN_MN => QnRtn::MnError,
            BAD_PASSWORD => QnRtn::PwError,
            BAD_ST => QnRtn::StError,
            CRC_MODE_NOT_ALLOWED | "crc_mismatch" => QnRtn::CrcError,
            _ if p.ack_required() => QnRtn::Rejected,
            _ => return None,
        };
        Some(answer_9011(&p, qn_rtn))
    }

    fn for_packet(p: &PacketRef<'_>) -> Self {
        const EMPTY_CP: &str = "CP=&&&&";
        let mut request = String::with_capacity(p.header_text.len() + EMPTY_CP.len());
        request.push_str(p.header_text);
        request.push_str(EMPTY_CP);
        Self {
            request: Some(request.into_boxed_str()),
        }
    }
}

/// One packet of a payload: its raw bytes (kept for quarantine), what it decoded to, and the
/// answers it may be owed.
#[derive(Debug, Clone, PartialEq)]
pub struct Hj212Packet {
    pub raw: Vec<u8>,
    pub result: Result<Hj212Item, DecodeError>,
    pub replies: Replies,
}

/// Decodes every packet in `payload` (one or more frames, any framing the codec accepts).
/// The frames and their fields are read in place; only what the store and the answers keep is
/// copied.
pub fn decode_hj212(
    payload: &[u8],
    tz: Tz,
    max_future_secs: i64,
    now: DateTime<Utc>,
) -> Vec<Hj212Packet> {
    frames(payload, LENIENT_MAX_DATA_LEN)
        .map(|frame| decode_frame(frame, tz, max_future_secs, now))
        .collect()
}

/// Decodes one frame (from [`decode_hj212`]; a [`RawFrame`](hj212::RawFrame) from a
/// deframer lends one with `as_frame_ref`).
pub fn decode_frame(
    frame: Result<FrameRef<'_>, FrameError>,
    tz: Tz,
    max_future_secs: i64,
    now: DateTime<Utc>,
) -> Hj212Packet {
    let frame = match frame {
        Ok(f) => f,
        Err(e) => {
            return Hj212Packet {
                raw: e.raw().to_vec(),
                result: Err(DecodeError::Hj212 {
                    code: e.code(),
                    detail: e.to_string(),
                }),
                replies: Replies::default(),
            }
        }
    };
    let packet = match parse_packet_ref(frame) {
        Ok(p) => p,
        Err(e) => {
            return Hj212Packet {
                raw: frame.raw.to_vec(),
                result: Err(packet_error(&e)),
                replies: Replies::default(),
            }
        }
    };
    Hj212Packet {
        raw: frame.raw.to_vec(),
        result: map_packet(&packet, tz, max_future_secs, now),
        replies: Replies::for_packet(&packet),
    }
}

fn packet_error(e: &PacketError) -> DecodeError {
    DecodeError::Hj212 {
        code: e.code(),
        detail: e.to_string(),
    }
}

/// The data-carrying CNs and the kind of value each carries.
fn kind_of(cn: &str) -> Option<ReadingKind> {
    match cn {
        "2011" => Some(ReadingKind::Sample),
        "2051" => Some(ReadingKind::Minute),
        "2061" => Some(ReadingKind::Hour),
        "2031" => Some(ReadingKind::Day),
        _ => None,
    }
}

fn map_packet(
    p: &PacketRef<'_>,
    tz: Tz,
    max_future_secs: i64,
    now: DateTime<Utc>,
) -> Result<Hj212Item, DecodeError> {
    let Some(crc_mode) = p.crc.matched else {
        return Err(DecodeError::Hj212 {
            code: "crc_mismatch",
            detail: format!(
                "CRC {} does not match the data (HJ 212 CRC {:04X})",
                p.crc
                    .given
                    .map_or_else(|| "?".into(), |g| format!("{g:04X}")),
                p.crc.computed
            ),
        });
    };
    let Some(kind) = kind_of(p.cn) else {
        return Ok(Hj212Item::Ignored {
            cn: p.cn.to_string(),
        });
    };
    let local = |t: &NaiveDateTime| -> Result<DateTime<Utc>, DecodeError> {
        let utc = tz
            .from_local_datetime(t)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(|| DecodeError::InvalidTimestamp(t.to_string()))?;
        if (utc - now).num_seconds() > max_future_secs {
            return Err(DecodeError::FutureTimestamp {
                ts: utc.to_rfc3339(),
                limit_secs: max_future_secs,
            });
        }
        Ok(utc)
    };
    let data_time = p.cp.data_time.as_ref().map(local).transpose()?;
    let mut values = Vec::with_capacity(p.cp.items.len());
    for item in &p.cp.items {
        let (value, time) = match kind {
            ReadingKind::Sample => {
                let Some(rtd) = &item.rtd else { continue };
                let time = match (&item.sample_time, data_time) {
                    (Some(t), _) => local(t)?,
                    (None, Some(t)) => t,
                    (None, None) => return Err(missing_data_time(p.cn)),
                };
                (rtd.to_f64(), time)
            }
            _ => {
                let Some(avg) = item.avg.as_ref().or(item.rtd.as_ref()) else {
                    continue;
                };
                (
                    avg.to_f64(),
                    data_time.ok_or_else(|| missing_data_time(p.cn))?,
                )
            }
        };
        if values.iter().any(|v: &Hj212Value| v.pollutant == item.code) {
            return Err(DecodeError::DuplicatePollutant(item.code.to_string()));
        }
        let flag = match (item.flag, item.raw_flag) {
            (Some(f), _) => f,
            (None, Some(raw)) => return Err(DecodeError::InvalidFlag(raw.to_string())),
            (None, None) => Flag::Normal,
        };
        values.push(Hj212Value {
            pollutant: item.code.clone(),
            kind,
            time,
            value,
            min: item.min.as_ref().map(|d| d.to_f64()),
            max: item.max.as_ref().map(|d| d.to_f64()),
            cou: item.cou.as_ref().map(|d| d.to_f64()),
            flag,
        });
    }
    if values.is_empty() {
        return Ok(Hj212Item::Ignored {
            cn: p.cn.to_string(),
        });
    }
    Ok(Hj212Item::Upload(Hj212Upload {
        mn: p.mn.to_string(),
        password: p.pw.map(str::to_string),
        st: p.st.to_string(),
        crc_mode,
        cn: p.cn.to_string(),
        data_time,
        split: p.pnum.zip(p.pno),
        values,
    }))
}

fn missing_data_time(cn: &str) -> DecodeError {
    DecodeError::Hj212 {
        code: "missing_datatime",
        detail: format!("CN {cn} data without DataTime"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hj212::{encode_frame, PacketBuilder, PacketFlag};

    fn now() -> DateTime<Utc> {
        "2026-11-27T08:00:00Z".parse().unwrap()
    }

    fn frame(cn: &str, flag: u8, cp: &str) -> Vec<u8> {
        let b = PacketBuilder {
            qn: Some("20261127150000123".into()),
            st: "32".into(),
            cn: cn.into(),
            pw: Some("123456".into()),
            mn: "010000A8900016F000169DC0".into(),
            flag: Some(PacketFlag { raw: flag }),
            cp: cp.into(),
            ..Default::default()
        };
        b.encode()
    }

    fn one(bytes: &[u8]) -> Hj212Packet {
        let mut v = decode_hj212(bytes, chrono_tz::Asia::Shanghai, 300, now());
        assert_eq!(v.len(), 1);
        v.remove(0)
    }

    #[test]
    fn minute_data_becomes_interval_statistics_at_the_interval_start() {
        let p = one(&frame(
            "2051",
            5,
            "DataTime=20261127154000;w00000-Cou=10.5,w00000-Min=16.4,w00000-Avg=17.5,w00000-Max=20.1,w00000-Flag=N;w01018-Avg=40.1,w01018-Flag=M",
        ));
        let Ok(Hj212Item::Upload(u)) = p.result else {
            panic!("{:?}", p.result)
        };
        assert_eq!(u.cn, "2051");
        assert_eq!(u.data_time, Some("2026-11-27T07:40:00Z".parse().unwrap()));
        assert_eq!(u.values.len(), 2);
        let flow = &u.values[0];
        assert_eq!(
            (flow.kind, flow.value, flow.min, flow.max, flow.cou),
            (
                ReadingKind::Minute,
                17.5,
                Some(16.4),
                Some(20.1),
                Some(10.5)
            )
        );
        assert_eq!(u.values[1].flag, Flag::Maintenance);
        // Flag 5 asks for an answer: 9014 once stored.
        let answer = String::from_utf8(p.replies.stored().unwrap()).unwrap();
        assert!(
            answer.contains("CN=9014") && answer.contains("QN=20261127150000123"),
            "{answer}"
        );
        assert!(
            String::from_utf8_lossy(&p.replies.for_reason(UNKNOWN_MN).unwrap()).contains("QnRtn=4")
        );
    }

    #[test]
    fn real_time_data_uses_the_sample_time() {
        let p = one(&frame("2011", 4, "DataTime=20261127155900;w01018-Rtd=23.1,w01018-SampleTime=20261127155830,w01018-Flag=N"));
        let Ok(Hj212Item::Upload(u)) = p.result else {
            panic!()
        };
        assert_eq!(
            u.values[0].time,
            "2026-11-27T07:58:30Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(u.values[0].kind, ReadingKind::Sample);
        assert!(p.replies.stored().is_none(), "flag 4 asks for no answer");
    }

    #[test]
    fn rejections_and_ignored_packets() {
        // A CN greenmon does not use is ignored, and still answered when asked.
        let p = one(&frame(
            "2081",
            5,
            "DataTime=20261127150000;RestartTime=20261127140000",
        ));
        assert_eq!(p.result, Ok(Hj212Item::Ignored { cn: "2081".into() }));
        assert!(p.replies.stored().is_some());
        // A corrupted CRC.
        let mut bad = frame("2051", 5, "DataTime=20261127154000;w01018-Avg=40.1");
        let n = bad.len();
        bad[n - 6] = if bad[n - 6] == b'0' { b'1' } else { b'0' };
        let p = one(&bad);
        let Err(e) = &p.result else { panic!() };
        assert_eq!(e.code(), "crc_mismatch");
        assert!(
            String::from_utf8_lossy(&p.replies.for_reason("crc_mismatch").unwrap())
                .contains("QnRtn=9")
        );
        // Minute data without DataTime; data from the future.
        let p = one(&frame("2051", 4, "w01018-Avg=40.1"));
        assert_eq!(p.result.unwrap_err().code(), "missing_datatime");
        let p = one(&frame("2051", 4, "DataTime=20261127170000;w01018-Avg=40.1"));
        assert_eq!(p.result.unwrap_err().code(), "future_timestamp");
        // Not a frame at all.
        let p = one(b"hello world");
        assert!(p.result.is_err());
        assert!(!p.raw.is_empty());
    }

    #[test]
    fn answers_are_those_of_the_whole_request() {
        use hj212::{answer_9011, answer_9014, parse_packet, split_frames, QnRtn};
        let requests = [
            frame("2051", 5, "DataTime=20261127154000;w01018-Avg=40.1"),
            frame("2081", 9, "DataTime=20261127150000"),
            encode_frame("ST=32;CN=2051;PW=a&&b;MN=88888880000001;Flag=1;CP=&&DataTime=20261127154000;011-Avg=4&&"),
            encode_frame("QN=20261127150000123;ST=32;CN=2061;MN=X,Flag=5;Vendor=1;CP=&&&&"),
        ];
        for bytes in requests {
            let whole = parse_packet(split_frames(&bytes)[0].as_ref().unwrap()).unwrap();
            let p = one(&bytes);
            assert_eq!(p.replies.stored(), Some(answer_9014(&whole)), "{bytes:?}");
            assert_eq!(
                p.replies.for_reason(UNKNOWN_MN),
                Some(answer_9011(&whole, QnRtn::MnError))
            );
            assert_eq!(
                p.replies.for_reason("bad_value"),
                Some(answer_9011(&whole, QnRtn::Rejected))
            );
        }
        assert_eq!(Replies::default().stored(), None);
    }

    #[test]
    fn several_packets_in_one_payload_and_2005_codes() {
        let mut payload = frame(
            "2051",
            4,
            "DataTime=20261127154000;011-Avg=40.1;060-Avg=1.2",
        );
        payload.extend(encode_frame(
            "ST=32;CN=2061;PW=123456;MN=88888880000001;CP=&&DataTime=20261127140000;B01-Avg=80.5&&",
        ));
        let packets = decode_hj212(&payload, chrono_tz::Asia::Shanghai, 300, now());
        assert_eq!(packets.len(), 2);
        let Ok(Hj212Item::Upload(a)) = &packets[0].result else {
            panic!()
        };
        let codes: Vec<&str> = a.values.iter().map(|v| v.pollutant.as_str()).collect();
        assert_eq!(codes, ["w01018", "w21003"]);
        let Ok(Hj212Item::Upload(b)) = &packets[1].result else {
            panic!("{:?}", packets[1].result)
        };
        assert_eq!(
            (b.mn.as_str(), b.values[0].kind),
            ("88888880000001", ReadingKind::Hour)
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        /// What the fuzz target did for ingest before it came to depend on the codec crate
        /// alone: arbitrary bytes (and bytes around a valid frame) through `decode_hj212`, and
        /// every answer a packet may be owed, never panic.
        #[test]
        fn arbitrary_bytes_never_panic(
            before in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
            after in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
            cp in "[A-Za-z0-9=;,.&-]{0,80}",
        ) {
            let mut payload = before.clone();
            payload.extend(frame("2051", 5, &cp));
            payload.extend(&after);
            for input in [&before[..], &payload[..]] {
                for packet in decode_hj212(input, chrono_tz::Asia::Shanghai, 300, now()) {
                    let _ = packet.replies.stored();
                    let _ = packet.replies.for_reason("crc_mismatch");
                    let _ = packet.replies.for_reason("bad_value");
                }
            }
        }
    }
}
