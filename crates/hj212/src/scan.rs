//! The field scanner shared by the header and the CP area: splits `a=1;b-c=2,d=3` into
//! `key=value` parts separated by `;` or `,`.
//!
//! This is the decoder's inner loop, so it looks at 8 bytes at a time (SWAR: the classic
//! "has zero byte" trick on `u64` words). All delimiters are ASCII, so every slice it returns
//! lies on a UTF-8 char boundary.

use crate::error::{bad, PacketError};

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `w` that equals `c`. The lowest set bit is exact (bits above
/// a match may be false positives), which is all [`find_stop`] uses.
#[inline(always)]
fn bytes_equal(w: u64, c: u8) -> u64 {
    let x = w ^ (ONES * u64::from(c));
    x.wrapping_sub(ONES) & !x & HIGHS
}

/// Index of the first `;` or `,` (or `=` when `eq` is set) at or after `i`, or `b.len()`.
#[inline(always)]
fn find_stop(b: &[u8], mut i: usize, eq: bool) -> usize {
    while let Some(word) = b.get(i..).and_then(|r| r.first_chunk::<8>()) {
        let w = u64::from_le_bytes(*word);
        let mut m = bytes_equal(w, b';') | bytes_equal(w, b',');
        if eq {
            m |= bytes_equal(w, b'=');
        }
        if m != 0 {
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < b.len() && !(b[i] == b';' || b[i] == b',' || (eq && b[i] == b'=')) {
        i += 1;
    }
    i
}

/// One non-empty part of a `;`/`,`-separated list.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Field<'a> {
    /// Offset of the part in the scanned text.
    pub start: usize,
    /// The whole part.
    pub part: &'a str,
    /// Split at the first `=`, if there is one.
    kv: Option<(&'a str, &'a str)>,
    /// Offset in the key of its last `-`.
    pub dash: Option<usize>,
}

impl<'a> Field<'a> {
    /// The key and value.
    ///
    /// # Errors
    /// `bad_field` when the part has no `=`.
    #[inline]
    pub fn key_value(&self) -> Result<(&'a str, &'a str), PacketError> {
        self.kv.ok_or_else(|| bad(self.part, "not key=value"))
    }
}

/// The non-empty parts of `s`, separated by `;` or `,`.
#[inline]
pub(crate) fn fields(s: &str) -> Fields<'_> {
    Fields { s, pos: 0 }
}

/// Iterator returned by [`fields`].
pub(crate) struct Fields<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Iterator for Fields<'a> {
    type Item = Field<'a>;

    // Inlined into both callers: this is the hot loop, and left to codegen-unit partitioning
    // it is sometimes a separate call per part.
    #[inline(always)]
    fn next(&mut self) -> Option<Field<'a>> {
        let (s, b) = (self.s, self.s.as_bytes());
        while self.pos < b.len() {
            let start = self.pos;
            let stop = find_stop(b, start, true);
            let (end, kv, dash) = if b.get(stop) == Some(&b'=') {
                let end = find_stop(b, stop + 1, false);
                let dash = b[start..stop].iter().rposition(|&c| c == b'-');
                (end, Some((&s[start..stop], &s[stop + 1..end])), dash)
            } else {
                (stop, None, None)
            };
            self.pos = end + 1;
            if end > start {
                let part = &s[start..end];
                return Some(Field {
                    start,
                    part,
                    kv,
                    dash,
                });
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_parts_keys_values_and_dashes() {
        // input → (part, key=value?, dash offset)
        type Row = (
            &'static str,
            Option<(&'static str, &'static str)>,
            Option<usize>,
        );
        let cases: &[(&str, &[Row])] = &[
            ("", &[]),
            (";;,", &[]),
            ("a=1", &[("a=1", Some(("a", "1")), None)]),
            (
                "w01018-Rtd=1.5,w01018-Flag=N;DataTime=20160801084000;",
                &[
                    ("w01018-Rtd=1.5", Some(("w01018-Rtd", "1.5")), Some(6)),
                    ("w01018-Flag=N", Some(("w01018-Flag", "N")), Some(6)),
                    (
                        "DataTime=20160801084000",
                        Some(("DataTime", "20160801084000")),
                        None,
                    ),
                ],
            ),
            (
                "a-b-Rtd=x-y=z",
                &[("a-b-Rtd=x-y=z", Some(("a-b-Rtd", "x-y=z")), Some(3))],
            ),
            (
                "novalue;k=",
                &[("novalue", None, None), ("k=", Some(("k", "")), None)],
            ),
            ("=v", &[("=v", Some(("", "v")), None)]),
            (
                "i13001-Info=正常,x=1",
                &[
                    ("i13001-Info=正常", Some(("i13001-Info", "正常")), Some(6)),
                    ("x=1", Some(("x", "1")), None),
                ],
            ),
            (
                "averyveryverylongkey-Suffix=averyveryverylongvalue;b=2",
                &[
                    (
                        "averyveryverylongkey-Suffix=averyveryverylongvalue",
                        Some(("averyveryverylongkey-Suffix", "averyveryverylongvalue")),
                        Some(20),
                    ),
                    ("b=2", Some(("b", "2")), None),
                ],
            ),
        ];
        for (input, want) in cases {
            let got: Vec<Row> = fields(input).map(|f| (f.part, f.kv, f.dash)).collect();
            assert_eq!(&got, want, "{input}");
        }
        assert_eq!(
            fields("x").next().unwrap().key_value().unwrap_err().code(),
            "bad_field"
        );
    }

    #[test]
    fn word_search_finds_the_first_stop_at_every_offset() {
        for len in 0..20 {
            for at in 0..=len {
                let mut b = vec![b'x'; len];
                if at < len {
                    b[at] = b',';
                }
                // Bytes after the stop must not matter.
                b.extend_from_slice(b"==;;");
                let want = if at < len { at } else { len + 2 };
                assert_eq!(find_stop(&b, 0, false), want, "{len} {at}");
            }
        }
        assert_eq!(find_stop(b"abcdefgh=ij;", 0, true), 8);
        assert_eq!(find_stop(b"abcdefgh=ij;", 0, false), 11);
        assert_eq!(find_stop(b"\x80\xff\x7f\x81;", 0, false), 4);
    }
}
