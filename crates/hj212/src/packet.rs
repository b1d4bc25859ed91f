//! The data segment: header fields (QN, ST, CN, PW, MN, Flag, PNUM, PNO) and the CP area.
//!
//! Input: a [`RawFrame`] from the deframer, or a [`FrameRef`] borrowed from a buffer. Output: a
//! [`PacketRef`] (typed header fields, the parsed [`CpRef`] and the CRC verdict, all text
//! borrowed from the frame: what a receiver reads without copying), the owned [`Packet`] made
//! from it, or a [`PacketError`] with a stable reason code.
//! The header is parsed as a map (field order varies in the wild); unknown keys are kept.
//! A CRC mismatch is not an error here: it is reported in [`Packet::crc`] so the caller can
//! apply its per-device policy, quarantine, and answer 9011 `QnRtn=9`.

use crate::cp::{parse_cp_ref, Cp, CpRef};
use crate::crc::{check_crc_bytes, CrcCheck};
use crate::error::{clip, PacketError};
use crate::frame::{FrameRef, RawFrame};
use crate::header::{Header, PacketFlag};
use crate::scan::fields;

/// One decoded HJ 212 packet.
#[derive(Debug, Clone, PartialEq)]
pub struct Packet {
    /// Request id (`YYYYMMDDhhmmsszzz`); often absent in HJ/T 212-2005 uploads.
    pub qn: Option<String>,
    /// System code, e.g. `32` for wastewater sources; kept as text (`101` is seen in the wild).
    pub st: String,
    /// Command code, e.g. `2051` for minute data.
    pub cn: String,
    /// Access password.
    pub pw: Option<String>,
    /// Device id (24 hex chars in 2017, 14 chars in 2005; not validated here).
    pub mn: String,
    /// Absent in many HJ/T 212-2005 uploads.
    pub flag: Option<PacketFlag>,
    /// Total number of parts of a split upload.
    pub pnum: Option<u32>,
    /// This part's number.
    pub pno: Option<u32>,
    /// The CP data area.
    pub cp: Cp,
    /// Header fields this codec does not know, in order.
    pub extra: Vec<(String, String)>,
    /// The CRC verdict (a mismatch is not a parse error).
    pub crc: CrcCheck,
}

impl Packet {
    /// Whether the sender speaks HJ/T 212-2005: no `Flag`, or version bits 0.
    pub fn is_2005(&self) -> bool {
        self.flag.is_none_or(|f| f.is_2005())
    }

    /// Whether the sender asked for an answer (Flag bit A).
    pub fn ack_required(&self) -> bool {
        self.flag.is_some_and(|f| f.ack_required())
    }
}

/// One decoded HJ 212 packet borrowing its text from the frame: the same content as
/// [`Packet`] without a copy of any field. Receivers read this; [`parse_packet`] copies it.
#[derive(Debug, Clone, PartialEq)]
pub struct PacketRef<'a> {
    /// [`Packet::qn`].
    pub qn: Option<&'a str>,
    /// [`Packet::st`].
    pub st: &'a str,
    /// [`Packet::cn`].
    pub cn: &'a str,
    /// [`Packet::pw`].
    pub pw: Option<&'a str>,
    /// [`Packet::mn`].
    pub mn: &'a str,
    /// [`Packet::flag`].
    pub flag: Option<PacketFlag>,
    /// [`Packet::pnum`].
    pub pnum: Option<u32>,
    /// [`Packet::pno`].
    pub pno: Option<u32>,
    /// [`Packet::cp`].
    pub cp: CpRef<'a>,
    /// [`Packet::extra`].
    pub extra: Vec<(&'a str, &'a str)>,
    /// [`Packet::crc`].
    pub crc: CrcCheck,
    /// The data segment before `CP=&&`: the header fields as sent.
    pub header_text: &'a str,
}

impl PacketRef<'_> {
    /// An owned copy.
    pub fn to_packet(&self) -> Packet {
        Packet {
            qn: self.qn.map(str::to_string),
            st: self.st.to_string(),
            cn: self.cn.to_string(),
            pw: self.pw.map(str::to_string),
            mn: self.mn.to_string(),
            flag: self.flag,
            pnum: self.pnum,
            pno: self.pno,
            cp: self.cp.to_cp(),
            extra: self
                .extra
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect(),
            crc: self.crc,
        }
    }
}

/// Parses a frame's data segment and checks its CRC.
///
/// # Errors
/// A [`PacketError`] when the data segment is not a usable packet. A wrong CRC is *not* an
/// error: see [`Packet::crc`].
pub fn parse_packet(frame: &RawFrame) -> Result<Packet, PacketError> {
    parse_packet_ref(frame.as_frame_ref()).map(|p| p.to_packet())
}

/// [`parse_packet`] without copying: the packet borrows its text from the frame.
///
/// # Errors
/// As [`parse_packet`].
pub fn parse_packet_ref(frame: FrameRef<'_>) -> Result<PacketRef<'_>, PacketError> {
    let crc = check_crc_bytes(frame.data, frame.crc_hex);
    let text = std::str::from_utf8(frame.data).map_err(|_| PacketError::NonAscii {
        field: "data segment (not UTF-8)".into(),
    })?;
    parse_segment(text, crc)
}

fn parse_segment(text: &str, crc: CrcCheck) -> Result<PacketRef<'_>, PacketError> {
    let check_ascii = !text.is_ascii();
    let mut h = Header::default();
    let mut cp_at = None;
    // `;` separates fields; `,` is tolerated because the standard's own C.48 uses it. The
    // header ends at the first field that is `CP=&&…`.
    for f in fields(text) {
        if f.part.starts_with("CP=&&") {
            cp_at = Some(f.start);
            break;
        }
        let (key, value) = f.key_value()?;
        if check_ascii && !f.part.is_ascii() {
            return Err(PacketError::NonAscii { field: clip(key) });
        }
        h.field(f.part, key, value)?;
    }
    let body_start = cp_at.ok_or(PacketError::MissingCp)? + 5;
    // The CP body ends at the last `&&`, which is almost always the segment's end.
    let close = if text.ends_with("&&") {
        Some(text.len() - 2)
    } else {
        text.rfind("&&")
    };
    let close = close
        .filter(|&j| j >= body_start)
        .ok_or(PacketError::UnterminatedCp)?;
    if close + 2 != text.len() {
        return Err(PacketError::BadField {
            field: clip(&text[close + 2..]),
            reason: "text after the closing && of CP",
        });
    }
    let st = h.st.ok_or(PacketError::MissingField("ST"))?;
    let cn = h.cn.ok_or(PacketError::MissingField("CN"))?;
    let mn = h.mn.ok_or(PacketError::MissingField("MN"))?;
    let cp = parse_cp_ref(&text[body_start..close], maps_2005_codes(st), check_ascii)?;
    Ok(PacketRef {
        qn: h.qn,
        st,
        cn,
        pw: h.pw,
        mn,
        flag: h.flag,
        pnum: h.pnum,
        pno: h.pno,
        cp,
        extra: h.extra,
        crc,
        header_text: &text[..body_start - 5],
    })
}

/// Whether 3-character HJ/T 212-2005 codes are read as water codes (HJ 212-2017 Table B.1's
/// "原编码" column). Other systems (flue gas, air) used different 2005 code lists, so their
/// 3-character codes are kept unmapped rather than mapped wrongly.
fn maps_2005_codes(st: &str) -> bool {
    // Surface water, groundwater, seawater, water pollution sources, wastewater process.
    matches!(st, "21" | "24" | "26" | "32" | "33" | "34" | "52")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode_frame;
    use crate::error::bad;
    use crate::frame::split_frames;

    /// Parses a data segment given directly (framing is tested in `frame`).
    fn parse_segment_text(segment: &str) -> Result<Packet, PacketError> {
        let data = segment.as_bytes().to_vec();
        let crc_hex = format!("{:04X}", crate::crc16_hj212(&data));
        let frame = RawFrame {
            raw: Vec::new(),
            declared_len: data.len(),
            data,
            crc_hex,
        };
        parse_packet(&frame)
    }

    #[test]
    fn malformed_segments_give_their_reason_code() {
        let cases: &[(&str, &str)] = &[
            ("QN=1;CN=2011;MN=X;CP=&&&&", "missing_field"),
            ("QN=1;ST=32;MN=X;CP=&&&&", "missing_field"),
            ("QN=1;ST=32;CN=2011;CP=&&&&", "missing_field"),
            ("ST=32;CN=2011;MN=X;Flag=5", "missing_cp"),
            ("ST=32;CN=2011;MN=X;XCP=&&a=1&&", "missing_cp"),
            (
                "ST=32;CN=2011;MN=X;CP=&&DataTime=20160801084000",
                "unterminated_cp",
            ),
            ("ST=32;CN=2011;MN=X;CP=&&&", "unterminated_cp"),
            ("ST=32;CN=2011;MN=X;CP=&&&&;Flag=4", "bad_field"),
            ("ST=32;CN=2011;MN=X;Flag=256;CP=&&&&", "bad_flag"),
            ("ST=32;CN=2011;MN=X;Flag=-1;CP=&&&&", "bad_flag"),
            ("ST=32;CN=2011;MN=X;Flag=A;CP=&&&&", "bad_flag"),
            ("ST=32;CN=2011;MN=X;MN=Y;CP=&&&&", "bad_field"),
            ("ST=32;CN=20x1;MN=X;CP=&&&&", "bad_field"),
            ("ST=;CN=2011;MN=X;CP=&&&&", "bad_field"),
            ("ST=32;CN=2011;MN=;CP=&&&&", "bad_field"),
            ("ST=32;CN=2011;MN=a b;CP=&&&&", "bad_field"),
            ("ST=32;CN=2011;MN=X;PNUM=two;CP=&&&&", "bad_field"),
            ("ST=32;CN=2011;MN=X;PNO=99999999999;CP=&&&&", "bad_field"),
            ("ST=32;CN=2011;MN=X;garbage;CP=&&&&", "bad_field"),
            ("ST=32;CN=2011;MN=X;=1;CP=&&&&", "bad_field"),
            (
                "ST=32;CN=2011;MN=X;CP=&&DataTime=20161301000000&&",
                "bad_datatime",
            ),
            ("ST=32;CN=2011;MN=X;CP=&&w01018-Avg=1.2.3&&", "bad_value"),
            ("ST=32;CN=2011;MN=测试;CP=&&&&", "non_ascii"),
            ("ST=32;CN=2011;MN=X;CP=&&w01018-Rtd=１&&", "non_ascii"),
        ];
        for (segment, code) in cases {
            let err = parse_segment_text(segment).unwrap_err();
            assert_eq!(err.code(), *code, "{segment}: {err}");
        }
    }

    #[test]
    fn invalid_utf8_is_non_ascii() {
        let mut data = b"ST=32;CN=2011;MN=X;CP=&&i13001-Info=".to_vec();
        data.extend_from_slice(&[0xD5, 0xFD, 0xB3, 0xA3]); // "正常" in GBK
        data.extend_from_slice(b"&&");
        let frame = RawFrame {
            raw: Vec::new(),
            declared_len: data.len(),
            data,
            crc_hex: "0000".into(),
        };
        assert_eq!(parse_packet(&frame).unwrap_err().code(), "non_ascii");
    }

    #[test]
    fn tolerated_variations() {
        // Field order, lower-case keys, empty optional fields, unknown keys, `,` separators.
        let p = parse_segment_text(
            "MN=X,flag=7;pno=0001;PNUM=0002;QN=;PW=;ST=32;CN=2011;Vendor=abc;CP=&&&&",
        )
        .unwrap();
        assert_eq!((p.qn, p.pw), (None, None));
        assert_eq!(
            (p.pnum, p.pno, p.flag),
            (Some(2), Some(1), Some(PacketFlag { raw: 7 }))
        );
        assert_eq!(p.extra, vec![("Vendor".to_string(), "abc".to_string())]);
        // `&&` in the header does not end CP: the last `&&` does.
        let p = parse_segment_text("ST=32;CN=2011;PW=a&&b;MN=X;CP=&&RtdInterval=30&&").unwrap();
        assert_eq!(p.pw.as_deref(), Some("a&&b"));
        assert_eq!(p.cp.field("RtdInterval"), Some("30"));
    }

    #[test]
    fn wrong_crc_is_reported_not_rejected() {
        let bytes = encode_frame("ST=32;CN=2011;MN=X;CP=&&&&");
        let mut frame = split_frames(&bytes)[0].clone().unwrap();
        frame.crc_hex = "0000".into();
        let p = parse_packet(&frame).unwrap();
        assert_eq!((p.crc.given, p.crc.matched), (Some(0), None));
        frame.crc_hex = "zzzz".into();
        assert_eq!(parse_packet(&frame).unwrap().crc.given, None);
    }

    #[test]
    fn flag_from_parts_and_error_codes_are_stable() {
        assert_eq!(PacketFlag::from_parts(1, true, true).raw, 7);
        assert_eq!(PacketFlag::from_parts(2, false, true).raw, 9);
        assert_eq!(PacketFlag::from_parts(0, true, true).raw, 3);
        assert_eq!(clip(&"正".repeat(40)).len(), 63 + "…".len());
        let errors = [
            PacketError::MissingField("ST"),
            bad("x", "y"),
            PacketError::MissingCp,
            PacketError::UnterminatedCp,
            PacketError::BadDataTime {
                field: "f".into(),
                value: "v".into(),
            },
            PacketError::BadValue {
                key: "k".into(),
                value: "v".into(),
            },
            PacketError::NonAscii { field: "f".into() },
            PacketError::BadFlag("x".into()),
        ];
        let codes: std::collections::BTreeSet<_> = errors.iter().map(PacketError::code).collect();
        assert_eq!(codes.len(), errors.len());
    }
}
