//! Header fields of the data segment (QN, ST, CN, PW, MN, Flag, PNUM, PNO), parsed as a map:
//! field order varies in the wild, duplicates are errors, unknown keys are kept in order.
//!
//! Input: one `key=value` part at a time, from the packet parser (`packet.rs`). Output: a
//! [`Header`] with validated values borrowed from the data segment, or a [`PacketError`]. Also
//! the header's [`PacketFlag`] bit field, which `packet` and `encode` use.

use crate::error::{bad, clip, PacketError};

/// The header's `Flag` bit field: `V5 V4 V3 V2 V1 V0 D A` (MSB→LSB), kept raw so unknown
/// version bits (HJ 212-2025's `Flag=8`/`9`) survive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PacketFlag {
    /// The integer as sent.
    pub raw: u8,
}

impl PacketFlag {
    /// Builds a flag from a protocol version (0 = 2005, 1 = 2017, 2 = 2025) and the D and A bits.
    pub fn from_parts(version_bits: u8, split: bool, ack_required: bool) -> Self {
        Self {
            raw: (version_bits << 2) | (u8::from(split) << 1) | u8::from(ack_required),
        }
    }

    /// `V5..V0`: 0 for HJ/T 212-2005, 1 for HJ 212-2017, 2 for HJ 212-2025.
    pub fn version_bits(self) -> u8 {
        self.raw >> 2
    }

    /// Version bits `000001`: HJ 212-2017.
    pub fn is_2017(self) -> bool {
        self.version_bits() == 1
    }

    /// Version bits `000000`: HJ/T 212-2005 (which defined only D and A).
    pub fn is_2005(self) -> bool {
        self.version_bits() == 0
    }

    /// Bit A: the sender expects an answer.
    pub fn ack_required(self) -> bool {
        self.raw & 1 == 1
    }

    /// Bit D: the packet is one part of a split upload and carries PNUM/PNO.
    pub fn split(self) -> bool {
        self.raw & 2 == 2
    }
}

/// The longest QN, PW or MN accepted (2017: 17, 6 and 24 characters).
const MAX_ID_LEN: usize = 64;

/// The header fields seen so far.
#[derive(Default)]
pub(crate) struct Header<'a> {
    pub(crate) qn: Option<&'a str>,
    pub(crate) st: Option<&'a str>,
    pub(crate) cn: Option<&'a str>,
    pub(crate) pw: Option<&'a str>,
    pub(crate) mn: Option<&'a str>,
    pub(crate) flag: Option<PacketFlag>,
    pub(crate) pnum: Option<u32>,
    pub(crate) pno: Option<u32>,
    pub(crate) extra: Vec<(&'a str, &'a str)>,
}

impl<'a> Header<'a> {
    /// Stores one header field; `part` is the whole `key=value` text (for errors).
    pub(crate) fn field(
        &mut self,
        part: &str,
        key: &'a str,
        value: &'a str,
    ) -> Result<(), PacketError> {
        // Field names are case-sensitive in the standard; devices are not always careful.
        // The exact spelling is tried first: it is the usual case and the cheaper test.
        let exact = ["QN", "ST", "CN", "PW", "MN", "Flag", "PNUM", "PNO"].contains(&key);
        let is = |name: &str| key == name || (!exact && key.eq_ignore_ascii_case(name));
        if is("QN") {
            set(
                &mut self.qn,
                key,
                optional(value).map(|v| id(key, v)).transpose()?,
            )
        } else if is("ST") {
            set(
                &mut self.st,
                key,
                Some(code(key, value, u8::is_ascii_alphanumeric)?),
            )
        } else if is("CN") {
            set(
                &mut self.cn,
                key,
                Some(code(key, value, u8::is_ascii_digit)?),
            )
        } else if is("PW") {
            set(
                &mut self.pw,
                key,
                optional(value).map(|v| id(key, v)).transpose()?,
            )
        } else if is("MN") {
            set(&mut self.mn, key, Some(id(key, value)?))
        } else if is("Flag") {
            let flag = optional(value)
                .map(|v| v.parse().map_err(|_| PacketError::BadFlag(clip(v))))
                .transpose()?;
            set(&mut self.flag, key, flag.map(|raw| PacketFlag { raw }))
        } else if is("PNUM") {
            set(
                &mut self.pnum,
                key,
                optional(value).map(|v| num(key, v)).transpose()?,
            )
        } else if is("PNO") {
            set(
                &mut self.pno,
                key,
                optional(value).map(|v| num(key, v)).transpose()?,
            )
        } else if key.is_empty() {
            Err(bad(part, "empty field name"))
        } else {
            self.extra.push((key, value));
            Ok(())
        }
    }
}

/// An empty optional field counts as absent.
fn optional(value: &str) -> Option<&str> {
    (!value.is_empty()).then_some(value)
}

fn set<T>(slot: &mut Option<T>, key: &str, value: Option<T>) -> Result<(), PacketError> {
    if slot.is_some() {
        return Err(bad(key, "duplicate field"));
    }
    *slot = value;
    Ok(())
}

/// QN, PW, MN: 1-64 printable ASCII characters.
fn id<'a>(key: &str, value: &'a str) -> Result<&'a str, PacketError> {
    let ok = (1..=MAX_ID_LEN).contains(&value.len()) && value.bytes().all(|c| c.is_ascii_graphic());
    if !ok {
        return Err(bad(key, "not 1-64 printable ASCII characters"));
    }
    Ok(value)
}

/// ST, CN: 1-8 characters of one class.
fn code<'a>(key: &str, value: &'a str, class: fn(&u8) -> bool) -> Result<&'a str, PacketError> {
    if !(1..=8).contains(&value.len()) || !value.bytes().all(|c| class(&c)) {
        return Err(bad(key, "not a 1-8 character code"));
    }
    Ok(value)
}

fn num(key: &str, value: &str) -> Result<u32, PacketError> {
    if !value.bytes().all(|c| c.is_ascii_digit()) {
        return Err(bad(key, "not a decimal integer"));
    }
    value.parse().map_err(|_| bad(key, "not a decimal integer"))
}
