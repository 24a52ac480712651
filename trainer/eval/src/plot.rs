//! Self-contained SVG line charts (equity curves, learning curves) and strip plots (one dot
//! per seed and fold) that open in any browser, written by hand so they need no fonts or
//! system libraries.
//!
//! A chart has a title, both axes with "nice" tick labels (1, 2 or 5 × 10ᵏ)
//! and light grid lines, axis labels, one coloured line per series and a
//! legend to the right. Inputs are never trusted: non-finite points are
//! skipped (the line breaks there), empty, single-point and constant series
//! still give a valid chart, text is XML-escaped, and series longer than
//! [`MAX_POINTS`] are thinned to keep files small.

use std::fmt::Write as _;

/// One named line of a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Name shown in the legend (long names are shortened there).
    pub name: String,
    /// The y value at each x of the chart; `values[i]` pairs with `x[i]`.
    pub values: Vec<f64>,
}

impl Series {
    /// A series named `name` with the given values.
    pub fn new(name: impl Into<String>, values: Vec<f64>) -> Self {
        Self { name: name.into(), values }
    }
}

/// Most points drawn per series; longer series are thinned to the minimum
/// and maximum of each of `MAX_POINTS / 2` consecutive buckets, which keeps
/// the shape (spikes and drawdowns included).
pub const MAX_POINTS: usize = 2000;

/// Values beyond this magnitude are skipped like non-finite ones, so the axis
/// span cannot overflow.
const LIMIT: f64 = 1e300;
const WIDTH: f64 = 900.0;
const HEIGHT: f64 = 500.0;
const PLOT_LEFT: f64 = 85.0;
const PLOT_RIGHT: f64 = 700.0;
const PLOT_TOP: f64 = 50.0;
const PLOT_BOTTOM: f64 = 440.0;
const LEGEND_ROW: f64 = 20.0;
/// Fraction of the data range left empty beyond each end of an axis.
const AXIS_MARGIN: f64 = 0.04;
/// Gaps between ticks aimed for; rounding the step up to a nice number gives
/// between 3 and 8 of them.
const TARGET_TICK_GAPS: f64 = 8.0;
const LEGEND_NAME_CHARS: usize = 22;
/// Ten distinct colours (the Tableau 10 palette).
const PALETTE: [&str; 10] =
    ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
/// Dash patterns that tell apart series which reuse a colour after the tenth.
const DASHES: [&str; 4] = ["", "6 3", "2 3", "8 3 2 3"];

/// Renders a line chart as a standalone SVG document.
///
/// `x` gives the x value of each point and is shared by all series:
/// `series[k].values[i]` is drawn at `x[i]`, and a series longer than `x` is
/// cut to `x.len()`. An empty `x` means "use the index": point `i` is drawn at
/// `x = i`. Points whose x or y is not finite (or beyond ±1e300) are skipped
/// and break the line. A chart with no drawable point still shows its frame,
/// title and legend, with a "no finite data" note.
pub fn line_chart_svg(title: &str, x_label: &str, y_label: &str, x: &[f64], series: &[Series]) -> String {
    let lines: Vec<Vec<Option<(f64, f64)>>> = series.iter().map(|s| thinned(&points(x, &s.values))).collect();
    let drawable = lines.iter().flatten().flatten();
    let x_axis = Axis::spanning(drawable.clone().map(|p| p.0));
    let y_axis = Axis::spanning(drawable.clone().map(|p| p.1));
    let any_point = drawable.count() > 0;

    let x_ticks: Vec<(f64, String)> =
        x_axis.ticks().map(|t| (x_axis.pixel(t, PLOT_LEFT, PLOT_RIGHT), x_axis.label(t))).collect();
    let mut svg = frame(title, x_label, y_label, &x_ticks, &y_axis, any_point);

    // The series.
    for (k, line) in lines.iter().enumerate() {
        let (colour, dash) = style(k);
        let mut path = String::new();
        let mut dots = Vec::new();
        for segment in line.split(Option::is_none) {
            let pixels: Vec<(f64, f64)> = segment
                .iter()
                .flatten()
                .map(|&(px, py)| (x_axis.pixel(px, PLOT_LEFT, PLOT_RIGHT), y_axis.pixel(py, PLOT_BOTTOM, PLOT_TOP)))
                .collect();
            match pixels.as_slice() {
                [] => {}
                [only] => dots.push(*only),
                [first, rest @ ..] => {
                    let _ = write!(path, "M{} {}", coord(first.0), coord(first.1));
                    for p in rest {
                        let _ = write!(path, "L{} {}", coord(p.0), coord(p.1));
                    }
                }
            }
        }
        if !path.is_empty() {
            let _ = writeln!(
                svg,
                r#"<path d="{path}" fill="none" stroke="{colour}" stroke-width="1.5" stroke-linejoin="round"{dash}/>"#
            );
        }
        for (px, py) in dots {
            let _ = writeln!(svg, r#"<circle cx="{}" cy="{}" r="2.5" fill="{colour}"/>"#, coord(px), coord(py));
        }
    }

    let entries: Vec<(&str, usize)> = series.iter().enumerate().map(|(k, s)| (s.name.as_str(), k)).collect();
    legend(&mut svg, &entries, None);
    svg.push_str("</svg>\n");
    svg
}

/// Renders a strip plot as a standalone SVG document: one column per category along x, and
/// in each column one dot per series (`series[k].values[i]` is series `k`'s value in category
/// `i`), spread a little sideways so dots of equal value stay apart, each series in its own
/// colour throughout; `reference`, if given, marks one value per category with a short black
/// bar across its column (a baseline such as buy-and-hold).
///
/// Values that are not finite (or beyond ±1e300) are left out: a missing dot. Categories
/// beyond `categories` are not drawn. Like [`line_chart_svg`], the chart has a title, axes,
/// a legend, and a "no finite data" note when nothing can be drawn.
pub fn strip_chart_svg(
    title: &str,
    x_label: &str,
    y_label: &str,
    categories: &[String],
    series: &[Series],
    reference: Option<&Series>,
) -> String {
    let columns = categories.len();
    let drawable = |v: &f64| v.is_finite() && v.abs() <= LIMIT;
    let values =
        series.iter().chain(reference).flat_map(|s| s.values.iter().take(columns)).copied().filter(|v| drawable(v));
    let y_axis = Axis::spanning(values.clone());
    let any_point = values.count() > 0;

    let band = (PLOT_RIGHT - PLOT_LEFT) / columns.max(1) as f64;
    let centre = |i: usize| PLOT_LEFT + band * (i as f64 + 0.5);
    let x_ticks: Vec<(f64, String)> = categories.iter().enumerate().map(|(i, c)| (centre(i), c.clone())).collect();
    let mut svg = frame(title, x_label, y_label, &x_ticks, &y_axis, any_point);

    if let Some(reference) = reference {
        let half = band * 0.4;
        for (i, &v) in reference.values.iter().take(columns).enumerate().filter(|(_, v)| drawable(v)) {
            let py = coord(y_axis.pixel(v, PLOT_BOTTOM, PLOT_TOP));
            let _ = writeln!(
                svg,
                r#"<line x1="{}" y1="{py}" x2="{}" y2="{py}" stroke="black" stroke-width="2.5"/>"#,
                coord(centre(i) - half),
                coord(centre(i) + half)
            );
        }
    }
    // Dots spread over the middle half of the column, at most 12 px apart.
    let gap = if series.len() > 1 { (band * 0.5 / (series.len() - 1) as f64).min(12.0) } else { 0.0 };
    for (k, s) in series.iter().enumerate() {
        let (colour, _) = style(k);
        let offset = (k as f64 - (series.len() as f64 - 1.0) / 2.0) * gap;
        for (i, &v) in s.values.iter().take(columns).enumerate().filter(|(_, v)| drawable(v)) {
            let _ = writeln!(
                svg,
                r#"<circle cx="{}" cy="{}" r="4" fill="{colour}" fill-opacity="0.85"/>"#,
                coord(centre(i) + offset),
                coord(y_axis.pixel(v, PLOT_BOTTOM, PLOT_TOP))
            );
        }
    }

    let entries: Vec<(&str, usize)> = series.iter().enumerate().map(|(k, s)| (s.name.as_str(), k)).collect();
    legend(&mut svg, &entries, reference.map(|r| r.name.as_str()));
    svg.push_str("</svg>\n");
    svg
}

/// The start of a chart, up to where its data is drawn: the XML declaration, the `<svg>`
/// element, title, grid, frame, tick labels (`x_ticks` as pixel and label) and axis labels,
/// and a "no finite data" note when `any_point` is false.
fn frame(
    title: &str,
    x_label: &str,
    y_label: &str,
    x_ticks: &[(f64, String)],
    y_axis: &Axis,
    any_point: bool,
) -> String {
    let mut svg = String::new();
    // Writing to a String cannot fail; the results are ignored on purpose.
    let _ = writeln!(svg, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, "<title>{}</title>", text(title));
    let _ = writeln!(svg, r#"<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="30" text-anchor="middle" font-size="16" font-weight="bold">{}</text>"#,
        (PLOT_LEFT + PLOT_RIGHT) / 2.0,
        text(title)
    );

    // Grid lines and tick labels.
    let _ = writeln!(svg, r##"<g stroke="#e6e6e6" stroke-width="1">"##);
    for (px, _) in x_ticks {
        let px = coord(*px);
        let _ = writeln!(svg, r#"<line x1="{px}" y1="{PLOT_TOP}" x2="{px}" y2="{PLOT_BOTTOM}"/>"#);
    }
    for t in y_axis.ticks() {
        let py = coord(y_axis.pixel(t, PLOT_BOTTOM, PLOT_TOP));
        let _ = writeln!(svg, r#"<line x1="{PLOT_LEFT}" y1="{py}" x2="{PLOT_RIGHT}" y2="{py}"/>"#);
    }
    let _ = writeln!(svg, "</g>");
    let _ = writeln!(
        svg,
        r#"<rect x="{PLOT_LEFT}" y="{PLOT_TOP}" width="{}" height="{}" fill="none" stroke="black"/>"#,
        PLOT_RIGHT - PLOT_LEFT,
        PLOT_BOTTOM - PLOT_TOP
    );
    let _ = writeln!(svg, r##"<g fill="#333">"##);
    for (px, label) in x_ticks {
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
            coord(*px),
            PLOT_BOTTOM + 18.0,
            text(label)
        );
    }
    for t in y_axis.ticks() {
        let py = y_axis.pixel(t, PLOT_BOTTOM, PLOT_TOP);
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
            PLOT_LEFT - 6.0,
            coord(py + 4.0),
            y_axis.label(t)
        );
    }
    let _ = writeln!(svg, "</g>");
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle" font-size="13">{}</text>"#,
        (PLOT_LEFT + PLOT_RIGHT) / 2.0,
        PLOT_BOTTOM + 45.0,
        text(x_label)
    );
    let y_mid = (PLOT_TOP + PLOT_BOTTOM) / 2.0;
    let _ = writeln!(
        svg,
        r#"<text x="20" y="{y_mid}" text-anchor="middle" font-size="13" transform="rotate(-90 20 {y_mid})">{}</text>"#,
        text(y_label)
    );
    if !any_point {
        let _ = writeln!(
            svg,
            r##"<text x="{}" y="{y_mid}" text-anchor="middle" fill="#888">no finite data</text>"##,
            (PLOT_LEFT + PLOT_RIGHT) / 2.0
        );
    }
    svg
}

/// The legend to the right of the plot, as many rows as fit: a line in each series' style
/// (`entries`: name and style index), then `reference`'s black bar if there is one.
fn legend(svg: &mut String, entries: &[(&str, usize)], reference: Option<&str>) {
    let rows = ((PLOT_BOTTOM - PLOT_TOP) / LEGEND_ROW) as usize - usize::from(reference.is_some());
    let shown = if entries.len() > rows { rows.saturating_sub(1) } else { entries.len() };
    let legend_x = PLOT_RIGHT + 15.0;
    let row_y = |k: usize| PLOT_TOP + 10.0 + LEGEND_ROW * k as f64;
    for (k, &(name, style_index)) in entries.iter().take(shown).enumerate() {
        let (colour, dash) = style(style_index);
        let y = row_y(k);
        let _ = writeln!(
            svg,
            r#"<line x1="{legend_x}" y1="{y}" x2="{}" y2="{y}" stroke="{colour}" stroke-width="3"{dash}/>"#,
            legend_x + 24.0
        );
        let _ = writeln!(svg, r#"<text x="{}" y="{}">{}</text>"#, legend_x + 30.0, y + 4.0, text(&shortened(name)));
    }
    let mut next = shown;
    if shown < entries.len() {
        let y = PLOT_TOP + 14.0 + LEGEND_ROW * shown as f64;
        let _ = writeln!(svg, r##"<text x="{legend_x}" y="{y}" fill="#555">+{} more</text>"##, entries.len() - shown);
        next += 1;
    }
    if let Some(name) = reference {
        let y = row_y(next);
        let _ = writeln!(
            svg,
            r#"<line x1="{legend_x}" y1="{y}" x2="{}" y2="{y}" stroke="black" stroke-width="3"/>"#,
            legend_x + 24.0
        );
        let _ = writeln!(svg, r#"<text x="{}" y="{}">{}</text>"#, legend_x + 30.0, y + 4.0, text(&shortened(name)));
    }
}

/// Pairs each value with its x (or its index when `x` is empty); `None` marks
/// a point that cannot be drawn.
fn points(x: &[f64], values: &[f64]) -> Vec<Option<(f64, f64)>> {
    let drawable = |v: f64| v.is_finite() && v.abs() <= LIMIT;
    let at = |i: usize, y: f64| {
        let xi = if x.is_empty() { Some(i as f64) } else { x.get(i).copied() };
        xi.filter(|&xi| drawable(xi) && drawable(y)).map(|xi| (xi, y))
    };
    let n = if x.is_empty() { values.len() } else { values.len().min(x.len()) };
    values.iter().take(n).enumerate().map(|(i, &y)| at(i, y)).collect()
}

/// Thins a line to at most [`MAX_POINTS`] points: in each bucket of consecutive
/// points, the lowest and the highest (in their original order), followed by a
/// break if the bucket held one.
fn thinned(line: &[Option<(f64, f64)>]) -> Vec<Option<(f64, f64)>> {
    if line.len() <= MAX_POINTS {
        return line.to_vec();
    }
    let bucket = line.len().div_ceil(MAX_POINTS / 2);
    let mut out = Vec::with_capacity(MAX_POINTS + MAX_POINTS / 2);
    for chunk in line.chunks(bucket) {
        let mut low: Option<(usize, (f64, f64))> = None;
        let mut high: Option<(usize, (f64, f64))> = None;
        for (i, p) in chunk.iter().enumerate() {
            if let Some(p) = *p {
                if low.is_none_or(|(_, l)| p.1 < l.1) {
                    low = Some((i, p));
                }
                if high.is_none_or(|(_, h)| p.1 > h.1) {
                    high = Some((i, p));
                }
            }
        }
        match (low, high) {
            (Some((i, l)), Some((j, h))) if i < j => out.extend([Some(l), Some(h)]),
            (Some((i, l)), Some((j, h))) if j < i => out.extend([Some(h), Some(l)]),
            (Some((_, l)), _) => out.push(Some(l)),
            _ => {}
        }
        if chunk.iter().any(Option::is_none) {
            out.push(None);
        }
    }
    out
}

/// One axis: its range (the data's, with a margin) and the tick spacing.
#[derive(Debug, Clone, Copy)]
struct Axis {
    /// Value at the low end of the axis.
    lo: f64,
    /// Value at the high end of the axis; above `lo`.
    hi: f64,
    /// Distance between ticks: 1, 2 or 5 × 10ᵏ; ticks sit at its multiples.
    step: f64,
}

impl Axis {
    /// The axis covering `values` (all finite and within ±[`LIMIT`]) with a
    /// [`AXIS_MARGIN`] margin on each side, so no point sits on the frame;
    /// `[0, 1]` when there are none, a padded range around a constant.
    fn spanning(values: impl Iterator<Item = f64>) -> Self {
        let (mut lo, mut hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
        if lo > hi {
            (lo, hi) = (0.0, 1.0);
        }
        let magnitude = lo.abs().max(hi.abs());
        let pad = if hi - lo <= magnitude * 1e-9 {
            // A constant: centre it.
            if magnitude > 0.0 { magnitude * 0.1 } else { 1.0 }
        } else {
            (hi - lo) * AXIS_MARGIN
        };
        let (lo, hi) = (lo - pad, hi + pad);
        let step = nice_step((hi - lo) / TARGET_TICK_GAPS);
        if lo.is_finite() && hi.is_finite() && hi > lo && step.is_finite() && step > 0.0 {
            Self { lo, hi, step }
        } else {
            Self { lo: 0.0, hi: 1.0, step: 0.2 }
        }
    }

    /// Tick values: the multiples of `step` between `lo` and `hi`.
    fn ticks(&self) -> impl Iterator<Item = f64> + '_ {
        let first = (self.lo / self.step).ceil();
        let count = ((self.hi / self.step).floor() - first).clamp(0.0, 50.0) as usize;
        (0..=count).map(move |k| {
            let t = (first + k as f64) * self.step;
            // Snap rounding noise such as 1e-17 to an exact 0 (no "-0" labels).
            if t.abs() < self.step * 1e-6 { 0.0 } else { t }
        })
    }

    /// Maps `v` onto pixels, `lo` at `from` and `hi` at `to`.
    fn pixel(&self, v: f64, from: f64, to: f64) -> f64 {
        from + (v - self.lo) / (self.hi - self.lo) * (to - from)
    }

    /// A readable tick label, in one notation for the whole axis: plain
    /// decimals with just enough digits for the step; thousands (`k`),
    /// millions (`M`), billions (`G`) or trillions (`T`) on axes reaching
    /// 10⁴ or more; scientific notation on axes beyond 10¹⁵ or within 10⁻³.
    fn label(&self, v: f64) -> String {
        if v == 0.0 {
            return "0".to_string();
        }
        let reach = self.lo.abs().max(self.hi.abs());
        if !(1e-3..1e15).contains(&reach) {
            let digits = (v.abs().log10().floor() - self.step.log10().floor()).clamp(0.0, 15.0);
            return format!("{v:.digits$e}", digits = digits as usize);
        }
        let (unit, suffix): (f64, &str) = [(1e12_f64, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")]
            .into_iter()
            .find(|&(unit, _)| reach >= unit.max(1e4))
            .unwrap_or((1.0, ""));
        let decimals = (-(self.step / unit).log10().floor()).clamp(0.0, 15.0) as usize;
        format!("{:.decimals$}{suffix}", v / unit)
    }
}

/// The "nice" number (1, 2 or 5 × 10ᵏ) at or just above `raw > 0`.
fn nice_step(raw: f64) -> f64 {
    let magnitude = 10f64.powf(raw.log10().floor());
    let normalised = raw / magnitude;
    let nice = if normalised <= 1.0 {
        1.0
    } else if normalised <= 2.0 {
        2.0
    } else if normalised <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

/// Colour and dash attribute of the `k`-th series.
fn style(k: usize) -> (&'static str, String) {
    let colour = PALETTE[k % PALETTE.len()];
    let dash = DASHES[(k / PALETTE.len()) % DASHES.len()];
    let dash = if dash.is_empty() { String::new() } else { format!(r#" stroke-dasharray="{dash}""#) };
    (colour, dash)
}

/// A pixel coordinate as written into the SVG: one decimal, never NaN.
fn coord(v: f64) -> String {
    let v = if v.is_finite() { v } else { 0.0 };
    format!("{v:.1}")
}

/// `name` cut to [`LEGEND_NAME_CHARS`] characters, with an ellipsis if cut.
fn shortened(name: &str) -> String {
    if name.chars().count() <= LEGEND_NAME_CHARS {
        name.to_string()
    } else {
        let mut s: String = name.chars().take(LEGEND_NAME_CHARS - 1).collect();
        s.push('…');
        s
    }
}

/// `s` as XML character data: markup characters escaped, line breaks turned
/// into spaces and characters XML 1.0 forbids dropped.
fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(' '),
            '\u{FFFE}' | '\u{FFFF}' => {}
            c if c < ' ' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_steps_are_one_two_or_five_times_a_power_of_ten() {
        assert_eq!(nice_step(0.9), 1.0);
        assert_eq!(nice_step(1.3), 2.0);
        assert_eq!(nice_step(3.0), 5.0);
        assert_eq!(nice_step(7.0), 10.0);
        assert!((nice_step(0.013) - 0.02).abs() < 1e-15);
    }

    #[test]
    fn axis_covers_the_data_with_round_ticks() {
        let a = Axis::spanning([1.0, 1.23].into_iter());
        assert!(a.lo < 1.0 && a.hi > 1.23);
        let labels: Vec<String> = a.ticks().map(|t| a.label(t)).collect();
        assert_eq!(labels, ["1.00", "1.05", "1.10", "1.15", "1.20"]);
        let a = Axis::spanning([0.0, 5000.0].into_iter());
        let labels: Vec<String> = a.ticks().map(|t| a.label(t)).collect();
        assert_eq!(labels, ["0", "1000", "2000", "3000", "4000", "5000"]);
    }

    #[test]
    fn axis_handles_constant_empty_and_huge_ranges() {
        for values in [vec![], vec![0.0], vec![3.0, 3.0], vec![-1e300, 1e300], vec![1e-300]] {
            let a = Axis::spanning(values.iter().copied());
            assert!(a.lo.is_finite() && a.hi.is_finite() && a.hi > a.lo, "{values:?}");
            assert!(a.ticks().count() >= 2);
            for t in a.ticks() {
                assert!(!a.label(t).contains("NaN"));
            }
        }
        let a = Axis::spanning([2e7, 3e7].into_iter());
        assert_eq!(a.label(2.4e7), "24M");
        let a = Axis::spanning([0.0, 1e6].into_iter());
        let labels: Vec<String> = a.ticks().map(|t| a.label(t)).collect();
        assert_eq!(labels, ["0", "0.2M", "0.4M", "0.6M", "0.8M", "1.0M"]);
        let a = Axis::spanning([0.0, 50_000.0].into_iter());
        let labels: Vec<String> = a.ticks().map(|t| a.label(t)).collect();
        assert_eq!(labels, ["0", "10k", "20k", "30k", "40k", "50k"]);
        let a = Axis::spanning([1e-5, 3e-5].into_iter());
        assert_eq!(a.label(2e-5), "2.0e-5");
        // Close values far from zero keep the digits that tell ticks apart.
        let a = Axis::spanning([1e6, 1e6 + 1.0].into_iter());
        let labels: Vec<String> = a.ticks().map(|t| a.label(t)).collect();
        assert_eq!(labels[1], "1.0000002M", "{labels:?}");
    }

    #[test]
    fn thinning_keeps_extremes_and_bounds_the_size() {
        let mut line: Vec<Option<(f64, f64)>> =
            (0..100_000).map(|i| Some((i as f64, (i as f64 * 0.01).sin()))).collect();
        line[50_000] = Some((50_000.0, 9.0));
        line[70_000] = None;
        let thin = thinned(&line);
        assert!(thin.len() <= MAX_POINTS + MAX_POINTS / 2);
        assert!(thin.contains(&Some((50_000.0, 9.0))));
        assert!(thin.contains(&None));
    }

    #[test]
    fn text_is_escaped_and_cleaned() {
        assert_eq!(text("a<b & \"c\"\n\u{1}"), "a&lt;b &amp; &quot;c&quot; ");
        assert_eq!(shortened("abcdefghijklmnopqrstuvwxyz").chars().count(), LEGEND_NAME_CHARS);
    }
}
