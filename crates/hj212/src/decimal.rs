//! [`Decimal`]: a measured value kept exactly as the data logger wrote it.
//!
//! HJ 212 values are fixed-point decimals (`N5.2` and the like) and their precision matters
//! (`0.09055002`), so the codec never rounds them through `f64`. The text is validated once
//! and stored inline (no heap allocation: a packet carries dozens of values), or borrowed from
//! the packet ([`DecimalRef`]).

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
        DecimalRef::parse(s).map(DecimalRef::to_decimal)
    }

    /// The exact text as received.
    pub fn as_str(&self) -> &str {
        // Invariant: `parse` only stores ASCII, so this never falls back.
        std::str::from_utf8(&self.buf[..usize::from(self.len.get())]).unwrap_or_default()
    }

    /// The value as `f64` (for maths; storage should keep [`Decimal::as_str`]): the nearest
    /// `f64`, exactly as `str::parse` rounds it.
    #[inline]
    pub fn to_f64(&self) -> f64 {
        to_f64(self.as_str())
    }
}

/// A [`Decimal`] borrowed from the text it was found in: validated by the same rules, without
/// the copy. What the codec's borrowed packets ([`CpItemRef`](crate::CpItemRef)) hold.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct DecimalRef<'a> {
    text: &'a str,
}

impl<'a> DecimalRef<'a> {
    /// Validates `s` as [`Decimal::parse`] does; `None` if it is not a finite decimal number.
    #[inline]
    pub fn parse(s: &'a str) -> Option<Self> {
        let b = s.as_bytes();
        if b.is_empty() || b.len() > DECIMAL_MAX_LEN {
            return None;
        }
        // The common case (digits, at most one point, optional sign) is checked in one short
        // loop: values are a few bytes and this runs ~25 times a packet.
        let sign = usize::from(matches!(b[0], b'+' | b'-'));
        let mut dots = 0;
        for &c in &b[sign..] {
            match c {
                b'0'..=b'9' => {}
                b'.' => dots += 1,
                _ => return Self::parse_exponent(s),
            }
        }
        (dots <= 1 && b.len() > sign + dots).then_some(Self { text: s })
    }

    /// The rare forms: an exponent (`1.0E-4`), whose value must also be finite.
    #[cold]
    fn parse_exponent(s: &'a str) -> Option<Self> {
        let has_exponent = decimal_syntax(s.as_bytes())?;
        (!has_exponent || to_f64(s).is_finite()).then_some(Self { text: s })
    }

    /// The exact text as received.
    pub fn as_str(&self) -> &'a str {
        self.text
    }

    /// The value as `f64`, as [`Decimal::to_f64`].
    #[inline]
    pub fn to_f64(&self) -> f64 {
        to_f64(self.text)
    }

    /// An owned copy.
    #[inline]
    pub fn to_decimal(self) -> Decimal {
        let b = self.text.as_bytes();
        let mut buf = [0; DECIMAL_MAX_LEN];
        buf[..b.len()].copy_from_slice(b);
        Decimal {
            // `parse` admits 1..=DECIMAL_MAX_LEN bytes, so neither fallback is taken.
            len: NonZeroU8::new(b.len() as u8).unwrap_or(NonZeroU8::MIN),
            buf,
        }
    }
}

impl fmt::Debug for DecimalRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DecimalRef({})", self.text)
    }
}

/// The nearest `f64` to a validated decimal, exactly as `str::parse` rounds it.
#[inline]
fn to_f64(text: &str) -> f64 {
    exact_f64(text.as_bytes()).unwrap_or_else(|| text.parse().unwrap_or(f64::NAN))
}

/// Clinger's fast path, for the usual values (no exponent, fewer than 2^53 as an integer when
/// the point is dropped, at most 22 digits after it): the integer and the power of ten are
/// both exact `f64`s, so one IEEE division rounds the exact quotient correctly, which is what
/// `str::parse` returns too. `None` for the other forms.
#[inline]
fn exact_f64(b: &[u8]) -> Option<f64> {
    let (negative, digits) = match b {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, b),
    };
    let (mut mantissa, mut decimals, mut point) = (0u64, 0usize, false);
    for &c in digits {
        match c {
            b'0'..=b'9' => {
                mantissa = mantissa * 10 + u64::from(c - b'0');
                decimals += usize::from(point);
                if mantissa >= 1 << 53 {
                    return None;
                }
            }
            b'.' => point = true,
            _ => return None,
        }
    }
    let value = mantissa as f64 / *EXACT_POWERS_OF_TEN.get(decimals)?;
    Some(if negative { -value } else { value })
}

/// 10^0 ..= 10^22: the powers of ten an `f64` holds exactly.
const EXACT_POWERS_OF_TEN: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

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

#[cfg(feature = "serde")]
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

    proptest::proptest! {
        /// The fast `f64` conversion rounds exactly as `str::parse` does, sign of zero included.
        #[test]
        fn to_f64_equals_str_parse(text in "[-+]?[0-9]{0,20}(\\.[0-9]{0,24})?") {
            if let Some(d) = Decimal::parse(&text) {
                let want: f64 = text.parse().unwrap();
                proptest::prop_assert_eq!(d.to_f64().to_bits(), want.to_bits(), "{}", text);
            }
        }
    }

    #[test]
    fn to_f64_edges() {
        for text in [
            "-0",
            "-0.0",
            "+0",
            "0.1",
            "0.3",
            "9007199254740991",
            "9007199254740992",
            "9007199254740993",
            "1.0000000000000000000001",
            "0.0000000000000000000001",
            "0.00000000000000000000001",
            "123456789012345678901234567890",
            "1.5e3",
            "-2E-2",
        ] {
            let want: f64 = text.parse().unwrap();
            assert_eq!(
                Decimal::parse(text).unwrap().to_f64().to_bits(),
                want.to_bits(),
                "{text}"
            );
        }
    }

    #[test]
    fn equality_is_textual_and_serde_keeps_text() {
        assert_eq!(std::mem::size_of::<Option<Decimal>>(), 32);
        let a = Decimal::parse("1.0").unwrap();
        assert_ne!(a, Decimal::parse("1.00").unwrap());
        assert_eq!(a, "1.0".parse().unwrap());
        #[cfg(feature = "serde")]
        assert_eq!(serde_json::to_string(&a).unwrap(), "\"1.0\"");
        assert_eq!(format!("{a:?}"), "Decimal(1.0)");
    }
}
