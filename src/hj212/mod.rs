//! HJ 212-2017 (and HJ/T 212-2005) codec: framing, CRC, data segment, CP area, answers.
//! Pure: bytes in, packets out; no IO and no clock.
//!
//! Data flow, one file each:
//! - [`frame`]: bytes → [`RawFrame`]s ([`Deframer`] for streams, [`split_frames`] for buffers).
//! - [`crc`]: the standard's CRC16 and the MODBUS variants seen in the field → [`CrcCheck`].
//! - [`packet`]: [`RawFrame`] → [`Packet`] (header fields, CRC verdict).
//! - [`cp`]: the CP data area → [`Cp`] with per-pollutant [`CpItem`]s of exact [`Decimal`]s.
//! - [`encode`]: data segments, frames, and the 9011/9012/9014 answers greenmon sends.
//!
//! Errors: [`FrameError`] and [`PacketError`], each with a stable `code()` for quarantine
//! reasons and metric labels. Times are local (`NaiveDateTime`): the caller applies the
//! device's configured zone.

mod codes;
pub mod cp;
pub mod crc;
pub mod decimal;
pub mod encode;
pub mod frame;
mod header;
pub mod inspect;
pub mod packet;
mod scan;

pub use cp::{parse_hj_time, Cp, CpItem};
pub use crc::{check_crc, crc16_hj212, crc16_modbus, CrcCheck, CrcMode, CrcModeError};
pub use decimal::{Decimal, DecimalError};
pub use encode::{
    answer_9011, answer_9012, answer_9014, encode_cp, encode_frame, format_hj_time, PacketBuilder,
    QnRtn,
};
pub use frame::{
    split_frames, split_frames_with, Deframer, FrameError, RawFrame, LENIENT_MAX_DATA_LEN,
    STRICT_MAX_DATA_LEN,
};
pub use packet::{parse_packet, Packet, PacketError, PacketFlag};

#[cfg(test)]
mod tests;
