//! Malformed scenarios are rejected with one clear message: exit code 2, nothing on stdout, and
//! on stderr the file, the line of the offending text and a phrase that says what is wrong.
//! Each file under `tests/data/malformed/` starts with a comment saying what is wrong with it;
//! the table below says where the loader must point and what it must say.

use std::path::Path;
use std::process::{Command, Output};

use kafkasim::scenario;

/// One malformed file: the line the error must point at (None: no line, e.g. a missing key)
/// and a phrase the message must contain.
struct Case {
    file: &'static str,
    line: Option<usize>,
    phrase: &'static str,
}

const fn case(file: &'static str, line: Option<usize>, phrase: &'static str) -> Case {
    Case { file, line, phrase }
}

const CASES: &[Case] = &[
    case("syntax-error.toml", Some(5), "TOML syntax error"),
    case(
        "unknown-key-suggestion.toml",
        Some(9),
        "did you mean `replica.lag.time.max.ms`?",
    ),
    case(
        "misspelt-topic-key.toml",
        Some(10),
        "did you mean `replication_factor`?",
    ),
    case(
        "unknown-section.toml",
        Some(5),
        "unknown key `clusters` at the top level; did you mean `cluster`?",
    ),
    case(
        "wrong-type.toml",
        Some(6),
        "expected a non-negative integer, found the string \"three\"",
    ),
    case(
        "negative-time.toml",
        Some(3),
        "`duration_ms` at the top level: must not be negative (found -5)",
    ),
    case(
        "negative-config.toml",
        Some(7),
        "`min.insync.replicas` in [cluster.config]: must not be negative",
    ),
    case(
        "missing-required-key.toml",
        Some(11),
        "missing required key `topic` in [[producer]] \"p1\"",
    ),
    case(
        "missing-duration.toml",
        None,
        "missing required key `duration_ms` at the top level",
    ),
    case(
        "rf-exceeds-brokers.toml",
        Some(11),
        "`replication_factor` = 3 but the cluster has only 2 broker(s)",
    ),
    case(
        "unknown-fault-node.toml",
        Some(11),
        "[[fault]] #0: unknown node \"broker-5\"",
    ),
    case(
        "unknown-producer-topic.toml",
        Some(13),
        "unknown topic \"order\"; did you mean \"orders\"?",
    ),
    case(
        "inverted-latency.toml",
        Some(9),
        "`latency_ms` = [10, 1] is inverted",
    ),
    case(
        "duplicate-topic.toml",
        Some(12),
        "[[topic]] \"orders\": duplicate topic name",
    ),
    case(
        "duplicate-client-names.toml",
        Some(21),
        "the name is already used by [[producer]] \"app\"",
    ),
    case(
        "idempotence-conflict.toml",
        Some(18),
        "`enable.idempotence` = true conflicts with `acks` = 1",
    ),
    case(
        "idempotence-retries-conflict.toml",
        Some(18),
        "`enable.idempotence` = true conflicts with `retries` = 0; idempotence needs retries > 0",
    ),
    case(
        "idempotence-in-flight-conflict.toml",
        Some(18),
        "conflicts with `max.in.flight.requests.per.connection` = 6; idempotence needs at most 5",
    ),
    case(
        "transactional-without-idempotence.toml",
        Some(18),
        "`transactional.id` requires idempotence",
    ),
    case(
        "delivery-timeout-too-small.toml",
        Some(17),
        "must be at least `linger.ms` + `request.timeout.ms`",
    ),
    case(
        "unknown-protocol.toml",
        Some(7),
        "unknown value \"kip-102\"; did you mean \"kip-101\"?",
    ),
    case(
        "bad-acks.toml",
        Some(16),
        "`acks` in [producer.config] of [[producer]] \"p1\": expected \"all\", -1, 0 or 1",
    ),
    case(
        "loss-above-one.toml",
        Some(9),
        "`loss` is a probability between 0.0 and 1.0 (found 1.5)",
    ),
    case(
        "fault-after-duration.toml",
        Some(9),
        "`at_ms` = 70000 is not before the end of the run",
    ),
    case(
        "partition-one-group.toml",
        Some(11),
        "`partition` needs at least two groups",
    ),
    case(
        "partition-node-twice.toml",
        Some(12),
        "\"broker-0\" appears in `groups` more than once",
    ),
    case(
        "kill-with-groups.toml",
        Some(12),
        "`kill` does not take `groups`",
    ),
    case(
        "when-two-conditions.toml",
        Some(12),
        "give one condition, found `leo` and `hw`",
    ),
    case(
        "when-replica-not-held.toml",
        Some(15),
        "\"broker-2\" holds no replica of orders-0",
    ),
    case(
        "unknown-expect-kind.toml",
        Some(9),
        "unknown value \"lost-writes\"; did you mean \"lost-write\"?",
    ),
    case(
        "replicas-bad-broker.toml",
        Some(12),
        "`replicas` of partition 1 names broker 3",
    ),
    case(
        "heartbeat-not-below-session.toml",
        Some(20),
        "must be lower than `session.timeout.ms`",
    ),
    case(
        "auto-commit-contradiction.toml",
        Some(20),
        "`enable.auto.commit` = true contradicts `commit`",
    ),
    case(
        "offsets-topic-rf-too-large.toml",
        Some(5),
        "`offsets.topic.replication.factor` = 3",
    ),
    case(
        "internal-topic-name.toml",
        Some(9),
        "which Kafka reserves for internal topics",
    ),
    case(
        "nemesis-target-matches-nothing.toml",
        Some(10),
        "target \"kafka-*\" matches no node",
    ),
    case(
        "nemesis-heal-action.toml",
        Some(9),
        "\"heal\" cannot be drawn at random",
    ),
    case(
        "run-too-long.toml",
        Some(4),
        "`duration_ms` + `settle_ms` = 1000000005000 ms is longer than a run may be (1000000000000 ms, about 31 years)",
    ),
    case(
        "too-many-brokers.toml",
        Some(6),
        "`brokers` must be between 1 and 64 (found 65)",
    ),
];

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The file's path relative to the crate root, as the user would type it.
fn relative(file: &str) -> String {
    format!("tests/data/malformed/{file}")
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kafkasim"))
        .args(args)
        .current_dir(manifest_dir())
        .output()
        .expect("the kafkasim binary runs")
}

#[test]
fn there_are_enough_distinct_cases() {
    assert!(CASES.len() >= 18, "only {} malformed cases", CASES.len());
    let mut files: Vec<&str> = CASES.iter().map(|c| c.file).collect();
    files.sort_unstable();
    files.dedup();
    assert_eq!(files.len(), CASES.len(), "a file is listed twice");
}

#[test]
fn every_malformed_file_is_in_the_table_and_says_what_is_wrong() {
    let dir = manifest_dir().join("tests/data/malformed");
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .expect("tests/data/malformed exists")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".toml"))
        .collect();
    on_disk.sort();
    for name in &on_disk {
        assert!(
            CASES.iter().any(|c| c.file == name),
            "{name} has no entry in CASES"
        );
        let text = std::fs::read_to_string(dir.join(name)).unwrap_or_default();
        assert!(
            text.starts_with("# "),
            "{name} must start with a comment saying what is wrong"
        );
    }
    assert_eq!(on_disk.len(), CASES.len());
}

#[test]
fn the_library_names_file_line_and_problem() {
    for case in CASES {
        let path = relative(case.file);
        let err = scenario::load(&manifest_dir().join(&path), &[])
            .expect_err(&format!("{path} must not load"));
        let shown = err.to_string();
        assert!(shown.contains(case.phrase), "{path}: {shown}");
        assert_eq!(err.position().map(|p| p.line), case.line, "{path}: {shown}");
        let source = std::fs::read_to_string(manifest_dir().join(&path)).unwrap_or_default();
        let again = scenario::parse_str(&source, &path, &[]).expect_err("same result from text");
        let prefix = match case.line {
            Some(line) => format!("{path}:{line}:"),
            None => format!("{path}: "),
        };
        assert!(again.to_string().starts_with(&prefix), "{}", again);
        assert_eq!(again.message(), err.message());
    }
}

#[test]
fn the_binary_exits_2_with_the_message_on_stderr() {
    for case in CASES {
        let path = relative(case.file);
        let out = run(&["run", &path]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{path}: {stderr}");
        assert!(out.stdout.is_empty(), "{path}: stdout not empty");
        assert!(stderr.contains(&path), "{path}: {stderr}");
        if let Some(line) = case.line {
            assert!(
                stderr.contains(&format!("{path}:{line}:")),
                "{path}: {stderr}"
            );
        }
        assert!(stderr.contains(case.phrase), "{path}: {stderr}");
    }
}

#[test]
fn an_unreadable_file_is_named() {
    let err = scenario::load(Path::new("tests/data/no-such-file.toml"), &[]).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("tests/data/no-such-file.toml: cannot read the scenario file")
    );
    let out = run(&["run", "tests/data/no-such-file.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("tests/data/no-such-file.toml"));
}

/// `--set` flags that are malformed, name nothing, or break a valid scenario: (flag, phrase).
const BAD_FLAGS: &[(&str, &str)] = &[
    ("duration_ms", "expected KEY=VALUE"),
    ("=5", "the KEY before `=` is empty"),
    ("cluster..brokers=1", "empty part"),
    (
        "producer.nope.records=1",
        "no [[producer]] named \"nope\"; known: \"p1\"",
    ),
    ("fault.0.at_ms=1", "no [[fault]] #0"),
    (
        "clustr.brokers=3",
        "unknown section `clustr`; did you mean `cluster`?",
    ),
    (
        "producer.p1.records=lots",
        "expected a non-negative integer, found the string \"lots\"",
    ),
    ("producer.p1.config.acks=7", "expected \"all\", -1, 0 or 1"),
    (
        "cluster.config.replica.lag.time.max=5",
        "did you mean `replica.lag.time.max.ms`?",
    ),
    (
        "network.loss=2",
        "`loss` is a probability between 0.0 and 1.0",
    ),
    (
        "cluster.brokers=1",
        "`replication_factor` = 3 but the cluster has only 1 broker(s)",
    ),
    (
        "consumer.c.config.heartbeat.interval.ms=60000",
        "must be lower than `session.timeout.ms`",
    ),
];

const VALID: &str = "tests/data/chaos-3-brokers.toml";

#[test]
fn bad_set_flags_are_named_by_the_library() {
    for (flag, phrase) in BAD_FLAGS {
        let err = scenario::load(&manifest_dir().join(VALID), &[flag.to_string()])
            .expect_err(&format!("--set {flag} must fail"));
        assert_eq!(err.flag(), Some(*flag));
        let shown = err.to_string();
        assert!(shown.starts_with(&format!("--set {flag}: ")), "{shown}");
        assert!(shown.contains(phrase), "{shown}");
    }
}

#[test]
fn bad_set_flags_exit_2_naming_the_flag() {
    for (flag, phrase) in BAD_FLAGS {
        let out = run(&["run", VALID, "--set", flag]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "--set {flag}: {stderr}");
        assert!(out.stdout.is_empty(), "--set {flag}: stdout not empty");
        assert!(stderr.contains(&format!("--set {flag}: ")), "{stderr}");
        assert!(stderr.contains(phrase), "{stderr}");
    }
}

#[test]
fn the_first_breaking_flag_is_blamed() {
    let sets = [
        "network.loss=0.1",
        "producer.p1.config.acks=1",
        "cluster.brokers=2",
    ]
    .map(String::from);
    let err = scenario::load(&manifest_dir().join(VALID), &sets).unwrap_err();
    // acks=1 is fine on its own (idempotence silently turns off) but the file says
    // enable.idempotence = true, so the second flag is the one that breaks the scenario.
    assert_eq!(err.flag(), Some("producer.p1.config.acks=1"), "{err}");
}

#[test]
fn a_flag_can_repair_a_broken_file_and_an_unrepaired_file_keeps_its_lines() {
    let file = manifest_dir().join("tests/data/malformed/idempotence-conflict.toml");
    let fixed = scenario::load(&file, &["producer.p1.config.acks=all".to_string()]);
    assert!(fixed.is_ok(), "{fixed:?}");
    let err = scenario::load(&file, &["network.loss=0.5".to_string()]).unwrap_err();
    assert_eq!(err.flag(), None);
    assert_eq!(err.position().map(|p| p.line), Some(18), "{err}");
}
