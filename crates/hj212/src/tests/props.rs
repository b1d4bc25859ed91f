//! Property tests: encode → decode round trips, and no panic on arbitrary input.

use chrono::{NaiveDate, NaiveDateTime};
use proptest::prelude::*;

use super::outcomes;
use super::samples::*;
use crate::{
    encode_cp, frames, parse_packet, parse_packet_ref, split_frames, split_frames_with, Cp, CpItem,
    CrcMode, Decimal, Deframer, Flag, PacketBuilder, PacketFlag, PollutantCode, RawFrame,
    LENIENT_MAX_DATA_LEN, STRICT_MAX_DATA_LEN,
};

fn time() -> impl Strategy<Value = NaiveDateTime> {
    (
        1990i32..2100,
        1u32..=12,
        1u32..=28,
        0u32..24,
        0u32..60,
        0u32..60,
        0u32..1000,
    )
        .prop_map(|(y, mo, d, h, mi, s, ms)| {
            // All components are in range, so these always succeed.
            let date = NaiveDate::from_ymd_opt(y, mo, d).unwrap();
            date.and_hms_milli_opt(h, mi, s, if ms % 2 == 0 { 0 } else { ms })
                .unwrap()
        })
}

fn decimal() -> impl Strategy<Value = Option<Decimal>> {
    proptest::option::of("-?[0-9]{1,8}(\\.[0-9]{1,6})?".prop_map(|s| Decimal::parse(&s).unwrap()))
}

fn item(code: &'static str) -> impl Strategy<Value = CpItem> {
    let values = [
        decimal(),
        decimal(),
        decimal(),
        decimal(),
        decimal(),
        decimal(),
        decimal(),
        decimal(),
        decimal(),
    ];
    let raw_flag = proptest::option::of(prop::sample::select(vec![
        "N", "F", "M", "S", "D", "C", "T", "B", "P", "0", "n",
    ]));
    let other = prop::collection::vec(
        (
            prop::sample::select(vec!["Info", "SN", "ValidNum"]),
            "[A-Za-z0-9.]{0,6}",
        ),
        0..3,
    );
    (
        values,
        raw_flag,
        proptest::option::of("[A-Z][0-9]{2}"),
        proptest::option::of(time()),
        other,
    )
        .prop_map(move |(v, raw_flag, eflag, sample_time, other)| CpItem {
            code: PollutantCode::parse_any_version(code).unwrap(),
            original_code: code.to_string(),
            rtd: v[0],
            avg: v[1],
            min: v[2],
            max: v[3],
            cou: v[4],
            zs_rtd: v[5],
            zs_avg: v[6],
            zs_min: v[7],
            zs_max: v[8],
            flag: raw_flag.and_then(Flag::parse),
            raw_flag: raw_flag
                .filter(|r| Flag::parse(r).map(Flag::code) != Some(*r))
                .map(str::to_string),
            eflag,
            sample_time,
            other: other.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        })
        // An item without any sub-field cannot be written.
        .prop_filter("empty item", |i| {
            !encode_cp(&Cp {
                items: vec![i.clone()],
                ..Cp::default()
            })
            .is_empty()
        })
}

fn cp() -> impl Strategy<Value = Cp> {
    let codes = vec![
        "w00000", "w01001", "w01018", "w21003", "w21011", "w21001", "011", "B01", "a34004",
        "w01003",
    ];
    let items = prop::sample::subsequence(codes, 0..6)
        .prop_flat_map(|codes| codes.into_iter().map(item).collect::<Vec<_>>());
    let fields = prop::collection::vec(
        (
            "[A-Z][A-Za-z]{0,8}".prop_filter("DataTime is parsed", |k| k != "DataTime"),
            "[A-Za-z0-9.]{0,10}",
        ),
        0..3,
    );
    let other_items = prop::collection::vec(("SB[0-9]{1,3}-R[ST]", "[0-9]{1,2}"), 0..3);
    (proptest::option::of(time()), items, fields, other_items).prop_map(
        |(data_time, items, fields, other_items)| Cp {
            data_time,
            items,
            fields,
            other_items,
        },
    )
}

fn builder() -> impl Strategy<Value = (PacketBuilder, Cp)> {
    let header = (
        proptest::option::of("[0-9]{17}"),
        // Water systems, where the 3-character 2005 codes below are mapped.
        prop::sample::select(vec!["32", "21", "33"]),
        "[0-9]{4}",
        proptest::option::of("[A-Za-z0-9]{6}"),
        prop_oneof!["[0-9A-F]{24}", "[0-9]{14}", "[A-Za-z0-9_-]{1,30}"],
        proptest::option::of(any::<u8>()),
        proptest::option::of((any::<u32>(), any::<u32>())),
        prop::collection::vec(("X[A-Za-z]{0,6}", "[A-Za-z0-9.]{0,8}"), 0..2),
    );
    (header, cp()).prop_map(|((qn, st, cn, pw, mn, flag, parts, extra), cp)| {
        let b = PacketBuilder {
            qn,
            st: st.to_string(),
            cn,
            pw,
            mn,
            flag: flag.map(|raw| PacketFlag { raw }),
            pnum: parts.map(|p| p.0),
            pno: parts.map(|p| p.1),
            extra,
            cp: encode_cp(&cp),
        };
        (b, cp)
    })
}

fn frame_of_data(data: Vec<u8>, crc_hex: &str) -> RawFrame {
    RawFrame {
        raw: Vec::new(),
        declared_len: data.len(),
        data,
        crc_hex: crc_hex.into(),
    }
}

/// Valid frames, their fragments, garbage, whitespace and marker-like bytes, concatenated.
fn stream() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        prop::sample::select(vec![
            STD17_1062,
            ANSWER_9011,
            ANSWER_9014,
            FLASH520_2051,
            RXLOG_MODBUS_SWAPPED_1025
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        (
            prop::sample::select(vec![STD17_1062, HUPENGWU_2011]),
            any::<prop::sample::Index>()
        )
            .prop_map(|(s, i)| s.as_bytes()[..i.index(s.len())].to_vec()),
        prop::sample::select(vec![
            "\r\n", "\n", " ", "#", "##", "##0", "##01a1", "&&", "zz", "##9999"
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        prop::collection::vec(any::<u8>(), 0..20),
    ];
    prop::collection::vec(piece, 0..8).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn encode_then_decode_gives_the_same_fields((b, cp) in builder()) {
        let bytes = b.encode();
        let frames = split_frames_with(&bytes, LENIENT_MAX_DATA_LEN);
        prop_assert_eq!(frames.len(), 1);
        let frame = frames[0].as_ref().unwrap();
        prop_assert_eq!(&frame.raw, &bytes);
        let p = parse_packet(frame).unwrap();
        prop_assert_eq!(p.crc.matched, Some(CrcMode::Hj212));
        prop_assert_eq!(&p.cp, &cp);
        prop_assert_eq!(PacketBuilder::from_packet(&p), b);
    }

    #[test]
    fn deframer_in_any_chunks_agrees_with_split_frames(
        input in stream(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let whole = outcomes(split_frames(&input));
        let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(input.len() + 1)).collect();
        cuts.sort_unstable();
        let mut deframer = Deframer::default();
        let mut got = Vec::new();
        let mut from = 0;
        for cut in cuts.into_iter().chain([input.len()]) {
            deframer.push(&input[from..cut]);
            from = cut;
            got.extend(std::iter::from_fn(|| deframer.next_frame()));
        }
        got.extend(deframer.finish());
        // `raw` may differ by a CR/LF split off at a cut; codes and data may not.
        let codes = |o: Vec<super::Outcome>| {
            o.into_iter().map(|r| r.map_err(|(c, _)| c)).collect::<Vec<_>>()
        };
        prop_assert_eq!(codes(outcomes(got)), codes(whole));
    }

    #[test]
    fn nothing_panics_on_arbitrary_bytes(input in prop::collection::vec(any::<u8>(), 0..600)) {
        let mut deframer = Deframer::new(16);
        let mut frames = Vec::new();
        for chunk in input.chunks(7) {
            deframer.push(chunk);
            frames.extend(std::iter::from_fn(|| deframer.next_frame()));
        }
        frames.extend(deframer.finish());
        frames.extend(split_frames(&input));
        for frame in frames.iter().flatten() {
            let _ = parse_packet(frame);
        }
        let data = input;
        let frame = frame_of_data(data, "1C80");
        let _ = parse_packet(&frame);
    }

    #[test]
    fn nothing_panics_on_mutated_packets(
        pos in any::<prop::sample::Index>(),
        byte in prop::sample::select(b";,=&-#.0aN\xE6\x80".to_vec()),
        delete in any::<bool>(),
    ) {
        let mut data = HUPENGWU_2011.as_bytes()[6..463].to_vec();
        let at = pos.index(data.len());
        if delete {
            data.remove(at);
        } else {
            data[at] = byte;
        }
        let frame = frame_of_data(data, "6E80");
        if let Ok(p) = parse_packet(&frame) {
            // Whatever parses re-encodes without panicking.
            let _ = PacketBuilder::from_packet(&p).encode();
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The borrowed forms (`frames`, `parse_packet_ref`) give exactly what the owned ones do.
    #[test]
    fn borrowed_frames_and_packets_agree_with_owned(input in stream(), (b, _) in builder()) {
        let mut input = input;
        input.extend(b.encode());
        let owned = split_frames(&input);
        let borrowed: Vec<_> = frames(&input, STRICT_MAX_DATA_LEN)
            .map(|f| f.map(|f| f.to_raw_frame()))
            .collect();
        prop_assert_eq!(&borrowed, &owned);
        for frame in owned.iter().flatten() {
            let via_ref = parse_packet_ref(frame.as_frame_ref()).map(|p| p.to_packet());
            prop_assert_eq!(via_ref, parse_packet(frame));
        }
    }
}
