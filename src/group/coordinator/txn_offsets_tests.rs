//! Offsets sent with a transaction: pending until the marker, fenced by generation (KIP-447),
//! invisible to `require_stable` fetches meanwhile, and replayed from the log's batches.

use super::tests::{GROUP, Harness, tp};
use super::txn_offsets::replay_batches;
use super::*;
use crate::record::{ControlType, NO_SEQUENCE, RecordBatch};

const PRODUCER: (i64, i16) = (1_000_000_000, 3);

fn txn_commit(
    h: &mut Harness,
    member_id: &str,
    generation: i32,
    offset: u64,
) -> Result<(), KafkaError> {
    let correlation = h.next();
    h.send(
        2,
        ConsumerRequest::TxnOffsetCommit {
            correlation,
            group: GROUP.into(),
            producer: PRODUCER,
            generation,
            member_id: member_id.into(),
            group_instance_id: None,
            offsets: vec![(tp(0), offset)],
        },
    );
    match h.replies.pop() {
        Some((_, ConsumerResponse::TxnOffsetCommit { result, .. })) => result,
        other => panic!("expected a TxnOffsetCommit answer, got {other:?}"),
    }
}

fn fetch(h: &mut Harness, require_stable: bool) -> Result<Option<u64>, KafkaError> {
    let correlation = h.next();
    h.send(
        1,
        ConsumerRequest::OffsetFetch {
            correlation,
            group: GROUP.into(),
            partitions: vec![tp(0)],
            require_stable,
        },
    );
    match h.replies.pop() {
        Some((_, ConsumerResponse::OffsetFetch { result, .. })) => {
            result.map(|r| r[0].1.map(|c| c.offset))
        }
        other => panic!("expected an OffsetFetch answer, got {other:?}"),
    }
}

fn marker(h: &mut Harness, result: ControlType) {
    let partition = h.c.partition_of(GROUP);
    let mut out = Vec::new();
    h.c.on_txn_completed(partition, PRODUCER.0, result, &mut out);
}

#[test]
fn transactional_offsets_apply_only_when_the_commit_marker_is_replicated() {
    let mut h = Harness::new();
    let (leader, _) = h.stable_pair();
    assert_eq!(txn_commit(&mut h, &leader, 1, 42), Ok(()));
    assert_eq!(
        fetch(&mut h, false),
        Ok(None),
        "pending offsets are not committed yet"
    );
    assert_eq!(
        fetch(&mut h, true),
        Err(KafkaError::UnstableOffsetCommit),
        "a require_stable fetch waits for the marker"
    );
    marker(&mut h, ControlType::Commit);
    assert_eq!(fetch(&mut h, true), Ok(Some(42)));
}

#[test]
fn an_abort_marker_drops_the_transactions_offsets() {
    let mut h = Harness::new();
    let (leader, _) = h.stable_pair();
    assert_eq!(txn_commit(&mut h, &leader, 1, 42), Ok(()));
    marker(&mut h, ControlType::Abort);
    assert_eq!(fetch(&mut h, true), Ok(None));
}

#[test]
fn a_zombies_transactional_offsets_are_fenced_by_generation_and_member() {
    let mut h = Harness::new();
    let (leader, _) = h.stable_pair();
    assert_eq!(
        txn_commit(&mut h, &leader, 0, 42),
        Err(KafkaError::IllegalGeneration)
    );
    assert_eq!(
        txn_commit(&mut h, "gone-7", 1, 42),
        Err(KafkaError::UnknownMemberId)
    );
    assert_eq!(
        fetch(&mut h, true),
        Ok(None),
        "nothing of the zombie is pending"
    );
}

fn offsets_batch(
    values: &RecordValues,
    base_offset: u64,
    producer: Option<(i64, i16)>,
    offset: u64,
) -> RecordBatch {
    let record = GroupRecord::Offset {
        group: 0,
        tp: tp(0),
        offset: CommittedOffset {
            offset,
            leader_epoch: None,
        },
    };
    RecordBatch {
        base_offset,
        partition_leader_epoch: 0,
        producer_id: producer.map_or(crate::record::NO_PRODUCER_ID, |p| p.0),
        producer_epoch: producer.map_or(crate::record::NO_PRODUCER_EPOCH, |p| p.1),
        base_sequence: NO_SEQUENCE,
        transactional: producer.is_some(),
        control: None,
        max_timestamp_ms: 0,
        records: records::encode(values, &[record]).into(),
    }
}

fn marker_batch(base_offset: u64, result: ControlType) -> RecordBatch {
    RecordBatch {
        control: Some(result),
        records: Vec::new().into(),
        ..offsets_batch(&RecordValues::default(), base_offset, Some(PRODUCER), 0)
    }
}

/// The offsets `replayed` commits, in the order they apply.
fn replayed_offsets(replayed: &super::txn_offsets::Replayed) -> Vec<u64> {
    replayed
        .records
        .iter()
        .map(|(_, r)| match r {
            GroupRecord::Offset { offset, .. } => offset.offset,
            GroupRecord::Metadata { .. } => 0,
        })
        .collect()
}

#[test]
fn loading_replays_transactional_offsets_as_pending_until_their_marker() {
    let values = RecordValues::default();
    let committed = [
        offsets_batch(&values, 0, None, 10),
        offsets_batch(&values, 1, Some(PRODUCER), 20),
        marker_batch(2, ControlType::Commit),
    ];
    let replayed = replay_batches(&values, committed.iter());
    assert_eq!(replayed_offsets(&replayed), vec![10, 20]);
    assert!(replayed.pending.is_empty());

    let aborted = [
        offsets_batch(&values, 0, Some(PRODUCER), 20),
        marker_batch(1, ControlType::Abort),
    ];
    let replayed = replay_batches(&values, aborted.iter());
    assert!(replayed.records.is_empty() && replayed.pending.is_empty());

    let open = [
        offsets_batch(&values, 0, None, 10),
        offsets_batch(&values, 1, Some(PRODUCER), 20),
    ];
    let replayed = replay_batches(&values, open.iter());
    assert_eq!(replayed.records.len(), 1);
    assert_eq!(replayed.pending[&(0, PRODUCER.0)][&tp(0)], (20, 2));
}

/// A coordinator that lost and retook the group's partition and is loading the batches `log`
/// makes with the coordinator's record values.
fn reloading(log: impl Fn(&RecordValues) -> Vec<RecordBatch>) -> Harness {
    let mut h = Harness::new();
    let partition = h.c.partition_of(GROUP);
    let batches = log(&h.c.spec().values);
    let mut out = Vec::new();
    h.c.unload(h.now(), partition, &mut out);
    h.c.load_batches(h.now(), partition, batches.iter(), &mut out);
    h
}

#[test]
fn a_commit_marker_replicated_while_the_partition_loads_commits_the_loaded_offsets() {
    let mut h = reloading(|values| vec![offsets_batch(values, 0, Some(PRODUCER), 20)]);
    marker(&mut h, ControlType::Commit);
    h.advance(LOAD_MS_BASE + 1);
    assert_eq!(fetch(&mut h, true), Ok(Some(20)));
}

#[test]
fn loading_keeps_a_plain_commit_written_after_an_open_transactions_offsets() {
    let mut h = reloading(|values| {
        vec![
            offsets_batch(values, 0, Some(PRODUCER), 20),
            offsets_batch(values, 1, None, 30),
            marker_batch(2, ControlType::Commit),
        ]
    });
    h.advance(LOAD_MS_BASE + 1);
    assert_eq!(
        fetch(&mut h, true),
        Ok(Some(30)),
        "the transaction's offset is older in the log"
    );
}

#[test]
fn a_transactional_commit_for_a_group_unknown_here_creates_it_and_commits() {
    let mut h = Harness::new();
    assert_eq!(txn_commit(&mut h, "", -1, 42), Ok(()));
    marker(&mut h, ControlType::Commit);
    assert_eq!(fetch(&mut h, true), Ok(Some(42)));
    assert_eq!(
        txn_commit(&mut h, "", 3, 43),
        Err(KafkaError::IllegalGeneration),
        "a new group is at generation 0"
    );
}

#[test]
fn a_plain_commit_appended_after_the_transactional_one_is_kept_at_commit() {
    let mut h = Harness::new();
    let (leader, _) = h.stable_pair();
    assert_eq!(txn_commit(&mut h, &leader, 1, 42), Ok(()));
    assert_eq!(h.commit(&leader, 1, 50), Ok(()));
    marker(&mut h, ControlType::Commit);
    assert_eq!(fetch(&mut h, true), Ok(Some(50)));
}

#[test]
fn only_appended_transactional_offsets_become_committed() {
    let mut h = Harness::new();
    let (leader, _) = h.stable_pair();
    assert_eq!(txn_commit(&mut h, &leader, 1, 42), Ok(()));
    let waiter = Waiter {
        node: NodeId::from_index(2),
        correlation: 99,
    };
    let group: Arc<str> = GROUP.into();
    let mut out = Vec::new();
    let failed = [(tp(0), 45)];
    let error = KafkaError::NotCoordinator;
    h.c.txn_commit_failed(group, PRODUCER.0, &failed, waiter, error, &mut out);
    assert_eq!(
        fetch(&mut h, true),
        Ok(None),
        "the failed append's partition is no longer pending"
    );
    assert_eq!(txn_commit(&mut h, &leader, 1, 47), Ok(()), "the retry");
    marker(&mut h, ControlType::Commit);
    assert_eq!(fetch(&mut h, true), Ok(Some(47)));
}
