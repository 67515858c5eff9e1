//! Bar charts drawn on the server as inline SVG: no script, no image
//! request, readable when printed. Each chart is labelled for screen
//! readers and always sits next to a table of the same figures, which is
//! what assistive technologies read.

use maud::{Markup, html};

/// One series of bars: its name (in the legend) and a value per label.
pub struct Series<'a> {
    pub name: &'a str,
    pub values: Vec<i64>,
}

const WIDTH: i64 = 720;
const HEIGHT: i64 = 260;
const LEFT: i64 = 16;
const BOTTOM: i64 = 36;
const TOP: i64 = 24;

/// Grouped vertical bars, one group per label. The first series is solid,
/// the second hatched, so they differ without colour.
pub fn bars(id: &str, title: &str, labels: &[String], series: &[Series<'_>]) -> Markup {
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .max()
        .unwrap_or(0)
        .max(1);
    let groups = i64::try_from(labels.len()).unwrap_or(1).max(1);
    let per_group = (WIDTH - LEFT) / groups;
    let n = i64::try_from(series.len()).unwrap_or(1).max(1);
    let bar = ((per_group - 8) / n).max(2);
    let plot = HEIGHT - BOTTOM - TOP;
    let title_id = format!("{id}-title");
    html! {
        figure class="chart" {
            svg id=(id) role="img" aria-labelledby=(title_id) viewBox=(format!("0 0 {WIDTH} {HEIGHT}"))
                width="100%" focusable="false" xmlns="http://www.w3.org/2000/svg" {
                title id=(title_id) { (title) }
                defs {
                    pattern id=(format!("{id}-hatch")) width="6" height="6" patternUnits="userSpaceOnUse"
                        patternTransform="rotate(45)" {
                        rect width="6" height="6" fill="#ffffff" {}
                        line x1="0" y1="0" x2="0" y2="6" stroke="#1d4ed8" stroke-width="3" {}
                    }
                }
                line x1=(LEFT) y1=(HEIGHT - BOTTOM) x2=(WIDTH) y2=(HEIGHT - BOTTOM) stroke="#000000" {}
                @for (g, label) in labels.iter().enumerate() {
                    @let x0 = LEFT + i64::try_from(g).unwrap_or(0) * per_group + 4;
                    @for (k, s) in series.iter().enumerate() {
                        @let v = s.values.get(g).copied().unwrap_or(0);
                        @let h = v * plot / max;
                        @let x = x0 + i64::try_from(k).unwrap_or(0) * bar;
                        @let fill = if k == 0 { "#1d4ed8".to_owned() } else { format!("url(#{id}-hatch)") };
                        rect x=(x) y=(HEIGHT - BOTTOM - h) width=(bar - 2) height=(h) fill=(fill)
                            stroke="#1d4ed8" {
                            title { (s.name) " — " (label) " : " (v) }
                        }
                        @if v > 0 {
                            text x=(x + bar / 2) y=(HEIGHT - BOTTOM - h - 4) text-anchor="middle"
                                font-size="11" fill="#000000" { (v) }
                        }
                    }
                    text x=(x0 + per_group / 2 - 4) y=(HEIGHT - BOTTOM + 16) text-anchor="middle"
                        font-size="12" fill="#000000" { (label) }
                }
            }
            figcaption {
                @for (k, s) in series.iter().enumerate() {
                    span class=(if k == 0 { "legend legend-solid" } else { "legend legend-hatched" }) {
                        (s.name)
                    }
                    " "
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_is_labelled_and_scaled_to_its_largest_value() {
        let labels = vec!["jan.".to_owned(), "févr.".to_owned()];
        let series = [
            Series {
                name: "Émis",
                values: vec![10, 5],
            },
            Series {
                name: "Utilisés",
                values: vec![4, 0],
            },
        ];
        let svg = bars("c", "Codes", &labels, &series).into_string();
        assert!(svg.contains("role=\"img\" aria-labelledby=\"c-title\""));
        assert!(svg.contains("<title id=\"c-title\">Codes</title>"));
        // The tallest bar fills the plot: 260 - 36 - 24 = 200.
        assert!(svg.contains("height=\"200\""), "{svg}");
        assert!(svg.contains("url(#c-hatch)"));
        assert!(!svg.contains("style="));
        // In HTML, an SVG element is closed only by its end tag.
        assert!(svg.contains("</line>") && svg.contains("</rect>"));
    }

    #[test]
    fn nothing_to_draw_draws_no_bar_taller_than_zero() {
        let svg = bars(
            "z",
            "Rien",
            &["x".to_owned()],
            &[Series {
                name: "a",
                values: vec![0],
            }],
        )
        .into_string();
        assert!(svg.contains("height=\"0\""));
    }
}
