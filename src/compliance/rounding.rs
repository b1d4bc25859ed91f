//! How the bulletin shows a rate: as a percentage with one decimal, rounded half up (四舍五入,
//! as Chinese statistics round: 1.25% → 1.3%), except that a rate below 100% is never shown as
//! 100.0%: near the target it rounds down (99.96% → 99.9%), so a park that missed the target by
//! a hair never reads as having met it.
//!
//! Input: a fraction (0.0125 = 1.25%). Output: tenths of a percent, or the text. Pure.
//!
//! Binary floating point cannot hold most decimals (0.0125 is 0.01250000000000000069…, and a
//! product may land on 0.012499999999999999), so the fraction is first fixed to 12 decimal
//! places, far below what a count of hours can resolve and far above the binary error, and then
//! rounded on that scaled integer.

/// Decimal places the fraction is fixed to before rounding.
const FIXED_PLACES: usize = 12;
/// 10^[`FIXED_PLACES`] / 1000: one tenth of a percent at that scale.
const TENTH_OF_PERCENT: i128 = 1_000_000_000;

/// `x` (a fraction) in tenths of a percent, rounded half away from zero; a value below 1 that
/// would round to 100.0% or more is 99.9%. `None` for NaN or infinity.
pub fn rate_tenths(x: f64) -> Option<i64> {
    if !x.is_finite() {
        return None;
    }
    let text = format!("{:.*}", FIXED_PLACES, x.abs());
    let (whole, frac) = text.split_once('.')?;
    let scaled = whole.parse::<i128>().ok()? * 10i128.pow(FIXED_PLACES as u32)
        + frac.parse::<i128>().ok()?;
    let tenths = (scaled + TENTH_OF_PERCENT / 2) / TENTH_OF_PERCENT;
    let tenths = i64::try_from(tenths).ok()?;
    let tenths = if x < 0.0 { -tenths } else { tenths };
    Some(if x < 1.0 && tenths >= 1000 {
        999
    } else {
        tenths
    })
}

/// `x` as a percentage with one decimal and no sign (`"99.9"`); `"-"` for none.
pub fn percent(x: Option<f64>) -> String {
    match x.and_then(rate_tenths) {
        Some(t) => {
            let sign = if t < 0 { "-" } else { "" };
            format!("{sign}{}.{}", t.abs() / 10, t.abs() % 10)
        }
        None => "-".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_table() {
        // (fraction, shown)
        let cases: &[(f64, &str)] = &[
            (0.0, "0.0"),
            (1.0, "100.0"),
            (0.0125, "1.3"),      // half up, not half even (1.2)
            (0.1 * 0.125, "1.3"), // 0.012499999999999999 in binary
            (1.0 / 80.0, "1.3"),  // 1 hour of 80
            (0.0124, "1.2"),
            (0.01249, "1.2"),
            (0.0135, "1.4"),
            (0.5, "50.0"),
            (0.8125, "81.3"),
            (0.99951, "99.9"), // would be 100.0: below the target, so 99.9
            (0.9996, "99.9"),  // 99.96%
            (0.99999, "99.9"),
            (1.0 - 1e-15, "99.9"), // a hair below, still not 100.0
            (0.9994, "99.9"),
            (0.9995 - 1e-12, "99.9"),
            (0.9985, "99.9"), // 99.85 → 99.9 half up
            (0.9984, "99.8"),
            (383.0 / 384.0, "99.7"), // 99.7395…
            (1.5, "150.0"),
            (-0.0125, "-1.3"), // a negative reduction, half away from zero
            (-0.2, "-20.0"),
        ];
        for &(x, want) in cases {
            assert_eq!(percent(Some(x)), want, "{x:?}");
        }
        assert_eq!(percent(None), "-");
        assert_eq!(percent(Some(f64::NAN)), "-");
        assert_eq!(rate_tenths(f64::INFINITY), None);
        assert_eq!(rate_tenths(0.0125), Some(13));
    }
}
