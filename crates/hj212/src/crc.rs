//! CRC16 as HJ 212 defines it (Appendix A of both HJ 212-2017 and HJ/T 212-2005), plus the
//! CRC-16/MODBUS variants that devices in the field send instead.
//!
//! Input: the data segment bytes and the 4 hex digits that followed them. Output: a
//! [`CrcCheck`] verdict saying which algorithm, if any, produced the given value. The caller
//! decides which [`CrcMode`]s a device may use; this module never rejects anything.
//!
//! The standard's algorithm XORs each byte into the register's *high* byte after shifting it
//! down (`crc = (crc >> 8) ^ b`), so only 8 bits of state survive between bytes: the check is
//! effectively 8 bits strong (hj212.md §4). Both algorithms share one 256-entry table.

use std::fmt;
use std::str::FromStr;

/// `TABLE[x]` is `x` run through 8 reflected shifts with the polynomial 0xA001.
const TABLE: [u16; 256] = build_table();

const fn build_table() -> [u16; 256] {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u16;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xA001
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
}

/// `POW[k][x]` = H^(k+1)(x), where H(x) = `TABLE[x] >> 8`: the high byte is the only state
/// carried from one byte to the next, and H is linear over GF(2).
const POW: [[u8; 256]; 8] = {
    let mut pow = [[0u8; 256]; 8];
    let mut x = 0;
    while x < 256 {
        pow[0][x] = (TABLE[x] >> 8) as u8;
        x += 1;
    }
    let mut k = 1;
    while k < 8 {
        let mut x = 0;
        while x < 256 {
            pow[k][x] = pow[0][pow[k - 1][x] as usize];
            x += 1;
        }
        k += 1;
    }
    pow
};

/// The HJ 212 CRC16 of `data` (the data segment only), as the standard's reference C code
/// computes it: `crc = 0xFFFF; for b: crc = (crc >> 8) ^ b; 8 × shift with 0xA001`.
/// Written on the wire as `%04X` (high byte first).
pub fn crc16_hj212(data: &[u8]) -> u16 {
    // Per byte, crc' = T[(crc >> 8) ^ b] = T[crc >> 8] ^ T[b] (T is linear), so the high byte
    // h evolves as h' = H(h) ^ H(b). Over 8 bytes, h' = H⁸(h) ^ H⁸(b0) ^ H⁷(b1) ^ … ^ H(b7):
    // one dependent lookup per 8 bytes instead of 8, which makes this several times faster
    // than the byte loop (the CRC dominates decoding time).
    let Some((&last, body)) = data.split_last() else {
        return 0xFFFF;
    };
    let mut blocks = body.chunks_exact(8);
    let mut h = 0xFFu8;
    for b in &mut blocks {
        let input = POW[7][usize::from(b[0])]
            ^ POW[6][usize::from(b[1])]
            ^ POW[5][usize::from(b[2])]
            ^ POW[4][usize::from(b[3])]
            ^ POW[3][usize::from(b[4])]
            ^ POW[2][usize::from(b[5])]
            ^ POW[1][usize::from(b[6])]
            ^ POW[0][usize::from(b[7])];
        h = POW[7][usize::from(h)] ^ input;
    }
    for &b in blocks.remainder() {
        h = POW[0][usize::from(h ^ b)];
    }
    TABLE[usize::from(h ^ last)]
}

/// `SLICE[k][x]`: the MODBUS register after byte `x` followed by `k` zero bytes (slicing-by-8).
const SLICE: [[u16; 256]; 8] = {
    let mut slice = [[0u16; 256]; 8];
    slice[0] = TABLE;
    let mut k = 1;
    while k < 8 {
        let mut x = 0;
        while x < 256 {
            let prev = slice[k - 1][x];
            slice[k][x] = (prev >> 8) ^ TABLE[(prev & 0xFF) as usize];
            x += 1;
        }
        k += 1;
    }
    slice
};

/// CRC-16/MODBUS of `data` (`crc ^= b` then 8 shifts with 0xA001, initial 0xFFFF): what some
/// data loggers send instead of the HJ 212 CRC.
pub fn crc16_modbus(data: &[u8]) -> u16 {
    let mut blocks = data.chunks_exact(8);
    let mut crc = 0xFFFFu16;
    for b in &mut blocks {
        let lo = usize::from(b[0] ^ crc as u8);
        let hi = usize::from(b[1] ^ (crc >> 8) as u8);
        crc = SLICE[7][lo]
            ^ SLICE[6][hi]
            ^ SLICE[5][usize::from(b[2])]
            ^ SLICE[4][usize::from(b[3])]
            ^ SLICE[3][usize::from(b[4])]
            ^ SLICE[2][usize::from(b[5])]
            ^ SLICE[1][usize::from(b[6])]
            ^ SLICE[0][usize::from(b[7])];
    }
    blocks.remainder().iter().fold(crc, |crc, &b| {
        (crc >> 8) ^ TABLE[usize::from(crc as u8 ^ b)]
    })
}

/// Which algorithm produced a packet's CRC field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
pub enum CrcMode {
    /// The standard's algorithm ([`crc16_hj212`]), written high byte first.
    Hj212,
    /// CRC-16/MODBUS, its value written high byte first.
    Modbus,
    /// CRC-16/MODBUS with its two bytes swapped (low byte first, the Modbus RTU wire order).
    ModbusSwapped,
}

impl CrcMode {
    /// Every mode, in the order [`check_crc`] tries them.
    pub const ALL: [CrcMode; 3] = [CrcMode::Hj212, CrcMode::Modbus, CrcMode::ModbusSwapped];

    /// The configuration spelling: `hj212`, `modbus`, `modbus_swapped`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hj212 => "hj212",
            Self::Modbus => "modbus",
            Self::ModbusSwapped => "modbus_swapped",
        }
    }

    /// The CRC value this mode computes over `data`.
    pub fn compute(self, data: &[u8]) -> u16 {
        match self {
            Self::Hj212 => crc16_hj212(data),
            Self::Modbus => crc16_modbus(data),
            Self::ModbusSwapped => crc16_modbus(data).swap_bytes(),
        }
    }
}

impl fmt::Display for CrcMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that names no [`CrcMode`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown CRC mode {0:?} (expected hj212, modbus or modbus_swapped)")]
pub struct CrcModeError(pub String);

impl FromStr for CrcMode {
    type Err = CrcModeError;

    /// Accepts the configuration spelling case-insensitively, with `-` for `_`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().replace('-', "_").as_str() {
            "hj212" => Ok(Self::Hj212),
            "modbus" => Ok(Self::Modbus),
            "modbus_swapped" => Ok(Self::ModbusSwapped),
            _ => Err(CrcModeError(s.to_string())),
        }
    }
}

/// The verdict on one packet's CRC field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrcCheck {
    /// The value the packet carried; `None` if the field was not exactly 4 hex digits.
    pub given: Option<u16>,
    /// The HJ 212 CRC of the data segment.
    pub computed: u16,
    /// The first mode (in [`CrcMode::ALL`] order) whose value equals `given`, if any.
    pub matched: Option<CrcMode>,
}

impl CrcCheck {
    /// Whether the CRC matched one of the modes this device may use.
    pub fn accepted_by(&self, allowed: &[CrcMode]) -> bool {
        self.matched.is_some_and(|m| allowed.contains(&m))
    }
}

/// Parses exactly 4 hex digits (either case) into a `u16`.
pub(crate) fn parse_hex4(s: &[u8]) -> Option<u16> {
    if s.len() != 4 {
        return None;
    }
    s.iter().try_fold(0u16, |acc, &c| {
        let d = (c as char).to_digit(16)?;
        Some((acc << 4) | d as u16)
    })
}

/// Checks `given_hex` (the 4 hex digits after the data segment, either case) against
/// `data` (the data segment) with every [`CrcMode`], the standard one first.
pub fn check_crc(data: &[u8], given_hex: &str) -> CrcCheck {
    check_crc_bytes(data, given_hex.as_bytes())
}

/// [`check_crc`] with the hex digits as bytes, as a [`FrameRef`](crate::FrameRef) has them.
pub(crate) fn check_crc_bytes(data: &[u8], given_hex: &[u8]) -> CrcCheck {
    let computed = crc16_hj212(data);
    let given = parse_hex4(given_hex);
    let matched = match given {
        None => None,
        Some(g) if g == computed => Some(CrcMode::Hj212),
        Some(g) => {
            // Only packets that fail the standard check pay for the second CRC.
            let modbus = crc16_modbus(data);
            if g == modbus {
                Some(CrcMode::Modbus)
            } else if g == modbus.swap_bytes() {
                Some(CrcMode::ModbusSwapped)
            } else {
                None
            }
        }
    };
    CrcCheck {
        given,
        computed,
        matched,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::samples::*;

    /// (frame without terminator) → the CRC it carries and the mode that produced it.
    #[test]
    fn every_published_vector() {
        let cases: &[(&str, u16, CrcMode)] = &[
            (STD17_1062, 0x1C80, CrcMode::Hj212),
            (HUPENGWU_2011, 0x6E80, CrcMode::Hj212),
            (CHENQI92_FLAG8, 0x7D00, CrcMode::Hj212),
            (ICECOFFEE_2061, 0xC181, CrcMode::Hj212),
            (FLASH520_2051, 0xD641, CrcMode::Hj212),
            (LIBEM_PNO_PNUM, 0x2800, CrcMode::Hj212),
            (ANSWER_9011, 0xCC01, CrcMode::Hj212),
            (DATALOGGER_2081, 0x3AC0, CrcMode::Hj212),
            (ANSWER_9014, 0xF001, CrcMode::Hj212),
            (RXLOG_2005_7700, 0x7700, CrcMode::Hj212),
            (RXLOG_ST101_3300, 0x3300, CrcMode::Hj212),
            (RXLOG_MODBUS_SWAPPED_0868, 0xA6EC, CrcMode::ModbusSwapped),
            (RXLOG_MODBUS_SWAPPED_1025, 0x7865, CrcMode::ModbusSwapped),
        ];
        for (frame, crc, mode) in cases {
            let (data, hex) = frame[6..].split_at(frame.len() - 10);
            assert_eq!(data.len(), frame[2..6].parse::<usize>().unwrap());
            let check = check_crc(data.as_bytes(), hex);
            assert_eq!(check.given, Some(*crc), "{hex}");
            assert_eq!(check.matched, Some(*mode), "{hex}");
            assert_eq!(mode.compute(data.as_bytes()), *crc);
            assert_eq!(check.computed, crc16_hj212(data.as_bytes()));
        }
        assert_eq!(crc16_hj212(TEAFULL_DATA2.as_bytes()), 0x5CC0);
        assert_eq!(crc16_hj212(TEAFULL_DATA3.as_bytes()), 0x5D80);
        // The standard's prose misprints 1C80 as 1C08.
        assert_eq!(
            check_crc(&STD17_1062.as_bytes()[6..107], "1C08").matched,
            None
        );
    }

    /// The algorithms as written in the standard and in Modbus, one bit at a time.
    fn reference(data: &[u8], modbus: bool) -> u16 {
        let mut crc: u16 = 0xFFFF;
        for &b in data {
            crc = if modbus {
                crc ^ u16::from(b)
            } else {
                (crc >> 8) ^ u16::from(b)
            };
            for _ in 0..8 {
                let lsb = crc & 1;
                crc >>= 1;
                if lsb == 1 {
                    crc ^= 0xA001;
                }
            }
        }
        crc
    }

    proptest::proptest! {
        #[test]
        fn table_driven_equals_bit_by_bit(data in proptest::collection::vec(0u8..=255, 0..100)) {
            proptest::prop_assert_eq!(crc16_hj212(&data), reference(&data, false));
            proptest::prop_assert_eq!(crc16_modbus(&data), reference(&data, true));
        }
    }

    #[test]
    fn reference_algorithms_bit_by_bit() {
        for data in [&b""[..], b"1", b"123456789", TEAFULL_DATA3.as_bytes()] {
            assert_eq!(crc16_hj212(data), reference(data, false));
            assert_eq!(crc16_modbus(data), reference(data, true));
        }
        // The CRC-16/MODBUS check value.
        assert_eq!(crc16_modbus(b"123456789"), 0x4B37);
    }

    #[test]
    fn low_byte_of_an_hj212_crc_is_one_of_eight_values() {
        // hj212.md §4: only 256 values exist; low byte ∈ {00,01,40,41,80,81,C0,C1}.
        for x in 0..=255u8 {
            assert!([0x00, 0x01, 0x40, 0x41, 0x80, 0x81, 0xC0, 0xC1]
                .contains(&(crc16_hj212(&[x]) & 0xFF)));
        }
    }

    #[test]
    fn given_field_parsing() {
        let data = b"QN=1;ST=32;CN=2011;MN=X;CP=&&&&";
        let crc = crc16_hj212(data);
        let modbus = crc16_modbus(data);
        let cases: Vec<(String, Option<u16>, Option<CrcMode>)> = vec![
            (format!("{crc:04X}"), Some(crc), Some(CrcMode::Hj212)),
            (format!("{crc:04x}"), Some(crc), Some(CrcMode::Hj212)),
            (format!("{modbus:04X}"), Some(modbus), Some(CrcMode::Modbus)),
            (
                format!("{:04x}", modbus.swap_bytes()),
                Some(modbus.swap_bytes()),
                Some(CrcMode::ModbusSwapped),
            ),
            (format!("{:04X}", crc ^ 0x0100), Some(crc ^ 0x0100), None),
            ("12G4".into(), None, None),
            ("123".into(), None, None),
            ("12345".into(), None, None),
            ("+123".into(), None, None),
            ("".into(), None, None),
        ];
        for (hex, given, matched) in cases {
            let check = check_crc(data, &hex);
            assert_eq!((check.given, check.matched), (given, matched), "{hex}");
            assert_eq!(check.computed, crc);
        }
        let ok = check_crc(data, &format!("{modbus:04X}"));
        assert!(ok.accepted_by(&[CrcMode::Hj212, CrcMode::Modbus]));
        assert!(!ok.accepted_by(&[CrcMode::Hj212]));
    }

    #[test]
    fn mode_names() {
        for mode in CrcMode::ALL {
            #[cfg(feature = "serde")]
            {
                let json = serde_json::to_string(&mode).unwrap();
                assert_eq!(json, format!("\"{}\"", mode.as_str()));
                assert_eq!(serde_json::from_str::<CrcMode>(&json).unwrap(), mode);
            }
            assert_eq!(mode.as_str().parse::<CrcMode>().unwrap(), mode);
            assert_eq!(
                mode.to_string().to_uppercase().parse::<CrcMode>().unwrap(),
                mode
            );
        }
        assert_eq!(
            "modbus-swapped".parse::<CrcMode>().unwrap(),
            CrcMode::ModbusSwapped
        );
        assert_eq!("crc32".parse::<CrcMode>().unwrap_err().0, "crc32");
    }
}
