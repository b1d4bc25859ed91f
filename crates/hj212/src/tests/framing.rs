//! Framing of good, malformed, concatenated and fragmented input.

use super::samples::*;
use super::{outcomes, Outcome};
use crate::{
    encode_frame, split_frames, split_frames_with, Deframer, FrameError, LENIENT_MAX_DATA_LEN,
};

/// The data segment of a sample frame (which has no terminator).
fn data(frame: &str) -> String {
    frame[6..frame.len() - 4].to_string()
}

fn ok(frame: &str) -> Outcome {
    Ok(data(frame))
}

fn err(code: &'static str, raw: &str) -> Outcome {
    Err((code, raw.to_string()))
}

/// Input → what `split_frames` (strict limit) reports, in order.
fn cases() -> Vec<(&'static str, String, Vec<Outcome>)> {
    let f = STD17_1062;
    let d = data(f);
    let half = &f[..50];
    vec![
        ("CRLF", format!("{f}\r\n"), vec![ok(f)]),
        ("LF only", format!("{f}\n"), vec![ok(f)]),
        ("no terminator", f.to_string(), vec![ok(f)]),
        (
            "lower-case CRC",
            ANSWER_9014.to_string(),
            vec![ok(ANSWER_9014)],
        ),
        (
            "concatenated",
            format!("{f}\r\n{f}\r\n{f}"),
            vec![ok(f), ok(f), ok(f)],
        ),
        (
            "concatenated without terminators",
            format!("{f}{ANSWER_9011}"),
            vec![ok(f), ok(ANSWER_9011)],
        ),
        (
            "whitespace around",
            format!(" \r\n\t{f}\r\n\r\n  "),
            vec![ok(f)],
        ),
        ("only whitespace", " \r\n\t ".into(), vec![]),
        ("empty", String::new(), vec![]),
        (
            "garbage before",
            format!("AT+OK\r\n{f}"),
            vec![err("garbage", "AT+OK\r\n"), ok(f)],
        ),
        (
            "garbage between",
            format!("{f}\r\nXX\r\n{f}"),
            vec![ok(f), err("garbage", "XX\r\n"), ok(f)],
        ),
        (
            "garbage after",
            format!("{f}\r\nzz"),
            vec![ok(f), err("garbage", "zz")],
        ),
        ("lone #", "#".into(), vec![err("garbage", "#")]),
        (
            "## inside garbage",
            format!("abc##xyz{f}"),
            vec![err("garbage", "abc"), err("bad_header", "##xyz"), ok(f)],
        ),
        (
            "stray # before a frame",
            format!("#{f}"),
            vec![err("bad_header", "#"), ok(f)],
        ),
        (
            "non-digit length",
            format!("##01a1{}", &f[6..]),
            vec![err("bad_header", &format!("##01a1{}", &f[6..]))],
        ),
        (
            "truncated frame",
            half.to_string(),
            vec![err("truncated", half)],
        ),
        (
            "truncated header",
            "##01".into(),
            vec![err("truncated", "##01")],
        ),
        (
            "truncated CRC",
            f[..f.len() - 2].to_string(),
            vec![err("truncated", &f[..f.len() - 2])],
        ),
        (
            "cut then resent",
            format!("{half}{f}"),
            vec![err("bad_length", half), ok(f)],
        ),
        (
            "length one short",
            format!("##0100{d}1C80\r\n"),
            vec![err("bad_length", &format!("##0100{d}1C80\r\n"))],
        ),
        (
            "length one long",
            format!("##0102{d}1C80\r\n"),
            vec![err("bad_length", &format!("##0102{d}1C80\r\n"))],
        ),
        (
            "CRC not hex",
            format!("##0101{d}1CX0\r\n{f}"),
            vec![err("bad_crc_field", &format!("##0101{d}1CX0\r\n")), ok(f)],
        ),
        (
            "over the strict limit",
            format!("{RXLOG_MODBUS_SWAPPED_1025}\r\n{f}"),
            vec![
                err("oversize", &format!("{RXLOG_MODBUS_SWAPPED_1025}\r\n")),
                ok(f),
            ],
        ),
        (
            "corrupted huge length",
            format!("##9999{d}1C80\r\n{f}"),
            vec![err("oversize", &format!("##9999{d}1C80\r\n")), ok(f)],
        ),
        (
            "zero length",
            "##0000FFFF\r\n".into(),
            vec![err("bad_length", "##0000FFFF\r\n")],
        ),
    ]
}

#[test]
fn split_frames_reports_each_class() {
    for (name, input, want) in cases() {
        assert_eq!(outcomes(split_frames(input.as_bytes())), want, "{name}");
    }
}

#[test]
fn deframer_fed_byte_by_byte_matches_split_frames() {
    for (name, input, want) in cases() {
        let mut deframer = Deframer::default();
        let mut got = Vec::new();
        for b in input.as_bytes() {
            deframer.push(std::slice::from_ref(b));
            got.extend(std::iter::from_fn(|| deframer.next_frame()));
        }
        got.extend(deframer.finish());
        assert_eq!(deframer.pending(), 0, "{name}");
        // A frame split before its LF keeps only the CR in `raw`; data and codes are the same.
        let codes = |o: &[Outcome]| {
            o.iter()
                .map(|r| r.as_ref().map_err(|(c, _)| *c).cloned())
                .collect::<Vec<_>>()
        };
        assert_eq!(codes(&outcomes(got)), codes(&want), "{name}");
    }
}

#[test]
fn deframer_waits_for_the_rest_of_a_frame() {
    let f = format!("{STD17_1062}\r\n");
    let mut deframer = Deframer::default();
    deframer.push(&f.as_bytes()[..40]);
    assert!(deframer.next_frame().is_none());
    assert_eq!(deframer.pending(), 40);
    deframer.push(&f.as_bytes()[40..]);
    let frame = deframer.next_frame().unwrap().unwrap();
    assert_eq!(frame.raw, f.as_bytes());
    assert_eq!(frame.crc_hex, "1C80");
    assert_eq!(frame.declared_len, 101);
    assert!(deframer.next_frame().is_none());
    assert_eq!(deframer.pending(), 0);
    // A bad header is reported only when the next frame shows where it ends.
    deframer.push(b"##01a1junk");
    assert!(deframer.next_frame().is_none());
    deframer.push(f.as_bytes());
    assert_eq!(
        deframer.next_frame().unwrap().unwrap_err().raw(),
        b"##01a1junk"
    );
    assert!(deframer.next_frame().unwrap().is_ok());
    // The end of a connection turns a partial frame into `truncated`.
    deframer.push(&f.as_bytes()[..30]);
    assert!(deframer.next_frame().is_none());
    let rest = deframer.finish();
    assert_eq!(rest.len(), 1);
    assert!(matches!(&rest[0], Err(FrameError::Truncated { raw }) if raw.len() == 30));
}

#[test]
fn deframer_bounds_garbage_without_markers() {
    let mut deframer = Deframer::default();
    deframer.push(&[b'x'; 5000]);
    deframer.push(b"#");
    let garbage = deframer.next_frame().unwrap().unwrap_err();
    assert_eq!((garbage.code(), garbage.raw().len()), ("garbage", 5000));
    // The trailing '#' was kept: it starts the next frame.
    deframer.push(&STD17_1062.as_bytes()[1..]);
    assert!(deframer.next_frame().unwrap().is_ok());
    assert_eq!(deframer.pending(), 0);
}

#[test]
fn length_counts_bytes_and_lenient_limit_accepts_long_frames() {
    let seg = "ST=32;CN=3020;MN=X;CP=&&i13001-Info=正常运行&&";
    let bytes = encode_frame(seg);
    let frames = split_frames(&bytes);
    let frame = frames[0].as_ref().unwrap();
    assert_eq!(frame.declared_len, seg.len());
    assert_ne!(seg.len(), seg.chars().count());
    let long = split_frames_with(RXLOG_MODBUS_SWAPPED_1025.as_bytes(), LENIENT_MAX_DATA_LEN);
    assert_eq!(long[0].as_ref().unwrap().declared_len, 1025);
    let mut d = Deframer::new(LENIENT_MAX_DATA_LEN);
    d.push(RXLOG_MODBUS_SWAPPED_1025.as_bytes());
    assert!(d.next_frame().unwrap().is_ok());
}

#[test]
fn every_frame_error_has_a_distinct_code_and_keeps_raw() {
    let raw = b"x".to_vec();
    let errors = [
        FrameError::Garbage { raw: raw.clone() },
        FrameError::BadHeader { raw: raw.clone() },
        FrameError::BadLength {
            declared: 1,
            raw: raw.clone(),
        },
        FrameError::Oversize {
            declared: 2000,
            max: 1024,
            raw: raw.clone(),
        },
        FrameError::Truncated { raw: raw.clone() },
        FrameError::BadCrcField { raw: raw.clone() },
    ];
    let codes: std::collections::BTreeSet<_> = errors.iter().map(FrameError::code).collect();
    assert_eq!(codes.len(), errors.len());
    assert!(errors
        .iter()
        .all(|e| e.raw() == raw && !e.to_string().is_empty()));
}
