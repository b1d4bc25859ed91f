//! Fuzzes the HJ 212 decoder: arbitrary bytes through the streaming `Deframer` (in chunks
//! whose sizes come from the input), `split_frames`, and `parse_packet` on every frame, plus
//! `parse_packet` on the raw bytes as a data segment. Nothing may panic; the borrowed `frames` and
//! `parse_packet_ref` must agree with their owned forms; every decoded packet must re-encode,
//! and a re-encoded packet must decode again to the same CP.
//!
//! Depends on the `hj212` crate alone. Ingest's `decode_hj212` on top of the codec is covered
//! by greenmon's property test `ingest::decode::hj212::tests::arbitrary_bytes_never_panic`.
#![no_main]

use hj212::{
    frames, parse_packet, parse_packet_ref, split_frames, split_frames_with, Deframer,
    PacketBuilder, RawFrame, LENIENT_MAX_DATA_LEN, STRICT_MAX_DATA_LEN,
};
use libfuzzer_sys::fuzz_target;

fn check(frame: &RawFrame) {
    let parsed = parse_packet(frame);
    let borrowed = parse_packet_ref(frame.as_frame_ref()).map(|p| p.to_packet());
    assert_eq!(borrowed, parsed, "parse_packet_ref and parse_packet disagree");
    let Ok(packet) = parsed else {
        return;
    };
    let bytes = PacketBuilder::from_packet(&packet).encode();
    let again = split_frames_with(&bytes, LENIENT_MAX_DATA_LEN);
    let again = again[0].as_ref().expect("a re-encoded packet frames");
    let reparsed = parse_packet(again).expect("a re-encoded packet parses");
    assert_eq!(reparsed.cp, packet.cp);
    assert_eq!(
        (reparsed.st, reparsed.cn, reparsed.mn),
        (packet.st, packet.cn, packet.mn)
    );
}

fuzz_target!(|data: &[u8]| {
    // The first byte picks the chunk size, so fragmentation is fuzzed too.
    let (chunk, body) = match data.split_first() {
        Some((c, rest)) => (usize::from(*c % 32) + 1, rest),
        None => (1, data),
    };
    let mut deframer = Deframer::new(LENIENT_MAX_DATA_LEN);
    let mut streamed = Vec::new();
    for piece in body.chunks(chunk) {
        deframer.push(piece);
        while let Some(item) = deframer.next_frame() {
            streamed.push(item);
        }
    }
    streamed.extend(deframer.finish());
    for frame in streamed.iter().flatten() {
        check(frame);
    }
    let owned = split_frames(body);
    let borrowed: Vec<_> = frames(body, STRICT_MAX_DATA_LEN)
        .map(|f| f.map(|f| f.to_raw_frame()))
        .collect();
    assert_eq!(borrowed, owned, "frames and split_frames disagree");
    for frame in owned.iter().flatten() {
        check(frame);
    }
    let as_segment = RawFrame {
        raw: body.to_vec(),
        data: body.to_vec(),
        crc_hex: "0000".into(),
        declared_len: body.len(),
    };
    check(&as_segment);
});
