//! The CP data area: `DataTime`, per-pollutant items (`w01018-Rtd=…,w01018-Flag=N`) and the
//! other command parameters (`QnRtn`, `RtdInterval`, …).
//!
//! Input: the text between `CP=&&` and the last `&&`. Output: a [`CpRef`] borrowing its text
//! from the input (what a receiver reads without copying), or the owned [`Cp`] made from it
//! (what `parse_packet` returns). Sub-fields are split on `;` and `,`, each key on its last `-`
//! into factor and suffix, and grouped per factor code. Values stay exact
//! ([`Decimal`], or [`DecimalRef`] in a [`CpRef`]); times stay local (`NaiveDateTime`): the
//! caller applies the device's configured zone. Keys whose factor is not a pollutant code
//! (`SB1-RS`, vendor codes such as `pms_rules-Rtd`) are kept in [`Cp::other_items`].

use chrono::{NaiveDate, NaiveDateTime};

use crate::codes::{factor_code, parse_flag};
use crate::decimal::{Decimal, DecimalRef};
use crate::error::{bad, clip, PacketError};
use crate::flag::Flag;
use crate::pollutant::PollutantCode;
use crate::scan::fields;

/// A parsed CP area.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cp {
    /// `DataTime`: the period start for 2031/2051/2061, the sampling instant for 2011.
    /// Local time of the device, without zone.
    pub data_time: Option<NaiveDateTime>,
    /// Pollutant items, in order of first appearance.
    pub items: Vec<CpItem>,
    /// Other parameters without a `-`, e.g. `QnRtn`, `ExeRtn`, `RtdInterval`, `SystemTime`.
    pub fields: Vec<(String, String)>,
    /// `factor-suffix` keys whose factor is not a recognised pollutant code, e.g. `SB1-RS`
    /// (treatment facility run state), `LA-td`, vendor codes; kept whole, in order.
    pub other_items: Vec<(String, String)>,
}

impl Cp {
    /// The item whose original code (as sent) is `code`.
    pub fn item(&self, code: &str) -> Option<&CpItem> {
        self.items.iter().find(|i| i.original_code == code)
    }

    /// The value of the parameter `name` in [`Cp::fields`].
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// All sub-fields of one pollutant (monitoring factor).
#[derive(Debug, Clone, PartialEq)]
pub struct CpItem {
    /// The HJ 212-2017 code (2005 water codes mapped, e.g. `011` → `w01018`).
    pub code: PollutantCode,
    /// The code as sent.
    pub original_code: String,
    /// Real-time value (`-Rtd`, CN 2011).
    pub rtd: Option<Decimal>,
    /// Interval average (`-Avg`, CN 2051/2061/2031).
    pub avg: Option<Decimal>,
    /// Interval minimum (`-Min`).
    pub min: Option<Decimal>,
    /// Interval maximum (`-Max`).
    pub max: Option<Decimal>,
    /// Cumulative quantity over the interval (`-Cou`).
    pub cou: Option<Decimal>,
    /// Converted (折算) real-time value (`-ZsRtd`).
    pub zs_rtd: Option<Decimal>,
    /// Converted average (`-ZsAvg`).
    pub zs_avg: Option<Decimal>,
    /// Converted minimum (`-ZsMin`).
    pub zs_min: Option<Decimal>,
    /// Converted maximum (`-ZsMax`).
    pub zs_max: Option<Decimal>,
    /// The data flag, when it is one of Table 8's letters (or 2005's `P`), in either case.
    pub flag: Option<Flag>,
    /// The `-Flag` text as sent, when [`CpItem::flag`] does not spell it exactly: an unknown
    /// flag (2005 air stations sent `0`-`3`) or a lower-case letter. `None` when the text was
    /// exactly `flag.code()` (the usual case) or there was no `-Flag`.
    pub raw_flag: Option<String>,
    /// Instrument-defined extended flag (`-EFlag`).
    pub eflag: Option<String>,
    /// `-SampleTime`, local time without zone.
    pub sample_time: Option<NaiveDateTime>,
    /// Other suffixes (`Info`, `SN`, `ValidNum`, …) as (suffix, value), in order.
    pub other: Vec<(String, String)>,
}

/// A parsed CP area borrowing its text from the data segment: the same content as [`Cp`]
/// without a copy of any key or value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CpRef<'a> {
    /// [`Cp::data_time`].
    pub data_time: Option<NaiveDateTime>,
    /// [`Cp::items`].
    pub items: Vec<CpItemRef<'a>>,
    /// [`Cp::fields`].
    pub fields: Vec<(&'a str, &'a str)>,
    /// [`Cp::other_items`].
    pub other_items: Vec<(&'a str, &'a str)>,
}

impl CpRef<'_> {
    /// The item whose original code (as sent) is `code`.
    pub fn item(&self, code: &str) -> Option<&CpItemRef<'_>> {
        self.items.iter().find(|i| i.original_code == code)
    }

    /// The value of the parameter `name` in [`CpRef::fields`].
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| *v)
    }

    /// An owned copy.
    pub fn to_cp(&self) -> Cp {
        let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect()
        };
        Cp {
            data_time: self.data_time,
            items: self.items.iter().map(CpItemRef::to_cp_item).collect(),
            fields: pairs(&self.fields),
            other_items: pairs(&self.other_items),
        }
    }
}

/// All sub-fields of one pollutant, borrowing their text: the same content as [`CpItem`].
#[derive(Debug, Clone, PartialEq)]
pub struct CpItemRef<'a> {
    /// [`CpItem::code`].
    pub code: PollutantCode,
    /// [`CpItem::original_code`].
    pub original_code: &'a str,
    /// [`CpItem::rtd`].
    pub rtd: Option<DecimalRef<'a>>,
    /// [`CpItem::avg`].
    pub avg: Option<DecimalRef<'a>>,
    /// [`CpItem::min`].
    pub min: Option<DecimalRef<'a>>,
    /// [`CpItem::max`].
    pub max: Option<DecimalRef<'a>>,
    /// [`CpItem::cou`].
    pub cou: Option<DecimalRef<'a>>,
    /// [`CpItem::zs_rtd`].
    pub zs_rtd: Option<DecimalRef<'a>>,
    /// [`CpItem::zs_avg`].
    pub zs_avg: Option<DecimalRef<'a>>,
    /// [`CpItem::zs_min`].
    pub zs_min: Option<DecimalRef<'a>>,
    /// [`CpItem::zs_max`].
    pub zs_max: Option<DecimalRef<'a>>,
    /// [`CpItem::flag`].
    pub flag: Option<Flag>,
    /// [`CpItem::raw_flag`].
    pub raw_flag: Option<&'a str>,
    /// [`CpItem::eflag`].
    pub eflag: Option<&'a str>,
    /// [`CpItem::sample_time`].
    pub sample_time: Option<NaiveDateTime>,
    /// [`CpItem::other`].
    pub other: Vec<(&'a str, &'a str)>,
}

impl<'a> CpItemRef<'a> {
    fn new(code: PollutantCode, original_code: &'a str) -> Self {
        Self {
            code,
            original_code,
            rtd: None,
            avg: None,
            min: None,
            max: None,
            cou: None,
            zs_rtd: None,
            zs_avg: None,
            zs_min: None,
            zs_max: None,
            flag: None,
            raw_flag: None,
            eflag: None,
            sample_time: None,
            other: Vec::new(),
        }
    }

    /// An owned copy.
    pub fn to_cp_item(&self) -> CpItem {
        CpItem {
            code: self.code.clone(),
            original_code: self.original_code.to_string(),
            rtd: self.rtd.map(DecimalRef::to_decimal),
            avg: self.avg.map(DecimalRef::to_decimal),
            min: self.min.map(DecimalRef::to_decimal),
            max: self.max.map(DecimalRef::to_decimal),
            cou: self.cou.map(DecimalRef::to_decimal),
            zs_rtd: self.zs_rtd.map(DecimalRef::to_decimal),
            zs_avg: self.zs_avg.map(DecimalRef::to_decimal),
            zs_min: self.zs_min.map(DecimalRef::to_decimal),
            zs_max: self.zs_max.map(DecimalRef::to_decimal),
            flag: self.flag,
            raw_flag: self.raw_flag.map(str::to_string),
            eflag: self.eflag.map(str::to_string),
            sample_time: self.sample_time,
            other: self
                .other
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect(),
        }
    }
}

/// Parses `YYYYMMDDhhmmss` or `YYYYMMDDhhmmsszzz` (milliseconds) as a local time.
pub fn parse_hj_time(s: &str) -> Option<NaiveDateTime> {
    let b = s.as_bytes();
    if !(b.len() == 14 || b.len() == 17) || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = |from: usize, to: usize| {
        b[from..to]
            .iter()
            .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'))
    };
    let ms = if b.len() == 17 { n(14, 17) } else { 0 };
    // A year of 4 digits always fits in i32.
    NaiveDate::from_ymd_opt(n(0, 4) as i32, n(4, 6), n(6, 8))?.and_hms_milli_opt(
        n(8, 10),
        n(10, 12),
        n(12, 14),
        ms,
    )
}

/// [`parse_cp_ref`], copied into a [`Cp`]: the form the unit tests below compare.
#[cfg(test)]
fn parse_cp(body: &str, water_2005: bool, check_ascii: bool) -> Result<Cp, PacketError> {
    parse_cp_ref(body, water_2005, check_ascii).map(|cp| cp.to_cp())
}

/// Parses a CP body. `check_ascii`: the segment has non-ASCII bytes, so check where they are.
pub(crate) fn parse_cp_ref(
    body: &str,
    water_2005: bool,
    check_ascii: bool,
) -> Result<CpRef<'_>, PacketError> {
    let mut cp = CpRef {
        items: Vec::with_capacity(8),
        ..CpRef::default()
    };
    for f in fields(body) {
        let (key, value) = f.key_value()?;
        if key.is_empty() {
            return Err(bad(f.part, "empty field name"));
        }
        if check_ascii && !key.is_ascii() {
            return Err(non_ascii(key));
        }
        if key == "DataTime" {
            if cp.data_time.is_some() {
                return Err(bad(key, "duplicate field"));
            }
            cp.data_time = Some(time(key, value, check_ascii)?);
            continue;
        }
        let Some(dash) = f.dash else {
            cp.fields.push((key, value));
            continue;
        };
        let (factor, suffix) = (&key[..dash], &key[dash + 1..]);
        // Sub-fields of one item are usually adjacent, so the last item is tried first.
        let item = match cp.items.iter().rposition(|i| same(i.original_code, factor)) {
            Some(i) => &mut cp.items[i],
            None => match factor_code(factor, water_2005) {
                Some(code) => {
                    cp.items.push(CpItemRef::new(code, factor));
                    let last = cp.items.len() - 1;
                    &mut cp.items[last]
                }
                None => {
                    cp.other_items.push((key, value));
                    continue;
                }
            },
        };
        apply(item, key, suffix, value, check_ascii)?;
    }
    Ok(cp)
}

/// String equality, with a fast path for the usual 6-character codes.
#[inline]
fn same(a: &str, b: &str) -> bool {
    match (
        a.as_bytes().first_chunk::<6>(),
        b.as_bytes().first_chunk::<6>(),
    ) {
        (Some(x), Some(y)) if a.len() == 6 && b.len() == 6 => x == y,
        _ => a == b,
    }
}

/// Stores one `factor-suffix=value` into its item.
fn apply<'a>(
    item: &mut CpItemRef<'a>,
    key: &str,
    suffix: &'a str,
    value: &'a str,
    check_ascii: bool,
) -> Result<(), PacketError> {
    // Byte patterns compile to a length test and a few byte compares (no memcmp calls).
    let slot = match suffix.as_bytes() {
        b"Rtd" => &mut item.rtd,
        b"Avg" => &mut item.avg,
        b"Min" => &mut item.min,
        b"Max" => &mut item.max,
        b"Cou" => &mut item.cou,
        b"ZsRtd" => &mut item.zs_rtd,
        b"ZsAvg" => &mut item.zs_avg,
        b"ZsMin" => &mut item.zs_min,
        b"ZsMax" => &mut item.zs_max,
        b"Flag" => {
            if item.flag.is_some() || item.raw_flag.is_some() {
                return Err(bad(key, "duplicate field"));
            }
            item.flag = parse_flag(value);
            // The common exact letter needs no copy; anything else is kept verbatim.
            if item.flag.map(Flag::code) != Some(value) {
                item.raw_flag = Some(ascii_text(key, value, check_ascii, false)?);
            }
            return Ok(());
        }
        b"EFlag" => {
            item.eflag = Some(ascii_text(key, value, check_ascii, item.eflag.is_some())?);
            return Ok(());
        }
        b"SampleTime" => {
            if item.sample_time.is_some() {
                return Err(bad(key, "duplicate field"));
            }
            item.sample_time = Some(time(key, value, check_ascii)?);
            return Ok(());
        }
        _ => {
            item.other.push((suffix, value));
            return Ok(());
        }
    };
    if slot.is_some() {
        return Err(bad(key, "duplicate field"));
    }
    if check_ascii && !value.is_ascii() {
        return Err(non_ascii(key));
    }
    *slot = Some(
        DecimalRef::parse(value).ok_or_else(|| PacketError::BadValue {
            key: clip(key),
            value: clip(value),
        })?,
    );
    Ok(())
}

fn ascii_text<'a>(
    key: &str,
    value: &'a str,
    check_ascii: bool,
    dup: bool,
) -> Result<&'a str, PacketError> {
    if dup {
        return Err(bad(key, "duplicate field"));
    }
    if check_ascii && !value.is_ascii() {
        return Err(non_ascii(key));
    }
    Ok(value)
}

fn time(key: &str, value: &str, check_ascii: bool) -> Result<NaiveDateTime, PacketError> {
    if check_ascii && !value.is_ascii() {
        return Err(non_ascii(key));
    }
    parse_hj_time(value).ok_or_else(|| PacketError::BadDataTime {
        field: clip(key),
        value: clip(value),
    })
}

fn non_ascii(field: &str) -> PacketError {
    PacketError::NonAscii { field: clip(field) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dt(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.3f").unwrap()
    }

    #[test]
    fn times() {
        let cases: &[(&str, Option<&str>)] = &[
            ("20160801084000", Some("2016-08-01 08:40:00.000")),
            ("20160801084000123", Some("2016-08-01 08:40:00.123")),
            ("20240229235959", Some("2024-02-29 23:59:59.000")),
            ("20230229000000", None),
            ("20160801246000", None),
            ("20160801085960", None),
            ("2016080108400", None),
            ("201608010840001", None),
            ("2016-08-01 0840", None),
            ("", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_hj_time(text), want.map(dt), "{text}");
        }
    }

    #[test]
    fn groups_sub_fields_by_code_and_keeps_the_rest() {
        let body = "DataTime=20160801084000;w01018-Rtd=1.5,w01018-Flag=n,w01018-EFlag=A01;\
                    SB1-RS=1;w01018-SN=X1;011-Avg=2;RtdInterval=30;w00000-Flag=0";
        let cp = parse_cp(body, true, false).unwrap();
        assert_eq!(cp.items.len(), 3);
        let cod = cp.item("w01018").unwrap();
        assert_eq!(cod.rtd.unwrap().as_str(), "1.5");
        assert_eq!(
            (cod.flag, cod.raw_flag.as_deref()),
            (Some(Flag::Normal), Some("n"))
        );
        assert_eq!(cod.eflag.as_deref(), Some("A01"));
        assert_eq!(cod.other, vec![("SN".into(), "X1".into())]);
        assert_eq!(cp.item("011").unwrap().code.as_str(), "w01018");
        let flow = cp.item("w00000").unwrap();
        assert_eq!((flow.flag, flow.raw_flag.as_deref()), (None, Some("0")));
        let exact = parse_cp("w01001-Flag=D", true, false).unwrap();
        assert_eq!(
            (exact.items[0].flag, exact.items[0].raw_flag.as_deref()),
            (Some(Flag::Fault), None)
        );
        assert_eq!(cp.other_items, vec![("SB1-RS".into(), "1".into())]);
        assert_eq!(cp.field("RtdInterval"), Some("30"));
    }

    #[test]
    fn rejects_with_reason() {
        let cases: &[(&str, &str)] = &[
            ("w01018-Rtd=abc", "bad_value"),
            ("w01018-Rtd=", "bad_value"),
            ("w01018-Rtd=1,w01018-Rtd=2", "bad_field"),
            ("w01018-Flag=N,w01018-Flag=N", "bad_field"),
            (
                "DataTime=20160801084000;DataTime=20160801084000",
                "bad_field",
            ),
            ("DataTime=2016", "bad_datatime"),
            ("w01018-SampleTime=20161301000000", "bad_datatime"),
            ("w01018Rtd", "bad_field"),
            ("=5", "bad_field"),
            ("w01018-Rtd=１", "non_ascii"),
            ("w01018-Flag=正", "non_ascii"),
            ("污染-Rtd=1", "non_ascii"),
        ];
        for (body, code) in cases {
            let err = parse_cp(body, true, !body.is_ascii()).unwrap_err();
            assert_eq!(err.code(), *code, "{body}: {err}");
        }
    }

    #[test]
    fn chinese_text_is_allowed_in_free_text_values() {
        let body = "i12001-Info=正常运行;SB1-RS=运行;Note=备注";
        let cp = parse_cp(body, true, true).unwrap();
        assert_eq!(cp.item("i12001").unwrap().other[0].1, "正常运行");
        assert_eq!(cp.other_items[0].1, "运行");
        assert_eq!(cp.field("Note"), Some("备注"));
    }
}
