//! The `kafkasim` binary: help, usage errors, exit codes, and the run summary's JSON shape.

mod common;

use common::binary::{kafkasim, text};
use common::pingpong::{PingPong, full_mesh};
use kafkasim::cli::RunSummary;
use kafkasim::disk::DiskModel;
use kafkasim::faults::FaultAction;
use kafkasim::net::{LatencyModel, NetworkModel};
use kafkasim::sim::{NodeId, SimDuration, SimTime, Simulator, World};

#[test]
fn help_shows_examples_and_exit_codes() {
    for args in [&["--help"][..], &["run", "--help"]] {
        let out = kafkasim(args);
        assert_eq!(out.status.code(), Some(0));
        let help = text(&out.stdout);
        assert!(help.contains("kafkasim run scenarios/"), "{help}");
        assert!(help.contains("Exit codes"), "{help}");
    }
    assert!(text(&kafkasim(&["run", "--help"]).stdout).contains("--set <KEY=VALUE>"));
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &[][..],
        &["frobnicate"],
        &["run"],
        &["run", "x.toml", "--seed", "minus-one"],
    ] {
        let out = kafkasim(args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn a_missing_scenario_file_is_named() {
    let out = kafkasim(&["run", "no/such/scenario.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no/such/scenario.toml"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_trace_file_in_a_missing_directory_is_refused_before_running() {
    let out = kafkasim(&[
        "run",
        "tests/data/determinism.toml",
        "--trace",
        "no/such/dir/t.log",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--trace no/such/dir/t.log"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_scenario_beyond_what_the_model_can_represent_is_refused_not_faked() {
    // `__consumer_offsets` records name a partition in 16 bits.
    let scenario = std::fs::read_to_string("tests/data/eos-pipeline-kip890.toml")
        .unwrap()
        .replace("partitions = 4\n", "partitions = 70_000\n");
    let path = std::env::temp_dir().join(format!("kafkasim-big-{}.toml", std::process::id()));
    std::fs::write(&path, scenario).unwrap();
    let out = kafkasim(&["run", path.to_str().unwrap(), "--seed", "3", "--json"]);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "nothing that looks like a result");
    let err = text(&out.stderr);
    assert!(err.contains("not supported yet"), "{err}");
}

#[test]
fn run_prints_the_design_json_and_writes_a_trace_that_leaves_the_hash_alone() {
    let dir = std::env::temp_dir().join(format!("kafkasim-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let trace = dir.join("r1.log");
    let trace_arg = trace.to_str().unwrap();
    let out = kafkasim(&[
        "run",
        "scenarios/r1-hw-truncation-loss.toml",
        "--json",
        "--trace",
        trace_arg,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(json["seed"], 7);
    assert_eq!(json["replication_protocol"], "hw-truncation");
    assert_eq!(json["anomaly_counts"]["lost-write"], 1);
    assert_eq!(json["anomaly_counts"]["committed-read-lost"], 1);
    assert_eq!(json["expect_met"], true);
    let log = std::fs::read_to_string(&trace).unwrap();
    assert!(log.lines().any(|l| l.contains(" fault kill ")), "{log}");
    // Writing the short log does not change the run: the same hash without it.
    let bare = kafkasim(&["run", "scenarios/r1-hw-truncation-loss.toml", "--json"]);
    let bare: serde_json::Value = serde_json::from_slice(&bare.stdout).expect("one JSON object");
    assert_eq!(json["trace_hash"], bare["trace_hash"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn anomalies_that_differ_from_expect_exit_1_with_the_replay_command() {
    let set = "cluster.replication.protocol=kip-279";
    let out = kafkasim(&["run", "scenarios/r1-hw-truncation-loss.toml", "--set", set]);
    assert_eq!(out.status.code(), Some(1));
    let summary = text(&out.stdout);
    assert!(summary.contains("expect     NOT met"), "{summary}");
    assert!(summary.contains("replay     kafkasim run scenarios/r1-hw-truncation-loss.toml --seed 7 --set cluster.replication.protocol=kip-279"), "{summary}");
}

#[test]
fn check_runs_the_scenario_library_against_its_expectations() {
    let out = kafkasim(&["check", "scenarios/"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(text(&out.stdout).contains(" 0 failed"));
}

#[test]
fn the_summary_json_has_design_7_fields() {
    let world = World::<PingPong> {
        seed: 9,
        names: vec!["zk".into(), "broker-0".into(), "broker-1".into()],
        specs: full_mesh(3, SimDuration::from_millis(5), true),
        network: NetworkModel {
            latency: LatencyModel::uniform_ms(1, 2),
            loss_ppm: 0,
        },
        disk: DiskModel::default(),
        keep_log: false,
        keep_observations: false,
    };
    let mut sim = Simulator::new(world);
    let broker_1 = NodeId::from_index(2);
    sim.schedule_fault(SimTime::from_millis(12), FaultAction::Kill(broker_1));
    sim.run_until(SimTime::from_millis(50)).unwrap();
    let summary = RunSummary::from_sim(&sim, "fixture", 9);
    let json: serde_json::Value = serde_json::from_str(&summary.to_json()).unwrap();
    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected = vec![
        "scenario",
        "seed",
        "replication_protocol",
        "sim_time_ms",
        "events",
        "wall_ms",
        "trace_hash",
        "faults",
        "stats",
        "anomalies",
        "anomaly_counts",
        "expect_met",
    ];
    expected.sort_unstable();
    assert_eq!(keys, expected);
    assert_eq!(
        json["faults"][0],
        serde_json::json!({"at_ms": 12, "action": "kill", "node": "broker-1"})
    );
    assert_eq!(json["sim_time_ms"], 50);
    assert_eq!(json["trace_hash"].as_str().unwrap().len(), 16);
    let human = summary.to_text("kafkasim run x.toml --seed 9");
    assert!(
        human.contains("12 ms  kill broker-1") && human.ends_with("--seed 9\n"),
        "{human}"
    );
}
