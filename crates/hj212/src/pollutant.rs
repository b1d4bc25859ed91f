//! Pollutant (monitoring factor) codes: HJ 212-2017 codes (HJ 524/525, e.g. Table B.1), and the
//! HJ/T 212-2005 three-character water codes mapped to their 2017 equivalents (Table B.1's
//! "原编码" column). Aliases an application accepts on top (`cod`, `nh3n`, …) are not HJ 212
//! codes and are not parsed here.

use std::borrow::Cow;
use std::fmt;

/// A pollutant (monitoring factor) code in HJ 212-2017 form, e.g. `w01018` for COD. Codes
/// from the tables here (and from [`PollutantCode::parse_static`]) are borrowed, so cloning
/// them costs no allocation: decoders clone one per value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize), serde(transparent))]
pub struct PollutantCode(Cow<'static, str>);

/// The text is not an HJ 212 pollutant code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an HJ 212 pollutant code: {0:?}")]
pub struct PollutantCodeError(pub String);

/// HJ/T 212-2005 wastewater codes and their 2017 codes ([STD17] Table B.1, "原编码").
const CODES_2005: &[(&str, &str)] = &[
    ("B01", "w00000"),
    ("001", "w01001"),
    ("002", "w01002"),
    ("003", "w01012"),
    ("010", "w01017"),
    ("011", "w01018"),
    ("015", "w01020"),
    ("020", "w20111"),
    ("022", "w20115"),
    ("023", "w20116"),
    ("024", "w20117"),
    ("026", "w20119"),
    ("027", "w20120"),
    ("028", "w20121"),
    ("029", "w20122"),
    ("030", "w20123"),
    ("060", "w21003"),
    ("065", "w21001"),
    ("070", "w21016"),
    ("072", "w21017"),
    ("080", "w22001"),
    ("101", "w21011"),
    ("110", "w23002"),
];

impl PollutantCode {
    /// Parses a 2017 code: a letter and five digits, e.g. `w01018`, `a21026`, `e12001`
    /// (case-insensitive; stored in lower case).
    ///
    /// # Errors
    /// [`PollutantCodeError`] for anything else.
    pub fn parse(code: &str) -> Result<Self, PollutantCodeError> {
        let b = code.as_bytes();
        if b.len() == 6 && b[0].is_ascii_alphabetic() && b[1..].iter().all(u8::is_ascii_digit) {
            return Ok(Self(Cow::Owned(code.to_ascii_lowercase())));
        }
        Err(PollutantCodeError(code.to_string()))
    }

    /// Parses a 2017 code, or an HJ/T 212-2005 water code (mapped to 2017, e.g. `011` →
    /// `w01018`, `B01` → `w00000`).
    ///
    /// # Errors
    /// [`PollutantCodeError`] when the code is neither.
    pub fn parse_any_version(code: &str) -> Result<Self, PollutantCodeError> {
        if let Some((_, c)) = CODES_2005
            .iter()
            .find(|(old, _)| old.eq_ignore_ascii_case(code))
        {
            return Ok(Self(Cow::Borrowed(c)));
        }
        Self::parse(code)
    }

    /// [`parse`](Self::parse) of a code that lives for the whole program (a table entry): a
    /// code already in 2017 form is borrowed rather than copied.
    ///
    /// # Errors
    /// As [`parse`](Self::parse).
    pub fn parse_static(code: &'static str) -> Result<Self, PollutantCodeError> {
        let parsed = Self::parse(code)?;
        Ok(if parsed.as_str() == code {
            Self(Cow::Borrowed(code))
        } else {
            parsed
        })
    }

    /// The code in 2017 form, e.g. `w01018`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PollutantCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_codes_are_borrowed() {
        let code = PollutantCode::parse_static("w01018").unwrap();
        assert!(matches!(code.0, Cow::Borrowed("w01018")));
        assert_eq!(code, PollutantCode::parse("W01018").unwrap());
        assert!(PollutantCode::parse_static("w0101").is_err());
    }

    #[test]
    fn codes() {
        assert_eq!(PollutantCode::parse("W01018").unwrap().as_str(), "w01018");
        assert!(PollutantCode::parse("w0101").is_err());
        assert!(PollutantCode::parse("011").is_err());
        assert!(PollutantCode::parse("chlorine").is_err());
        assert_eq!(
            PollutantCode::parse_any_version("011").unwrap().as_str(),
            "w01018"
        );
        assert_eq!(
            PollutantCode::parse_any_version("b01").unwrap().as_str(),
            "w00000"
        );
        assert_eq!(
            PollutantCode::parse_any_version("w21003").unwrap().as_str(),
            "w21003"
        );
    }

    #[test]
    fn aliases_are_not_hj212_codes() {
        for alias in ["cod", "nh3n", "tp", "tn", "ph", "flow"] {
            assert!(PollutantCode::parse_any_version(alias).is_err(), "{alias}");
        }
    }
}
