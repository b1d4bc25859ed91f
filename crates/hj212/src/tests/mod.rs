//! End-to-end codec tests: every sample packet in hj212.md, every malformed-input class with
//! its reason code, and property tests. Unit tests of single functions sit inline in each file.

mod examples;
mod framing;
mod props;
pub(crate) mod samples;

use crate::{split_frames_with, RawFrame, LENIENT_MAX_DATA_LEN};

/// The single frame in `text` (lenient limit), or a panic naming what was found instead.
pub(crate) fn frame_of(text: &str) -> RawFrame {
    let mut frames = split_frames_with(text.as_bytes(), LENIENT_MAX_DATA_LEN);
    assert_eq!(frames.len(), 1, "{text}");
    frames.pop().unwrap().unwrap()
}

/// Each outcome as `Ok(data segment)` or `Err((code, raw))`, for table comparisons.
pub(crate) type Outcome = Result<String, (&'static str, String)>;

pub(crate) fn outcomes(
    results: impl IntoIterator<Item = Result<RawFrame, crate::FrameError>>,
) -> Vec<Outcome> {
    results
        .into_iter()
        .map(|r| match r {
            Ok(f) => Ok(String::from_utf8_lossy(&f.data).into_owned()),
            Err(e) => Err((e.code(), String::from_utf8_lossy(e.raw()).into_owned())),
        })
        .collect()
}
