//! Integration tests of the SVG charts: well-formed XML, legend, axes and
//! robustness to hostile input.

use skippy_eval::{Series, equity_curve, line_chart_svg, strip_chart_svg};

/// Parses `svg` as XML and returns every text node's content, in document order.
fn texts(svg: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("invalid XML: {e}\n{svg}"));
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    doc.descendants().filter(|n| n.has_tag_name("text")).filter_map(|n| n.text().map(str::to_string)).collect()
}

fn count_tag(svg: &str, tag: &str) -> usize {
    let doc = roxmltree::Document::parse(svg).expect("valid XML");
    doc.descendants().filter(|n| n.has_tag_name(tag)).count()
}

#[test]
fn equity_chart_has_title_axes_legend_and_one_line_per_series() {
    let strategy: Vec<f64> = (0..500).map(|i| 0.001 * ((i % 7) as f64 - 2.0)).collect();
    let market: Vec<f64> = (0..500).map(|i| 0.002 * ((i % 5) as f64 - 2.0)).collect();
    let x: Vec<f64> = (0..=500).map(|i| i as f64 / 24.0).collect();
    let svg = line_chart_svg(
        "BTC test bars: equity",
        "days",
        "equity (start = 1)",
        &x,
        &[Series::new("PPO strategy", equity_curve(&strategy)), Series::new("buy & hold", equity_curve(&market))],
    );
    let t = texts(&svg);
    for wanted in ["BTC test bars: equity", "days", "equity (start = 1)", "PPO strategy", "buy & hold"] {
        assert!(t.iter().any(|s| s == wanted), "missing {wanted:?} in {t:?}");
    }
    // Numeric tick labels on both axes.
    let numeric = t.iter().filter(|s| s.parse::<f64>().is_ok()).count();
    assert!(numeric >= 6, "{t:?}");
    assert_eq!(count_tag(&svg, "path"), 2);
    // Two distinct colours.
    let doc = roxmltree::Document::parse(&svg).expect("valid XML");
    let colours: Vec<&str> =
        doc.descendants().filter(|n| n.has_tag_name("path")).filter_map(|n| n.attribute("stroke")).collect();
    assert_eq!(colours.len(), 2);
    assert_ne!(colours[0], colours[1]);
}

#[test]
fn learning_curve_uses_env_steps_for_x() {
    let steps: Vec<f64> = (1..=50).map(|i| i as f64 * 20_000.0).collect();
    let reward: Vec<f64> = (1..=50).map(|i| (i as f64).ln()).collect();
    let svg =
        line_chart_svg("learning curve", "env steps", "mean episode reward", &steps, &[Series::new("reward", reward)]);
    let t = texts(&svg);
    assert!(t.iter().any(|s| s == "1.0M"), "{t:?}");
}

#[test]
fn hostile_inputs_still_give_valid_svg() {
    let cases: Vec<(Vec<f64>, Vec<Series>)> = vec![
        (vec![], vec![]),
        (vec![], vec![Series::new("empty", vec![])]),
        (vec![], vec![Series::new("one point", vec![1.5])]),
        (vec![], vec![Series::new("constant", vec![2.0; 10])]),
        (vec![], vec![Series::new("zeros", vec![0.0; 10])]),
        (vec![], vec![Series::new("no drawable value", vec![f64::NAN; 5])]),
        (
            vec![],
            vec![Series::new("holes", vec![1.0, f64::NAN, 2.0, f64::INFINITY, 3.0, 4.0, f64::NEG_INFINITY, 1e308])],
        ),
        (vec![0.0, 1.0, 2.0], vec![Series::new("longer than x", vec![1.0, 2.0, 3.0, 4.0, 5.0])]),
        (vec![f64::NAN, 1.0, 1.0, 1.0], vec![Series::new("bad x", vec![1.0, 2.0, 3.0, 4.0])]),
        (vec![], vec![Series::new("tiny", vec![1e-300, 2e-300]), Series::new("huge", vec![-1e299, 1e299])]),
        (vec![], vec![Series::new("<script>&\"'\u{0}\u{7}\n", vec![1.0, 2.0])]),
    ];
    for (x, series) in &cases {
        let svg = line_chart_svg("t <&> \u{1}", "x\"", "y'", x, series);
        texts(&svg);
        assert_coordinates_are_finite(&svg);
    }
}

/// Every coordinate attribute and path command holds a finite number.
fn assert_coordinates_are_finite(svg: &str) {
    let doc = roxmltree::Document::parse(svg).expect("valid XML");
    for node in doc.descendants().filter(|n| n.is_element()) {
        for attr in node.attributes() {
            let numbers: Vec<&str> = match attr.name() {
                "x" | "y" | "x1" | "x2" | "y1" | "y2" | "cx" | "cy" | "r" | "width" | "height" => {
                    vec![attr.value()]
                }
                "d" => attr.value().split(['M', 'L', ' ']).filter(|s| !s.is_empty()).collect(),
                _ => continue,
            };
            for number in numbers {
                let v: f64 = number.parse().unwrap_or_else(|_| panic!("{}={number:?} is not a number", attr.name()));
                assert!(v.is_finite(), "{}={number}", attr.name());
            }
        }
    }
}

#[test]
fn a_single_point_is_drawn_as_a_dot() {
    let svg = line_chart_svg("one", "x", "y", &[], &[Series::new("s", vec![3.0])]);
    assert_eq!(count_tag(&svg, "circle"), 1);
    assert_eq!(count_tag(&svg, "path"), 0);
}

#[test]
fn non_finite_points_break_the_line() {
    let svg = line_chart_svg("gap", "x", "y", &[], &[Series::new("s", vec![1.0, 2.0, f64::NAN, 3.0, 4.0])]);
    let doc = roxmltree::Document::parse(&svg).expect("valid XML");
    let d = doc.descendants().find(|n| n.has_tag_name("path")).and_then(|n| n.attribute("d")).expect("a path");
    assert_eq!(d.matches('M').count(), 2, "{d}");
}

#[test]
fn long_series_are_thinned_to_keep_files_small() {
    let n = 200_000;
    let values: Vec<f64> = (0..n).map(|i| (i as f64 * 0.001).sin() * 100.0).collect();
    let svg =
        line_chart_svg("long", "bar", "value", &[], &[Series::new("a", values.clone()), Series::new("b", values)]);
    texts(&svg);
    assert!(svg.len() < 120_000, "{} bytes", svg.len());
}

#[test]
fn many_series_get_distinct_styles_and_a_bounded_legend() {
    let series: Vec<Series> = (0..40).map(|k| Series::new(format!("s{k}"), vec![k as f64, k as f64 + 1.0])).collect();
    let svg = line_chart_svg("many", "x", "y", &[], &series);
    let t = texts(&svg);
    assert!(t.iter().any(|s| s.starts_with('+') && s.ends_with("more")), "{t:?}");
    let doc = roxmltree::Document::parse(&svg).expect("valid XML");
    let styles: std::collections::HashSet<(Option<&str>, Option<&str>)> = doc
        .descendants()
        .filter(|n| n.has_tag_name("path"))
        .map(|n| (n.attribute("stroke"), n.attribute("stroke-dasharray")))
        .collect();
    assert_eq!(styles.len(), 40);
}

#[test]
fn a_strip_chart_has_a_dot_per_value_and_a_bar_per_reference() {
    let categories: Vec<String> = (0..3).map(|k| format!("fold {k}")).collect();
    let seeds = [
        Series::new("seed 0", vec![0.5, 1.0, -0.2]),
        Series::new("seed 1", vec![0.7, f64::NAN, 0.1, 9.0]), // a missing run; a value past the categories
    ];
    let reference = Series::new("buy & hold", vec![0.3, 0.2, f64::INFINITY]);
    let svg = strip_chart_svg("test Sharpe", "fold", "Sharpe", &categories, &seeds, Some(&reference));
    let t = texts(&svg);
    for wanted in ["test Sharpe", "fold 0", "fold 2", "seed 0", "seed 1", "buy & hold"] {
        assert!(t.iter().any(|s| s == wanted), "missing {wanted:?} in {t:?}");
    }
    assert_eq!(count_tag(&svg, "circle"), 5);
    let doc = roxmltree::Document::parse(&svg).expect("valid XML");
    let bars = doc.descendants().filter(|n| n.has_tag_name("line") && n.attribute("stroke") == Some("black")).count();
    assert_eq!(bars, 2 + 1, "two drawable references and the legend's");
    // One seed's dots share a colour, and two seeds' differ.
    let fills: Vec<&str> =
        doc.descendants().filter(|n| n.has_tag_name("circle")).filter_map(|n| n.attribute("fill")).collect();
    assert_eq!(fills[0], fills[2]);
    assert_ne!(fills[0], fills[3]);
    assert_coordinates_are_finite(&svg);
}

#[test]
fn hostile_strip_charts_are_still_valid_svg() {
    let none: Vec<String> = Vec::new();
    let one = vec!["<&>".to_string()];
    let cases: Vec<(&[String], Vec<Series>, Option<Series>)> = vec![
        (&none, vec![], None),
        (&none, vec![Series::new("s", vec![1.0])], Some(Series::new("r", vec![2.0]))),
        (&one, vec![Series::new("nan", vec![f64::NAN])], None),
        (&one, vec![Series::new("huge", vec![1e308]), Series::new("tiny", vec![-1e-300])], None),
        (&one, (0..40).map(|k| Series::new(format!("s{k}"), vec![k as f64])).collect(), Some(Series::new("r", vec![]))),
    ];
    for (categories, series, reference) in &cases {
        let svg = strip_chart_svg("t", "x", "y", categories, series, reference.as_ref());
        texts(&svg);
        assert_coordinates_are_finite(&svg);
    }
}
