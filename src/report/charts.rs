//! Charts of the risk report as SVG text, drawn with plotters' SVG backend: each measure
//! per strategy with its interval, the curve from one piece to one batch, and the steps
//! of one trial. The SVG goes inline into report.html, which loads nothing else.

use plotters::prelude::*;

use crate::stats::Estimate;

const WIDTH: u32 = 560;
const ROW: u32 = 34;
const BLUE: RGBColor = RGBColor(46, 93, 168);
const AMBER: RGBColor = RGBColor(214, 150, 30);
const RED: RGBColor = RGBColor(190, 40, 40);
const GREEN: RGBColor = RGBColor(60, 150, 80);

/// How a measure's numbers read on an axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// A share, drawn as a percent.
    Percent,
    /// A time in milliseconds, drawn in ms or, past a second, in s.
    Millis,
    /// A plain number (a count, a mean).
    Number,
}

/// An axis tick as a person reads it: the shortest form of the value at three decimals
/// at most, so that ticks half a unit apart read `0.5`, `1`, `1.5`, never `0 1 1 2`.
fn tick(value: f64) -> String {
    let rounded = (value * 1000.0).round() / 1000.0;
    if rounded == 0.0 {
        "0".to_owned()
    } else {
        format!("{rounded}")
    }
}

/// One horizontal interval per strategy: the estimate as a dot, the 95% interval as a bar.
pub fn intervals(title: &str, rows: &[(String, Estimate)], unit: Unit) -> String {
    let largest = rows
        .iter()
        .filter(|(_, e)| e.n > 0)
        .map(|(_, e)| e.high.abs().max(e.value.abs()))
        .fold(0.0_f64, f64::max);
    let (scale, title) = match unit {
        Unit::Percent => (100.0, title.to_owned()),
        Unit::Millis if largest >= 1000.0 => (0.001, format!("{title} (s)")),
        Unit::Millis => (1.0, format!("{title} (ms)")),
        Unit::Number => (1.0, title.to_owned()),
    };
    let percent = unit == Unit::Percent;
    let title = title.as_str();
    let known: Vec<&(String, Estimate)> = rows.iter().filter(|(_, e)| e.n > 0).collect();
    let high = known
        .iter()
        .map(|(_, e)| e.high * scale)
        .fold(0.0_f64, f64::max)
        .max(if percent { 10.0 } else { 1.0 });
    let low = known
        .iter()
        .map(|(_, e)| e.low * scale)
        .fold(0.0_f64, f64::min);
    let height = 70 + ROW * u32::try_from(rows.len()).unwrap_or(1).max(1);
    let mut svg = String::new();
    {
        let backend = SVGBackend::with_string(&mut svg, (WIDTH, height));
        let root = backend.into_drawing_area();
        let _ = root.fill(&WHITE);
        let n = rows.len().max(1) as f64;
        let Ok(mut chart) = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(8)
            .x_label_area_size(28)
            .y_label_area_size(110)
            .build_cartesian_2d(low..high * 1.05, -0.5..n - 0.5)
        else {
            return svg_error(title);
        };
        let names: Vec<String> = rows.iter().map(|(name, _)| name.clone()).collect();
        let _ = chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(rows.len())
            .y_label_formatter(&|y| {
                let i = y.round();
                if (y - i).abs() < 0.01 && i >= 0.0 {
                    names.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .x_labels(6)
            .x_label_formatter(&|x| {
                if percent {
                    format!("{}%", tick(*x))
                } else {
                    tick(*x)
                }
            })
            .draw();
        for (i, (_, estimate)) in rows.iter().enumerate() {
            if estimate.n == 0 {
                continue;
            }
            let y = i as f64;
            let _ = chart.draw_series(std::iter::once(PathElement::new(
                vec![(estimate.low * scale, y), (estimate.high * scale, y)],
                BLUE.stroke_width(3),
            )));
            let _ = chart.draw_series(std::iter::once(Circle::new(
                (estimate.value * scale, y),
                5,
                BLUE.filled(),
            )));
        }
        let _ = root.present();
    }
    svg
}

/// The change failure rate against the number of changes per step: single-piece (1),
/// waves-K (K), batch (all), each a labelled point with its interval. No line joins them:
/// they are different strategies, not one series.
pub fn curve(points: &[(String, f64, Estimate)]) -> String {
    let mut svg = String::new();
    {
        let backend = SVGBackend::with_string(&mut svg, (WIDTH, 300));
        let root = backend.into_drawing_area();
        let _ = root.fill(&WHITE);
        let max_x = points.iter().map(|(_, x, _)| *x).fold(1.0_f64, f64::max) + 0.5;
        let Ok(mut chart) = ChartBuilder::on(&root)
            .caption(
                "change failure rate by changes per step",
                ("sans-serif", 16),
            )
            .margin(8)
            .x_label_area_size(32)
            .y_label_area_size(48)
            .build_cartesian_2d(0.5..max_x, 0.0..100.0)
        else {
            return svg_error("curve");
        };
        let _ = chart
            .configure_mesh()
            .x_desc("changes per step")
            .y_desc("% of trials")
            .x_label_formatter(&|x| tick(*x))
            .y_label_formatter(&|y| tick(*y))
            .draw();
        for (name, x, estimate) in points {
            let _ = chart.draw_series(std::iter::once(PathElement::new(
                vec![(*x, estimate.low * 100.0), (*x, estimate.high * 100.0)],
                BLUE.stroke_width(3),
            )));
            let _ = chart.draw_series(std::iter::once(Circle::new(
                (*x, estimate.value * 100.0),
                5,
                BLUE.filled(),
            )));
            let _ = chart.draw_series(std::iter::once(Text::new(
                name.clone(),
                (*x, (estimate.high * 100.0 + 4.0).min(96.0)),
                ("sans-serif", 12),
            )));
        }
        let _ = root.present();
    }
    svg
}

/// One strategy's steps in one trial: per step, the entry requests ok, degraded and
/// failed, stacked.
pub fn timeline(title: &str, steps: &[(String, u64, u64, u64)]) -> String {
    let mut svg = String::new();
    {
        let backend = SVGBackend::with_string(&mut svg, (WIDTH, 240));
        let root = backend.into_drawing_area();
        let _ = root.fill(&WHITE);
        let most = steps
            .iter()
            .map(|(_, ok, degraded, failed)| ok + degraded + failed)
            .max()
            .unwrap_or(1)
            .max(1) as f64;
        let n = steps.len().max(1) as f64;
        let Ok(mut chart) = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 15))
            .margin(8)
            .x_label_area_size(30)
            .y_label_area_size(48)
            .build_cartesian_2d(-0.5..n - 0.5, 0.0..most * 1.05)
        else {
            return svg_error(title);
        };
        let labels: Vec<String> = steps.iter().map(|(label, ..)| label.clone()).collect();
        let _ = chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(steps.len())
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() < 0.01 && i >= 0.0 {
                    labels.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_desc("entry requests")
            .y_label_formatter(&|y| tick(*y))
            .draw();
        for (i, (_, ok, degraded, failed)) in steps.iter().enumerate() {
            let x = i as f64;
            let mut base = 0.0;
            for (count, color) in [(*ok, GREEN), (*degraded, AMBER), (*failed, RED)] {
                let top = base + count as f64;
                if count > 0 {
                    let _ = chart.draw_series(std::iter::once(Rectangle::new(
                        [(x - 0.3, base), (x + 0.3, top)],
                        color.filled(),
                    )));
                }
                base = top;
            }
        }
        let _ = root.present();
    }
    svg
}

/// What stands in for a chart plotters could not lay out (an empty range, say).
fn svg_error(title: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"40\"><text x=\"8\" y=\"24\">{}: no data to draw</text></svg>",
        title.replace('<', "&lt;")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_half_a_unit_apart_read_apart() {
        let ticks: Vec<String> = [0.0, 0.5, 1.0, 1.5, 2.0, 2.25].map(tick).to_vec();
        assert_eq!(ticks, ["0", "0.5", "1", "1.5", "2", "2.25"]);
        assert_eq!(tick(-0.0001), "0");
    }

    fn estimate(value: f64) -> Estimate {
        Estimate {
            value,
            low: value * 0.5,
            high: value * 1.5,
            n: 10,
        }
    }

    #[test]
    fn charts_are_svg_with_their_labels() {
        let svg = intervals(
            "change failure rate",
            &[
                ("batch".into(), estimate(0.4)),
                ("single-piece".into(), estimate(0.1)),
            ],
            Unit::Percent,
        );
        assert!(svg.starts_with("<svg"), "{}", &svg[..80.min(svg.len())]);
        assert!(svg.contains("batch") && svg.contains("single-piece"));
        assert!(svg.contains("<circle"), "the estimates are drawn");
        let curve = curve(&[
            ("single-piece".into(), 1.0, estimate(0.1)),
            ("waves-2".into(), 2.0, estimate(0.2)),
            ("batch".into(), 4.0, estimate(0.4)),
        ]);
        assert!(curve.contains("<circle") && curve.contains("batch"));
        // Axes, ticks and interval bars are lines of two points; a line through the
        // strategies would have three.
        for line in curve.split("points=\"").skip(1) {
            let points = line.split('"').next().unwrap_or_default();
            assert!(
                points.split_whitespace().count() <= 2,
                "no line joins different strategies: {points}"
            );
        }
        let steps = timeline(
            "batch",
            &[("baseline".into(), 10, 0, 0), ("1".into(), 4, 1, 5)],
        );
        assert!(steps.contains("<rect"));
    }
}
