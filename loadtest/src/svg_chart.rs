//! The `--svg` chart: latency percentiles and throughput per second of the run.

use std::path::Path;

use plotters::prelude::*;

use crate::{LoadtestError, TimelinePoint};

/// A named line: its legend, the value it plots, and its colour.
type Series = (&'static str, fn(&TimelinePoint) -> u64, RGBColor);

fn chart_error(error: impl std::fmt::Display) -> LoadtestError {
    LoadtestError::Chart(error.to_string())
}

/// Draw two panels sharing the time axis: latency percentiles in ms (top) and deliveries
/// per second with connected sockets (bottom).
pub fn write_svg(path: &Path, title: &str, points: &[TimelinePoint]) -> Result<(), LoadtestError> {
    let root = SVGBackend::new(path, (1000, 700)).into_drawing_area();
    root.fill(&WHITE).map_err(chart_error)?;
    let root = root
        .titled(title, ("sans-serif", 20))
        .map_err(chart_error)?;
    let (top, bottom) = root.split_vertically(340);
    let seconds = |p: &TimelinePoint| p.second as f64;
    let x_max = points.iter().map(seconds).fold(1.0, f64::max);
    let x_min = points
        .iter()
        .map(seconds)
        .fold(x_max, f64::min)
        .min(x_max - 1.0);

    let to_ms = |us: u64| us as f64 / 1000.0;
    let y_max = points.iter().map(|p| to_ms(p.max_us)).fold(1.0, f64::max) * 1.05;
    let mut latency = ChartBuilder::on(&top)
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .caption("latency per second (ms)", ("sans-serif", 15))
        .build_cartesian_2d(x_min..x_max, 0.0..y_max)
        .map_err(chart_error)?;
    latency
        .configure_mesh()
        .x_desc("second")
        .y_desc("ms")
        .draw()
        .map_err(chart_error)?;
    let series: [Series; 4] = [
        ("p50", |p| p.p50_us, BLUE),
        ("p99", |p| p.p99_us, GREEN),
        ("p99.9", |p| p.p999_us, MAGENTA),
        ("max", |p| p.max_us, RED),
    ];
    for (name, value, color) in series {
        let line = points
            .iter()
            .filter(|p| p.deliveries > 0)
            .map(|p| (seconds(p), to_ms(value(p))));
        latency
            .draw_series(LineSeries::new(line, color))
            .map_err(chart_error)?
            .label(name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color));
    }
    latency
        .configure_series_labels()
        .border_style(BLACK)
        .draw()
        .map_err(chart_error)?;

    let count_max = points
        .iter()
        .map(|p| p.deliveries.max(p.connected) as f64)
        .fold(1.0, f64::max)
        * 1.05;
    let mut throughput = ChartBuilder::on(&bottom)
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .caption(
            "deliveries per second and connected sockets",
            ("sans-serif", 15),
        )
        .build_cartesian_2d(x_min..x_max, 0.0..count_max)
        .map_err(chart_error)?;
    throughput
        .configure_mesh()
        .x_desc("second")
        .draw()
        .map_err(chart_error)?;
    let counts: [Series; 2] = [
        ("deliveries/s", |p| p.deliveries, BLUE),
        ("connected", |p| p.connected, BLACK),
    ];
    for (name, value, color) in counts {
        let line = points.iter().map(|p| (seconds(p), value(p) as f64));
        throughput
            .draw_series(LineSeries::new(line, color))
            .map_err(chart_error)?
            .label(name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color));
    }
    throughput
        .configure_series_labels()
        .border_style(BLACK)
        .draw()
        .map_err(chart_error)?;
    root.present().map_err(chart_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_an_svg_file() {
        let points: Vec<TimelinePoint> = (0..5)
            .map(|second| TimelinePoint {
                second,
                connected: 100,
                deliveries: 50 * second,
                p50_us: 800,
                p99_us: 2_000,
                p999_us: 4_000,
                max_us: 9_000,
                ..Default::default()
            })
            .collect();
        let path = std::env::temp_dir().join(format!("lt-chart-{}.svg", std::process::id()));
        write_svg(&path, "test run", &points).expect("draws");
        let svg = std::fs::read_to_string(&path).expect("reads");
        assert!(svg.starts_with("<svg") && svg.contains("p99.9") && svg.contains("polyline"));
        std::fs::remove_file(path).expect("cleanup");
        write_svg(&std::env::temp_dir().join("lt-empty.svg"), "empty", &[]).expect("empty is fine");
    }
}
