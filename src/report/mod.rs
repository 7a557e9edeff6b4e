//! Run reports (`run --report DIR`): per partition a LEO/HW timeline chart as SVG and PNG, for
//! each anomaly a chart zoomed on its window, a self-contained `index.html` (scenario, seed and
//! replay command, stats, fault timeline, anomalies with their stories, the charts, the short
//! log filterable by node) and `run.json`, the DESIGN §7 summary.
//!
//! A report is deterministic: the same run gives byte-identical files (`run.json` carries
//! `wall_ms` 0 for that reason). Charts of millions of LEO/HW moves are decimated to pixel
//! columns ([`decimate`]); the HTML short log keeps at most [`LOG_LINES_MAX`] lines — those in
//! the anomalies' windows first, then from the start of the chart window — and says how many it
//! left out (`--trace FILE` writes them all).
//!
//! Rendering is pure: [`render`] returns the files, [`write`] puts them in place, each through a
//! temporary name and a rename.

pub mod chart;
pub mod decimate;
pub mod explain;
mod html;
pub mod series;

use std::io;
use std::path::Path;

use crate::cli::{RunSummary, write_atomically};
use crate::node::Obs;
use crate::sim::{NodeId, SimTime};

pub use decimate::Window;

/// How many short-log lines `index.html` holds at most.
pub const LOG_LINES_MAX: usize = 20_000;

/// The size of every chart, in pixels (SVG and PNG alike).
pub const CHART_SIZE: (u32, u32) = (1200, 620);

/// What a report is made from: one finished run.
#[derive(Clone, Copy, Debug)]
pub struct ReportInput<'a> {
    /// The run's summary (faults, stats, anomalies with explanations).
    pub summary: &'a RunSummary,
    /// The command that replays the run.
    pub replay: &'a str,
    /// The scenario's description, if it has one.
    pub description: &'a str,
    /// The run's kept observations, LEO and HW moves included.
    pub observations: &'a [(SimTime, NodeId, Obs)],
    /// Node names by node id.
    pub names: &'a [String],
    /// The short log.
    pub log: &'a str,
}

/// How a report is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReportOptions {
    /// The window of the partition charts in ms (`--window-ms A..B`); the whole run if `None`.
    pub window_ms: Option<(u64, u64)>,
    /// Chart size in pixels.
    pub size: (u32, u32),
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            window_ms: None,
            size: CHART_SIZE,
        }
    }
}

/// One file of a report: its name inside the report directory and its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportFile {
    /// File name (`leo-hw-orders-0.svg`).
    pub name: String,
    /// Content.
    pub bytes: Vec<u8>,
}

/// Parses `--window-ms A..B` (simulated ms, `A < B`).
pub fn parse_window(text: &str) -> Result<(u64, u64), String> {
    let (a, b) = text
        .split_once("..")
        .ok_or_else(|| format!("`{text}` is not a window: write A..B in ms, e.g. 1000..5000"))?;
    let parse = |s: &str| {
        s.trim()
            .replace('_', "")
            .parse::<u64>()
            .map_err(|_| format!("`{s}` is not a time in ms (in `{text}`)"))
    };
    let (a, b) = (parse(a)?, parse(b)?);
    if a >= b {
        return Err(format!(
            "the window {a}..{b} is empty: its start must come before its end"
        ));
    }
    Ok((a, b))
}

/// The whole run as a window.
fn run_window(summary: &RunSummary) -> Window {
    Window::from_millis(0, summary.sim_time_ms)
}

/// The chart window: `--window-ms` clipped to the run, or the whole run.
pub fn chart_window(summary: &RunSummary, window_ms: Option<(u64, u64)>) -> Result<Window, String> {
    let run = run_window(summary);
    match window_ms {
        None => Ok(run),
        Some((a, b)) => Window::from_millis(a, b).within(run).ok_or_else(|| {
            format!(
                "the window {a}..{b} lies outside the run (0..{} ms)",
                summary.sim_time_ms
            )
        }),
    }
}

/// File name of a partition's chart: `leo-hw-<topic>-<partition>`, safe for any file system.
fn chart_stem(partition: &series::PartitionSeries) -> String {
    let safe = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    format!(
        "leo-hw-{}-{}",
        safe(partition.topic()),
        partition.partition()
    )
}

/// Renders every file of the report.
pub fn render(input: &ReportInput, options: &ReportOptions) -> Result<Vec<ReportFile>, String> {
    let summary = input.summary;
    let window = chart_window(summary, options.window_ms)?;
    let run = run_window(summary);
    let partitions = series::partitions(input.observations, input.names);
    let spans = series::fault_spans(&summary.faults, summary.sim_time_ms);
    let stories: Vec<explain::AnomalyStory> = summary
        .anomalies
        .iter()
        .map(|a| {
            let name = format!("{}-{}", a.topic, a.partition);
            let series = partitions.iter().find(|p| p.name == name);
            explain::story(
                a,
                series,
                input.observations,
                input.names,
                &summary.faults,
                run,
            )
        })
        .collect();
    let mut files = Vec::new();
    let mut charts = Vec::new();
    // Internal topics (`__consumer_offsets`, 50 partitions by default) would bury the topics the
    // scenario is about; their moves stay in the short log.
    for partition in partitions.iter().filter(|p| !p.name.starts_with("__")) {
        let marks = stories
            .iter()
            .filter(|s| s.partition == partition.name)
            .map(|s| s.mark.clone())
            .collect();
        let chart = chart::Chart {
            series: partition,
            faults: &spans,
            anomalies: marks,
            window,
            title: format!(
                "{} · LEO (solid) and HW (dashed) per replica",
                partition.name
            ),
        };
        let stem = chart_stem(partition);
        let svg = chart::svg(&chart, options.size)?;
        files.push(ReportFile {
            name: format!("{stem}.png"),
            bytes: chart::png(&chart, options.size)?,
        });
        charts.push(html::ChartRef {
            title: partition.name.clone(),
            stem: stem.clone(),
            svg: svg.clone(),
        });
        files.push(ReportFile {
            name: format!("{stem}.svg"),
            bytes: svg.into_bytes(),
        });
    }
    let mut zooms = Vec::new();
    for (k, story) in stories.iter().enumerate() {
        let Some(partition) = partitions.iter().find(|p| p.name == story.partition) else {
            zooms.push(None);
            continue;
        };
        let chart = chart::Chart {
            series: partition,
            faults: &spans,
            anomalies: vec![story.mark.clone()],
            window: story.window,
            title: format!(
                "{} · {} at offset {} · {:.0}..{:.0} ms",
                partition.name,
                story.record.kind,
                story.record.offset,
                story.window.from_ms(),
                story.window.to_ms()
            ),
        };
        let stem = format!("{}-anomaly-{}", chart_stem(partition), k + 1);
        let svg = chart::svg(&chart, options.size)?;
        files.push(ReportFile {
            name: format!("{stem}.png"),
            bytes: chart::png(&chart, options.size)?,
        });
        files.push(ReportFile {
            name: format!("{stem}.svg"),
            bytes: svg.clone().into_bytes(),
        });
        zooms.push(Some(html::ChartRef {
            title: chart.title,
            stem,
            svg,
        }));
    }
    let mut run_json = summary.clone();
    run_json.wall_ms = 0;
    files.push(ReportFile {
        name: "run.json".into(),
        bytes: (run_json.to_json() + "\n").into_bytes(),
    });
    let page = html::Page {
        input,
        window,
        spans: &spans,
        stories: &stories,
        zooms: &zooms,
        charts: &charts,
    };
    files.push(ReportFile {
        name: "index.html".into(),
        bytes: html::render(&page).into_bytes(),
    });
    Ok(files)
}

/// Writes `files` into `dir` (created if missing), each through a temporary name and a rename.
pub fn write(dir: &Path, files: &[ReportFile]) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for file in files {
        write_atomically(&dir.join(&file.name), &file.bytes)?;
    }
    Ok(())
}
