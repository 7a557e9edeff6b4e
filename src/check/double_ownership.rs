//! `double-ownership`: in one generation of a group each partition belongs to one member, so two
//! members polling the same partition in the same generation means the group protocol let two
//! owners coexist (kafkasim's name; DESIGN's taxonomy has none for it).

use std::collections::BTreeMap;

use super::consumption::{ConsumerEvent, Name};
use super::{Anomaly, History};
use crate::scenario::AnomalyKind;
use crate::sim::NodeId;

/// A partition in one generation of one group.
type Slot = (Name, i32, Name);

/// Checks that each (group, generation, partition) was polled by one member only.
pub fn check(history: &History) -> Vec<Anomaly> {
    let mut anomalies = Vec::new();
    let mut owners: BTreeMap<Slot, (NodeId, Name)> = BTreeMap::new();
    let mut reported: std::collections::BTreeSet<Slot> = Default::default();
    let names = &history.consumption.names;
    for (at, node, event) in history.consumption.events.iter() {
        let ConsumerEvent::Poll {
            group,
            member_id,
            generation,
            partition,
            offset,
            first,
            ..
        } = event
        else {
            continue;
        };
        let key = (*group, *generation, *partition);
        let (owner_node, owner) = *owners.entry(key).or_insert((*node, *member_id));
        // Owners are instances: a static member restarted on its instance takes its own place
        // back in the same generation under a new member id (KIP-345), which is no second owner.
        if owner_node != *node && reported.insert(key) {
            let [group, member_id, partition, owner] =
                [*group, *member_id, *partition, owner].map(|n| names.get(n));
            let nodes = &history.nodes;
            anomalies.push(Anomaly {
                kind: AnomalyKind::DoubleOwnership,
                partition: partition.to_string(),
                offset: *offset,
                record: history.record_name(*first),
                at_ms: at.as_millis(),
                explanation: format!(
                    "in generation {generation} of group {group}, {} ({member_id}) polled \
                     {partition} which {} ({owner}) also polled in that generation",
                    nodes[node.index()],
                    nodes[owner_node.index()]
                ),
            });
        }
    }
    anomalies
}
