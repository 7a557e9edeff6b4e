//! What a run prints: the DESIGN §7 JSON object (`run --json`) and the human summary, plus the
//! rule that output files are written to a temporary name and renamed, never half-written.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use std::path::Path;

use serde::Serialize;

use crate::faults::FaultAction;
use crate::sim::{Process, SimTime, Simulator};

/// One run's result, serialized field for field as DESIGN §7's `run --json` object.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunSummary {
    /// Scenario name.
    pub scenario: String,
    /// The seed that reproduces the run.
    pub seed: u64,
    /// `hw-truncation`, `kip-101` or `kip-279`.
    pub replication_protocol: String,
    /// Simulated time at the end of the run, in ms.
    pub sim_time_ms: u64,
    /// Events handled.
    pub events: u64,
    /// Wall-clock time the run took, in ms.
    pub wall_ms: u64,
    /// The run's trace hash, 16 hex digits.
    pub trace_hash: String,
    /// Every fault applied, in order.
    pub faults: Vec<FaultRecord>,
    /// Counters of the run.
    pub stats: Stats,
    /// Anomalies found by the checkers.
    pub anomalies: Vec<AnomalyRecord>,
    /// Anomalies per kind.
    pub anomaly_counts: BTreeMap<String, u64>,
    /// Whether the anomaly kinds equal the scenario's `[expect]`.
    pub expect_met: bool,
    /// Per consumer group, how many records were delivered how many times (absent without
    /// groups).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub deliveries: BTreeMap<String, Deliveries>,
}

/// A group's delivery-count histograms: times delivered → records delivered that many times,
/// over the acknowledged records of the topics the group subscribes to (and any other record
/// it consumed).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Deliveries {
    /// How many times polls returned each record.
    pub polled: BTreeMap<u32, u64>,
    /// How many times each record's processing finished.
    pub processed: BTreeMap<u32, u64>,
    /// Records of the final logs below the group's last acknowledged committed offset of their
    /// partition that no member ever processed: skipped input (at-most-once allows it).
    pub committed_unprocessed: u64,
}

/// One applied fault, as scenarios spell it, so a run can be replayed as a scripted scenario.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FaultRecord {
    /// When it was applied.
    pub at_ms: u64,
    /// The action's name (`kill`, `partition`, …).
    pub action: &'static str,
    /// The target node, for single-node actions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The sides of a partition.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<Vec<String>>>,
    /// Sending side of a cut or slow link.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Receiving side of a cut or slow link.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Added delay of a slow link or slow disk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra_ms: Option<u64>,
    /// How long a slowdown lasts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub for_ms: Option<u64>,
    /// Whether a power-off left torn tails.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub torn: Option<bool>,
}

/// Counters of a run (DESIGN §7 `stats`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Records producers sent.
    pub sent: u64,
    /// Records acknowledged.
    pub acked: u64,
    /// Records consumers read.
    pub consumed: u64,
    /// Leader elections.
    pub leader_elections: u64,
    /// ISR shrinks.
    pub isr_shrinks: u64,
    /// ISR expansions.
    pub isr_expands: u64,
    /// Log truncations.
    pub truncations: u64,
}

/// One anomaly as the JSON output lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AnomalyRecord {
    /// Anomaly kind (`lost-write`, …).
    pub kind: String,
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: u32,
    /// Offset concerned.
    pub offset: u64,
    /// Record id (`p1-41`).
    pub record: String,
    /// When it became visible, in ms.
    pub at_ms: u64,
    /// How it happened, built from the trace.
    pub explanation: String,
}

impl FaultRecord {
    /// The record of `fault` applied at `at`, with node names from `names`.
    pub fn new(at: SimTime, fault: &FaultAction, names: &[String]) -> FaultRecord {
        let name = |node: &crate::sim::NodeId| Some(names[node.index()].clone());
        let mut record = FaultRecord {
            at_ms: at.as_millis(),
            action: fault.name(),
            node: None,
            groups: None,
            from: None,
            to: None,
            extra_ms: None,
            for_ms: None,
            torn: None,
        };
        match fault {
            FaultAction::PowerOff { node, torn } => {
                (record.node, record.torn) = (name(node), Some(*torn))
            }
            FaultAction::Kill(node)
            | FaultAction::Restart(node)
            | FaultAction::Pause(node)
            | FaultAction::Resume(node)
            | FaultAction::Isolate(node) => record.node = name(node),
            FaultAction::Partition(groups) => {
                let named = groups
                    .iter()
                    .map(|g| g.iter().filter_map(name).collect())
                    .collect();
                record.groups = Some(named);
            }
            FaultAction::Cut { from, to } => (record.from, record.to) = (name(from), name(to)),
            FaultAction::Heal => {}
            FaultAction::SlowLink {
                from,
                to,
                extra,
                for_,
            } => {
                (record.from, record.to) = (name(from), name(to));
                (record.extra_ms, record.for_ms) =
                    (Some(extra.as_millis()), Some(for_.as_millis()));
            }
            FaultAction::SlowDisk { node, extra, for_ } => {
                record.node = name(node);
                (record.extra_ms, record.for_ms) =
                    (Some(extra.as_millis()), Some(for_.as_millis()));
            }
        }
        record
    }
}

impl RunSummary {
    /// The engine's part of a summary: time, events, trace hash and faults of `sim`.
    pub fn from_sim<P: Process>(sim: &Simulator<P>, scenario: &str, seed: u64) -> RunSummary {
        let faults = sim
            .faults()
            .iter()
            .map(|(at, f)| FaultRecord::new(*at, f, sim.names()));
        RunSummary {
            scenario: scenario.to_owned(),
            seed,
            replication_protocol: String::new(),
            sim_time_ms: sim.now().as_millis(),
            events: sim.events(),
            wall_ms: 0,
            trace_hash: sim.trace().hash_hex(),
            faults: faults.collect(),
            stats: Stats::default(),
            anomalies: Vec::new(),
            anomaly_counts: BTreeMap::new(),
            expect_met: true,
            deliveries: BTreeMap::new(),
        }
    }

    /// The one-line JSON object of `run --json`.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a summary always serializes")
    }

    /// The human summary, ending with the command that replays the run.
    pub fn to_text(&self, replay: &str) -> String {
        let mut out = String::new();
        let w = &mut out;
        let _ = writeln!(
            w,
            "scenario   {} ({}), seed {}",
            self.scenario, self.replication_protocol, self.seed
        );
        let _ = writeln!(
            w,
            "simulated  {} ms in {} ms wall, {} events, trace {}",
            self.sim_time_ms, self.wall_ms, self.events, self.trace_hash
        );
        let _ = writeln!(w, "faults     {}", self.faults.len());
        for fault in &self.faults {
            let _ = writeln!(w, "  {:>9} ms  {}", fault.at_ms, fault_text(fault));
        }
        let s = &self.stats;
        let _ = writeln!(
            w,
            "stats      sent {}, acked {}, consumed {}, elections {}, isr -{} +{}, truncations {}",
            s.sent,
            s.acked,
            s.consumed,
            s.leader_elections,
            s.isr_shrinks,
            s.isr_expands,
            s.truncations
        );
        for (group, d) in &self.deliveries {
            let histogram = |h: &BTreeMap<u32, u64>| {
                let parts: Vec<String> = h.iter().map(|(k, n)| format!("{k}x {n}")).collect();
                parts.join(", ")
            };
            let skipped = match d.committed_unprocessed {
                0 => String::new(),
                n => format!("; committed but never processed {n}"),
            };
            let _ = writeln!(
                w,
                "deliveries group {group}: polled {}; processed {}{skipped}",
                histogram(&d.polled),
                histogram(&d.processed)
            );
        }
        if self.anomaly_counts.is_empty() {
            let _ = writeln!(w, "anomalies  none");
        } else {
            let counts: Vec<String> = self
                .anomaly_counts
                .iter()
                .map(|(kind, n)| format!("{kind} {n}"))
                .collect();
            let _ = writeln!(w, "anomalies  {}", counts.join(", "));
        }
        for a in &self.anomalies {
            let _ = writeln!(
                w,
                "  {} {}-{}@{} {}: {}",
                a.kind, a.topic, a.partition, a.offset, a.record, a.explanation
            );
        }
        let _ = writeln!(
            w,
            "expect     {}",
            if self.expect_met { "met" } else { "NOT met" }
        );
        let _ = writeln!(w, "replay     {replay}");
        out
    }
}

fn fault_text(fault: &FaultRecord) -> String {
    let mut text = fault.action.to_owned();
    if let Some(node) = &fault.node {
        let _ = write!(text, " {node}");
    }
    if let Some(groups) = &fault.groups {
        let sides: Vec<String> = groups
            .iter()
            .map(|g| format!("[{}]", g.join(" ")))
            .collect();
        let _ = write!(text, " {}", sides.join(" | "));
    }
    if let (Some(from), Some(to)) = (&fault.from, &fault.to) {
        let _ = write!(text, " {from} -> {to}");
    }
    if let (Some(extra), Some(for_ms)) = (fault.extra_ms, fault.for_ms) {
        let _ = write!(text, " +{extra} ms for {for_ms} ms");
    }
    text
}

/// The hidden file next to `path` that [`write_atomically`] (or a streaming writer) fills before
/// renaming it to `path`.
pub fn temporary_path(path: &Path) -> io::Result<std::path::PathBuf> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::other("not a file path"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(".kafkasim-tmp");
    Ok(path.with_file_name(tmp_name))
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename, so a
/// reader never sees half a file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = temporary_path(path)?;
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}
