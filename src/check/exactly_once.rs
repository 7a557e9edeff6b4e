//! `eos-duplicate` and `eos-missing`: what a pipeline's committed output says about its input.
//!
//! The committed output is what a `read_committed` reader of the output topic sees at the end
//! (the final reader's `read_committed` pass; the plain final read when the run has no
//! transactions). Each output record names the input record it was made from and where the
//! pipeline read it (the pipeline's `Transformed` observations): an input is a record at a
//! partition and offset, so a record a non-idempotent producer wrote twice is two inputs, and an
//! offset whose record a truncation replaced is a different input.
//!
//! - `eos-duplicate`: one input is reflected by more than one committed output record.
//! - `eos-missing`: an input below the group's committed offset of its partition (as the group
//!   coordinator holds it when the run settles, before the final reads) is reflected by no
//!   committed output record: the group's offsets say it was consumed, the output says it never
//!   was.
//!
//! The input is read the way the pipeline reads it: `read_committed` (exactly-once) or not.
//! When an output partition could not be read to its end, `eos-missing` is not judged (the
//! liveness checker reports the partition).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{Anomaly, FinalPartition, History};
use crate::record::RecordId;
use crate::scenario::AnomalyKind;

/// What the exactly-once checkers know of one `[[pipeline]]` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PipelineView {
    /// The entry's name.
    pub name: String,
    /// Its consumer group.
    pub group: String,
    /// The input topic.
    pub input: String,
    /// The output topic.
    pub output: String,
    /// Whether its consumer reads `read_committed`.
    pub read_committed: bool,
    /// The producer indices its outputs are written under.
    pub producers: std::ops::Range<u16>,
    /// The group's committed offsets when the run settled, by input partition name, if its
    /// coordinator was available.
    pub committed: Option<BTreeMap<Arc<str>, u64>>,
}

/// An input record where the pipeline read it: its partition's rank among the input partitions
/// by name, its offset there, and the record. Ordered as (partition name, offset, record).
type Input = (u32, u64, RecordId);

/// Runs both checkers for every pipeline.
pub fn check(
    history: &History,
    finals: &[FinalPartition],
    pipelines: &[PipelineView],
) -> Vec<Anomaly> {
    let partitions = InputPartitions::new(history);
    let mut anomalies = Vec::new();
    for pipeline in pipelines {
        let Some(outputs) = committed_outputs(history, &partitions, finals, pipeline) else {
            continue;
        };
        anomalies.extend(duplicates(history, &partitions, pipeline, &outputs));
        if outputs.complete {
            anomalies.extend(missing(history, &partitions, finals, pipeline, &outputs));
        }
    }
    anomalies
}

/// The input partitions pipelines read, ranked by name.
struct InputPartitions<'a> {
    /// By the history's input partition index (an origin's `partition`): the rank.
    rank_of: Vec<u32>,
    /// By rank: the name.
    by_rank: Vec<&'a Arc<str>>,
}

impl<'a> InputPartitions<'a> {
    fn new(history: &'a History) -> InputPartitions<'a> {
        let mut by_rank: Vec<&Arc<str>> = history.origin_partitions.iter().collect();
        by_rank.sort();
        let rank_of = history
            .origin_partitions
            .iter()
            .map(|name| by_rank.binary_search(&name).expect("ranked above") as u32)
            .collect();
        InputPartitions { rank_of, by_rank }
    }

    fn rank(&self, name: &Arc<str>) -> Option<u32> {
        self.by_rank.binary_search(&name).ok().map(|r| r as u32)
    }
}

/// The committed output of a pipeline: each output record with the input it reflects.
struct Outputs<'a> {
    /// (input, output partition, output offset, output record), by input and then in the order
    /// read.
    reflections: Vec<(Input, &'a Arc<str>, u64, RecordId)>,
    /// Every output partition was read to its end.
    complete: bool,
    at_ms: u64,
}

fn topic_of(name: &str) -> &str {
    name.rsplit_once('-').map_or(name, |(t, _)| t)
}

fn committed_outputs<'a>(
    history: &History,
    partitions: &InputPartitions,
    finals: &'a [FinalPartition],
    pipeline: &PipelineView,
) -> Option<Outputs<'a>> {
    let mut outputs = Outputs {
        reflections: Vec::new(),
        complete: true,
        at_ms: history.transactions.last().map_or(0, |t| t.at.as_millis()),
    };
    let mut any = false;
    for f in finals
        .iter()
        .filter(|f| topic_of(&f.name) == pipeline.output)
    {
        any = true;
        let view = match (&f.read_committed, &f.read) {
            (Some(view), _) => view,
            (None, Some(view)) if !pipeline.read_committed => view,
            _ => {
                outputs.complete = false;
                continue;
            }
        };
        for &(offset, id) in view {
            if !pipeline.producers.contains(&id.producer) {
                continue;
            }
            if let Some(input) = input_of(history, partitions, id) {
                outputs.reflections.push((input, &f.name, offset, id));
            }
        }
    }
    // Stable: the outputs of one input stay in the order read.
    outputs.reflections.sort_by_key(|r| r.0);
    any.then_some(outputs)
}

/// The input output record `id` was made from, if it is a pipeline's output.
fn input_of(history: &History, partitions: &InputPartitions, id: RecordId) -> Option<Input> {
    let origin = history.origin(id)?;
    let rank = *partitions.rank_of.get(origin.partition as usize)?;
    Some((rank, origin.offset, origin.input))
}

fn input_view<'a>(f: &'a FinalPartition, pipeline: &PipelineView) -> &'a [(u64, RecordId)] {
    match (&f.read_committed, pipeline.read_committed) {
        (Some(view), true) => view,
        _ => f.committed(),
    }
}

fn duplicates(
    history: &History,
    partitions: &InputPartitions,
    pipeline: &PipelineView,
    outputs: &Outputs,
) -> Vec<Anomaly> {
    let mut anomalies = Vec::new();
    let by_input = outputs.reflections.chunk_by(|a, b| a.0 == b.0);
    for reflected in by_input.filter(|r| r.len() > 1) {
        let (rank, o, input) = reflected[0].0;
        let p = partitions.by_rank[rank as usize];
        let name = history.record_name(input);
        let at = format!(" ({p}@{o})");
        let copies: Vec<String> = reflected
            .iter()
            .map(|(_, p, o, id)| format!("{p}@{o} ({})", history.record_name(*id)))
            .collect();
        let (_, partition, offset, _) = reflected[1];
        anomalies.push(Anomaly {
            kind: AnomalyKind::EosDuplicate,
            partition: partition.to_string(),
            offset,
            record: name.clone(),
            at_ms: outputs.at_ms,
            explanation: format!(
                "pipeline {} processed input {name}{at} more than once and read_committed \
                 readers of {} see {} outputs of it: {}. The output of an earlier attempt was \
                 committed before the input offset that covers it was.",
                pipeline.name,
                pipeline.output,
                reflected.len(),
                copies.join(", ")
            ),
        });
    }
    anomalies
}

fn missing(
    history: &History,
    partitions: &InputPartitions,
    finals: &[FinalPartition],
    pipeline: &PipelineView,
    outputs: &Outputs,
) -> Vec<Anomaly> {
    let Some(committed) = &pipeline.committed else {
        return Vec::new();
    };
    // What the pipeline tried for an input, needed only to explain one that is missing.
    let mut attempts = None;
    let mut fates = None;
    let mut anomalies = Vec::new();
    for f in finals
        .iter()
        .filter(|f| topic_of(&f.name) == pipeline.input)
    {
        let Some(&end) = committed.get(&f.name) else {
            continue;
        };
        // This partition's reflections, by offset and record: walk them along the input.
        let reflected: &[(Input, &Arc<str>, u64, RecordId)] = match partitions.rank(&f.name) {
            Some(rank) => {
                let all = &outputs.reflections;
                let from = all.partition_point(|r| r.0.0 < rank);
                let to = all.partition_point(|r| r.0.0 <= rank);
                &all[from..to]
            }
            None => &[],
        };
        let mut k = 0;
        for &(offset, id) in input_view(f, pipeline) {
            while reflected
                .get(k)
                .is_some_and(|r| (r.0.1, r.0.2) < (offset, id))
            {
                k += 1;
            }
            let is_reflected = reflected
                .get(k)
                .is_some_and(|r| (r.0.1, r.0.2) == (offset, id));
            if offset >= end || is_reflected {
                continue;
            }
            let input = (partitions.rank(&f.name).unwrap_or(u32::MAX), offset, id);
            let attempts = attempts.get_or_insert_with(|| attempted(history, partitions, pipeline));
            let fates = fates.get_or_insert_with(|| transaction_fates(history, pipeline));
            let name = history.record_name(id);
            let tried = match attempts.get(&input) {
                None => "the pipeline never produced an output for it".to_string(),
                Some(outs) => {
                    let outs: Vec<String> = outs
                        .iter()
                        .map(|o| {
                            let fate = match fates.get(o) {
                                Some((false, at)) => {
                                    format!(" (its transaction aborted at {at} ms)")
                                }
                                Some((true, at)) => {
                                    format!(" (its transaction committed at {at} ms)")
                                }
                                None => history.outcome_clause(*o),
                            };
                            format!("{}{fate}", history.record_name(*o))
                        })
                        .collect();
                    let (noun, verb) = if outs.len() == 1 {
                        ("output", "is")
                    } else {
                        ("outputs", "are")
                    };
                    format!(
                        "its {noun} {} {verb} not in the committed output",
                        outs.join(", ")
                    )
                }
            };
            anomalies.push(Anomaly {
                kind: AnomalyKind::EosMissing,
                partition: f.name.to_string(),
                offset,
                record: name.clone(),
                at_ms: outputs.at_ms,
                explanation: format!(
                    "group {} committed offset {end} of {}, so input {name} at offset {offset} \
                     counts as consumed, but {tried}: no attempt of it was committed, yet the \
                     group's offset moved past it.",
                    pipeline.group, f.name
                ),
            });
        }
    }
    anomalies
}

/// How the transaction of each of the pipeline's output records ended (committed, at ms), as
/// its producer saw it.
fn transaction_fates(
    history: &History,
    pipeline: &PipelineView,
) -> BTreeMap<RecordId, (bool, u64)> {
    history
        .transactions
        .iter()
        .flat_map(|t| {
            t.records
                .iter()
                .map(move |id| (*id, (t.committed, t.at.as_millis())))
        })
        .filter(|(id, _)| pipeline.producers.contains(&id.producer))
        .collect()
}

/// Every output record the pipeline made, by input.
fn attempted(
    history: &History,
    partitions: &InputPartitions,
    pipeline: &PipelineView,
) -> BTreeMap<Input, Vec<RecordId>> {
    let mut attempts: BTreeMap<Input, Vec<RecordId>> = BTreeMap::new();
    for producer in pipeline.producers.clone() {
        let Some(origins) = history.origins.get(usize::from(producer)) else {
            continue;
        };
        for n in 0..origins.len() {
            let output = RecordId {
                producer,
                n: n as u32,
            };
            if let Some(input) = input_of(history, partitions, output) {
                attempts.entry(input).or_default().push(output);
            }
        }
    }
    attempts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::Obs;
    use crate::sim::{NodeId, SimTime};

    fn id(producer: u16, n: u32) -> RecordId {
        RecordId { producer, n }
    }

    /// A partition read to its end, `read_committed` and not.
    fn partition(name: &str, records: &[RecordId]) -> FinalPartition {
        let records: Vec<(u64, RecordId)> = records
            .iter()
            .enumerate()
            .map(|(o, id)| (o as u64, *id))
            .collect();
        FinalPartition {
            name: name.into(),
            leader: None,
            replicas: Vec::new(),
            read: Some(records.clone()),
            read_committed: Some(records),
            stable: None,
        }
    }

    /// A history in which producer 1 turned the records of `in-0` at `offsets`, which are
    /// `p0`'s records `inputs`, into outputs `1-0..` in order.
    fn history_at(offsets: &[u64], inputs: &[u32]) -> History {
        let mut h = History::new(vec!["p0".into(), "etl-0".into()], vec!["etl-0".into()]);
        h.observe(
            SimTime::ZERO,
            NodeId::from_index(0),
            &Obs::Transformed {
                partition: "in-0".into(),
                offsets: offsets.to_vec(),
                inputs: inputs.iter().map(|&n| id(0, n)).collect(),
                first_output: id(1, 0),
            },
        );
        h
    }

    /// As [`history_at`], for inputs `p0-0..` at offsets `0..`.
    fn history(inputs: &[u32]) -> History {
        let offsets: Vec<u64> = inputs.iter().map(|&n| u64::from(n)).collect();
        history_at(&offsets, inputs)
    }

    fn view(committed: u64) -> PipelineView {
        PipelineView {
            name: "etl".into(),
            group: "etl".into(),
            input: "in".into(),
            output: "out".into(),
            read_committed: true,
            producers: 1..2,
            committed: Some(BTreeMap::from([(Arc::from("in-0"), committed)])),
        }
    }

    fn kinds(history: &History, finals: &[FinalPartition], committed: u64) -> Vec<AnomalyKind> {
        check(history, finals, &[view(committed)])
            .iter()
            .map(|a| a.kind)
            .collect()
    }

    #[test]
    fn every_consumed_input_reflected_once_is_clean() {
        let inputs = [id(0, 0), id(0, 1), id(0, 2)];
        let finals = [
            partition("in-0", &inputs),
            partition("out-0", &[id(1, 0), id(1, 1), id(1, 2)]),
        ];
        assert!(kinds(&history(&[0, 1, 2]), &finals, 3).is_empty());
    }

    #[test]
    fn an_input_reflected_by_two_committed_outputs_is_eos_duplicate() {
        let inputs = [id(0, 0), id(0, 1)];
        // Input 1 was processed twice (outputs 1 and 2) and both are committed.
        let finals = [
            partition("in-0", &inputs),
            partition("out-0", &[id(1, 0), id(1, 1), id(1, 2)]),
        ];
        assert_eq!(
            kinds(&history(&[0, 1, 1]), &finals, 2),
            vec![AnomalyKind::EosDuplicate]
        );
    }

    #[test]
    fn a_record_written_twice_to_the_input_is_two_inputs() {
        // A non-idempotent producer's retry put record p0-1 at offsets 1 and 2.
        let inputs = [id(0, 0), id(0, 1), id(0, 1)];
        let outputs = [id(1, 0), id(1, 1), id(1, 2)];
        let finals = [partition("in-0", &inputs), partition("out-0", &outputs)];
        let each_once = history_at(&[0, 1, 2], &[0, 1, 1]);
        assert!(kinds(&each_once, &finals, 3).is_empty());
        let finals = [
            partition("in-0", &inputs),
            partition("out-0", &[id(1, 0), id(1, 1)]),
        ];
        let second_copy_lost = history_at(&[0, 1, 2], &[0, 1, 1]);
        assert_eq!(
            kinds(&second_copy_lost, &finals, 3),
            vec![AnomalyKind::EosMissing]
        );
    }

    #[test]
    fn an_input_below_the_committed_offset_without_committed_output_is_eos_missing() {
        let inputs = [id(0, 0), id(0, 1), id(0, 2)];
        // Input 1's output (1-1) was aborted: not in the committed output.
        let finals = [
            partition("in-0", &inputs),
            partition("out-0", &[id(1, 0), id(1, 2)]),
        ];
        let h = history(&[0, 1, 2]);
        assert_eq!(kinds(&h, &finals, 3), vec![AnomalyKind::EosMissing]);
        assert!(
            kinds(&h, &finals, 1).is_empty(),
            "input past the committed offset is not consumed yet"
        );
    }
}
