//! HJ 212 data flags (HJ 212-2017 Table 8, plus `P` from HJ/T 212-2005).

use std::fmt;

/// The instrument state a value was taken in (the `-Flag` of a CP item). Only [`Flag::Normal`]
/// counts as valid monitoring data; `Flag::OverRange` is a real measurement at or above the
/// range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flag {
    /// `N`: normal.
    Normal,
    /// `F`: instrument stopped (2017; in 2005, the source stopped).
    Stopped,
    /// `M`: maintenance.
    Maintenance,
    /// `S`: manually entered set value.
    Manual,
    /// `D`: instrument fault.
    Fault,
    /// `C`: calibration.
    Calibration,
    /// `T`: above the measurement range.
    OverRange,
    /// `B`: communication failure between instrument and data logger.
    CommFailure,
    /// `P`: power failure (HJ/T 212-2005).
    PowerFailure,
}

impl Flag {
    /// Parses the one-letter code (case-insensitive).
    pub fn parse(code: &str) -> Option<Self> {
        let flag = match code.to_ascii_uppercase().as_str() {
            "N" => Self::Normal,
            "F" => Self::Stopped,
            "M" => Self::Maintenance,
            "S" => Self::Manual,
            "D" => Self::Fault,
            "C" => Self::Calibration,
            "T" => Self::OverRange,
            "B" => Self::CommFailure,
            "P" => Self::PowerFailure,
            _ => return None,
        };
        Some(flag)
    }

    /// The one-letter code, e.g. `N`.
    pub fn code(self) -> &'static str {
        match self {
            Self::Normal => "N",
            Self::Stopped => "F",
            Self::Maintenance => "M",
            Self::Manual => "S",
            Self::Fault => "D",
            Self::Calibration => "C",
            Self::OverRange => "T",
            Self::CommFailure => "B",
            Self::PowerFailure => "P",
        }
    }

    /// Whether the value counts as valid monitoring data (flag `N` only).
    pub fn is_valid(self) -> bool {
        self == Self::Normal
    }
}

impl fmt::Display for Flag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_every_flag() {
        for c in ["N", "F", "M", "S", "D", "C", "T", "B", "P"] {
            let f = Flag::parse(c).unwrap();
            assert_eq!(f.code(), c);
            assert_eq!(f.is_valid(), c == "N");
        }
        assert_eq!(Flag::parse("n"), Some(Flag::Normal));
        assert_eq!(Flag::parse("X"), None);
        assert_eq!(Flag::parse("NN"), None);
    }
}
