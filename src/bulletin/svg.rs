//! Line charts as inline SVG, built here (no crate, nothing fetched). Every series has its own
//! line style and marker shape, and the legend shows both, so a chart printed in black and white
//! says the same as on screen. Pure: data in, SVG text out.

use std::fmt::Write as _;

/// Text made safe for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// How a series' line is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stroke {
    Solid,
    Dashed,
    Dotted,
}

/// The shape drawn at each point of a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    Circle,
    Square,
    Triangle,
    None,
}

/// A series: its name in the legend, its points (`None` leaves a gap), and its style.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, Option<f64>)>,
    pub stroke: Stroke,
    pub marker: Marker,
}

/// A line chart over a numeric x axis with labelled ticks.
#[derive(Debug, Clone)]
pub struct LineChart {
    /// The `aria-label` and `<title>`.
    pub title: String,
    /// The y axis' name with its unit.
    pub y_label: String,
    pub x_ticks: Vec<(f64, String)>,
    /// The x range shown (a little wider than the ticks looks better).
    pub x_range: (f64, f64),
    pub y_range: (f64, f64),
    /// How the y ticks are written.
    pub y_format: fn(f64) -> String,
    pub series: Vec<Series>,
}

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 270.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 24.0;
/// Room for the x labels and the legend.
const BOTTOM: f64 = 64.0;
const Y_TICKS: u32 = 5;

impl Stroke {
    fn dasharray(self) -> &'static str {
        match self {
            Stroke::Solid => "",
            Stroke::Dashed => " stroke-dasharray=\"8 4\"",
            Stroke::Dotted => " stroke-dasharray=\"2 3\"",
        }
    }
}

fn marker(out: &mut String, m: Marker, x: f64, y: f64) {
    let _ = match m {
        Marker::Circle => write!(
            out,
            "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"3.5\" fill=\"#fff\" stroke=\"#000\" stroke-width=\"1.5\"/>"
        ),
        Marker::Square => write!(
            out,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"7\" height=\"7\" fill=\"#000\"/>",
            x - 3.5,
            y - 3.5
        ),
        Marker::Triangle => write!(
            out,
            "<path d=\"M{x:.1} {:.1}L{:.1} {:.1}L{:.1} {:.1}Z\" fill=\"#fff\" stroke=\"#000\" stroke-width=\"1.2\"/>",
            y - 4.5,
            x + 4.5,
            y + 3.5,
            x - 4.5,
            y + 3.5
        ),
        Marker::None => Ok(()),
    };
}

impl LineChart {
    /// The chart as an `<svg>` element.
    pub fn svg(&self) -> String {
        let (x0, x1) = self.x_range;
        let (y0, y1) = self.y_range;
        let (pw, ph) = (WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM);
        let sx = |x: f64| {
            LEFT + if x1 > x0 {
                (x - x0) / (x1 - x0) * pw
            } else {
                0.0
            }
        };
        let sy = |y: f64| {
            TOP + ph
                - if y1 > y0 {
                    (y - y0) / (y1 - y0) * ph
                } else {
                    0.0
                }
        };
        let mut s = String::new();
        let _ = write!(
            s,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"{t}\"><title>{t}</title>",
            t = esc(&self.title)
        );
        // Grid and y ticks.
        for i in 0..=Y_TICKS {
            let v = y0 + (y1 - y0) * f64::from(i) / f64::from(Y_TICKS);
            let y = sy(v);
            let _ = write!(
                s,
                "<line x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#bbb\" stroke-width=\"0.5\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" font-size=\"10\">{}</text>",
                LEFT + pw,
                LEFT - 4.0,
                y + 3.5,
                esc(&(self.y_format)(v))
            );
        }
        let _ = write!(
            s,
            "<text x=\"12\" y=\"{:.1}\" font-size=\"10\" transform=\"rotate(-90 12 {:.1})\" text-anchor=\"middle\">{}</text>",
            TOP + ph / 2.0,
            TOP + ph / 2.0,
            esc(&self.y_label)
        );
        // Axes and x ticks.
        let _ = write!(
            s,
            "<path d=\"M{LEFT} {TOP}V{:.1}H{:.1}\" fill=\"none\" stroke=\"#000\" stroke-width=\"1\"/>",
            TOP + ph,
            LEFT + pw
        );
        for (x, label) in &self.x_ticks {
            let px = sx(*x);
            let _ = write!(
                s,
                "<line x1=\"{px:.1}\" y1=\"{:.1}\" x2=\"{px:.1}\" y2=\"{:.1}\" stroke=\"#000\"/><text x=\"{px:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"10\">{}</text>",
                TOP + ph,
                TOP + ph + 4.0,
                TOP + ph + 15.0,
                esc(label)
            );
        }
        // Series: lines broken at gaps, then markers.
        for series in &self.series {
            let mut d = String::new();
            let mut pen_down = false;
            for (x, y) in &series.points {
                match y.filter(|y| y.is_finite()) {
                    Some(y) => {
                        let _ = write!(
                            d,
                            "{}{:.1} {:.1}",
                            if pen_down { "L" } else { "M" },
                            sx(*x),
                            sy(y.clamp(y0, y1))
                        );
                        pen_down = true;
                    }
                    None => pen_down = false,
                }
            }
            let _ = write!(
                s,
                "<path d=\"{d}\" fill=\"none\" stroke=\"#000\" stroke-width=\"1.6\"{}/>",
                series.stroke.dasharray()
            );
            for (x, y) in &series.points {
                if let Some(y) = y.filter(|y| y.is_finite()) {
                    marker(&mut s, series.marker, sx(*x), sy(y.clamp(y0, y1)));
                }
            }
        }
        // Legend: a sample of each line with its marker, and the name.
        let mut lx = LEFT;
        let ly = HEIGHT - 14.0;
        for series in &self.series {
            let _ = write!(
                s,
                "<line x1=\"{lx:.1}\" y1=\"{ly:.1}\" x2=\"{:.1}\" y2=\"{ly:.1}\" stroke=\"#000\" stroke-width=\"1.6\"{}/>",
                lx + 28.0,
                series.stroke.dasharray()
            );
            marker(&mut s, series.marker, lx + 14.0, ly);
            let _ = write!(
                s,
                "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\">{}</text>",
                lx + 33.0,
                ly + 3.5,
                esc(&series.name)
            );
            // Chinese characters are about a font size wide, Latin ones about half.
            let width: f64 = series
                .name
                .chars()
                .map(|c| if c.is_ascii() { 5.6 } else { 10.0 })
                .sum();
            lx += 33.0 + width + 18.0;
        }
        s.push_str("</svg>");
        s
    }
}

/// A y range from 0 (or below, for negative values) to a round value above the data.
pub fn y_range_of(values: impl Iterator<Item = f64>, at_least: f64) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((0.0_f64, at_least), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let nice = |v: f64| {
        if v == 0.0 {
            return 0.0;
        }
        let step = 10f64.powf(v.abs().log10().floor());
        // Less a hair, so that 0.2 / 0.1 = 2.0000000000000004 stays 2.
        ((v / step) - 1e-9).ceil() * step
    };
    (-nice(-lo), nice(hi))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_has_a_path_per_series_with_gaps_and_a_legend() {
        let chart = LineChart {
            title: "监测率 <1>".into(),
            y_label: "%".into(),
            x_ticks: vec![(0.0, "1月".into()), (1.0, "2月".into())],
            x_range: (-0.5, 2.5),
            y_range: (0.0, 100.0),
            y_format: |v| format!("{v:.0}"),
            series: vec![
                Series {
                    name: "监测率".into(),
                    points: vec![(0.0, Some(50.0)), (1.0, None), (2.0, Some(100.0))],
                    stroke: Stroke::Solid,
                    marker: Marker::Circle,
                },
                Series {
                    name: "target".into(),
                    points: vec![(0.0, Some(100.0)), (2.0, Some(100.0))],
                    stroke: Stroke::Dashed,
                    marker: Marker::None,
                },
            ],
        };
        let svg = chart.svg();
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("监测率 &lt;1&gt;"), "escaped title");
        // The gap: two moves in the first series' path, no line across the missing month.
        let first = svg.split("<path d=\"M").nth(2).unwrap();
        assert_eq!(first.split('"').next().unwrap().matches('M').count(), 1);
        assert!(svg.contains("stroke-dasharray=\"8 4\""));
        assert_eq!(
            svg.matches("<circle").count(),
            3,
            "two points and the legend"
        );
    }

    #[test]
    fn ranges_are_round() {
        let close = |(a, b): (f64, f64), (c, d): (f64, f64)| {
            assert!((a - c).abs() < 1e-12 && (b - d).abs() < 1e-12, "{a} {b}")
        };
        close(y_range_of([0.8, 0.93].into_iter(), 0.0), (0.0, 1.0));
        close(y_range_of([-0.07, 0.2].into_iter(), 0.0), (-0.07, 0.2));
        assert_eq!(y_range_of(std::iter::empty(), 100.0), (0.0, 100.0));
    }
}
