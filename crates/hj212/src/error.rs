//! The data segment's error type and the helpers that build it, shared by the header, the CP
//! area and the field scanner. A leaf: it imports nothing of the crate, so every parsing module
//! can use it without importing another parsing module.

/// Why a data segment is not a usable packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// ST, CN or MN is absent.
    #[error("required field {0} is missing")]
    MissingField(&'static str),
    /// A field is malformed, duplicated, or not `key=value`.
    #[error("field {field:?}: {reason}")]
    BadField {
        /// The field (or text) at fault, clipped to 64 bytes.
        field: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// No `CP=&&` in the data segment.
    #[error("no CP=&& in the data segment")]
    MissingCp,
    /// `CP=&&` is not closed by a later `&&`.
    #[error("CP=&& is not closed by &&")]
    UnterminatedCp,
    /// `DataTime` or `-SampleTime` is not a valid 14- or 17-digit time.
    #[error("{field} is not a valid YYYYMMDDhhmmss[zzz] time: {value:?}")]
    BadDataTime {
        /// `DataTime`, or the `-SampleTime` key.
        field: String,
        /// The value as sent (clipped).
        value: String,
    },
    /// A measured value is not a finite decimal number.
    #[error("{key} is not a decimal number: {value:?}")]
    BadValue {
        /// The item's key, e.g. `w01018-Avg`.
        key: String,
        /// The value as sent (clipped).
        value: String,
    },
    /// Non-ASCII text (or invalid UTF-8) where only ASCII is allowed.
    #[error("non-ASCII text in {field}")]
    NonAscii {
        /// Where the text was found.
        field: String,
    },
    /// The header `Flag` is not an integer 0-255.
    #[error("Flag is not an integer 0-255: {0:?}")]
    BadFlag(String),
}

impl PacketError {
    /// A stable reason code for quarantine rows and metric labels.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingField(_) => "missing_field",
            Self::BadField { .. } => "bad_field",
            Self::MissingCp => "missing_cp",
            Self::UnterminatedCp => "unterminated_cp",
            Self::BadDataTime { .. } => "bad_datatime",
            Self::BadValue { .. } => "bad_value",
            Self::NonAscii { .. } => "non_ascii",
            Self::BadFlag(_) => "bad_flag",
        }
    }
}

/// A [`PacketError::BadField`] naming (a clipped copy of) the field.
pub(crate) fn bad(field: &str, reason: &'static str) -> PacketError {
    PacketError::BadField {
        field: clip(field),
        reason,
    }
}

/// Shortens input echoed into an error message (on a char boundary).
pub(crate) fn clip(s: &str) -> String {
    const MAX: usize = 64;
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}
