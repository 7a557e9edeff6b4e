//! Kafka's requests and responses between brokers and clients, named after Kafka's APIs. The
//! controller's `LeaderAndIsr` and `UpdateMetadata`, the replica `Fetch` and
//! `OffsetsForLeaderEpoch`, the client `Produce`, `Fetch` and `Metadata`. `IsrChangeNotification`
//! stands for the `/isr_change_notification` znode a ZooKeeper-mode leader writes after changing
//! an ISR, which tells the controller to propagate it.

use crate::record::RecordBatch;
use crate::scenario::Acks;

use super::KafkaError;

/// Broker ids as Kafka numbers them.
pub type BrokerId = u32;

/// A partition: the topic's index in the scenario and the partition number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicPartition {
    /// Index of the topic among the cluster's topics.
    pub topic: u32,
    /// Partition number.
    pub partition: u32,
}

/// The state of one partition as the controller decided it (`LeaderAndIsrPartitionState`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionState {
    /// The partition.
    pub tp: TopicPartition,
    /// The controller epoch that decided it.
    pub controller_epoch: u32,
    /// The leader, or none while the partition is offline.
    pub leader: Option<BrokerId>,
    /// The leader epoch; bumped by every election.
    pub leader_epoch: u32,
    /// The in-sync replicas.
    pub isr: Vec<BrokerId>,
    /// The version of the partition's state znode, for conditional ISR updates.
    pub zk_version: i32,
    /// The assigned replicas, in preference order.
    pub replicas: Vec<BrokerId>,
}

/// One partition of a fetch request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FetchPartition {
    /// The partition.
    pub tp: TopicPartition,
    /// Where to read from.
    pub fetch_offset: u64,
    /// The leader epoch the fetcher believes current (fencing), if it knows one.
    pub current_leader_epoch: Option<u32>,
    /// A follower's own high watermark (consumers send none): the leader leaves a partition
    /// with nothing new for it out of the answer, as an incremental fetch session (KIP-227)
    /// leaves out the partitions whose data and HW did not change.
    pub follower_high_watermark: Option<u64>,
}

/// One partition of a fetch response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchedPartition {
    /// The partition.
    pub tp: TopicPartition,
    /// Why nothing was read, if so.
    pub error: Option<KafkaError>,
    /// The leader's high watermark.
    pub high_watermark: u64,
    /// The leader's log start offset.
    pub log_start_offset: u64,
    /// The leader's log end offset. Kafka's followers learn it with a `ListOffsets` request
    /// after `OFFSET_OUT_OF_RANGE`; carrying it here saves that round trip.
    pub log_end_offset: u64,
    /// The leader's last stable offset.
    pub last_stable_offset: u64,
    /// For `read_committed`: the aborted transactions overlapping the batches, as (producer id,
    /// first offset).
    pub aborted_transactions: Vec<(i64, u64)>,
    /// The batches read (shared with the leader's log).
    pub batches: Vec<std::sync::Arc<RecordBatch>>,
}

/// A request, from a client or another broker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Append batches to partition leaders' logs: one batch per partition, all led by the
    /// receiving broker (a Kafka producer drains one batch per ready partition per request).
    Produce {
        /// Matches the response to the request.
        correlation: u64,
        /// How many replicas must have a batch before the answer.
        acks: Acks,
        /// `request.timeout.ms` as the broker's produce purgatory timeout.
        timeout_ms: u64,
        /// The transactional producer's `transactional.id` (its index), which a KIP-890 leader
        /// needs to verify a first transactional write with the id's coordinator.
        transactional_id: Option<u32>,
        /// The batches, by partition.
        partitions: Vec<(TopicPartition, RecordBatch)>,
    },
    /// Read from partition leaders: a follower's replication fetch or a consumer's fetch.
    Fetch {
        /// Matches the response to the request.
        correlation: u64,
        /// The fetching follower, or none for a consumer.
        replica: Option<BrokerId>,
        /// Long-poll: wait up to this long for `min_bytes`.
        max_wait_ms: u64,
        /// Answer as soon as this many bytes are available.
        min_bytes: u32,
        /// `isolation.level = read_committed`: read below the LSO, with the aborted transactions.
        read_committed: bool,
        /// The partitions and offsets.
        partitions: Vec<FetchPartition>,
    },
    /// Where did `leader_epoch` end on the leader (KIP-101/KIP-279 truncation).
    OffsetsForLeaderEpoch {
        /// Matches the response to the request.
        correlation: u64,
        /// The asking follower, or none for a consumer validating its position (KIP-320).
        replica: Option<BrokerId>,
        /// The partition.
        tp: TopicPartition,
        /// The epoch the follower believes current.
        current_leader_epoch: u32,
        /// The epoch asked about (the follower's latest).
        leader_epoch: u32,
    },
    /// The controller tells replicas their role.
    LeaderAndIsr {
        /// Matches the broker's acknowledgement (the controller resends until it comes).
        correlation: u64,
        /// The sending controller.
        controller_id: BrokerId,
        /// Its epoch, to fence a zombie controller.
        controller_epoch: u32,
        /// The partitions concerned.
        partitions: Vec<PartitionState>,
    },
    /// The controller tells every broker the cluster's metadata.
    UpdateMetadata {
        /// Matches the broker's acknowledgement.
        correlation: u64,
        /// The sending controller.
        controller_id: BrokerId,
        /// Its epoch.
        controller_epoch: u32,
        /// Live brokers.
        live_brokers: Vec<BrokerId>,
        /// Partition states.
        partitions: Vec<PartitionState>,
    },
    /// A client asks for partition leaders.
    Metadata {
        /// Matches the response to the request.
        correlation: u64,
    },
    /// An idempotent producer asks any broker for a producer id (Kafka's `InitProducerId` without
    /// a `transactional.id`).
    InitProducerId {
        /// Matches the response to the request.
        correlation: u64,
    },
    /// A leader changed an ISR in the metadata service (the `/isr_change_notification` znode).
    IsrChangeNotification {
        /// The partition whose ISR changed.
        tp: TopicPartition,
    },
}

/// A response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    /// The outcome of a produce, per partition: the batch's base offset, or an error.
    Produce {
        /// The request's correlation id.
        correlation: u64,
        /// Per partition, in the request's order.
        partitions: Vec<(TopicPartition, Result<u64, KafkaError>)>,
    },
    /// Fetched data.
    Fetch {
        /// The request's correlation id.
        correlation: u64,
        /// Per partition.
        partitions: Vec<FetchedPartition>,
    },
    /// The end of the asked epoch on the leader: `(epoch, end offset)`.
    OffsetsForLeaderEpoch {
        /// The request's correlation id.
        correlation: u64,
        /// The partition.
        tp: TopicPartition,
        /// The epoch answered and its end offset, or why not.
        result: Result<(u32, u64), KafkaError>,
    },
    /// A broker received a controller request (`LeaderAndIsr` or `UpdateMetadata`).
    ControllerAck {
        /// The request's correlation id.
        correlation: u64,
    },
    /// A producer id and epoch for an idempotent producer, or why not.
    InitProducerId {
        /// The request's correlation id.
        correlation: u64,
        /// `(producer_id, producer_epoch)`.
        result: Result<(i64, i16), KafkaError>,
    },
    /// Metadata for clients: live brokers and partition leaders.
    Metadata {
        /// The request's correlation id.
        correlation: u64,
        /// Partition states as the broker knows them.
        partitions: Vec<PartitionState>,
    },
}
