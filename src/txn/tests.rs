//! The coordinator's state machine, fed requests and replication directly.

use std::sync::Arc;

use super::*;
use crate::protocol::{TxnRequest, TxnResponse};

fn p() -> NodeId {
    NodeId::from_index(9)
}

fn coordinator(protocol: TransactionsProtocol) -> (TxnCoordinator, u32) {
    let spec = TxnCoordinatorSpec {
        ids: vec![Arc::from("tx-1")],
        partitions: 50,
        protocol,
        abort_check_interval_ms: 10_000,
        offsets_topic: Some((1, 50)),
    };
    let mut c = TxnCoordinator::new(spec);
    let partition = c.partition_of(0);
    c.load(
        SimTime::ZERO,
        partition,
        3,
        std::iter::empty(),
        &mut Vec::new(),
    );
    (c, partition)
}

fn at(ms: u64) -> SimTime {
    SimTime::from_millis(ms + LOAD_MS)
}

/// Appends every `Append` action at increasing offsets and replicates it at once; returns the
/// other actions (replies, markers).
fn replicate(c: &mut TxnCoordinator, now: SimTime, actions: Vec<TxnAction>) -> Vec<TxnAction> {
    let mut rest = Vec::new();
    let mut queue = actions;
    let mut offset = 0;
    while !queue.is_empty() {
        let mut next = Vec::new();
        for action in queue {
            match action {
                TxnAction::Append {
                    partition, then, ..
                } => {
                    offset += 1;
                    c.append_started(now, partition, offset, then);
                    c.on_high_watermark(now, partition, offset, &mut next);
                }
                TxnAction::Note(_) => {}
                other => rest.push(other),
            }
        }
        queue = next;
    }
    rest
}

fn request(c: &mut TxnCoordinator, now: SimTime, request: TxnRequest) -> Vec<TxnAction> {
    let mut out = Vec::new();
    c.handle(now, p(), request, &mut out);
    replicate(c, now, out)
}

/// The producer id the broker hands transactional id 0 from its block.
const PRODUCER_ID: i64 = 7_000;

fn init(c: &mut TxnCoordinator, now: SimTime) -> Result<(i64, i16), KafkaError> {
    let init = TxnRequest::InitProducerId {
        correlation: 1,
        txn: 0,
        timeout_ms: 60_000,
    };
    if c.needs_producer_id(now, &init) {
        c.adopt_producer_id(now, 0, PRODUCER_ID, 60_000);
    }
    let out = request(c, now, init);
    match out.first() {
        Some(TxnAction::Reply {
            response: TxnResponse::InitProducerId { result, .. },
            ..
        }) => *result,
        other => panic!("no InitProducerId answer: {other:?}"),
    }
}

fn tp(partition: u32) -> TopicPartition {
    TopicPartition {
        topic: 0,
        partition,
    }
}

fn add(c: &mut TxnCoordinator, now: SimTime, producer: (i64, i16)) -> Vec<TxnAction> {
    request(
        c,
        now,
        TxnRequest::AddPartitionsToTxn {
            correlation: 2,
            txn: 0,
            producer,
            partitions: vec![tp(0), tp(1)],
        },
    )
}

fn end(c: &mut TxnCoordinator, producer: (i64, i16), commit: bool) -> Vec<TxnAction> {
    request(
        c,
        at(20),
        TxnRequest::EndTxn {
            correlation: 3,
            txn: 0,
            producer,
            commit,
        },
    )
}

fn state(c: &TxnCoordinator) -> TxnState {
    c.entry(0).expect("loaded").metadata.state
}

fn end_result(actions: &[TxnAction]) -> Option<Result<(i64, i16), KafkaError>> {
    actions.iter().find_map(|a| match a {
        TxnAction::Reply {
            response: TxnResponse::EndTxn { result, .. },
            ..
        } => Some(*result),
        _ => None,
    })
}

fn write_markers(c: &mut TxnCoordinator, actions: &[TxnAction]) -> Vec<TxnAction> {
    let mut out = Vec::new();
    for action in actions {
        if let TxnAction::WriteMarkers {
            txn, partitions, ..
        } = action
        {
            for &tp in partitions {
                c.marker_written(*txn, tp, &mut out);
            }
        }
    }
    replicate(c, at(30), out)
}

#[test]
fn state_machine_allows_exactly_kafkas_transitions() {
    use TxnState::*;
    assert!(Ongoing.may_follow(CompleteCommit));
    assert!(PrepareCommit.may_follow(Ongoing));
    assert!(!PrepareCommit.may_follow(Empty));
    assert!(PrepareAbort.may_follow(PrepareEpochFence));
    assert!(!CompleteAbort.may_follow(PrepareCommit));
    for s in TxnState::ALL {
        assert_eq!(TxnState::from_id(s.id()), Some(s));
    }
}

#[test]
fn a_new_id_gets_epoch_0_and_each_init_bumps_it() {
    let (mut c, _) = coordinator(TransactionsProtocol::Classic);
    assert_eq!(init(&mut c, at(1)), Ok((PRODUCER_ID, 0)));
    assert_eq!(init(&mut c, at(2)), Ok((PRODUCER_ID, 1)));
    assert_eq!(state(&c), TxnState::Empty);
}

#[test]
fn a_new_id_needs_a_producer_id_from_the_broker_first() {
    let (mut c, _) = coordinator(TransactionsProtocol::Classic);
    let first = TxnRequest::InitProducerId {
        correlation: 1,
        txn: 0,
        timeout_ms: 60_000,
    };
    assert!(c.needs_producer_id(at(1), &first));
    let out = request(&mut c, at(1), first.clone());
    assert!(
        matches!(
            out.first(),
            Some(TxnAction::Reply {
                response: TxnResponse::InitProducerId {
                    result: Err(KafkaError::CoordinatorLoadInProgress),
                    ..
                },
                ..
            })
        ),
        "{out:?}"
    );
    assert_eq!(init(&mut c, at(2)), Ok((PRODUCER_ID, 0)));
    assert!(!c.needs_producer_id(at(3), &first), "the id keeps it");
}

#[test]
fn commit_writes_markers_then_completes_and_a_retry_succeeds() {
    let (mut c, _) = coordinator(TransactionsProtocol::Classic);
    let id = init(&mut c, at(1)).unwrap();
    add(&mut c, at(2), id);
    assert_eq!(state(&c), TxnState::Ongoing);
    let out = end(&mut c, id, true);
    assert_eq!(end_result(&out), Some(Ok(id)));
    assert_eq!(state(&c), TxnState::PrepareCommit);
    let markers: Vec<_> = out
        .iter()
        .filter(|a| matches!(a, TxnAction::WriteMarkers { .. }))
        .collect();
    assert_eq!(markers.len(), 1, "{out:?}");
    write_markers(&mut c, &out);
    assert_eq!(state(&c), TxnState::CompleteCommit);
    assert_eq!(end_result(&end(&mut c, id, true)), Some(Ok(id)));
    assert_eq!(
        end_result(&end(&mut c, id, false)),
        Some(Err(KafkaError::InvalidTxnState))
    );
}

#[test]
fn a_stale_epoch_is_fenced() {
    let (mut c, _) = coordinator(TransactionsProtocol::Classic);
    let old = init(&mut c, at(1)).unwrap();
    let new = init(&mut c, at(2)).unwrap();
    assert!(new.1 > old.1);
    let out = add(&mut c, at(3), old);
    assert!(
        out.iter().any(|a| matches!(
            a,
            TxnAction::Reply {
                response: TxnResponse::AddPartitionsToTxn {
                    result: Err(KafkaError::ProducerFenced),
                    ..
                },
                ..
            }
        )),
        "{out:?}"
    );
}

#[test]
fn init_on_an_ongoing_transaction_fences_and_aborts_it_at_a_new_epoch() {
    let (mut c, _) = coordinator(TransactionsProtocol::Classic);
    let id = init(&mut c, at(1)).unwrap();
    add(&mut c, at(2), id);
    let out = request(
        &mut c,
        at(3),
        TxnRequest::InitProducerId {
            correlation: 7,
            txn: 0,
            timeout_ms: 60_000,
        },
    );
    let concurrent = out.iter().any(|a| {
        matches!(
            a,
            TxnAction::Reply {
                response: TxnResponse::InitProducerId {
                    result: Err(KafkaError::ConcurrentTransactions),
                    ..
                },
                ..
            }
        )
    });
    assert!(concurrent, "{out:?}");
    let markers = out.iter().find_map(|a| match a {
        TxnAction::WriteMarkers {
            producer, result, ..
        } => Some((*producer, *result)),
        _ => None,
    });
    assert_eq!(markers, Some(((id.0, id.1 + 1), ControlType::Abort)));
    write_markers(&mut c, &out);
    assert_eq!(state(&c), TxnState::CompleteAbort);
    assert_eq!(init(&mut c, at(4)), Ok((id.0, id.1 + 2)));
}

#[test]
fn a_second_transition_while_one_is_pending_is_concurrent() {
    let (mut c, partition) = coordinator(TransactionsProtocol::Classic);
    let id = init(&mut c, at(1)).unwrap();
    let mut out = Vec::new();
    c.handle(
        at(2),
        p(),
        TxnRequest::AddPartitionsToTxn {
            correlation: 2,
            txn: 0,
            producer: id,
            partitions: vec![tp(0)],
        },
        &mut out,
    );
    let then = out.iter().find_map(|a| match a {
        TxnAction::Append { then, .. } => Some(then.clone()),
        _ => None,
    });
    c.append_started(at(2), partition, 100, then.expect("an append"));
    let out = end(&mut c, id, true);
    assert_eq!(
        end_result(&out),
        Some(Err(KafkaError::ConcurrentTransactions))
    );
}

#[test]
fn kip_890_bumps_the_epoch_at_every_transaction_end() {
    let (mut c, _) = coordinator(TransactionsProtocol::Kip890);
    let id = init(&mut c, at(1)).unwrap();
    add(&mut c, at(2), id);
    let out = end(&mut c, id, false);
    let bumped = (id.0, id.1 + 1);
    assert_eq!(end_result(&out), Some(Ok(bumped)));
    write_markers(&mut c, &out);
    assert_eq!(state(&c), TxnState::CompleteAbort);
    // The retry of the same EndTxn, with the old epoch, is told the new one.
    assert_eq!(end_result(&end(&mut c, id, false)), Some(Ok(bumped)));
}

#[test]
fn a_transaction_past_its_timeout_is_aborted() {
    let (mut c, _) = coordinator(TransactionsProtocol::Classic);
    let id = init(&mut c, at(1)).unwrap();
    add(&mut c, at(2), id);
    let mut out = Vec::new();
    c.on_time(at(70_000), &mut out);
    let out = replicate(&mut c, at(70_000), out);
    assert!(
        out.iter().any(|a| matches!(
            a,
            TxnAction::WriteMarkers {
                result: ControlType::Abort,
                ..
            }
        )),
        "{out:?}"
    );
    assert_eq!(c.entry(0).unwrap().metadata.producer_epoch, id.1 + 1);
}

#[test]
fn a_new_coordinator_completes_a_prepared_commit_from_the_log() {
    let (mut c, partition) = coordinator(TransactionsProtocol::Classic);
    let id = init(&mut c, at(1)).unwrap();
    add(&mut c, at(2), id);
    let prepared = {
        let mut m = c.entry(0).unwrap().metadata.clone();
        m.state = TxnState::PrepareCommit;
        m
    };
    let log = records::encode(&prepared);
    let (mut other, _) = coordinator(TransactionsProtocol::Classic);
    other.unload(partition, &mut Vec::new());
    other.load(at(10), partition, 4, log.iter(), &mut Vec::new());
    let mut out = Vec::new();
    other.on_time(at(100), &mut out);
    let markers = out.iter().find_map(|a| match a {
        TxnAction::WriteMarkers {
            result,
            coordinator_epoch,
            partitions,
            ..
        } => Some((*result, *coordinator_epoch, partitions.len())),
        _ => None,
    });
    assert_eq!(markers, Some((ControlType::Commit, 4, 2)));
    write_markers(&mut other, &out);
    assert_eq!(state(&other), TxnState::CompleteCommit);
    let _ = id;
}

#[test]
fn add_offsets_to_txn_adds_the_groups_offsets_partition_which_gets_the_markers() {
    let (mut c, _) = coordinator(TransactionsProtocol::Classic);
    let producer = init(&mut c, at(0)).expect("an id");
    let out = request(
        &mut c,
        at(10),
        TxnRequest::AddOffsetsToTxn {
            correlation: 2,
            txn: 0,
            producer,
            group: "my-group".into(),
        },
    );
    assert!(
        matches!(
            out.first(),
            Some(TxnAction::Reply {
                response: TxnResponse::AddOffsetsToTxn { result: Ok(()), .. },
                ..
            })
        ),
        "answered once persisted: {out:?}"
    );
    // "my-group" lives on partition 12 of `__consumer_offsets` (topic 1 here).
    let offsets = TopicPartition {
        topic: 1,
        partition: 12,
    };
    assert!(c.entry(0).unwrap().metadata.partitions.contains(&offsets));
    let out = end(&mut c, producer, true);
    let marked: Vec<TopicPartition> = out
        .iter()
        .filter_map(|a| match a {
            TxnAction::WriteMarkers { partitions, .. } => Some(partitions.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(
        marked,
        vec![offsets],
        "the offsets partition gets the COMMIT marker"
    );
}

#[test]
fn a_leader_verifies_only_partitions_of_the_ongoing_transaction_at_its_epoch() {
    let (mut c, _) = coordinator(TransactionsProtocol::Kip890);
    let producer = init(&mut c, at(0)).expect("an id");
    let verify = |c: &mut TxnCoordinator, producer: (i64, i16), partition: u32| {
        let out = request(
            c,
            at(15),
            TxnRequest::VerifyPartitionsInTxn {
                correlation: 9,
                txn: 0,
                producer,
                partitions: vec![tp(partition)],
            },
        );
        match out.first() {
            Some(TxnAction::Reply {
                response: TxnResponse::VerifyPartitionsInTxn { result, .. },
                ..
            }) => *result,
            other => panic!("no verification answer: {other:?}"),
        }
    };
    assert_eq!(
        verify(&mut c, producer, 0),
        Err(KafkaError::InvalidTxnState),
        "no transaction is ongoing"
    );
    add(&mut c, at(10), producer);
    assert_eq!(verify(&mut c, producer, 0), Ok(()));
    assert_eq!(
        verify(&mut c, producer, 7),
        Err(KafkaError::InvalidTxnState),
        "a partition the transaction does not have"
    );
    assert_eq!(
        verify(&mut c, (producer.0, producer.1 - 1), 0),
        Err(KafkaError::ProducerFenced)
    );
}
