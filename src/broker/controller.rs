//! The controller (ZooKeeper mode). The broker that creates the ephemeral `/controller` bumps
//! `/controller_epoch`, learns the live brokers from `/brokers/ids` (watching it), creates the
//! scenario's topics and their partition state znodes, and from then on keeps every partition
//! led: when a broker dies it elects new leaders (or removes the dead replica from the ISR),
//! bumping the leader epoch with a conditional write; when a broker returns it brings it up to
//! date. Each decision goes to the replicas as `LeaderAndIsr` and to every broker as
//! `UpdateMetadata`, stamped with the controller epoch so that a zombie controller is fenced.
//!
//! Volatile: all of it is rebuilt from the metadata service by a new controller.

use std::collections::{BTreeMap, BTreeSet};

use super::election::{Election, elect_leader};
use super::spec::BrokerSpec;
use super::zkpaths::{self, LeaderIsrJson};
use crate::protocol::{BrokerId, PartitionState, Request, TopicPartition};
use crate::zk::{WatchEvent, WatchKind, ZkError, ZkOp, ZkReply};

/// Why the controller asked the metadata service something.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tag {
    /// Reading `/controller_epoch`.
    ReadEpoch,
    /// Writing the bumped epoch.
    WriteEpoch(u32),
    /// Listing `/brokers/ids`.
    LiveBrokers,
    /// Reading one registration's creation zxid: the broker epoch (KIP-380).
    BrokerEpoch {
        /// The broker.
        broker: BrokerId,
        /// Which listing it belongs to.
        round: u64,
    },
    /// Creating a topic's znodes (the result is not needed).
    CreateTopic,
    /// Deleting `/controller` after losing the epoch race (answered after stepping down).
    StepDown,
    /// Reading a partition's state.
    ReadState(TopicPartition),
    /// Creating a partition's first state.
    CreateState(TopicPartition, Box<PartitionState>),
    /// Conditionally writing a new state.
    WriteState(TopicPartition, Box<PartitionState>),
}

/// What the controller asks its broker to do.
#[derive(Debug, Default)]
pub struct ControllerOut {
    /// Metadata-service requests.
    pub zk: Vec<(ZkOp, Tag)>,
    /// Requests to brokers.
    pub requests: Vec<(BrokerId, Request)>,
    /// Lines for the short log.
    pub notes: Vec<String>,
    /// Stop being controller (another won the epoch).
    pub resign: bool,
}

/// The controller's state.
pub struct Controller {
    id: BrokerId,
    spec: BrokerSpec,
    /// The controller epoch, once bumped.
    epoch: Option<u32>,
    live: BTreeSet<BrokerId>,
    /// Broker epochs (the czxid of each live broker's registration): a changed epoch is a
    /// broker that restarted between two listings (KIP-380).
    epochs: BTreeMap<BrokerId, u64>,
    /// The listing being completed: its round and the epochs read so far, and what is pending.
    listing: Option<Listing>,
    round: u64,
    /// Partition states as last written, with their znode versions.
    states: BTreeMap<TopicPartition, PartitionState>,
    /// The (leader epoch, znode version) of the state last sent to each partition's replicas: a
    /// state read back in another epoch (a write whose answer was lost but which landed) is sent
    /// again, or its leader would stay on a stale version (Kafka's "cached zkVersion not equal
    /// to that in zookeeper", KAFKA-2729).
    announced: BTreeMap<TopicPartition, (u32, i32)>,
    /// Partition states being read, so a second reason to read one waits for the first.
    reading: BTreeSet<TopicPartition>,
    /// Whether the states were asked for since this controller started.
    states_asked: bool,
}

/// A listing of `/brokers/ids` waiting for the epochs of its brokers.
struct Listing {
    round: u64,
    pending: BTreeSet<BrokerId>,
    seen: BTreeMap<BrokerId, u64>,
}

impl Controller {
    /// A controller that just won `/controller`.
    pub fn new(id: BrokerId, spec: &BrokerSpec) -> Controller {
        Controller {
            id,
            spec: spec.clone(),
            epoch: None,
            live: BTreeSet::new(),
            epochs: BTreeMap::new(),
            listing: None,
            round: 0,
            states: BTreeMap::new(),
            announced: BTreeMap::new(),
            reading: BTreeSet::new(),
            states_asked: false,
        }
    }

    /// Starts: read the controller epoch to bump it.
    pub fn start(&mut self, out: &mut ControllerOut) {
        out.zk.push((
            ZkOp::GetData {
                path: zkpaths::CONTROLLER_EPOCH.into(),
                watch: false,
            },
            Tag::ReadEpoch,
        ));
    }

    /// Handles a metadata-service answer.
    pub fn on_zk(&mut self, tag: Tag, result: Result<ZkReply, ZkError>, out: &mut ControllerOut) {
        match (tag, result) {
            (Tag::ReadEpoch, Ok(ZkReply::Data { data, stat })) => {
                let next = data.trim().parse::<u32>().unwrap_or(0) + 1;
                let op = ZkOp::SetData {
                    path: zkpaths::CONTROLLER_EPOCH.into(),
                    data: next.to_string(),
                    version: Some(stat.version),
                };
                out.zk.push((op, Tag::WriteEpoch(next)));
            }
            (Tag::ReadEpoch, Err(ZkError::NoNode)) => {
                let op = ZkOp::Create {
                    path: zkpaths::CONTROLLER_EPOCH.into(),
                    data: "1".into(),
                    ephemeral: false,
                };
                out.zk.push((op, Tag::WriteEpoch(1)));
            }
            // A second epoch flow (restarted after a lost connection) answering late: this
            // controller already holds its epoch.
            (Tag::WriteEpoch(_) | Tag::ReadEpoch, _) if self.epoch.is_some() => {}
            (Tag::WriteEpoch(epoch), Ok(_)) => self.on_epoch(epoch, out),
            (Tag::WriteEpoch(_), Err(_)) | (Tag::ReadEpoch, _) => {
                // Another controller bumped the epoch: step down and give up `/controller`, so
                // that the election can go on (Kafka creates both in one multi-op).
                out.notes.push("lost the controller epoch race".into());
                let op = ZkOp::Delete {
                    path: zkpaths::CONTROLLER.into(),
                    version: None,
                };
                out.zk.push((op, Tag::StepDown));
                out.resign = true;
            }
            (Tag::CreateTopic | Tag::StepDown, _) => {}
            (Tag::LiveBrokers, Ok(ZkReply::Children(children))) => {
                self.read_broker_epochs(children, out)
            }
            (Tag::BrokerEpoch { broker, round }, result) => {
                self.on_broker_epoch(broker, round, result, out)
            }
            (Tag::ReadState(tp), Ok(ZkReply::Data { data, stat })) => {
                self.reading.remove(&tp);
                if let Some(json) = LeaderIsrJson::decode(&data) {
                    let state = self.state_from_json(tp, &json, stat.version);
                    self.states.insert(tp, state);
                    self.reconcile(tp, out);
                    self.update_metadata_all(out);
                }
            }
            (Tag::ReadState(tp), Err(ZkError::NoNode)) => {
                self.reading.remove(&tp);
                self.create_state(tp, out);
            }
            (Tag::CreateState(tp, state), Ok(_)) => self.committed(tp, *state, 0, out),
            (Tag::CreateState(tp, _), Err(_)) => self.read_state(tp, out),
            (Tag::WriteState(tp, state), Ok(ZkReply::Stat(stat))) => {
                self.committed(tp, *state, stat.version, out)
            }
            (Tag::WriteState(tp, _), Err(_)) => self.read_state(tp, out),
            (tag, result) => {
                if let Tag::ReadState(tp) = &tag {
                    self.reading.remove(tp);
                }
                out.notes
                    .push(format!("controller: unexpected {tag:?} -> {result:?}"))
            }
        }
    }

    fn on_epoch(&mut self, epoch: u32, out: &mut ControllerOut) {
        self.epoch = Some(epoch);
        out.notes.push(format!("controller epoch {epoch}"));
        for topic in &self.spec.topics {
            let name = &topic.name;
            let data = zkpaths::topic_assignment(&topic.assignment);
            let create = |path: String, data: String| {
                (
                    ZkOp::Create {
                        path,
                        data,
                        ephemeral: false,
                    },
                    Tag::CreateTopic,
                )
            };
            out.zk.push(create(zkpaths::topic_path(name), data));
            out.zk
                .push(create(zkpaths::partitions_path(name), String::new()));
            for p in 0..topic.assignment.len() as u32 {
                out.zk
                    .push(create(zkpaths::partition_path(name, p), String::new()));
            }
        }
        self.list_brokers(out);
    }

    fn list_brokers(&self, out: &mut ControllerOut) {
        out.zk.push((
            ZkOp::GetChildren {
                path: zkpaths::BROKER_IDS.into(),
                watch: true,
            },
            Tag::LiveBrokers,
        ));
    }

    /// Handles a watch; only `/brokers/ids` concerns the controller.
    pub fn on_watch(&mut self, event: &WatchEvent, out: &mut ControllerOut) {
        if event.path == zkpaths::BROKER_IDS && self.epoch.is_some() {
            self.list_brokers(out);
        } else if event.kind == WatchKind::NodeDeleted {
            out.notes
                .push(format!("controller: watch {} {:?}", event.path, event.kind));
        }
    }

    /// Reads the epoch of every listed broker before acting on the listing.
    fn read_broker_epochs(&mut self, children: Vec<String>, out: &mut ControllerOut) {
        self.round += 1;
        let pending: BTreeSet<BrokerId> = children.iter().filter_map(|c| c.parse().ok()).collect();
        for &broker in &pending {
            let op = ZkOp::GetData {
                path: zkpaths::broker_path(broker),
                watch: false,
            };
            out.zk.push((
                op,
                Tag::BrokerEpoch {
                    broker,
                    round: self.round,
                },
            ));
        }
        let listing = Listing {
            round: self.round,
            pending,
            seen: BTreeMap::new(),
        };
        self.listing = Some(listing);
        self.maybe_finish_listing(out);
    }

    fn on_broker_epoch(
        &mut self,
        broker: BrokerId,
        round: u64,
        result: Result<ZkReply, ZkError>,
        out: &mut ControllerOut,
    ) {
        let Some(listing) = self.listing.as_mut().filter(|l| l.round == round) else {
            return;
        };
        listing.pending.remove(&broker);
        if let Ok(ZkReply::Data { stat, .. }) = result {
            listing.seen.insert(broker, stat.czxid);
        }
        self.maybe_finish_listing(out);
    }

    /// Once every epoch is read: a broker whose epoch changed restarted unseen, so it is handled
    /// as gone now (its partitions fail over) and as new on the next listing, asked at once.
    fn maybe_finish_listing(&mut self, out: &mut ControllerOut) {
        if self.listing.as_ref().is_none_or(|l| !l.pending.is_empty()) {
            return;
        }
        let seen = self.listing.take().expect("checked").seen;
        let bounced: Vec<BrokerId> = seen
            .iter()
            .filter(|(b, epoch)| {
                self.live.contains(b) && self.epochs.get(b).is_some_and(|e| e != *epoch)
            })
            .map(|(b, _)| *b)
            .collect();
        if !bounced.is_empty() {
            out.notes.push(format!(
                "controller: brokers {bounced:?} restarted (new broker epoch)"
            ));
            self.list_brokers(out);
        }
        self.epochs = seen
            .iter()
            .filter(|(b, _)| !bounced.contains(b))
            .map(|(b, e)| (*b, *e))
            .collect();
        self.on_live_brokers(self.epochs.keys().copied().collect(), out);
    }

    fn on_live_brokers(&mut self, live: BTreeSet<BrokerId>, out: &mut ControllerOut) {
        let first_time = !std::mem::replace(&mut self.states_asked, true);
        let joined: Vec<BrokerId> = live.difference(&self.live).copied().collect();
        let left: Vec<BrokerId> = self.live.difference(&live).copied().collect();
        if !joined.is_empty() || !left.is_empty() {
            out.notes.push(format!(
                "controller: live brokers {:?} (joined {joined:?}, left {left:?})",
                live
            ));
        }
        self.live = live;
        if first_time {
            for tp in self.all_partitions() {
                self.read_state(tp, out);
            }
            return;
        }
        for tp in self.all_partitions() {
            self.reconcile(tp, out);
        }
        // Returning brokers learn their partitions' current state.
        for &broker in &joined {
            let states: Vec<PartitionState> = self
                .states
                .values()
                .filter(|s| s.replicas.contains(&broker))
                .cloned()
                .collect();
            if !states.is_empty() {
                out.requests.push((broker, self.leader_and_isr(states)));
            }
        }
        self.update_metadata_all(out);
    }

    fn all_partitions(&self) -> Vec<TopicPartition> {
        let mut tps = Vec::new();
        for (t, topic) in self.spec.topics.iter().enumerate() {
            for p in 0..topic.assignment.len() {
                tps.push(TopicPartition {
                    topic: t as u32,
                    partition: p as u32,
                });
            }
        }
        tps
    }

    fn read_state(&mut self, tp: TopicPartition, out: &mut ControllerOut) {
        if !self.reading.insert(tp) {
            return;
        }
        let path = self.state_path(tp);
        out.zk
            .push((ZkOp::GetData { path, watch: false }, Tag::ReadState(tp)));
    }

    fn partition_name(&self, tp: TopicPartition) -> String {
        format!(
            "{}-{}",
            self.spec.topics[tp.topic as usize].name, tp.partition
        )
    }

    fn state_path(&self, tp: TopicPartition) -> String {
        zkpaths::state_path(&self.spec.topics[tp.topic as usize].name, tp.partition)
    }

    fn replicas(&self, tp: TopicPartition) -> Vec<BrokerId> {
        self.spec.topics[tp.topic as usize].assignment[tp.partition as usize].clone()
    }

    fn state_from_json(
        &self,
        tp: TopicPartition,
        json: &LeaderIsrJson,
        version: i32,
    ) -> PartitionState {
        PartitionState {
            tp,
            controller_epoch: json.controller_epoch,
            leader: json.leader(),
            leader_epoch: json.leader_epoch,
            isr: json.isr.clone(),
            zk_version: version,
            replicas: self.replicas(tp),
        }
    }

    /// A new partition: the live replicas form the ISR, the first of them leads.
    fn create_state(&self, tp: TopicPartition, out: &mut ControllerOut) {
        let replicas = self.replicas(tp);
        let isr: Vec<BrokerId> = replicas
            .iter()
            .copied()
            .filter(|id| self.live.contains(id))
            .collect();
        let state = PartitionState {
            tp,
            controller_epoch: self.epoch.unwrap_or(0),
            leader: isr.first().copied(),
            leader_epoch: 0,
            isr: if isr.is_empty() {
                replicas.clone()
            } else {
                isr
            },
            zk_version: 0,
            replicas,
        };
        // The topic's paths first, in case their creation was lost (a create of an existing
        // path fails harmlessly; the service applies one session's requests in order).
        let topic = &self.spec.topics[tp.topic as usize];
        let parents = [
            (
                zkpaths::topic_path(&topic.name),
                zkpaths::topic_assignment(&topic.assignment),
            ),
            (zkpaths::partitions_path(&topic.name), String::new()),
            (
                zkpaths::partition_path(&topic.name, tp.partition),
                String::new(),
            ),
        ];
        for (path, data) in parents {
            let op = ZkOp::Create {
                path,
                data,
                ephemeral: false,
            };
            out.zk.push((op, Tag::CreateTopic));
        }
        let data = LeaderIsrJson::encode(state.controller_epoch, state.leader, 0, &state.isr);
        let op = ZkOp::Create {
            path: self.state_path(tp),
            data,
            ephemeral: false,
        };
        out.zk.push((op, Tag::CreateState(tp, Box::new(state))));
    }

    /// Decides whether `tp` needs a new leader or a smaller ISR, and writes it if so.
    fn reconcile(&mut self, tp: TopicPartition, out: &mut ControllerOut) {
        let Some(state) = self.states.get(&tp).cloned() else {
            return;
        };
        let alive = |id: BrokerId| self.live.contains(&id);
        let unclean = self.spec.topics[tp.topic as usize]
            .log
            .unclean_leader_election_enable;
        let election = elect_leader(state.leader, &state.replicas, &state.isr, alive, unclean);
        let live_isr: Vec<BrokerId> = state.isr.iter().copied().filter(|&id| alive(id)).collect();
        let (leader, isr) = match election {
            Election::Kept(l) | Election::Clean(l) => (Some(l), live_isr),
            Election::Unclean(l) => (Some(l), vec![l]),
            // Offline: the ISR keeps its last members so one of them can lead when it returns.
            Election::Offline => (None, state.isr.clone()),
        };
        if leader == state.leader && isr == state.isr {
            // Nothing changes; a fresh controller still tells everyone the state.
            // A newer version in the same epoch is the leader's own ISR write: it knows.
            let sent = self
                .announced
                .get(&tp)
                .is_some_and(|&(epoch, _)| epoch == state.leader_epoch);
            if !state_known(&state, self.epoch) || !sent {
                self.committed(tp, state.clone(), state.zk_version, out);
            }
            return;
        }
        if let Election::Unclean(l) = election {
            out.notes.push(format!(
                "controller: unclean election of {l} for {}",
                self.partition_name(tp)
            ));
        }
        let epoch = self.epoch.unwrap_or(0);
        let next = PartitionState {
            controller_epoch: epoch,
            leader,
            leader_epoch: state.leader_epoch + 1,
            isr,
            ..state.clone()
        };
        let data = LeaderIsrJson::encode(epoch, next.leader, next.leader_epoch, &next.isr);
        let op = ZkOp::SetData {
            path: self.state_path(tp),
            data,
            version: Some(state.zk_version),
        };
        out.zk.push((op, Tag::WriteState(tp, Box::new(next))));
    }

    /// A state is in the metadata service: tell the replicas and every broker.
    fn committed(
        &mut self,
        tp: TopicPartition,
        mut state: PartitionState,
        version: i32,
        out: &mut ControllerOut,
    ) {
        state.zk_version = version;
        state.controller_epoch = self.epoch.unwrap_or(0);
        let leader = state.leader.map_or("none".into(), |l| l.to_string());
        out.notes.push(format!(
            "controller: {}-{} leader {leader} epoch {} isr {:?}",
            self.spec.topics[tp.topic as usize].name, tp.partition, state.leader_epoch, state.isr
        ));
        self.states.insert(tp, state.clone());
        self.announced
            .insert(tp, (state.leader_epoch, state.zk_version));
        for &replica in state.replicas.iter().filter(|id| self.live.contains(id)) {
            out.requests
                .push((replica, self.leader_and_isr(vec![state.clone()])));
        }
        self.update_metadata_all(out);
        // The write was decided on the live brokers of its time; brokers may have come or gone
        // while it was in flight (Kafka's controller, handling one event at a time, cannot see
        // that happen): decide again on today's. (Without an epoch nothing is written.)
        if self.epoch.is_some() {
            self.reconcile(tp, out);
        }
    }

    /// Requests were lost with the connection: re-read the live brokers and every state.
    pub fn on_connection_lost<'a>(
        &mut self,
        lost: impl Iterator<Item = &'a Tag>,
        out: &mut ControllerOut,
    ) {
        for tag in lost {
            if let Tag::ReadState(tp) = tag {
                self.reading.remove(tp);
            }
        }
        if self.epoch.is_none() {
            self.start(out);
            return;
        }
        self.list_brokers(out);
        for tp in self.all_partitions() {
            self.read_state(tp, out);
        }
    }

    /// The brokers the controller believes alive.
    pub fn live(&self) -> &BTreeSet<BrokerId> {
        &self.live
    }

    /// A leader changed an ISR: re-read the state and tell every broker.
    pub fn on_isr_change(&mut self, tp: TopicPartition, out: &mut ControllerOut) {
        self.read_state(tp, out);
    }

    fn leader_and_isr(&self, partitions: Vec<PartitionState>) -> Request {
        Request::LeaderAndIsr {
            correlation: 0,
            controller_id: self.id,
            controller_epoch: self.epoch.unwrap_or(0),
            partitions,
        }
    }

    fn update_metadata_all(&self, out: &mut ControllerOut) {
        let live: Vec<BrokerId> = self.live.iter().copied().collect();
        let partitions: Vec<PartitionState> = self.states.values().cloned().collect();
        for &broker in &live {
            let request = Request::UpdateMetadata {
                correlation: 0,
                controller_id: self.id,
                controller_epoch: self.epoch.unwrap_or(0),
                live_brokers: live.clone(),
                partitions: partitions.clone(),
            };
            out.requests.push((broker, request));
        }
    }
}

/// Whether a state read from the metadata service was written under this controller's epoch.
fn state_known(state: &PartitionState, epoch: Option<u32>) -> bool {
    Some(state.controller_epoch) == epoch
}
