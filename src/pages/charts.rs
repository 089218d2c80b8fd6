//! The status page's charts (docs/operations.md, "Charts"): SVG drawn on the server, with no
//! script and nothing fetched from elsewhere. Each scales to its box (a phone's too), names
//! itself for screen readers, and comes with a table of the same numbers as its text
//! alternative.

use std::fmt::Write;

/// One series: its name, its colour, and a value per slot (`None`: no data there).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Series {
    pub name: String,
    pub color: &'static str,
    pub values: Vec<Option<f64>>,
}

/// A chart, ready for the page: the SVG and the rows of its text alternative.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Chart {
    pub id: &'static str,
    pub title: String,
    pub svg: String,
    /// The table's head (`hour` and each series) and rows, the chart's numbers as text.
    pub head: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// One sentence that sums the chart up.
    pub summary: String,
}

/// How the series are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Bars per slot, the series stacked.
    Stacked,
    /// A line per series.
    Lines,
}

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 48.0;
const BOTTOM: f64 = 28.0;
const TOP: f64 = 30.0;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A number as the axis and the table show it.
fn shown(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e12 {
        format!("{value:.0}")
    } else if value.abs() >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

/// Draws `series` over `slots` (labels such as `14:00`), `unit` naming the values.
pub fn draw(
    id: &'static str,
    title: &str,
    unit: &str,
    slots: &[String],
    series: &[Series],
    shape: Shape,
) -> Chart {
    let scale = nice_ceiling(highest(series, slots.len(), shape));
    let plot_h = HEIGHT - TOP - BOTTOM;
    let step = (WIDTH - LEFT - 8.0) / slots.len().max(1) as f64;
    let y = |v: f64| TOP + plot_h - v / scale * plot_h;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" aria-labelledby="{id}-title" xmlns="http://www.w3.org/2000/svg" font-family="system-ui,sans-serif" font-size="11"><title id="{id}-title">{}</title>"#,
        escape(title)
    );
    axes(&mut svg, scale, slots, step, &y);
    match shape {
        Shape::Stacked => stacked(&mut svg, series, slots.len(), step, &y),
        Shape::Lines => lines(&mut svg, series, step, &y),
    }
    let _ = write!(
        svg,
        r##"<text x="{LEFT}" y="{}" fill="#555">{}</text>"##,
        TOP - 14.0,
        escape(unit)
    );
    legend(&mut svg, series);
    svg.push_str("</svg>");
    let (head, rows) = table(slots, series);
    Chart {
        id,
        title: title.to_owned(),
        svg,
        head,
        rows,
        summary: summary(series, unit),
    }
}

/// The largest value drawn: a stack's total, or a line's highest point.
fn highest(series: &[Series], slots: usize, shape: Shape) -> f64 {
    match shape {
        Shape::Stacked => (0..slots)
            .map(|i| {
                series
                    .iter()
                    .filter_map(|s| s.values.get(i).copied().flatten())
                    .sum::<f64>()
            })
            .fold(0.0, f64::max),
        Shape::Lines => series
            .iter()
            .flat_map(|s| s.values.iter().flatten().copied())
            .fold(0.0, f64::max),
    }
}

/// Five horizontal grid lines with their values, and every sixth slot's label.
fn axes(svg: &mut String, scale: f64, slots: &[String], step: f64, y: &dyn Fn(f64) -> f64) {
    for tick in 0..=4 {
        let v = scale * f64::from(tick) / 4.0;
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end" fill="#555">{}</text>"##,
            WIDTH - 8.0,
            LEFT - 4.0,
            y(v) + 4.0,
            shown(v),
            y = y(v)
        );
    }
    for (i, label) in slots.iter().enumerate().filter(|(i, _)| i % 6 == 0) {
        let _ = write!(
            svg,
            r##"<text x="{:.1}" y="{}" text-anchor="middle" fill="#555">{}</text>"##,
            LEFT + step * (i as f64 + 0.5),
            HEIGHT - 10.0,
            escape(label)
        );
    }
}

/// The text alternative: a head (`hour` and each series) and a row per slot.
fn table(slots: &[String], series: &[Series]) -> (Vec<String>, Vec<Vec<String>>) {
    let head = std::iter::once("hour".to_owned())
        .chain(series.iter().map(|s| s.name.clone()))
        .collect();
    let rows = slots
        .iter()
        .enumerate()
        .map(|(i, slot)| {
            std::iter::once(slot.clone())
                .chain(
                    series
                        .iter()
                        .map(|s| s.values.get(i).copied().flatten().map_or("—".to_owned(), shown)),
                )
                .collect()
        })
        .collect();
    (head, rows)
}

fn stacked(svg: &mut String, series: &[Series], slots: usize, step: f64, y: &dyn Fn(f64) -> f64) {
    for i in 0..slots {
        let mut base = 0.0;
        for s in series {
            let v = s.values.get(i).copied().flatten().unwrap_or(0.0);
            if v <= 0.0 {
                continue;
            }
            let (top, bottom) = (y(base + v), y(base));
            let _ = write!(
                svg,
                r#"<rect x="{:.1}" y="{top:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{}: {}</title></rect>"#,
                LEFT + step * i as f64 + step * 0.1,
                step * 0.8,
                (bottom - top).max(0.5),
                s.color,
                escape(&s.name),
                shown(v)
            );
            base += v;
        }
    }
}

fn lines(svg: &mut String, series: &[Series], step: f64, y: &dyn Fn(f64) -> f64) {
    for s in series {
        let mut path = String::new();
        let mut pen_down = false;
        for (i, value) in s.values.iter().enumerate() {
            let Some(v) = value else {
                pen_down = false;
                continue;
            };
            let x = LEFT + step * (i as f64 + 0.5);
            let _ = write!(path, "{}{x:.1},{:.1} ", if pen_down { "L" } else { "M" }, y(*v));
            pen_down = true;
        }
        if !path.is_empty() {
            let _ = write!(
                svg,
                r#"<path d="{}" fill="none" stroke="{}" stroke-width="2"><title>{}</title></path>"#,
                path.trim_end(),
                s.color,
                escape(&s.name)
            );
        }
    }
}

/// The series' names and colours, along the top right.
fn legend(svg: &mut String, series: &[Series]) {
    let mut x = WIDTH - 8.0;
    for s in series.iter().rev() {
        x -= 7.0 * s.name.chars().count() as f64 + 18.0;
        let _ = write!(
            svg,
            r##"<rect x="{x:.1}" y="{}" width="10" height="10" fill="{}"/><text x="{:.1}" y="{}" fill="#333">{}</text>"##,
            TOP - 12.0,
            s.color,
            x + 13.0,
            TOP - 3.0,
            escape(&s.name)
        );
    }
}

/// The smallest of 1, 2, 5 × 10ⁿ at or above `value` (at least 1), so ticks read well.
fn nice_ceiling(value: f64) -> f64 {
    if value <= 1.0 {
        return 1.0;
    }
    let power = 10f64.powf(value.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * power)
        .find(|v| *v >= value)
        .unwrap_or(10.0 * power)
}

fn summary(series: &[Series], unit: &str) -> String {
    let parts: Vec<String> = series
        .iter()
        .map(|s| {
            let known: Vec<f64> = s.values.iter().flatten().copied().collect();
            match known.iter().copied().reduce(f64::max) {
                Some(max) => format!(
                    "{}: total {}, highest {}",
                    s.name,
                    shown(known.iter().sum()),
                    shown(max)
                ),
                None => format!("{}: no data", s.name),
            }
        })
        .collect();
    format!("{unit}. {}.", parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_scale_escape_and_carry_their_numbers_as_text() {
        let slots: Vec<String> = (0..12).map(|h| format!("{h:02}:00")).collect();
        let series = [
            Series {
                name: "delivered".into(),
                color: "#2e7d32",
                values: (0..12).map(|h| Some(f64::from(h))).collect(),
            },
            Series {
                name: "<dead>".into(),
                color: "#b3261e",
                values: vec![None; 12],
            },
        ];
        let chart = draw(
            "volume",
            "Submissions & more",
            "per hour",
            &slots,
            &series,
            Shape::Stacked,
        );
        assert!(chart.svg.starts_with("<svg viewBox=") && chart.svg.ends_with("</svg>"));
        assert!(chart
            .svg
            .contains("<title id=\"volume-title\">Submissions &amp; more</title>"));
        assert!(!chart.svg.contains("<dead>"));
        assert_eq!(chart.rows[11], ["11:00", "11", "—"]);
        assert!(
            chart.summary.contains("delivered: total 66, highest 11"),
            "{}",
            chart.summary
        );
        assert_eq!(nice_ceiling(11.0), 20.0);
        assert_eq!(nice_ceiling(0.3), 1.0);
        let line = draw("latency", "Latency", "seconds", &slots, &series, Shape::Lines);
        assert_eq!(line.svg.matches("<path").count(), 1);
    }
}
