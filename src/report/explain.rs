//! What the report tells about each anomaly beyond the checker's paragraph: the story of the
//! offset concerned, gathered from the trace — the send and acknowledgement of the record, every
//! replica writing and losing that offset, the HW passing it, truncations across it with their
//! rule, the elections and faults in between — and from that story the window an extra chart
//! zooms on and the point where the anomaly is marked.

use crate::cli::{AnomalyRecord, FaultRecord};
use crate::node::Obs;
use crate::sim::{NodeId, SimTime};

use super::chart::AnomalyMark;
use super::decimate::Window;
use super::series::{PartitionSeries, Steps};

/// Events of one kind listed at most per replica, so a busy run's story stays readable.
const EVENTS_PER_KIND_MAX: usize = 8;

/// One line of an anomaly's story.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// When (µs).
    pub at_us: u64,
    /// What happened, one sentence.
    pub text: String,
    /// Whether it removed or overwrote the offset (a truncation, a lost copy).
    pub removal: bool,
}

/// An anomaly with its story, chart window and mark.
#[derive(Clone, Debug)]
pub struct AnomalyStory<'a> {
    /// The checker's record (kind, partition, offset, explanation).
    pub record: &'a AnomalyRecord,
    /// Partition name (`orders-0`).
    pub partition: String,
    /// The story in time order.
    pub events: Vec<Event>,
    /// The window a zoomed chart shows.
    pub window: Window,
    /// Where the chart marks it.
    pub mark: AnomalyMark,
}

/// Tells the story of `record` from the run's observations and faults.
pub fn story<'a>(
    record: &'a AnomalyRecord,
    series: Option<&PartitionSeries>,
    observations: &[(SimTime, NodeId, Obs)],
    names: &[String],
    faults: &[FaultRecord],
    run: Window,
) -> AnomalyStory<'a> {
    let partition = format!("{}-{}", record.topic, record.partition);
    let offset = record.offset;
    let mut events = client_events(record, &partition, observations, names);
    if let Some(series) = series {
        replica_events(series, offset, &mut events);
    }
    events.sort_by_key(|e| e.at_us);
    let (first, last) = match (events.first(), events.last()) {
        (Some(f), Some(l)) => (f.at_us, l.at_us),
        _ => (run.from_us, run.to_us),
    };
    if let Some(series) = series {
        for e in series
            .epochs
            .iter()
            .filter(|e| (first..=last).contains(&e.at_us))
        {
            let isr = series
                .isr
                .iter()
                .find(|(at, _)| *at == e.at_us)
                .map_or(String::new(), |(_, isr)| format!(", ISR {isr:?}"));
            let text = match e.leader {
                Some(l) => format!("broker-{l} elected leader (epoch {}{isr})", e.epoch),
                None => format!("no leader (epoch {}{isr})", e.epoch),
            };
            events.push(Event {
                at_us: e.at_us,
                text,
                removal: false,
            });
        }
    }
    for f in faults
        .iter()
        .filter(|f| (first..=last).contains(&(f.at_ms * 1_000)))
    {
        let whom = f.node.as_deref().unwrap_or("");
        events.push(Event {
            at_us: f.at_ms * 1_000,
            text: format!("fault: {} {whom}", f.action).trim_end().to_owned(),
            removal: false,
        });
    }
    events.sort_by_key(|e| e.at_us);
    let pad = ((last - first) / 20).max(50_000);
    let window = Window {
        from_us: first.saturating_sub(pad).max(run.from_us),
        to_us: (last + pad).min(run.to_us),
    }
    .within(run)
    .unwrap_or(run);
    let at_us = events
        .iter()
        .rev()
        .find(|e| e.removal)
        .map_or((record.at_ms * 1_000).min(window.to_us), |e| e.at_us);
    AnomalyStory {
        record,
        partition,
        events,
        window,
        mark: AnomalyMark {
            at_us,
            offset,
            label: record.kind.clone(),
        },
    }
}

/// The producer node and record number of a record name (`p1-41`).
fn split_record(record: &str) -> Option<(&str, u32)> {
    let (producer, n) = record.rsplit_once('-')?;
    Some((producer, n.parse().ok()?))
}

/// The record's send and acknowledgement or failure.
fn client_events(
    record: &AnomalyRecord,
    partition: &str,
    observations: &[(SimTime, NodeId, Obs)],
    names: &[String],
) -> Vec<Event> {
    let Some((producer, n)) = split_record(&record.record) else {
        return Vec::new();
    };
    let Some(node) = names.iter().position(|name| name == producer) else {
        return Vec::new();
    };
    let mut events = Vec::new();
    for (at, _, obs) in observations.iter().filter(|(_, o, _)| o.index() == node) {
        let text = match obs {
            Obs::Send { id, partition: p } if id.n == n && &**p == partition => {
                format!("{producer} sends {}", record.record)
            }
            Obs::Ack {
                id,
                count,
                partition: p,
                offset,
                broker,
            } if (id.n..id.n + count).contains(&n) && &**p == partition => {
                let at = offset + u64::from(n - id.n);
                format!(
                    "broker-{broker} acknowledges {} at offset {at}",
                    record.record
                )
            }
            Obs::SendFailed {
                id,
                partition: p,
                definite,
                error,
            } if id.n == n && &**p == partition => {
                let how = if *definite { "failed" } else { "indefinite" };
                format!("{} {how}: {error}", record.record)
            }
            _ => continue,
        };
        events.push(Event {
            at_us: at.as_micros(),
            text,
            removal: false,
        });
    }
    events
}

/// Every replica writing and losing `offset`, the HW passing it, truncations across it.
fn replica_events(series: &PartitionSeries, offset: u64, events: &mut Vec<Event>) {
    for replica in &series.replicas {
        let b = replica.broker;
        let crossings = crossings(&replica.leo, offset);
        // A truncation across the offset tells the loss better, with its rule.
        let truncated = |at_us: u64| {
            series
                .truncations
                .iter()
                .any(|t| t.at_us == at_us && t.broker == b && t.to <= offset && t.from > offset)
        };
        let crossings = crossings
            .into_iter()
            .filter(|&(at_us, _, after)| after > offset || !truncated(at_us));
        for (at_us, before, after) in crossings.take(EVENTS_PER_KIND_MAX) {
            let (text, removal) = if after > offset {
                (
                    format!("broker-{b} writes offset {offset} (LEO {before} → {after})"),
                    false,
                )
            } else {
                (
                    format!("broker-{b} no longer holds offset {offset} (LEO {before} → {after})"),
                    true,
                )
            };
            events.push(Event {
                at_us,
                text,
                removal,
            });
        }
        let passes = crossings_up(&replica.hw, offset);
        for (at_us, before, after) in passes.into_iter().take(EVENTS_PER_KIND_MAX) {
            events.push(Event {
                at_us,
                text: format!("broker-{b}'s HW passes offset {offset} ({before} → {after})"),
                removal: false,
            });
        }
    }
    let cuts = series
        .truncations
        .iter()
        .filter(|t| t.to <= offset && t.from > offset);
    for t in cuts.take(EVENTS_PER_KIND_MAX * 2) {
        events.push(Event {
            at_us: t.at_us,
            text: format!(
                "broker-{} truncates {} → {} by the {} rule",
                t.broker, t.from, t.to, t.rule
            ),
            removal: true,
        });
    }
}

/// Where a step series crosses `offset` either way: `(µs, before, after)`.
fn crossings(steps: &Steps, offset: u64) -> Vec<(u64, u64, u64)> {
    let mut out = Vec::new();
    let mut prev = 0;
    for &(at, v) in steps {
        if (prev <= offset) != (v <= offset) {
            out.push((at, prev, v));
        }
        prev = v;
    }
    out
}

/// Where a step series rises past `offset`.
fn crossings_up(steps: &Steps, offset: u64) -> Vec<(u64, u64, u64)> {
    crossings(steps, offset)
        .into_iter()
        .filter(|(_, _, after)| *after > offset)
        .collect()
}
