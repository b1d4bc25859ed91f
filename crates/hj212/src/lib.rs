#![doc = include_str!("../README.md")]
//!
//! # Modules
//!
//! Pure: bytes in, packets out; no IO and no clock. Data flow, one file each:
//! - [`frame`]: bytes → [`RawFrame`]s ([`Deframer`] for streams, [`split_frames`] for buffers)
//!   or [`FrameRef`]s borrowed from a buffer ([`frames`]).
//! - [`crc`]: the standard's CRC16 and the MODBUS variants seen in the field → [`CrcCheck`].
//! - [`packet`]: [`FrameRef`] → [`PacketRef`] (header fields, CRC verdict, text borrowed from
//!   the frame) → [`Packet`] (owned).
//! - [`cp`]: the CP data area → [`CpRef`]/[`Cp`] with per-pollutant items of exact
//!   [`Decimal`]s, [`PollutantCode`]s and data [`Flag`]s.
//! - [`encode`]: data segments, frames, and the 9011/9012/9014 answers.
//! - [`request`]: the exchanges a platform starts (history requests CN 2051/2061/2031 with
//!   `BeginTime`/`EndTime`, clock requests CN 1011/1012) and the logger's replies
//!   ([`LoggerReply`]: 9011 `QnRtn`, 9012 `ExeRtn`, 1011 `SystemTime`).
//!
//! Errors: [`FrameError`] and [`PacketError`], each with a stable `code()` for quarantine
//! reasons and metric labels. Times are local (`NaiveDateTime`): the caller applies the
//! device's configured zone.
//!
//! Every module, in dependency order: each imports only modules listed before it, so no two
//! import each other: `error` (the [`PacketError`] leaf), `flag`, `pollutant`, `decimal`, `crc`,
//! `frame`, `scan` (the field scanner), `header` (header fields and [`PacketFlag`]), `codes`
//! (cached code and flag lookups), `cp`, `packet`, `encode`, `request`.
//!
//! Features: `serde` adds `Serialize` to [`PollutantCode`] and [`Decimal`] (as their text) and
//! `Serialize`/`Deserialize` to [`CrcMode`] (snake_case names).
#![warn(missing_docs)]

mod codes;
pub mod cp;
pub mod crc;
pub mod decimal;
pub mod encode;
mod error;
mod flag;
pub mod frame;
mod header;
pub mod packet;
mod pollutant;
pub mod request;
mod scan;

pub use cp::{parse_hj_time, Cp, CpItem, CpItemRef, CpRef};
pub use crc::{check_crc, crc16_hj212, crc16_modbus, CrcCheck, CrcMode, CrcModeError};
pub use decimal::{Decimal, DecimalError, DecimalRef};
pub use encode::{
    answer_9011, answer_9012, answer_9014, encode_cp, encode_frame, format_hj_time, PacketBuilder,
    QnRtn,
};
pub use error::PacketError;
pub use flag::Flag;
pub use frame::{
    frames, split_frames, split_frames_with, Deframer, FrameError, FrameRef, Frames, RawFrame,
    LENIENT_MAX_DATA_LEN, STRICT_MAX_DATA_LEN,
};
pub use header::PacketFlag;
pub use packet::{parse_packet, parse_packet_ref, Packet, PacketRef};
pub use pollutant::{PollutantCode, PollutantCodeError};
pub use request::{peek_cn, LoggerReply, Request, EXE_RTN_NO_DATA, EXE_RTN_OK};

#[cfg(test)]
mod tests;
