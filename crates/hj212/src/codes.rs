//! Lookups of the CP area's vocabulary: pollutant codes (HJ 212-2017, and HJ/T 212-2005 water
//! codes mapped through [`PollutantCode::parse_any_version`]) and data flags.
//!
//! Input: a key's factor part or a `-Flag` value. Output: a [`PollutantCode`] and a [`Flag`].
//! The general parsers allocate and scan tables; the common cases are answered
//! from tables built once from those same parsers, so no mapping is duplicated here.

use std::sync::LazyLock;

use crate::flag::Flag;
use crate::pollutant::PollutantCode;

/// [`Flag::parse`] of every one-byte ASCII text, computed once: the codec's hot loop calls it
/// for every item, and `Flag::parse` allocates.
static ONE_BYTE_FLAGS: LazyLock<[Option<Flag>; 128]> =
    LazyLock::new(|| std::array::from_fn(|b| Flag::parse(&char::from(b as u8).to_string())));

/// The data flag a `-Flag` value names, if any.
#[inline]
pub(crate) fn parse_flag(value: &str) -> Option<Flag> {
    match value.as_bytes() {
        [b] => ONE_BYTE_FLAGS.get(usize::from(*b)).copied().flatten(),
        _ => Flag::parse(value),
    }
}

/// Water codes of HJ 212-2017 Table B.1 (and `w01003`), parsed once: [`PollutantCode::parse`]
/// allocates, and every packet repeats a few of these codes. The codes
/// are borrowed from this table, so a clone of one allocates nothing.
static COMMON_CODES: LazyLock<Vec<(u64, PollutantCode)>> = LazyLock::new(|| {
    [
        "w00000", "w01001", "w01018", "w21003", "w21011", "w21001", "w01012", "w01017", "w01019",
        "w01020", "w01009", "w01010", "w01014", "w01002", "w01003", "w21016", "w21017", "w22001",
        "w23002", "w20111", "w20115", "w20116", "w20117", "w20119", "w20120", "w20121", "w20122",
        "w20123",
    ]
    .into_iter()
    .filter_map(|c| {
        Some((
            code_key(c.as_bytes().first_chunk()?),
            PollutantCode::parse_static(c).ok()?,
        ))
    })
    .collect()
});

/// A 6-byte code as one integer: compared in one instruction.
#[inline]
fn code_key(code: &[u8; 6]) -> u64 {
    let mut word = [0; 8];
    word[..6].copy_from_slice(code);
    u64::from_le_bytes(word)
}

/// The pollutant code for a key's factor part, or `None` for anything else (vendor codes,
/// `SBxxx` facilities). `water_2005`: also map 3-character HJ/T 212-2005 water codes.
pub(crate) fn factor_code(factor: &str, water_2005: bool) -> Option<PollutantCode> {
    let b = factor.as_bytes();
    let modern =
        b.len() == 6 && b[0].is_ascii_alphabetic() && b[1..].iter().all(u8::is_ascii_digit);
    // The 2005 table's codes all contain a digit; the friendly aliases applications accept
    // (`cod`, `ph`) contain none, so they are never mistaken for HJ 212 codes.
    let legacy = water_2005
        && b.len() == 3
        && b.iter().all(u8::is_ascii_alphanumeric)
        && b.iter().any(u8::is_ascii_digit);
    if modern {
        let key = b.first_chunk().map(code_key);
        let cached = key.and_then(|k| COMMON_CODES.iter().find(|(c, _)| *c == k));
        // A 6-character code is never a 2005 code, so `parse` is `parse_any_version` here.
        cached.map_or_else(
            || PollutantCode::parse(factor).ok(),
            |(_, code)| Some(code.clone()),
        )
    } else if legacy {
        PollutantCode::parse_any_version(factor).ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factor_codes() {
        let cases: &[(&str, bool, Option<&str>)] = &[
            ("w01018", false, Some("w01018")),
            ("W01018", false, Some("w01018")),
            ("w01003", false, Some("w01003")),
            ("a34004", false, Some("a34004")),
            ("011", true, Some("w01018")),
            ("B01", true, Some("w00000")),
            ("011", false, None),
            ("831", true, None),
            ("cod", true, None),
            ("ph", true, None),
            ("SB1", true, None),
            ("pms_rules", true, None),
            ("LA", true, None),
            ("w0101", true, None),
        ];
        for (factor, water, want) in cases {
            let got = factor_code(factor, *water);
            assert_eq!(got.as_ref().map(|c| c.as_str()), *want, "{factor}");
        }
    }

    #[test]
    fn flags_match_the_general_parser() {
        for text in [
            "N", "n", "F", "M", "S", "D", "C", "T", "B", "P", "0", "X", "", "NN", "正",
        ] {
            assert_eq!(parse_flag(text), Flag::parse(text), "{text}");
        }
    }
}
