//! Recovery curves as an SVG: registered fraction over time after the outage.

use crate::{DdsPolicy, Report};
use plotters::prelude::*;
use std::path::Path;

/// Plots the runs with the largest node count, one line per (policy, capacity).
pub fn recovery_curves(path: &Path, reports: &[Report]) -> Result<(), Box<dyn std::error::Error>> {
    let nodes = reports.iter().map(|r| r.scenario.nodes).max().unwrap_or(0);
    let shown: Vec<&Report> = reports
        .iter()
        .filter(|r| r.scenario.nodes == nodes)
        .collect();
    let x_max = shown.iter().map(|r| r.curve.len()).max().unwrap_or(1) as f64;
    let root = SVGBackend::new(path, (900, 520)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("Recovery of {nodes} nodes after a 10-minute DDS outage"),
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0f64..x_max, 0f64..1.0)?;
    chart
        .configure_mesh()
        .x_desc("seconds after the DDS is back")
        .y_desc("fraction registered")
        .draw()?;
    let palette = [
        BLUE,
        RED,
        GREEN,
        MAGENTA,
        CYAN,
        BLACK,
        RGBColor(255, 140, 0),
        RGBColor(128, 0, 128),
    ];
    for (i, report) in shown.iter().enumerate() {
        let color = palette[i % palette.len()];
        let style = if report.scenario.policy == DdsPolicy::Plain {
            color.stroke_width(1)
        } else {
            color.stroke_width(3)
        };
        let label = format!(
            "C={} {}",
            report.scenario.capacity,
            report.scenario.policy.name()
        );
        chart
            .draw_series(LineSeries::new(
                report
                    .curve
                    .iter()
                    .enumerate()
                    .map(|(t, f)| (t as f64 + 1.0, *f)),
                style,
            ))?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], style));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
