//! Pollutant codes as greenmon accepts them: the HJ 212 codes of [`hj212::PollutantCode`] (2017
//! form), plus the friendly aliases of JSON payloads and the registry file (`cod`, `nh3n`, …),
//! which are greenmon's, not the standard's.

use hj212::PollutantCode;

/// The code was neither an HJ 212-2017 code nor an alias.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown pollutant code {0:?} (use an HJ 212-2017 code such as w01018, or cod, nh3n, tp, tn, ph, flow)")]
pub struct PollutantError(pub String);

/// Friendly aliases accepted in JSON payloads and the registry file.
const ALIASES: &[(&str, &str)] = &[
    ("cod", "w01018"),
    ("nh3n", "w21003"),
    ("tp", "w21011"),
    ("tn", "w21001"),
    ("ph", "w01001"),
    ("flow", "w00000"),
];

/// Parses a pollutant code as JSON payloads, the API and the registry file give it: an
/// HJ 212-2017 code (a letter and five digits, e.g. `w01018`, `a21026`, `e12001`; any case) or an
/// alias (`cod`, `nh3n`, `tp`, `tn`, `ph`, `flow`; any case). HJ/T 212-2005 codes are not
/// accepted here (the HJ 212 decoder maps them).
///
/// # Errors
/// [`PollutantError`] for anything else.
pub fn parse_pollutant(code: &str) -> Result<PollutantCode, PollutantError> {
    if let Some((_, c)) = ALIASES.iter().find(|(a, _)| a.eq_ignore_ascii_case(code)) {
        // Table entries are 2017 codes, so this borrows them and cannot fail.
        return PollutantCode::parse_static(c).map_err(|_| PollutantError(code.to_string()));
    }
    PollutantCode::parse(code).map_err(|_| PollutantError(code.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_map_to_2017_codes() {
        for (alias, code) in ALIASES {
            assert_eq!(parse_pollutant(alias).unwrap().as_str(), *code);
            assert_eq!(
                parse_pollutant(&alias.to_uppercase()).unwrap().as_str(),
                *code
            );
        }
    }

    #[test]
    fn alias_codes_are_the_static_ones() {
        // Was `PollutantCode::parse_static("COD")` when the aliases lived on the type.
        assert_eq!(parse_pollutant("COD").unwrap().as_str(), "w01018");
        assert_eq!(
            parse_pollutant("COD").unwrap(),
            PollutantCode::parse_static("w01018").unwrap()
        );
    }

    #[test]
    fn codes() {
        assert_eq!(parse_pollutant("W01018").unwrap().as_str(), "w01018");
        assert!(parse_pollutant("w0101").is_err());
        assert!(parse_pollutant("011").is_err());
        assert!(parse_pollutant("chlorine").is_err());
        assert_eq!(
            parse_pollutant("chlorine").unwrap_err().to_string(),
            "unknown pollutant code \"chlorine\" (use an HJ 212-2017 code such as w01018, or cod, nh3n, tp, tn, ph, flow)"
        );
    }
}
