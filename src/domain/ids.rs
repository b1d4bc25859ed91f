//! Identifiers: park and point slugs, and the HJ 212 device id (MN).

use std::fmt;

/// An identifier did not have the expected form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{kind} id {value:?} must be 1-64 characters of a-z, 0-9, '-' or '_', starting with a letter or digit")]
    Slug { kind: &'static str, value: String },
    #[error("MN {0:?} must be 1-24 characters of A-Z, a-z or 0-9")]
    Mn(String),
}

fn is_slug(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.len() <= 64
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

macro_rules! slug_id {
    ($name:ident, $kind:literal, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Parses a slug.
            ///
            /// # Errors
            /// [`IdError::Slug`] when the value is not a slug.
            pub fn parse(value: &str) -> Result<Self, IdError> {
                if is_slug(value) {
                    Ok(Self(value.to_string()))
                } else {
                    Err(IdError::Slug {
                        kind: $kind,
                        value: value.to_string(),
                    })
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

slug_id!(ParkId, "park", "A park's id, e.g. `sjz-hitech`.");
slug_id!(
    PointId,
    "point",
    "A monitoring point's id, unique across parks."
);

/// An HJ 212 device id: 24 hex characters in HJ 212-2017, 14 in HJ/T 212-2005; field devices
/// use other lengths too, so any short alphanumeric string is accepted.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Mn(String);

impl Mn {
    /// # Errors
    /// [`IdError::Mn`] when the value is empty, too long or not alphanumeric.
    pub fn parse(value: &str) -> Result<Self, IdError> {
        if !value.is_empty()
            && value.len() <= 24
            && value.chars().all(|c| c.is_ascii_alphanumeric())
        {
            Ok(Self(value.to_string()))
        } else {
            Err(IdError::Mn(value.to_string()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert!(ParkId::parse("sjz-hitech").is_ok());
        assert!(PointId::parse("p_01").is_ok());
        for bad in ["", "-x", "Upper", "a b", "a/b", "a+", &"x".repeat(65)] {
            assert!(ParkId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn mn() {
        assert!(Mn::parse("010000A8900016F000169DC0").is_ok());
        assert!(Mn::parse("88888880000001").is_ok());
        assert!(Mn::parse("").is_err());
        assert!(Mn::parse("0100;00").is_err());
    }
}
