//! The dashboard's charts: SVG drawn on the server with plotters' SVG backend, with axes,
//! ticks, axis titles, a legend and a title; the browser lays out the text, so no font is
//! needed here. Each chart is an accessible image (`role="img"`, `<title>`, `<desc>`);
//! the pages show the same numbers as a table beside it.

use plotters::prelude::*;

/// Colours that keep at least 4.5:1 contrast on white, told apart by more than hue alone
/// (each series also has a name in the legend and in the table).
const PALETTE: [RGBColor; 6] = [
    RGBColor(0x1d, 0x4e, 0xd8),
    RGBColor(0xb9, 0x1c, 0x1c),
    RGBColor(0x04, 0x78, 0x57),
    RGBColor(0x6d, 0x28, 0xd9),
    RGBColor(0x9a, 0x34, 0x12),
    RGBColor(0x37, 0x41, 0x51),
];

/// How the values are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One line per series (with a point per value when there are few).
    Lines,
    /// Bars, side by side per category when there are several series.
    Bars,
}

/// One named series: a value per category.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub values: Vec<f64>,
}

/// A chart over categories (days, minutes, items) shown in order along the x axis.
#[derive(Debug, Clone)]
pub struct Chart<'a> {
    /// Unique on the page: the ids of its title and description derive from it.
    pub id: &'a str,
    pub title: &'a str,
    /// Says in words what the chart shows, for screen readers.
    pub description: &'a str,
    pub x_title: &'a str,
    pub y_title: &'a str,
    /// One label per category.
    pub categories: Vec<String>,
    pub series: Vec<Series>,
    pub kind: Kind,
}

const WIDTH: u32 = 760;
const HEIGHT: u32 = 320;

impl Chart<'_> {
    /// The chart as an `<svg>` element, ready to be put into a page as it is (every text
    /// in it is escaped).
    pub fn svg(&self) -> String {
        let mut svg = String::new();
        if let Err(e) = self.draw(&mut svg) {
            tracing::error!(error = %e, chart = self.id, "drawing a chart");
            return String::new();
        }
        self.accessible(svg)
    }

    fn draw(&self, out: &mut String) -> Result<(), Box<dyn std::error::Error + '_>> {
        let n = self.categories.len();
        let max = self
            .series
            .iter()
            .flat_map(|s| s.values.iter().copied())
            .fold(0.0f64, f64::max);
        let y_top = nice_ceiling(max * 1.1).max(5.0);
        let root = SVGBackend::with_string(out, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE)?;
        let x_range = -0.5f64..(n.max(1) as f64 - 0.5);
        let mut chart = ChartBuilder::on(&root)
            .caption(self.title, ("sans-serif", 24).into_font().color(&BLACK))
            .margin(12)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d(x_range, 0f64..y_top)?;
        let categories = &self.categories;
        let label = |x: &f64| -> String {
            let i = x.round();
            if (x - i).abs() > 1e-6 || i < 0.0 {
                return String::new();
            }
            categories.get(i as usize).cloned().unwrap_or_default()
        };
        let y_label = |y: &f64| {
            if y.fract().abs() < 1e-9 {
                format!("{y:.0}")
            } else {
                format!("{y:.1}")
            }
        };
        // plotters writes font-size as size / 1.24: these are about 14 px in the page.
        let axis = ("sans-serif", 17).into_font().color(&BLACK);
        chart
            .configure_mesh()
            .x_labels(n.clamp(1, 8))
            .y_labels(6)
            .x_label_formatter(&label)
            .y_label_formatter(&y_label)
            .x_desc(self.x_title)
            .y_desc(self.y_title)
            .label_style(axis.clone())
            .axis_desc_style(axis)
            .max_light_lines(1)
            .light_line_style(RGBColor(0xe5, 0xe7, 0xeb))
            .bold_line_style(RGBColor(0xd1, 0xd5, 0xdb))
            .axis_style(RGBColor(0x37, 0x41, 0x51))
            .draw()?;
        if n == 0 {
            root.draw_text(
                "no data yet",
                &("sans-serif", 16).into_font().color(&BLACK),
                (WIDTH as i32 / 2 - 40, HEIGHT as i32 / 2),
            )?;
            root.present()?;
            return Ok(());
        }
        let groups = self.series.len().max(1) as f64;
        for (k, series) in self.series.iter().enumerate() {
            let color = PALETTE[k % PALETTE.len()];
            let drawn = match self.kind {
                Kind::Lines => {
                    let points: Vec<(f64, f64)> = series
                        .values
                        .iter()
                        .enumerate()
                        .map(|(i, v)| (i as f64, *v))
                        .collect();
                    if points.len() <= 40 {
                        chart.draw_series(
                            points.iter().map(|p| Circle::new(*p, 3, color.filled())),
                        )?;
                    }
                    chart.draw_series(LineSeries::new(points, color.stroke_width(2)))?
                }
                Kind::Bars => {
                    let width = 0.8 / groups;
                    chart.draw_series(series.values.iter().enumerate().map(|(i, v)| {
                        let left = i as f64 - 0.4 + width * k as f64;
                        Rectangle::new([(left, 0.0), (left + width, *v)], color.filled())
                    }))?
                }
            };
            drawn.label(series.name.as_str()).legend(move |(x, y)| {
                Rectangle::new([(x, y - 5), (x + 16, y + 5)], color.filled())
            });
        }
        if self.series.len() > 1 || self.kind == Kind::Lines {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperLeft)
                .background_style(WHITE.mix(0.9))
                .border_style(RGBColor(0x9c, 0xa3, 0xaf))
                .label_font(("sans-serif", 17).into_font().color(&BLACK))
                .draw()?;
        }
        root.present()?;
        Ok(())
    }

    /// Names the image for assistive technology and lets it scale with the page.
    fn accessible(&self, svg: String) -> String {
        let Some(open_end) = svg.find('>') else {
            return svg;
        };
        let (open, rest) = svg.split_at(open_end);
        let open = open.replacen(
            "<svg ",
            &format!(
                "<svg role=\"img\" class=\"chart\" aria-labelledby=\"{id}-title {id}-desc\" ",
                id = escape(self.id)
            ),
            1,
        );
        format!(
            "{open}><title id=\"{id}-title\">{title}</title><desc id=\"{id}-desc\">{desc}</desc>{body}",
            id = escape(self.id),
            title = escape(self.title),
            desc = escape(self.description),
            body = &rest[1..],
        )
    }
}

/// The next round number at or above `v`: 1, 2 or 5 times a power of ten.
fn nice_ceiling(v: f64) -> f64 {
    if v <= 0.0 {
        return 0.0;
    }
    let power = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * power)
        .find(|c| *c >= v)
        .unwrap_or(10.0 * power)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(kind: Kind, categories: &[&str], values: &[f64]) -> String {
        Chart {
            id: "c1",
            title: "Sent <per> minute",
            description: "Messages sent per minute",
            x_title: "minute (UTC)",
            y_title: "messages",
            categories: categories.iter().map(|c| c.to_string()).collect(),
            series: vec![Series {
                name: "sent".into(),
                values: values.to_vec(),
            }],
            kind,
        }
        .svg()
    }

    #[test]
    fn a_chart_is_an_accessible_svg_with_axes_and_labels() {
        let svg = chart(
            Kind::Lines,
            &["07:00", "07:01", "07:02"],
            &[10.0, 42.0, 7.0],
        );
        assert!(svg.starts_with("<svg role=\"img\""), "{svg}");
        assert!(svg.contains("aria-labelledby=\"c1-title c1-desc\""));
        assert!(svg.contains("<title id=\"c1-title\">Sent &lt;per&gt; minute</title>"));
        let texts: Vec<&str> = svg
            .split("<text")
            .skip(1)
            .map(|t| t[t.find('>').unwrap() + 1..t.find("</text>").unwrap()].trim())
            .collect();
        assert!(
            texts.contains(&"07:01"),
            "category labels on the x axis: {texts:?}"
        );
        assert!(texts.contains(&"minute (UTC)"), "axis title: {texts:?}");
        assert!(texts.contains(&"40"), "y ticks: {texts:?}");
        assert!(svg.contains("<polyline"), "a line");
        assert!(
            !svg.contains("style="),
            "no inline styles: the CSP forbids them"
        );
        assert!(svg.trim_end().ends_with("</svg>"));
    }

    #[test]
    fn bars_and_empty_charts_draw() {
        let svg = chart(Kind::Bars, &["a", "b"], &[1.0, 3.0]);
        assert!(svg.matches("<rect").count() >= 3, "{svg}");
        let empty = chart(Kind::Lines, &[], &[]);
        assert!(empty.contains("no data yet"));
    }

    #[test]
    fn axes_end_on_round_numbers() {
        assert_eq!(nice_ceiling(42.0), 50.0);
        assert_eq!(nice_ceiling(101.0), 200.0);
        assert_eq!(nice_ceiling(0.0), 0.0);
    }
}
