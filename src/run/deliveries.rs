//! What each consumer group did with the records, for the run's summary: how many times each
//! record was polled and processed, and how many records lie below the group's committed offsets
//! without ever having been processed (skipped input: at-most-once allows it, and DESIGN's anomaly
//! table has no kind for it outside pipelines, so it is shown as data).

use std::collections::BTreeMap;

use crate::check::consumption::{GroupDeliveries, count_of};
use crate::check::{self, FinalPartition, History};
use crate::scenario::Scenario;

/// Each group's delivery-count histograms (DESIGN §7's `stats.consumed`, per record) and its
/// committed-but-never-processed records.
pub(super) fn deliveries(
    scenario: &Scenario,
    history: &History,
    finals: &[FinalPartition],
) -> BTreeMap<String, crate::cli::Deliveries> {
    let mut out = BTreeMap::new();
    for c in &scenario.consumers {
        if out.contains_key(&c.group) {
            continue;
        }
        let topics: Vec<&str> = scenario
            .consumers
            .iter()
            .filter(|o| o.group == c.group)
            .flat_map(|o| o.topics.iter().map(String::as_str))
            .collect();
        let counts = history
            .consumption
            .deliveries
            .get(c.group.as_str())
            .cloned()
            .unwrap_or_default();
        let mut d = crate::cli::Deliveries::default();
        for (id, op) in history.sends() {
            let topic = op.partition.rsplit_once('-').map_or("", |(t, _)| t);
            let polled = count_of(&counts.polled, id);
            let acked = matches!(op.outcome, check::Outcome::Acked { .. });
            if !topics.contains(&topic) || (!acked && polled == 0) {
                continue;
            }
            *d.polled.entry(polled).or_insert(0) += 1;
            *d.processed
                .entry(count_of(&counts.processed, id))
                .or_insert(0) += 1;
        }
        d.committed_unprocessed = committed_unprocessed(&c.group, history, &counts, finals);
        out.insert(c.group.clone(), d);
    }
    out
}

/// How many records of the final logs lie below `group`'s last acknowledged committed offset of
/// their partition and were never processed by any member of it.
fn committed_unprocessed(
    group: &str,
    history: &History,
    counts: &GroupDeliveries,
    finals: &[FinalPartition],
) -> u64 {
    let mut skipped = 0;
    for ((g, partition), &committed) in &history.consumption.committed {
        if &**g != group {
            continue;
        }
        let Some(f) = finals.iter().find(|f| f.name == *partition) else {
            continue;
        };
        let records = match (&f.read, f.leader_replica()) {
            (Some(read), _) => read.as_slice(),
            (None, Some(leader)) => leader.records.as_slice(),
            (None, None) => continue,
        };
        skipped += records
            .iter()
            .take_while(|(offset, _)| *offset < committed)
            .filter(|(_, id)| count_of(&counts.processed, *id) == 0)
            .count() as u64;
    }
    skipped
}
