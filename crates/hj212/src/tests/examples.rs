//! Every example packet in hj212.md, decoded end to end (frame → packet → CP).

use chrono::NaiveDateTime;

use super::frame_of;
use super::samples::*;
use crate::{encode_frame, parse_packet, CrcMode, Flag, Packet, PacketError};

fn parse(text: &str) -> Packet {
    parse_packet(&frame_of(text)).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn seg(segment: &str) -> Result<Packet, PacketError> {
    parse_packet(&frame_of(
        &String::from_utf8(encode_frame(segment)).unwrap(),
    ))
}

fn t(s: &str) -> NaiveDateTime {
    crate::parse_hj_time(s).unwrap()
}

/// Header of each sample: (frame, QN, ST, CN, PW, MN, Flag, PNUM, PNO, items, CRC mode).
#[test]
fn headers_of_published_samples() {
    type Row = (
        &'static str,
        Option<&'static str>,
        &'static str,
        &'static str,
        Option<&'static str>,
        &'static str,
        Option<u8>,
        Option<(u32, u32)>,
        usize,
        CrcMode,
    );
    let rows: &[Row] = &[
        (
            STD17_1062,
            Some("20160801085857223"),
            "32",
            "1062",
            Some("100000"),
            "010000A8900016F000169DC0",
            Some(5),
            None,
            0,
            CrcMode::Hj212,
        ),
        (
            HUPENGWU_2011,
            Some("20210320163101890"),
            "32",
            "2011",
            Some("123456"),
            "81733553213013",
            Some(4),
            None,
            6,
            CrcMode::Hj212,
        ),
        (
            CHENQI92_FLAG8,
            Some("20210301111100112"),
            "21",
            "2011",
            Some("123456"),
            "ZLDSZ20210127",
            Some(8),
            None,
            11,
            CrcMode::Hj212,
        ),
        (
            ICECOFFEE_2061,
            Some("20190925181031464"),
            "22",
            "2061",
            Some("BF470F88957588DE902D1A52"),
            "Z13401000010301",
            Some(5),
            None,
            5,
            CrcMode::Hj212,
        ),
        (
            FLASH520_2051,
            Some("20220513162608370"),
            "22",
            "2051",
            Some("123456"),
            "JLYP01_AIR01_0001",
            Some(4),
            None,
            11,
            CrcMode::Hj212,
        ),
        (
            LIBEM_PNO_PNUM,
            Some("20191112091100598"),
            "31",
            "2051",
            Some("123456"),
            "14513567846884",
            None,
            Some((2, 2)),
            1,
            CrcMode::Hj212,
        ),
        (
            ANSWER_9011,
            Some("20231008125115215"),
            "22",
            "9011",
            Some("123456"),
            "010000A8900016F000169DC0",
            Some(4),
            None,
            0,
            CrcMode::Hj212,
        ),
        (
            DATALOGGER_2081,
            Some("20231008130452757"),
            "22",
            "2081",
            Some("123456"),
            "010000A8900016F000169DC0",
            Some(5),
            None,
            0,
            CrcMode::Hj212,
        ),
        (
            ANSWER_9014,
            Some("20201015123632010"),
            "91",
            "9014",
            Some("123456"),
            "410183160889201000212505",
            Some(4),
            None,
            0,
            CrcMode::Hj212,
        ),
        (
            RXLOG_2005_7700,
            None,
            "31",
            "2011",
            Some("123456"),
            "88888880000001",
            None,
            None,
            2,
            CrcMode::Hj212,
        ),
        (
            RXLOG_ST101_3300,
            None,
            "101",
            "2011",
            Some("123456"),
            "41050022000017",
            None,
            None,
            2,
            CrcMode::Hj212,
        ),
        (
            RXLOG_MODBUS_SWAPPED_0868,
            None,
            "31",
            "2011",
            Some("123456"),
            "4201003",
            None,
            None,
            2,
            CrcMode::ModbusSwapped,
        ),
        (
            RXLOG_MODBUS_SWAPPED_1025,
            None,
            "31",
            "2011",
            Some("123456"),
            "88888880000001",
            None,
            None,
            2,
            CrcMode::ModbusSwapped,
        ),
    ];
    for &(text, qn, st, cn, pw, mn, flag, parts, items, mode) in rows {
        let p = parse(text);
        assert_eq!(p.qn.as_deref(), qn, "{text}");
        assert_eq!((p.st.as_str(), p.cn.as_str(), p.mn.as_str()), (st, cn, mn));
        assert_eq!(p.pw.as_deref(), pw);
        assert_eq!(p.flag.map(|f| f.raw), flag);
        assert_eq!(p.pnum.zip(p.pno), parts);
        assert_eq!(p.cp.items.len(), items, "{text}");
        assert_eq!(p.crc.matched, Some(mode));
        assert!(p.extra.is_empty());
    }
}

#[test]
fn standard_1062_vector() {
    let p = parse(&format!("{STD17_1062}\r\n"));
    assert_eq!(p.crc.given, Some(0x1C80));
    assert_eq!(p.cp.field("RtdInterval"), Some("30"));
    let f = p.flag.unwrap();
    assert!(f.is_2017() && f.ack_required() && !f.split());
}

#[test]
fn wastewater_real_time_values_and_sample_times() {
    let p = parse(HUPENGWU_2011);
    assert_eq!(p.cp.data_time, Some(t("20210320013400")));
    let codes: Vec<_> = p.cp.items.iter().map(|i| i.code.as_str()).collect();
    assert_eq!(
        codes,
        ["w00000", "w21001", "w21011", "w21003", "w01018", "w01001"]
    );
    let cod = p.cp.item("w01018").unwrap();
    assert_eq!(cod.rtd.unwrap().as_str(), "194.200");
    assert_eq!(cod.flag, Some(Flag::Normal));
    assert_eq!(
        p.cp.item("w21001").unwrap().sample_time,
        Some(t("20210320005400"))
    );
    assert_eq!(p.cp.item("w01001").unwrap().rtd.unwrap().to_f64(), 7.496);
}

#[test]
fn flag_8_extension_code_and_exact_precision() {
    let p = parse(CHENQI92_FLAG8);
    let f = p.flag.unwrap();
    assert_eq!(
        (f.version_bits(), f.is_2017(), f.is_2005()),
        (2, false, false)
    );
    assert!(p.cp.item("w01003").is_some());
    assert_eq!(
        p.cp.item("w21003").unwrap().rtd.unwrap().as_str(),
        "0.09055002"
    );
    assert_eq!(p.crc.given, Some(0x7D00));
}

#[test]
fn vendor_codes_and_typos_are_kept_not_fatal() {
    for (segment, crc) in [(TEAFULL_DATA2, 0x5CC0u16), (TEAFULL_DATA3, 0x5D80)] {
        let p = seg(segment).unwrap();
        assert_eq!(p.crc.computed, crc);
        let other: Vec<_> = p.cp.other_items.iter().map(|(k, _)| k.as_str()).collect();
        assert!(other.iter().all(|k| !k.starts_with('a')), "{other:?}");
        assert!(!other.is_empty());
    }
    // MN before PW (data3) is fine.
    assert_eq!(seg(TEAFULL_DATA3).unwrap().mn, "aqms-1100-2020110011");
    // The standard's typos: `01018-Rtd` (C.14) and a comma after QN (C.48).
    let p = seg("\
        QN=20160801085857534,ST=32;CN=2011;PW=123456;MN=010000A8900016F000169DC0;Flag=5;\
        CP=&&DataTime=20160801070000;01018-Rtd=2.2,w01018-Flag=N&&")
    .unwrap();
    assert_eq!(p.qn.as_deref(), Some("20160801085857534"));
    assert_eq!(p.cp.other_items, vec![("01018-Rtd".into(), "2.2".into())]);
}

#[test]
fn minute_data_2051_example() {
    let p = seg("\
        QN=20160801085000001;ST=32;CN=2051;PW=123456;MN=010000A8900016F000169DC0;Flag=5;\
        CP=&&DataTime=20160801084000;w00000-Cou=10.5,w00000-Min=16.4,w00000-Avg=17.5,\
        w00000-Max=20.1,w00000-Flag=N;w01001-Min=7.1,w01001-Avg=7.5,w01001-Max=7.8,\
        w01001-Flag=N;w01018-Cou=10.5,w01018-Min=40.1,w01018-Avg=40.1,w01018-Max=40.1,\
        w01018-Flag=N&&")
    .unwrap();
    assert_eq!(p.crc.matched, Some(CrcMode::Hj212));
    let flow = p.cp.item("w00000").unwrap();
    let got: Vec<_> = [flow.cou, flow.min, flow.avg, flow.max]
        .iter()
        .map(|d| d.unwrap().to_string())
        .collect();
    assert_eq!(got, ["10.5", "16.4", "17.5", "20.1"]);
    assert_eq!(p.cp.item("w01001").unwrap().cou, None);
}

#[test]
fn split_packets_c49_c50() {
    let head = "ST=32;CN=2051;PW=123456;MN=010000A8900016F000169DC0;Flag=7";
    let one = seg(&format!(
        "\
        QN=20160801085000001;{head};PNUM=2;PNO=1;CP=&&DataTime=20160801080000;w00000-Avg=1,\
        w00000-Flag=N;w01001-Avg=7.5,w01001-Flag=N&&"
    ))
    .unwrap();
    let two = seg(&format!(
        "\
        QN=20160801085000002;{head};PNUM=2;PNO=2;CP=&&DataTime=20160801080000;\
        w01018-Avg=40.1,w01018-Flag=N&&"
    ))
    .unwrap();
    for (p, pno) in [(&one, 1), (&two, 2)] {
        let f = p.flag.unwrap();
        assert!(f.split() && f.ack_required() && f.is_2017());
        assert_eq!((p.pnum, p.pno), (Some(2), Some(pno)));
    }
    assert_eq!(one.cp.data_time, two.cp.data_time);
}

#[test]
fn hj212_2005_packet_without_qn_and_flag() {
    let p = seg("\
        ST=32;CN=2011;PW=123456;MN=88888880000001;CP=&&DataTime=20040516010101;B01-Rtd=100;\
        101-Rtd=1.1,101-Flag=N;011-Rtd=35.2,011-Flag=P;060-Rtd=1.25&&")
    .unwrap();
    assert!(p.is_2005() && !p.ack_required());
    assert_eq!((p.qn, p.flag), (None, None));
    let map: Vec<_> =
        p.cp.items
            .iter()
            .map(|i| (i.original_code.as_str(), i.code.as_str()))
            .collect();
    assert_eq!(
        map,
        [
            ("B01", "w00000"),
            ("101", "w21011"),
            ("011", "w01018"),
            ("060", "w21003")
        ]
    );
    assert_eq!(p.cp.item("011").unwrap().flag, Some(Flag::PowerFailure));
    // In a flue-gas packet the same 3-character codes are not water codes: kept unmapped.
    let gas = parse(RXLOG_2005_7700);
    assert!(gas.cp.items.iter().all(|i| i.original_code.len() == 6));
    assert!(gas.cp.other_items.iter().any(|(k, _)| k == "023-Rtd"));
}

#[test]
fn flag_bits_for_every_version_and_mode() {
    // (Flag, version bits, is_2017, is_2005, ack, split)
    let rows = [
        (3u8, 0u8, false, true, true, true),
        (4, 1, true, false, false, false),
        (5, 1, true, false, true, false),
        (6, 1, true, false, false, true),
        (7, 1, true, false, true, true),
        (8, 2, false, false, false, false),
        (9, 2, false, false, true, false),
        (255, 63, false, false, true, true),
    ];
    for (raw, version, v17, v05, ack, split) in rows {
        let p = seg(&format!(
            "QN=1;ST=32;CN=2011;MN=X;Flag={raw};PNUM=1;PNO=1;CP=&&&&"
        ))
        .unwrap();
        let f = p.flag.unwrap();
        let got = (
            f.raw,
            f.version_bits(),
            f.is_2017(),
            f.is_2005(),
            f.ack_required(),
            f.split(),
        );
        assert_eq!(got, (raw, version, v17, v05, ack, split));
        assert_eq!(p.is_2005(), v05);
    }
}

#[test]
fn millisecond_data_time_and_info_in_chinese() {
    let p = seg("\
        QN=1;ST=32;CN=3020;MN=X;Flag=4;CP=&&DataTime=20160801084000123;i13001-Info=正常,\
        i13001-SN=A1;SB1-RS=1;SB1-RT=24&&")
    .unwrap();
    assert_eq!(p.cp.data_time, Some(t("20160801084000123")));
    let info = p.cp.item("i13001").unwrap();
    assert_eq!(
        info.other,
        vec![("Info".into(), "正常".into()), ("SN".into(), "A1".into())]
    );
    assert_eq!(p.cp.other_items.len(), 2);
}
