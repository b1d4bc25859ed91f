//! The exchanges a platform starts (HJ 212-2017 §6.6.5, Table 9): asking a logger for its
//! history (CN 2051 minute, 2061 hourly, 2031 daily data between `BeginTime` and `EndTime`),
//! reading its clock (CN 1011) and setting it (CN 1012 `SystemTime`); and reading what the
//! logger says back: the request answer (9011 `QnRtn`), the execution result (9012 `ExeRtn`) and
//! the clock it reports (1011 `SystemTime`).
//!
//! Input: the logger's identity and the request's parameters (local times: the caller applies
//! the logger's zone). Output: framed request bytes; for a received [`PacketRef`], a
//! [`LoggerReply`]. A request asks for an answer (`Flag=5`) and carries its QN, which every
//! answer repeats.

use chrono::NaiveDateTime;

use crate::encode::{format_hj_time, PacketBuilder};
use crate::frame::FrameRef;
use crate::header::PacketFlag;
use crate::packet::{parse_packet_ref, PacketRef};

/// What a platform asks of a logger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// The data of `cn` (`2051`, `2061` or `2031`) with `DataTime` from `begin` to `end`,
    /// both included.
    History {
        /// `2051`, `2061` or `2031`.
        cn: String,
        /// `BeginTime`.
        begin: NaiveDateTime,
        /// `EndTime`.
        end: NaiveDateTime,
    },
    /// CN 1011: the logger's clock.
    GetTime,
    /// CN 1012: set the logger's clock to `SystemTime`.
    SetTime(NaiveDateTime),
}

impl Request {
    /// The command code.
    pub fn cn(&self) -> &str {
        match self {
            Self::History { cn, .. } => cn,
            Self::GetTime => "1011",
            Self::SetTime(_) => "1012",
        }
    }

    /// The CP body.
    pub fn cp(&self) -> String {
        match self {
            Self::History { begin, end, .. } => format!(
                "BeginTime={};EndTime={}",
                format_hj_time(begin),
                format_hj_time(end)
            ),
            Self::GetTime => String::new(),
            Self::SetTime(t) => format!("SystemTime={}", format_hj_time(t)),
        }
    }

    /// The framed request to the logger `mn` (system code `st`, password `pw`), asking for an
    /// answer, with request id `qn`.
    pub fn encode(&self, qn: &str, st: &str, pw: Option<&str>, mn: &str) -> Vec<u8> {
        PacketBuilder {
            qn: Some(qn.to_string()),
            st: st.to_string(),
            cn: self.cn().to_string(),
            pw: pw.map(str::to_string),
            mn: mn.to_string(),
            flag: Some(PacketFlag::from_parts(1, false, true)),
            cp: self.cp(),
            ..PacketBuilder::default()
        }
        .encode()
    }

    /// Reads a request a logger received (what a logger, or a simulated one, does).
    pub fn parse(p: &PacketRef<'_>) -> Option<Self> {
        let time = |name: &str| crate::parse_hj_time(p.cp.field(name)?);
        match p.cn {
            "2051" | "2061" | "2031" => Some(Self::History {
                cn: p.cn.to_string(),
                begin: time("BeginTime")?,
                end: time("EndTime")?,
            }),
            "1011" => Some(Self::GetTime),
            "1012" => Some(Self::SetTime(time("SystemTime")?)),
            _ => None,
        }
    }
}

/// `ExeRtn` of a 9012 execution result (HJ 212-2017 Table 6) meaning "no data".
pub const EXE_RTN_NO_DATA: u16 = 100;
/// `ExeRtn` meaning success.
pub const EXE_RTN_OK: u16 = 1;

/// What a logger says back to a platform's request: each repeats the request's QN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoggerReply {
    /// 9011: `QnRtn` (1 ready; 2 rejected; 3-9 what was wrong; 100 unknown).
    Answer {
        /// The request's QN.
        qn: String,
        /// `QnRtn`; `None` when missing or not a number.
        qn_rtn: Option<u16>,
    },
    /// 9012: `ExeRtn` (1 done; 100 no data; 2-6 failures).
    Result {
        /// The request's QN.
        qn: String,
        /// `ExeRtn`; `None` when missing or not a number.
        exe_rtn: Option<u16>,
    },
    /// 1011 upload: the logger's clock (`SystemTime`).
    Time {
        /// The request's QN.
        qn: String,
        /// `SystemTime`, local.
        system_time: NaiveDateTime,
    },
}

impl LoggerReply {
    /// The reply a packet is, if it is one (CN 9011, 9012, or 1011 with `SystemTime`) and
    /// carries a QN (in the header, or in CP as HJ/T 212-2005 loggers put it).
    pub fn parse(p: &PacketRef<'_>) -> Option<Self> {
        let qn = p.qn.or_else(|| p.cp.field("QN"))?.to_string();
        let number = |name: &str| p.cp.field(name).and_then(|v| v.trim().parse().ok());
        match p.cn {
            "9011" => Some(Self::Answer {
                qn,
                qn_rtn: number("QnRtn"),
            }),
            "9012" => Some(Self::Result {
                qn,
                exe_rtn: number("ExeRtn"),
            }),
            "1011" => Some(Self::Time {
                qn,
                system_time: crate::parse_hj_time(p.cp.field("SystemTime")?)?,
            }),
            _ => None,
        }
    }

    /// The QN it answers.
    pub fn qn(&self) -> &str {
        match self {
            Self::Answer { qn, .. } | Self::Result { qn, .. } | Self::Time { qn, .. } => qn,
        }
    }

    /// Whether a packet with this command code may be a reply ([`parse`](Self::parse) says for
    /// sure): a receiver skips the parse for every other packet.
    pub fn may_be(cn: &[u8]) -> bool {
        matches!(cn, b"9011" | b"9012" | b"1011")
    }

    /// The reply a frame carries, with the MN that sent it: the frame's command code is peeked
    /// at first, and only the frames that may be replies are parsed.
    pub fn of_frame(frame: FrameRef<'_>) -> Option<(String, Self)> {
        if !Self::may_be(peek_cn(frame.data)?) {
            return None;
        }
        let p = parse_packet_ref(frame).ok()?;
        Some((p.mn.to_string(), Self::parse(&p)?))
    }
}

/// The command code of a data segment, found without parsing it (`CN=` at the start or after
/// a `;`, before `CP=`): what a receiver checks on every frame before parsing the few that
/// matter.
pub fn peek_cn(data: &[u8]) -> Option<&[u8]> {
    let header_end = find(data, b"CP=").unwrap_or(data.len());
    let header = &data[..header_end];
    let start = if header.starts_with(b"CN=") {
        3
    } else {
        find(header, b";CN=")? + 4
    };
    let rest = &header[start..];
    let end = rest.iter().position(|&b| b == b';').unwrap_or(rest.len());
    Some(&rest[..end])
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{answer_9011, answer_9012, encode_frame, frames, parse_packet_ref, QnRtn};

    fn t(s: &str) -> NaiveDateTime {
        crate::parse_hj_time(s).unwrap()
    }

    fn parsed<T>(bytes: &[u8], f: impl FnOnce(&PacketRef<'_>) -> T) -> T {
        let frame = frames(bytes, 1024).next().unwrap().unwrap();
        f(&parse_packet_ref(frame).unwrap())
    }

    const MN: &str = "010000A8900016F000169DC0";

    #[test]
    fn history_request_as_the_standard_writes_it() {
        let r = Request::History {
            cn: "2061".into(),
            begin: t("20160801000000"),
            end: t("20160801020000"),
        };
        let bytes = r.encode("20160801085857223", "32", Some("123456"), MN);
        let want = encode_frame(
            "QN=20160801085857223;ST=32;CN=2061;PW=123456;MN=010000A8900016F000169DC0;Flag=5;CP=&&BeginTime=20160801000000;EndTime=20160801020000&&",
        );
        assert_eq!(bytes, want);
        // A logger reads it back; and what it answers, the platform reads.
        assert_eq!(parsed(&bytes, Request::parse), Some(r));
        let req = parsed(&bytes, |p| p.to_packet());
        assert_eq!(
            parsed(&answer_9011(&req, QnRtn::Ready), LoggerReply::parse),
            Some(LoggerReply::Answer {
                qn: "20160801085857223".into(),
                qn_rtn: Some(1)
            })
        );
        assert_eq!(
            parsed(&answer_9012(&req, 100), LoggerReply::parse),
            Some(LoggerReply::Result {
                qn: "20160801085857223".into(),
                exe_rtn: Some(EXE_RTN_NO_DATA)
            })
        );
    }

    #[test]
    fn clock_requests_and_answers() {
        let get = Request::GetTime.encode("20160801085857223", "32", None, MN);
        assert_eq!(parsed(&get, Request::parse), Some(Request::GetTime));
        let set = Request::SetTime(t("20160801085900")).encode("1", "32", None, MN);
        let text = String::from_utf8(set.clone()).unwrap();
        assert!(text.contains("CN=1012;MN=") && text.contains("CP=&&SystemTime=20160801085900&&"));
        assert_eq!(
            parsed(&set, Request::parse),
            Some(Request::SetTime(t("20160801085900")))
        );
        let answer = encode_frame(&format!(
            "QN=20160801085857223;ST=32;CN=1011;PW=123456;MN={MN};Flag=4;CP=&&SystemTime=20160801085857&&"
        ));
        assert_eq!(
            parsed(&answer, LoggerReply::parse),
            Some(LoggerReply::Time {
                qn: "20160801085857223".into(),
                system_time: t("20160801085857")
            })
        );
        // 2005 loggers put the QN in CP; a reply without any QN matches nothing.
        let legacy = encode_frame(&format!(
            "ST=91;CN=9011;PW=123456;MN={MN};Flag=0;CP=&&QN=20040516010101001;QnRtn=2&&"
        ));
        assert_eq!(
            parsed(&legacy, LoggerReply::parse).map(|r| r.qn().to_string()),
            Some("20040516010101001".into())
        );
        let no_qn = encode_frame(&format!("ST=91;CN=9012;MN={MN};CP=&&ExeRtn=1&&"));
        assert_eq!(parsed(&no_qn, LoggerReply::parse), None);
    }

    #[test]
    fn peeking_at_the_command_code() {
        let cases: [(&[u8], Option<&[u8]>); 5] = [
            (b"QN=1;ST=91;CN=9011;MN=X;CP=&&QnRtn=1&&", Some(b"9011")),
            (b"CN=2061;MN=X;CP=&&&&", Some(b"2061")),
            (b"QN=1;ST=32;MN=X;CP=&&CN=9011&&", None),
            (b"QN=1;XCN=1;CN=9012", Some(b"9012")),
            (b"", None),
        ];
        for (data, want) in cases {
            assert_eq!(peek_cn(data), want, "{}", String::from_utf8_lossy(data));
        }
        assert!(LoggerReply::may_be(b"9012") && !LoggerReply::may_be(b"2061"));
        let answer = encode_frame(&format!(
            "QN=7;ST=91;CN=9012;MN={MN};Flag=4;CP=&&ExeRtn=1&&"
        ));
        let frame = frames(&answer, 1024).next().unwrap().unwrap();
        assert_eq!(
            LoggerReply::of_frame(frame),
            Some((
                MN.to_string(),
                LoggerReply::Result {
                    qn: "7".into(),
                    exe_rtn: Some(1)
                }
            ))
        );
        let upload = encode_frame(&format!(
            "QN=7;ST=32;CN=2061;MN={MN};CP=&&DataTime=20160801000000&&"
        ));
        assert_eq!(
            LoggerReply::of_frame(frames(&upload, 1024).next().unwrap().unwrap()),
            None
        );
    }
}
