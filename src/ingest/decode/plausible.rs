//! Plausibility of decoded data: every value inside its pollutant's range, every time inside the
//! span greenmon stores. Pure. A message (or HJ 212 packet) that fails is quarantined whole, as
//! for any other decode error, so one absurd value never reaches the rollups or the alerts.

use chrono::{DateTime, Utc};

use super::{DecodeError, Decoded, Hj212Item};
use crate::domain::limits::{time_in_span, ValueLimits};
use crate::domain::{PollutantCode, Reading};

/// Checks what `decoded` holds; an HJ 212 payload is checked packet by packet.
///
/// # Errors
/// The first implausible value or time of a readings message.
pub fn check(limits: &ValueLimits, decoded: Decoded) -> Result<Decoded, DecodeError> {
    match decoded {
        Decoded::Readings {
            park,
            point,
            readings,
        } => {
            check_readings(limits, &readings)?;
            Ok(Decoded::Readings {
                park,
                point,
                readings,
            })
        }
        Decoded::Hj212 { park, mut packets } => {
            for p in &mut packets {
                if let Ok(Hj212Item::Upload(upload)) = &p.result {
                    let bad = upload.values.iter().find_map(|v| {
                        check_one(limits, &v.pollutant, v.time, v.value, v.min, v.max, v.cou).err()
                    });
                    if let Some(e) = bad {
                        p.result = Err(e);
                    }
                }
            }
            Ok(Decoded::Hj212 { park, packets })
        }
        energy @ Decoded::Energy(_) => Ok(energy),
    }
}

/// Checks readings (of one message: a JSON payload, a CSV line of the history import).
///
/// # Errors
/// The first implausible value or time.
pub fn check_readings(limits: &ValueLimits, readings: &[Reading]) -> Result<(), DecodeError> {
    readings
        .iter()
        .try_for_each(|r| check_one(limits, &r.pollutant, r.time, r.value, r.min, r.max, r.cou))
}

fn check_one(
    limits: &ValueLimits,
    pollutant: &PollutantCode,
    time: DateTime<Utc>,
    value: f64,
    min: Option<f64>,
    max: Option<f64>,
    cou: Option<f64>,
) -> Result<(), DecodeError> {
    if !time_in_span(time) {
        return Err(DecodeError::TimeOutOfRange(time.to_rfc3339()));
    }
    limits
        .check(pollutant, value, min, max, cou)
        .map_err(|e| DecodeError::ValueOutOfRange(e.to_string()))
}
