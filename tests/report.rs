//! `run --report DIR`: the charts show what the run did (a LEO and an HW series per replica, the
//! faults the scenario injected, truncations and anomalies), the PNG is a real image, the report
//! is deterministic and leaves the trace hash alone, and bad flags write nothing.

mod common;

use std::path::{Path, PathBuf};

use common::binary::kafkasim;

use kafkasim::report::chart::replica_colour;
use kafkasim::report::{ReportFile, ReportInput, ReportOptions, render};
use kafkasim::run::{RunOptions, run};
use kafkasim::scenario;

const R1: &str = "scenarios/r1-hw-truncation-loss.toml";

/// Runs `path` with a report's options and renders the report in memory.
fn report_of(path: &str, sets: &[String], options: &ReportOptions) -> (String, Vec<ReportFile>) {
    let scenario = scenario::load(Path::new(path), sets).expect("the scenario loads");
    let run_options = RunOptions {
        keep_log: true,
        keep_series: true,
        ..RunOptions::default()
    };
    let outcome = run(&scenario, scenario.seed, run_options).expect("no invariant breaks");
    let input = ReportInput {
        summary: &outcome.summary,
        replay: "kafkasim run …",
        description: &scenario.description,
        observations: &outcome.observations,
        names: &outcome.names,
        log: outcome.log.as_deref().unwrap_or(""),
    };
    let files = render(&input, options).expect("the report renders");
    (outcome.summary.trace_hash.clone(), files)
}

fn file<'a>(files: &'a [ReportFile], name: &str) -> &'a [u8] {
    &files
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("the report has {name}"))
        .bytes
}

fn hex(colour: plotters::style::RGBColor) -> String {
    format!("#{:02X}{:02X}{:02X}", colour.0, colour.1, colour.2)
}

#[test]
fn the_svg_has_a_leo_and_an_hw_series_per_replica_and_the_injected_faults() {
    let (_, files) = report_of(R1, &[], &ReportOptions::default());
    let svg = String::from_utf8(file(&files, "leo-hw-orders-0.svg").to_vec()).unwrap();
    for broker in 0..3 {
        let colour = hex(replica_colour(broker));
        assert!(
            svg.contains(&format!("broker-{broker} LEO")),
            "legend LEO {broker}"
        );
        assert!(
            svg.contains(&format!("broker-{broker} HW")),
            "legend HW {broker}"
        );
        // The solid LEO line is one polyline; the dashed HW line is drawn as dashes.
        let polyline = format!("<polyline fill=\"none\" opacity=\"1\" stroke=\"{colour}\"");
        assert!(
            svg.contains(&polyline),
            "a LEO polyline for broker-{broker}"
        );
        let dash = format!("<line opacity=\"1\" stroke=\"{colour}\"");
        assert!(svg.contains(&dash), "HW dashes for broker-{broker}");
    }
    // R1 kills broker-2 and then broker-0: two shaded, labelled spans.
    assert!(svg.contains("kill broker-2") && svg.contains("kill broker-0"));
    let shaded = "opacity=\"0.12\" fill=\"#D62728\"";
    assert_eq!(svg.matches(shaded).count(), 2, "two shaded down spans");
    // Leader epochs, the truncation by the hw rule and the lost write are marked.
    for mark in ["e1", "e2", "truncate 1 → 0 (hw)", "lost-write"] {
        assert!(svg.contains(mark), "the chart marks {mark}");
    }
    assert!(
        files
            .iter()
            .any(|f| f.name == "leo-hw-orders-0-anomaly-1.svg")
    );
    let json: serde_json::Value = serde_json::from_slice(file(&files, "run.json")).unwrap();
    assert_eq!(json["anomaly_counts"]["lost-write"], 1);
}

#[test]
fn the_png_is_an_image_of_the_requested_size_with_many_colours() {
    let options = ReportOptions {
        size: (900, 500),
        ..ReportOptions::default()
    };
    let (_, files) = report_of(R1, &[], &options);
    let png = file(&files, "leo-hw-orders-0.png");
    let decoder = png::Decoder::new(std::io::Cursor::new(png));
    let mut reader = decoder.read_info().expect("a valid PNG header");
    let mut pixels = vec![0; reader.output_buffer_size().expect("a sane size")];
    let info = reader.next_frame(&mut pixels).expect("valid PNG data");
    assert_eq!((info.width, info.height), (900, 500));
    let mut colours: Vec<&[u8]> = pixels[..info.buffer_size()].chunks(3).collect();
    colours.sort_unstable();
    colours.dedup();
    assert!(colours.len() > 2, "{} colours", colours.len());
    for broker in 0..3 {
        let c = replica_colour(broker);
        assert!(
            colours.contains(&&[c.0, c.1, c.2][..]),
            "broker-{broker}'s colour is drawn"
        );
    }
}

#[test]
fn a_report_is_deterministic_and_leaves_the_trace_hash_alone() {
    let (hash_a, a) = report_of(R1, &[], &ReportOptions::default());
    let (_, b) = report_of(R1, &[], &ReportOptions::default());
    assert!(a == b, "two reports of one run are byte-identical");
    let scenario = scenario::load(Path::new(R1), &[]).unwrap();
    let plain = run(&scenario, scenario.seed, RunOptions::default()).unwrap();
    assert_eq!(hash_a, plain.summary.trace_hash);
    let html = String::from_utf8(file(&a, "index.html").to_vec()).unwrap();
    assert!(html.contains("<svg class=\"chart\""), "charts are inline");
    assert!(
        !html.contains("<link") && !html.contains("src="),
        "nothing loaded"
    );
}

#[test]
fn a_window_zooms_the_partition_charts() {
    let options = ReportOptions {
        window_ms: Some((2_000, 3_000)),
        ..ReportOptions::default()
    };
    let (_, files) = report_of(R1, &[], &options);
    let svg = String::from_utf8(file(&files, "leo-hw-orders-0.svg").to_vec()).unwrap();
    assert!(
        svg.contains("e1") && !svg.contains("e2"),
        "only the epoch inside"
    );
    assert!(svg.contains("kill broker-0"));
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kafkasim-report-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn run_report_writes_charts_html_and_json() {
    let dir = scratch("ok").join("r1");
    let out = kafkasim(&["run", R1, "--report", dir.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for name in [
        "index.html",
        "run.json",
        "leo-hw-orders-0.svg",
        "leo-hw-orders-0.png",
    ] {
        assert!(dir.join(name).is_file(), "{name}");
    }
    let leftovers = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains("tmp")
        })
        .count();
    assert_eq!(leftovers, 0, "no temporary files left");
}

#[test]
fn bad_report_flags_exit_2_naming_the_flag_and_write_nothing() {
    let dir = scratch("bad");
    let file = dir.join("a-file");
    std::fs::write(&file, "x").unwrap();
    let trace = dir.join("t.log");
    let report = dir.join("r");
    let (f, t, r) = (
        file.to_str().unwrap(),
        trace.to_str().unwrap(),
        report.to_str().unwrap(),
    );
    let cases: [(&[&str], &str); 5] = [
        (&["run", R1, "--report", f, "--trace", t], "--report"),
        (
            &["run", R1, "--report", &format!("{f}/sub"), "--trace", t],
            "--report",
        ),
        (
            &[
                "run",
                R1,
                "--report",
                r,
                "--window-ms",
                "5..2",
                "--trace",
                t,
            ],
            "--window-ms",
        ),
        (
            &[
                "run",
                R1,
                "--report",
                r,
                "--window-ms",
                "soon",
                "--trace",
                t,
            ],
            "--window-ms",
        ),
        (
            &[
                "run",
                R1,
                "--report",
                r,
                "--window-ms",
                "90000..99000",
                "--trace",
                t,
            ],
            "--window-ms",
        ),
    ];
    for (args, flag) in cases {
        let out = kafkasim(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(flag), "{args:?} names {flag}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert!(
            !trace.exists() && !report.exists(),
            "{args:?} wrote nothing"
        );
    }
    let out = kafkasim(&["run", R1, "--window-ms", "1..2"]);
    assert_eq!(out.status.code(), Some(2), "--window-ms needs --report");
}
