//! Units of the common wastewater factors, as HJ 212-2017 Table B.1 (citing HJ 525-2009) gives
//! their concentrations (`shared/domain/hj212.md` §10): what a reading's value and a discharge
//! limit of that code are measured in. Codes not listed have no known unit here.

use hj212::PollutantCode;

/// Concentration (or value) unit per HJ 212-2017 code.
const UNITS: &[(&str, &str)] = &[
    ("w00000", "L/s"),           // wastewater flow
    ("w01001", "dimensionless"), // pH
    ("w01002", "degree"),        // colour
    ("w01009", "mg/L"),          // dissolved oxygen
    ("w01010", "°C"),            // water temperature
    ("w01012", "mg/L"),          // suspended solids
    ("w01014", "µS/cm"),         // conductivity
    ("w01017", "mg/L"),          // BOD5
    ("w01018", "mg/L"),          // COD_Cr
    ("w01019", "mg/L"),          // permanganate index
    ("w01020", "mg/L"),          // TOC
    ("w21001", "mg/L"),          // total nitrogen
    ("w21003", "mg/L"),          // ammonia nitrogen
    ("w21011", "mg/L"),          // total phosphorus
    ("w21016", "mg/L"),          // cyanide
    ("w21017", "mg/L"),          // fluoride
    ("w22001", "mg/L"),          // petroleum
    ("w23002", "mg/L"),          // volatile phenol
    ("w20111", "µg/L"),          // mercury
    ("w20115", "µg/L"),          // cadmium
    ("w20116", "mg/L"),          // total chromium
    ("w20117", "µg/L"),          // hexavalent chromium
    ("w20119", "µg/L"),          // arsenic
    ("w20120", "µg/L"),          // lead
    ("w20121", "mg/L"),          // nickel
    ("w20122", "mg/L"),          // copper
    ("w20123", "mg/L"),          // zinc
];

/// The unit of `code`'s values and limits, when Table B.1 gives one we carry.
pub fn unit(code: &PollutantCode) -> Option<&'static str> {
    unit_of(code.as_str())
}

/// [`unit`] of a code as text (as stored in the database).
pub fn unit_of(code: &str) -> Option<&'static str> {
    UNITS
        .iter()
        .find(|(c, _)| c.eq_ignore_ascii_case(code))
        .map(|(_, u)| *u)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::parse_pollutant;

    #[test]
    fn common_factors() {
        for (alias, want) in [
            ("cod", "mg/L"),
            ("nh3n", "mg/L"),
            ("tp", "mg/L"),
            ("tn", "mg/L"),
            ("ph", "dimensionless"),
            ("flow", "L/s"),
        ] {
            assert_eq!(
                unit(&parse_pollutant(alias).unwrap()),
                Some(want),
                "{alias}"
            );
        }
        assert_eq!(unit_of("w20111"), Some("µg/L"));
        assert_eq!(unit_of("a21026"), None);
    }
}
