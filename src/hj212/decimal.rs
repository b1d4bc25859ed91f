//! [`Decimal`]: a measured value kept exactly as the data logger wrote it.
//!
//! HJ 212 values are fixed-point decimals (`N5.2` and the like) and their precision matters
//! (`0.09055002`), so the codec never rounds them through `f64`. The text is validated once
//! and stored inline (no heap allocation: a packet carries dozens of values).

use std::fmt;
use std::num::NonZeroU8;
use std::str::FromStr;

/// The longest value accepted, in bytes. HJ 212's widest type is N14 or so; a Java
/// `Double.toString` such as `-1.2345678901234567E-100` is 24 bytes.
pub const DECIMAL_MAX_LEN: usize = 31;

/// A finite decimal number, kept as its exact text: an optional sign, digits with an optional
/// decimal point (`12`, `12.5`, `.5`, `12.`), and an optional exponent of up to 3 digits
/// (`1.0E-4`). Equality compares the text, so `1.0 != 1.00`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Decimal {
    /// Never zero, which lets `Option<Decimal>` be as small as `Decimal` (32 bytes).
    len: NonZeroU8,
    buf: [u8; DECIMAL_MAX_LEN],
}

/// The text is not a finite decimal number of at most [`DECIMAL_MAX_LEN`] bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a decimal number: {0:?}")]
pub struct DecimalError(pub String);

impl Decimal {
    /// Validates `s` and keeps it verbatim; `None` if it is not a finite decimal number.
    #[inline]
    pub fn parse(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        if b.len() > DECIMAL_MAX_LEN {
            return None;
        }
        // 1..=DECIMAL_MAX_LEN: the conversion fails only for the empty string.
        let len = NonZeroU8::new(b.len() as u8)?;
        let mut d = Self {
            len,
            buf: [0; DECIMAL_MAX_LEN],
        };
        // The common case (digits, at most one point, optional sign) is validated while
        // copying, in one short loop: values are a few bytes and this runs ~25 times a packet.
        let sign = usize::from(matches!(b[0], b'+' | b'-'));
        let mut dots = 0;
        let dst = &mut d.buf[..b.len()];
        for (i, (out, &c)) in dst.iter_mut().zip(b).enumerate() {
            match c {
                b'0'..=b'9' => {}
                b'.' => dots += 1,
                b'+' | b'-' if i == 0 => {}
                _ => return Self::parse_exponent(b, d),
            }
            *out = c;
        }
        (dots <= 1 && b.len() > sign + dots).then_some(d)
    }

    /// The rare forms: an exponent (`1.0E-4`), whose value must also be finite.
    #[cold]
    fn parse_exponent(b: &[u8], mut d: Self) -> Option<Self> {
        let has_exponent = decimal_syntax(b)?;
        d.buf[..b.len()].copy_from_slice(b);
        (!has_exponent || d.to_f64().is_finite()).then_some(d)
    }

    /// The exact text as received.
    pub fn as_str(&self) -> &str {
        // Invariant: `parse` only stores ASCII, so this never falls back.
        std::str::from_utf8(&self.buf[..usize::from(self.len.get())]).unwrap_or_default()
    }

    /// The value as `f64` (for maths; storage should keep [`Decimal::as_str`]).
    pub fn to_f64(&self) -> f64 {
        self.as_str().parse().unwrap_or(f64::NAN)
    }
}

/// Checks `[+-]? (digits [. digits?] | . digits) ([eE] [+-]? 1-3 digits)?`;
/// `Some(has_exponent)` if it matches.
fn decimal_syntax(b: &[u8]) -> Option<bool> {
    let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    let (mut digits, mut dot) = (0, false);
    while i < b.len() {
        match b[i] {
            b'0'..=b'9' => digits += 1,
            b'.' if !dot => dot = true,
            b'e' | b'E' => break,
            _ => return None,
        }
        i += 1;
    }
    if digits == 0 {
        return None;
    }
    if i == b.len() {
        return Some(false);
    }
    let mut j = i + 1;
    if j < b.len() && matches!(b[j], b'+' | b'-') {
        j += 1;
    }
    let exp = &b[j..];
    let ok = (1..=3).contains(&exp.len()) && exp.iter().all(u8::is_ascii_digit);
    ok.then_some(true)
}

impl FromStr for Decimal {
    type Err = DecimalError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s).ok_or_else(|| DecimalError(s.to_string()))
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Decimal({})", self.as_str())
    }
}

impl serde::Serialize for Decimal {
    /// Serialises as the exact text, so no precision is lost.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_decimals_verbatim() {
        let cases: &[(&str, f64)] = &[
            ("0", 0.0),
            ("7.496", 7.496),
            ("0.09055002", 0.09055002),
            ("-1.5", -1.5),
            ("+2", 2.0),
            (".5", 0.5),
            ("5.", 5.0),
            ("194.200", 194.2),
            ("1.0E-4", 1.0e-4),
            ("3e10", 3e10),
            ("1e+308", 1e308),
            ("0000000000000000000000000000001", 1.0),
        ];
        for (text, value) in cases {
            let d = Decimal::parse(text).unwrap_or_else(|| panic!("{text} rejected"));
            assert_eq!(d.as_str(), *text);
            assert_eq!(d.to_string(), *text);
            assert_eq!(d.to_f64(), *value, "{text}");
        }
    }

    #[test]
    fn rejects_non_decimals() {
        for text in [
            "",
            "-",
            "+",
            ".",
            "-.",
            "1..2",
            "1.2.3",
            "abc",
            "NaN",
            "inf",
            "-inf",
            "1e",
            "1e+",
            "1e1000",
            "1e999",
            "e5",
            " 1",
            "1 ",
            "1,5",
            "0x10",
            "１",
            "1_000",
            "00000000000000000000000000000001", // 32 bytes
        ] {
            assert!(Decimal::parse(text).is_none(), "{text:?} accepted");
            assert!(text.parse::<Decimal>().is_err());
        }
    }

    proptest::proptest! {
        /// The copy-and-classify fast path agrees with the full grammar, and keeps the text.
        #[test]
        fn fast_path_agrees_with_the_grammar(text in "[-+0-9.eE]{0,12}") {
            let want = !text.is_empty()
                && decimal_syntax(text.as_bytes()).is_some()
                && text.parse::<f64>().is_ok_and(f64::is_finite);
            let got = Decimal::parse(&text);
            proptest::prop_assert_eq!(got.is_some(), want, "{}", text);
            if let Some(d) = got {
                proptest::prop_assert_eq!(d.as_str(), text.as_str());
                proptest::prop_assert_eq!(d.to_f64(), text.parse::<f64>().unwrap());
            }
        }
    }

    #[test]
    fn equality_is_textual_and_serde_keeps_text() {
        assert_eq!(std::mem::size_of::<Option<Decimal>>(), 32);
        let a = Decimal::parse("1.0").unwrap();
        assert_ne!(a, Decimal::parse("1.00").unwrap());
        assert_eq!(a, "1.0".parse().unwrap());
        assert_eq!(serde_json::to_string(&a).unwrap(), "\"1.0\"");
        assert_eq!(format!("{a:?}"), "Decimal(1.0)");
    }
}
