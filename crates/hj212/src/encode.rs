//! Encoding: frames, data segments, and the answers a platform sends to data loggers
//! (9011 request answer, 9012 execution result, 9014 data answer).
//!
//! Input: field values or a received [`Packet`]. Output: the bytes to write, framed as
//! `##` + 4-digit byte length + data segment + uppercase HJ 212 CRC + CRLF. Answers follow
//! the sender's dialect: HJ 212-2017 (and later) repeat QN in the header; HJ/T 212-2005 puts
//! `QN=…` inside CP and uses `Flag=0` (HJ/T 212-2005 p.18-21, hj212.md §8).

use std::fmt::Write as _;

use chrono::{NaiveDateTime, Timelike};

use crate::cp::{Cp, CpItem};
use crate::crc::crc16_hj212;
use crate::decimal::Decimal;
use crate::header::PacketFlag;
use crate::packet::Packet;

/// The largest data segment a 4-digit length can declare.
pub const MAX_ENCODABLE_LEN: usize = 9999;

/// Frames a data segment: `##`, its byte length as 4 digits, the segment, its HJ 212 CRC as
/// 4 uppercase hex digits, CRLF.
///
/// # Panics
/// If the segment is longer than [`MAX_ENCODABLE_LEN`] bytes, which a 4-digit length cannot
/// express. Answers built by this module from a parsed [`Packet`] are far shorter.
pub fn encode_frame(data_segment: &str) -> Vec<u8> {
    let data = data_segment.as_bytes();
    assert!(
        data.len() <= MAX_ENCODABLE_LEN,
        "HJ 212 data segment of {} bytes exceeds 9999",
        data.len()
    );
    let mut out = Vec::with_capacity(data.len() + 12);
    out.extend_from_slice(format!("##{:04}", data.len()).as_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(format!("{:04X}\r\n", crc16_hj212(data)).as_bytes());
    out
}

/// The fields of a data segment, written in the standard's order by [`PacketBuilder::build`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PacketBuilder {
    /// `QN`, the request id (`YYYYMMDDhhmmsszzz`); omitted when `None`.
    pub qn: Option<String>,
    /// `ST`, the system code, e.g. `32` (wastewater) or `91` (system interaction).
    pub st: String,
    /// `CN`, the command code, e.g. `2051`.
    pub cn: String,
    /// `PW`, the access password; omitted when `None`.
    pub pw: Option<String>,
    /// `MN`, the device id.
    pub mn: String,
    /// `Flag`; omitted when `None` (as HJ/T 212-2005 uploads often do).
    pub flag: Option<PacketFlag>,
    /// `PNUM`, the number of parts of a split upload.
    pub pnum: Option<u32>,
    /// `PNO`, this part's number.
    pub pno: Option<u32>,
    /// Extra header fields, written after PNO.
    pub extra: Vec<(String, String)>,
    /// The CP body, without the surrounding `&&` (see [`encode_cp`]).
    pub cp: String,
}

impl PacketBuilder {
    /// The data segment: `QN=…;ST=…;CN=…;PW=…;MN=…;Flag=…;PNUM=…;PNO=…;CP=&&…&&`, omitting
    /// absent optional fields.
    pub fn build(&self) -> String {
        let mut s = String::with_capacity(64 + self.cp.len());
        let mut put = |k: &str, v: &dyn std::fmt::Display| {
            // Writing to a String cannot fail.
            let _ = write!(s, "{k}={v};");
        };
        if let Some(qn) = &self.qn {
            put("QN", qn);
        }
        put("ST", &self.st);
        put("CN", &self.cn);
        if let Some(pw) = &self.pw {
            put("PW", pw);
        }
        put("MN", &self.mn);
        if let Some(flag) = self.flag {
            put("Flag", &flag.raw);
        }
        if let Some(n) = self.pnum {
            put("PNUM", &n);
        }
        if let Some(n) = self.pno {
            put("PNO", &n);
        }
        for (k, v) in &self.extra {
            put(k, v);
        }
        s.push_str("CP=&&");
        s.push_str(&self.cp);
        s.push_str("&&");
        s
    }

    /// [`build`](Self::build) and [`encode_frame`].
    ///
    /// # Panics
    /// As [`encode_frame`], if the data segment exceeds 9999 bytes.
    pub fn encode(&self) -> Vec<u8> {
        encode_frame(&self.build())
    }

    /// The fields of a parsed packet (CP re-encoded by [`encode_cp`]).
    pub fn from_packet(p: &Packet) -> Self {
        Self {
            qn: p.qn.clone(),
            st: p.st.clone(),
            cn: p.cn.clone(),
            pw: p.pw.clone(),
            mn: p.mn.clone(),
            flag: p.flag,
            pnum: p.pnum,
            pno: p.pno,
            extra: p.extra.clone(),
            cp: encode_cp(&p.cp),
        }
    }
}

/// `YYYYMMDDhhmmss`, or `YYYYMMDDhhmmsszzz` when the time has milliseconds.
pub fn format_hj_time(t: &NaiveDateTime) -> String {
    if t.nanosecond() == 0 {
        t.format("%Y%m%d%H%M%S").to_string()
    } else {
        t.format("%Y%m%d%H%M%S%3f").to_string()
    }
}

/// Writes a CP body: `DataTime`, then [`Cp::fields`], the items (one `;`-separated group
/// per item, sub-fields joined by `,`, under the original code), then [`Cp::other_items`].
pub fn encode_cp(cp: &Cp) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some(t) = &cp.data_time {
        parts.push(format!("DataTime={}", format_hj_time(t)));
    }
    parts.extend(cp.fields.iter().map(|(k, v)| format!("{k}={v}")));
    parts.extend(cp.items.iter().map(encode_item));
    parts.extend(cp.other_items.iter().map(|(k, v)| format!("{k}={v}")));
    parts.join(";")
}

fn encode_item(item: &CpItem) -> String {
    let code = &item.original_code;
    let mut subs: Vec<String> = Vec::new();
    if let Some(t) = &item.sample_time {
        subs.push(format!("{code}-SampleTime={}", format_hj_time(t)));
    }
    let values: [(&str, &Option<Decimal>); 9] = [
        ("Rtd", &item.rtd),
        ("Min", &item.min),
        ("Avg", &item.avg),
        ("Max", &item.max),
        ("Cou", &item.cou),
        ("ZsRtd", &item.zs_rtd),
        ("ZsMin", &item.zs_min),
        ("ZsAvg", &item.zs_avg),
        ("ZsMax", &item.zs_max),
    ];
    for (suffix, value) in values {
        if let Some(v) = value {
            subs.push(format!("{code}-{suffix}={v}"));
        }
    }
    let flag = item
        .raw_flag
        .clone()
        .or_else(|| item.flag.map(|f| f.code().to_string()));
    if let Some(f) = flag {
        subs.push(format!("{code}-Flag={f}"));
    }
    if let Some(e) = &item.eflag {
        subs.push(format!("{code}-EFlag={e}"));
    }
    subs.extend(item.other.iter().map(|(s, v)| format!("{code}-{s}={v}")));
    subs.join(",")
}

/// `QnRtn` values of a 9011 request answer (HJ 212-2017 Table 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QnRtn {
    /// Ready to execute the request.
    Ready = 1,
    /// Request rejected.
    Rejected = 2,
    /// Wrong password (PW).
    PwError = 3,
    /// Wrong or unknown device id (MN).
    MnError = 4,
    /// Wrong system code (ST).
    StError = 5,
    /// Wrong Flag.
    FlagError = 6,
    /// Wrong request id (QN).
    QnError = 7,
    /// Wrong or unsupported command (CN).
    CnError = 8,
    /// The packet's CRC was wrong.
    CrcError = 9,
    /// Unknown error.
    Unknown = 100,
}

impl QnRtn {
    /// The number sent on the wire.
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// The header and CP for an answer to `req` with command `cn`. `cp_2017` is the CP of the
/// 2017 form; for a 2005 sender, `QN=…` (when the request had one) is put in front of it,
/// or `cp_2005` when given.
fn answer(req: &Packet, cn: &str, cp_2017: String, cp_2005: Option<String>) -> Vec<u8> {
    let legacy = req.is_2005();
    let cp = if legacy {
        let tail = cp_2005.unwrap_or(cp_2017);
        match &req.qn {
            Some(qn) if tail.is_empty() => format!("QN={qn}"),
            Some(qn) => format!("QN={qn};{tail}"),
            None => tail,
        }
    } else {
        cp_2017
    };
    // Answer in the sender's protocol version: Flag=4 for 2017, 8 for 2025, 0 for 2005.
    let version = req.flag.map_or(0, |f| f.version_bits());
    let builder = PacketBuilder {
        qn: if legacy { None } else { req.qn.clone() },
        st: "91".into(),
        cn: cn.into(),
        pw: req.pw.clone(),
        mn: req.mn.clone(),
        flag: Some(PacketFlag::from_parts(version, false, false)),
        cp,
        ..PacketBuilder::default()
    };
    builder.encode()
}

/// The data answer (CN=9014) acknowledging an upload: ST=91, the request's QN, PW and MN,
/// `Flag=4` and `CP=&&&&`. For an HJ/T 212-2005 sender (no Flag, or version bits 0):
/// `Flag=0` and `CP=&&QN=…;CN=<request CN>&&`.
pub fn answer_9014(req: &Packet) -> Vec<u8> {
    answer(req, "9014", String::new(), Some(format!("CN={}", req.cn)))
}

/// The request answer (CN=9011) with `QnRtn`, e.g. [`QnRtn::CrcError`] for a bad CRC.
pub fn answer_9011(req: &Packet, qn_rtn: QnRtn) -> Vec<u8> {
    answer(req, "9011", format!("QnRtn={}", qn_rtn.code()), None)
}

/// The execution result (CN=9012) with `ExeRtn` (HJ 212-2017 Table 6: 1 ok, 2 failed, 3 bad
/// conditions, 4 timeout, 5 busy, 6 system fault, 100 no data).
pub fn answer_9012(req: &Packet, exe_rtn: u8) -> Vec<u8> {
    answer(req, "9012", format!("ExeRtn={exe_rtn}"), None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{frame_of, samples::*};
    use crate::{crc16_hj212, parse_packet, split_frames};

    fn request(text: &str) -> Packet {
        parse_packet(&frame_of(text)).unwrap()
    }

    fn text(bytes: Vec<u8>) -> String {
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn frames_match_the_published_vectors() {
        for sample in [STD17_1062, ANSWER_9011, HUPENGWU_2011] {
            let data = &sample[6..sample.len() - 4];
            assert_eq!(text(encode_frame(data)), format!("{sample}\r\n"));
        }
        assert_eq!(
            text(encode_frame("")),
            format!("##0000{:04X}\r\n", crc16_hj212(b""))
        );
    }

    #[test]
    fn answers_to_2017_and_2025_senders() {
        let req = request(STD17_1062);
        let head =
            "QN=20160801085857223;ST=91;CN={cn};PW=100000;MN=010000A8900016F000169DC0;Flag=4";
        let cases: [(Vec<u8>, &str, &str); 5] = [
            (answer_9014(&req), "9014", ""),
            (answer_9011(&req, QnRtn::Ready), "9011", "QnRtn=1"),
            (answer_9011(&req, QnRtn::CrcError), "9011", "QnRtn=9"),
            (answer_9011(&req, QnRtn::Unknown), "9011", "QnRtn=100"),
            (answer_9012(&req, 1), "9012", "ExeRtn=1"),
        ];
        for (bytes, cn, cp) in cases {
            let want = format!("{};CP=&&{cp}&&", head.replace("{cn}", cn));
            assert_eq!(text(bytes), text(encode_frame(&want)));
        }
        // The published 9014 answer to a 2017 upload, byte for byte (its CRC was lower-case).
        let upload = request(&ANSWER_9014.replace("ST=91;CN=9014", "ST=32;CN=2011"));
        assert_eq!(
            text(answer_9014(&upload)).to_uppercase(),
            format!("{ANSWER_9014}\r\n").to_uppercase()
        );
        // A Flag=8 sender is answered in its own version.
        let answer = text(answer_9014(&request(CHENQI92_FLAG8)));
        assert!(answer.contains(";Flag=8;CP=&&&&"), "{answer}");
    }

    #[test]
    fn answers_to_2005_senders_put_qn_in_cp() {
        let with_qn =
            "QN=20040516010101001;ST=32;CN=2051;PW=123456;MN=88888880000001;Flag=1;CP=&&&&";
        let without_qn = "ST=32;CN=2011;PW=123456;MN=88888880000001;CP=&&&&";
        let cases = [
            (
                with_qn,
                answer_9014 as fn(&Packet) -> Vec<u8>,
                "CN=9014",
                "QN=20040516010101001;CN=2051",
            ),
            (without_qn, answer_9014, "CN=9014", "CN=2011"),
            (
                with_qn,
                |p: &Packet| answer_9011(p, QnRtn::Ready),
                "CN=9011",
                "QN=20040516010101001;QnRtn=1",
            ),
            (
                without_qn,
                |p: &Packet| answer_9011(p, QnRtn::CrcError),
                "CN=9011",
                "QnRtn=9",
            ),
            (
                with_qn,
                |p: &Packet| answer_9012(p, 100),
                "CN=9012",
                "QN=20040516010101001;ExeRtn=100",
            ),
        ];
        for (req, answer, cn, cp) in cases {
            let req = request(&text(encode_frame(req)));
            let want = format!("ST=91;{cn};PW=123456;MN=88888880000001;Flag=0;CP=&&{cp}&&");
            assert_eq!(text(answer(&req)), text(encode_frame(&want)));
        }
    }

    #[test]
    fn builder_round_trip_through_the_decoder() {
        let builder = PacketBuilder {
            qn: Some("20160801085000001".into()),
            st: "32".into(),
            cn: "2051".into(),
            pw: Some("123456".into()),
            mn: "010000A8900016F000169DC0".into(),
            flag: Some(PacketFlag::from_parts(1, true, true)),
            pnum: Some(2),
            pno: Some(1),
            extra: vec![("Ext".into(), "1".into())],
            cp: "DataTime=20160801080000;w01018-Avg=40.1,w01018-Flag=N;SB1-RS=1;QnRtn=1".into(),
        };
        let frames = split_frames(&builder.encode());
        let packet = parse_packet(frames[0].as_ref().unwrap()).unwrap();
        let again = PacketBuilder::from_packet(&packet);
        assert_eq!(
            PacketBuilder {
                cp: String::new(),
                ..again.clone()
            },
            PacketBuilder {
                cp: String::new(),
                ..builder
            }
        );
        assert_eq!(
            again.cp,
            "DataTime=20160801080000;QnRtn=1;w01018-Avg=40.1,w01018-Flag=N;SB1-RS=1"
        );
        assert_eq!(packet.crc.matched, Some(crate::CrcMode::Hj212));
    }

    #[test]
    fn cp_encoding_keeps_every_sub_field() {
        let p = request(HUPENGWU_2011);
        let again = request(&text(PacketBuilder::from_packet(&p).encode()));
        assert_eq!(again.cp, p.cp);
        let t = crate::parse_hj_time("20160801084000123").unwrap();
        assert_eq!(format_hj_time(&t), "20160801084000123");
    }
}
