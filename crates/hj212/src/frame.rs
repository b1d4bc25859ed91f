//! Framing: finds HJ 212 frames (`##` + 4-digit length + data segment + 4 hex CRC + optional
//! CRLF) in a byte stream, by length and not by line.
//!
//! Input: bytes from a TCP stream ([`Deframer`], fed as they arrive) or a complete buffer
//! such as an MQTT payload ([`split_frames`]). Output: [`RawFrame`]s, or [`FrameError`]s that
//! carry the bytes involved so they can be quarantined. A frame is accepted when its declared
//! length ends on CP's closing `&&` followed by 4 hex digits; LF-only, missing terminators and
//! lower-case hex are fine. Whitespace between frames is skipped silently; anything else
//! between frames is reported as garbage. After a bad frame the scanner resynchronises at the
//! next `##`, so a `##` inside garbage or a wrong length costs at most the bytes up to the
//! next real frame. A [`Deframer`] and [`split_frames`] report the same frames and errors for
//! the same bytes, however they are chunked (tested), except that only the latter treats the
//! end of input as final.

use crate::crc::parse_hex4;

/// The largest data segment HJ 212-2017 allows (§6.3, Table 2).
pub const STRICT_MAX_DATA_LEN: usize = 1024;

/// A limit for lenient receivers: real captures carry `##1025` and `##1623` frames.
pub const LENIENT_MAX_DATA_LEN: usize = 4096;

/// Buffered bytes without any `##` beyond which a [`Deframer`] reports them as garbage
/// rather than waiting for more, so a noisy connection cannot grow the buffer unboundedly.
const MAX_PENDING_GARBAGE: usize = 4096;

/// `##` + 4 length digits.
const HEADER_LEN: usize = 6;
/// 4 hex digits.
const CRC_LEN: usize = 4;

/// One frame, as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawFrame {
    /// The whole frame as received, from `##` through the terminator (if any arrived with it).
    pub raw: Vec<u8>,
    /// The data segment: the bytes the CRC covers.
    pub data: Vec<u8>,
    /// The 4 hex digits after the data segment, as received (either case).
    pub crc_hex: String,
    /// The length the header declared, in bytes (equal to `data.len()`).
    pub declared_len: usize,
}

impl RawFrame {
    /// The frame as a borrowed [`FrameRef`].
    pub fn as_frame_ref(&self) -> FrameRef<'_> {
        FrameRef {
            raw: &self.raw,
            data: &self.data,
            crc_hex: self.crc_hex.as_bytes(),
        }
    }
}

/// One frame, borrowed from the bytes it was found in: what [`frames`] yields, so that a
/// complete buffer is decoded without copying each frame's parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameRef<'a> {
    /// The whole frame as received, from `##` through the terminator (if any).
    pub raw: &'a [u8],
    /// The data segment: the bytes the CRC covers (its length is the declared length).
    pub data: &'a [u8],
    /// The 4 hex digits after the data segment, as received (either case).
    pub crc_hex: &'a [u8],
}

impl FrameRef<'_> {
    /// An owned copy.
    pub fn to_raw_frame(&self) -> RawFrame {
        RawFrame {
            raw: self.raw.to_vec(),
            data: self.data.to_vec(),
            // 4 hex digits are ASCII.
            crc_hex: String::from_utf8_lossy(self.crc_hex).into_owned(),
            declared_len: self.data.len(),
        }
    }
}

/// Why some bytes of the input did not form a frame. Each variant keeps the bytes involved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Non-whitespace bytes outside any frame.
    #[error("{} bytes of garbage outside any frame", raw.len())]
    Garbage {
        /// The bytes involved.
        raw: Vec<u8>,
    },
    /// `##` not followed by 4 decimal digits.
    #[error("frame header is not ## followed by 4 digits")]
    BadHeader {
        /// The bytes involved.
        raw: Vec<u8>,
    },
    /// The declared length does not end where a frame can end: the data segment it delimits
    /// does not end with CP's closing `&&`.
    #[error("declared length {declared} does not match the frame")]
    BadLength {
        /// The length in the frame header.
        declared: usize,
        /// The bytes involved.
        raw: Vec<u8>,
    },
    /// The declared length exceeds the receiver's limit.
    #[error("declared length {declared} exceeds the limit of {max}")]
    Oversize {
        /// The length in the frame header.
        declared: usize,
        /// The receiver's limit.
        max: usize,
        /// The bytes involved.
        raw: Vec<u8>,
    },
    /// The input ended inside a frame.
    #[error("input ended inside a frame ({} bytes)", raw.len())]
    Truncated {
        /// The bytes involved.
        raw: Vec<u8>,
    },
    /// The data segment ends in `&&` but the 4 bytes after it are not hex digits.
    #[error("CRC field is not 4 hex digits")]
    BadCrcField {
        /// The bytes involved.
        raw: Vec<u8>,
    },
}

impl FrameError {
    /// A stable reason code for quarantine rows and metric labels.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Garbage { .. } => "garbage",
            Self::BadHeader { .. } => "bad_header",
            Self::BadLength { .. } => "bad_length",
            Self::Oversize { .. } => "oversize",
            Self::Truncated { .. } => "truncated",
            Self::BadCrcField { .. } => "bad_crc_field",
        }
    }

    /// The bytes involved, for quarantine.
    pub fn raw(&self) -> &[u8] {
        match self {
            Self::Garbage { raw }
            | Self::BadHeader { raw }
            | Self::BadLength { raw, .. }
            | Self::Oversize { raw, .. }
            | Self::Truncated { raw }
            | Self::BadCrcField { raw } => raw,
        }
    }
}

/// What the scanner found at the start of a buffer.
enum Step {
    /// Cannot decide until more bytes arrive.
    NeedMore,
    /// This many bytes of whitespace can be dropped.
    Skip(usize),
    /// A frame: its data segment ends at `data_end` (it starts after the 6-byte header, and
    /// the CRC digits follow it), and the frame with its terminator at `end`.
    Frame { data_end: usize, end: usize },
    /// An error, and how many bytes it consumed.
    Error(usize, FrameError),
}

/// The frame a [`Step::Frame`] describes, borrowed from the scanned bytes.
fn frame_at(b: &[u8], data_end: usize, end: usize) -> FrameRef<'_> {
    FrameRef {
        raw: &b[..end],
        data: &b[HEADER_LEN..data_end],
        crc_hex: &b[data_end..data_end + CRC_LEN],
    }
}

/// Position of the first `##` at or after `from`.
fn find_marker(b: &[u8], from: usize) -> Option<usize> {
    b.get(from..)?
        .windows(2)
        .position(|w| w == b"##")
        .map(|p| p + from)
}

/// Where bad bytes starting at 0 end: the next `##` after position 0, or the end of input
/// (at EOF, or when too much is buffered). `None`: wait for more input.
fn resync_point(b: &[u8], eof: bool) -> Option<usize> {
    if let Some(p) = find_marker(b, 1) {
        return Some(p);
    }
    if eof {
        Some(b.len())
    } else if b.len() > MAX_PENDING_GARBAGE {
        // Keep a trailing '#': it may be the first half of the next marker.
        Some(b.len() - usize::from(b.last() == Some(&b'#')))
    } else {
        None
    }
}

/// Reports the bytes up to the resync point as `make(raw)`, or waits for more input.
fn bad(b: &[u8], eof: bool, make: impl FnOnce(Vec<u8>) -> FrameError) -> Step {
    match resync_point(b, eof) {
        Some(n) => Step::Error(n, make(b[..n].to_vec())),
        None => Step::NeedMore,
    }
}

/// Scans the start of `b`. `eof`: no more bytes will follow.
fn scan(b: &[u8], max_data_len: usize, eof: bool) -> Step {
    let ws = b.iter().take_while(|c| c.is_ascii_whitespace()).count();
    if ws > 0 {
        return Step::Skip(ws);
    }
    if b.is_empty() {
        return Step::NeedMore;
    }
    if !b.starts_with(b"##") {
        if b == b"#" && !eof {
            return Step::NeedMore;
        }
        return bad(b, eof, |raw| FrameError::Garbage { raw });
    }
    let avail = b.len().min(HEADER_LEN);
    if !b[2..avail].iter().all(u8::is_ascii_digit) {
        return bad(b, eof, |raw| FrameError::BadHeader { raw });
    }
    if b.len() < HEADER_LEN {
        return truncated(b, eof);
    }
    let declared = b[2..HEADER_LEN]
        .iter()
        .fold(0usize, |n, d| n * 10 + usize::from(d - b'0'));
    let data_end = HEADER_LEN + declared;
    let crc_end = data_end + CRC_LEN;
    if declared > max_data_len && find_marker(&b[..b.len().min(crc_end)], 1).is_some() {
        // A `##` inside an over-long frame: most likely a corrupted length. Resynchronise
        // there rather than hold up (or swallow) the frames behind it.
        return bad(b, eof, |raw| FrameError::Oversize {
            declared,
            max: max_data_len,
            raw,
        });
    }
    if b.len() < crc_end {
        return truncated(b, eof);
    }
    let crc = &b[data_end..crc_end];
    // Every data segment ends with CP's closing `&&`; checking it (and the CRC digits) catches
    // a wrong length without looking past the frame, which a stream may not have yet.
    let ends_like_data = declared >= 2 && &b[data_end - 2..data_end] == b"&&";
    if !ends_like_data || parse_hex4(crc).is_none() {
        return bad(b, eof, |raw| {
            if declared > max_data_len {
                FrameError::Oversize {
                    declared,
                    max: max_data_len,
                    raw,
                }
            } else if ends_like_data {
                FrameError::BadCrcField { raw }
            } else {
                FrameError::BadLength { declared, raw }
            }
        });
    }
    let rest = &b[crc_end..];
    let term = if rest.starts_with(b"\r\n") {
        2
    } else {
        usize::from(rest.first().is_some_and(|&c| c == b'\n' || c == b'\r'))
    };
    let end = crc_end + term;
    if declared > max_data_len {
        let err = FrameError::Oversize {
            declared,
            max: max_data_len,
            raw: b[..end].to_vec(),
        };
        return Step::Error(end, err);
    }
    Step::Frame { data_end, end }
}

fn truncated(b: &[u8], eof: bool) -> Step {
    if eof {
        bad(b, eof, |raw| FrameError::Truncated { raw })
    } else {
        Step::NeedMore
    }
}

/// An incremental deframer for a byte stream: [`push`](Deframer::push) bytes as they
/// arrive, then call [`next_frame`](Deframer::next_frame) until it returns `None`.
/// Memory stays bounded: at most one maximal frame (≤ 10,012 bytes, the 4-digit length's
/// limit) plus 4 KiB of garbage are buffered.
#[derive(Debug, Clone)]
pub struct Deframer {
    buf: Vec<u8>,
    /// Bytes of `buf` before this have been consumed.
    start: usize,
    max_data_len: usize,
}

impl Default for Deframer {
    /// A strict deframer ([`STRICT_MAX_DATA_LEN`]).
    fn default() -> Self {
        Self::new(STRICT_MAX_DATA_LEN)
    }
}

impl Deframer {
    /// A deframer that reports frames declaring more than `max_data_len` bytes as
    /// [`FrameError::Oversize`] (see [`STRICT_MAX_DATA_LEN`], [`LENIENT_MAX_DATA_LEN`]).
    pub fn new(max_data_len: usize) -> Self {
        Self {
            buf: Vec::new(),
            start: 0,
            max_data_len,
        }
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes received but not yet returned in a frame or error.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The next complete frame or error, or `None` if more bytes are needed.
    pub fn next_frame(&mut self) -> Option<Result<RawFrame, FrameError>> {
        self.step(false)
    }

    /// Ends the stream (connection closed): returns everything still buffered as frames and
    /// errors; an incomplete frame becomes [`FrameError::Truncated`]. The deframer is then empty.
    pub fn finish(&mut self) -> Vec<Result<RawFrame, FrameError>> {
        std::iter::from_fn(|| self.step(true)).collect()
    }

    fn step(&mut self, eof: bool) -> Option<Result<RawFrame, FrameError>> {
        loop {
            match scan(&self.buf[self.start..], self.max_data_len, eof) {
                Step::NeedMore => {
                    if self.start == self.buf.len() {
                        self.buf.clear();
                        self.start = 0;
                    }
                    return None;
                }
                Step::Skip(n) => self.start += n,
                Step::Frame { data_end, end } => {
                    let frame = frame_at(&self.buf[self.start..], data_end, end).to_raw_frame();
                    self.start += end;
                    return Some(Ok(frame));
                }
                Step::Error(n, e) => {
                    self.start += n;
                    return Some(Err(e));
                }
            }
        }
    }
}

/// Splits a complete buffer (an MQTT payload, a file) into frames with the strict length
/// limit. Unlike a [`Deframer`], a frame cut short by the end of input is an error.
pub fn split_frames(input: &[u8]) -> Vec<Result<RawFrame, FrameError>> {
    split_frames_with(input, STRICT_MAX_DATA_LEN)
}

/// [`split_frames`] with a chosen data-segment limit.
pub fn split_frames_with(input: &[u8], max_data_len: usize) -> Vec<Result<RawFrame, FrameError>> {
    frames(input, max_data_len)
        .map(|item| item.map(|f| f.to_raw_frame()))
        .collect()
}

/// The frames and errors of a complete buffer, as [`split_frames_with`] finds them, with each
/// frame borrowed from `input` rather than copied.
pub fn frames(input: &[u8], max_data_len: usize) -> Frames<'_> {
    Frames {
        rest: input,
        max_data_len,
    }
}

/// Iterator returned by [`frames`].
#[derive(Debug, Clone)]
pub struct Frames<'a> {
    rest: &'a [u8],
    max_data_len: usize,
}

impl<'a> Iterator for Frames<'a> {
    type Item = Result<FrameRef<'a>, FrameError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let rest = self.rest;
            match scan(rest, self.max_data_len, true) {
                Step::NeedMore => return None,
                Step::Skip(n) => self.rest = &rest[n..],
                Step::Frame { data_end, end } => {
                    self.rest = &rest[end..];
                    return Some(Ok(frame_at(rest, data_end, end)));
                }
                Step::Error(n, e) => {
                    self.rest = &rest[n..];
                    return Some(Err(e));
                }
            }
        }
    }
}
