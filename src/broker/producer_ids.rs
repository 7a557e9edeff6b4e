//! Producer ids (Kafka's `ZkProducerIdManager`): any broker answers an idempotent producer's
//! `InitProducerId` (the non-transactional path of `TransactionCoordinator.handleInitProducerId`),
//! and gives a transactional id new to its transaction coordinator its producer id, with the next
//! id of a block it claimed in the metadata service: `/latest_producer_id_block`
//! holds the last block handed out, `{"version":1,"broker":B,"block_start":"S","block_end":"E"}`,
//! and a broker claims the next [`PRODUCER_ID_BLOCK_SIZE`] ids with a write conditional on the
//! znode's version, retrying when another broker won the race. Ids are therefore unique across the
//! cluster and across restarts; a new id starts at epoch 0.
//!
//! Volatile: the block in hand (a restarted broker claims a new one; the rest of the old block is
//! never used, as in Kafka). Fault model: a claim whose answer is lost is given up and the waiting
//! requests are answered `COORDINATOR_LOAD_IN_PROGRESS` (retriable); the claim may have landed,
//! which only wastes a block.

use serde::Deserialize;

use super::server::{Broker, ZkTag};
use crate::node::{Msg, Node, Obs};
use crate::protocol::{KafkaError, Response, TxnRequest};
use crate::sim::{Ctx, NodeId};
use crate::zk::{ZkError, ZkOp, ZkReply};

/// The znode holding the last producer id block handed out.
pub const PRODUCER_ID_BLOCK_PATH: &str = "/latest_producer_id_block";
/// Ids per block (Kafka's `ProducerIdsBlock.PRODUCER_ID_BLOCK_SIZE`).
pub const PRODUCER_ID_BLOCK_SIZE: i64 = 1_000;
/// Requests that may wait for a block at once; more are answered `COORDINATOR_LOAD_IN_PROGRESS`.
const WAITING_MAX: usize = 64;

/// Which step of a block claim a metadata-service request is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProducerIdTag {
    /// Reading the latest block.
    Read,
    /// Writing the claimed block `[start, end]`.
    Write {
        /// First id of the block.
        start: i64,
        /// Last id of the block.
        end: i64,
    },
}

/// A broker's producer ids in hand and the requests waiting for them.
#[derive(Clone, Debug, Default)]
pub struct ProducerIdManager {
    /// Volatile: the next id and the block's last id.
    block: Option<(i64, i64)>,
    /// Whether a claim is under way.
    claiming: bool,
    /// Volatile: `InitProducerId` requests waiting for a block.
    waiting: Vec<IdWaiter>,
}

/// An `InitProducerId` waiting for a producer id block.
#[derive(Clone, Debug)]
enum IdWaiter {
    /// An idempotent producer's: (client, correlation).
    Idempotent(NodeId, u64),
    /// A transactional id's first, for the transaction coordinator.
    Transactional(NodeId, TxnRequest),
}

impl IdWaiter {
    fn client(&self) -> NodeId {
        match self {
            IdWaiter::Idempotent(client, _) | IdWaiter::Transactional(client, _) => *client,
        }
    }
}

impl ProducerIdManager {
    /// The next id of the block in hand, if any is left.
    fn next_id(&mut self) -> Option<i64> {
        let (next, end) = self.block?;
        if next > end {
            self.block = None;
            return None;
        }
        self.block = Some((next + 1, end));
        Some(next)
    }
}

#[derive(Deserialize)]
struct BlockJson {
    block_end: String,
}

/// The JSON of a block claimed by `broker`.
fn block_json(broker: u32, start: i64, end: i64) -> String {
    format!(r#"{{"version":1,"broker":{broker},"block_start":"{start}","block_end":"{end}"}}"#)
}

impl Broker {
    /// Forgets the `InitProducerId`s of `client`, whose connection closed.
    pub(super) fn drop_producer_id_waiters(&mut self, client: NodeId) {
        self.producer_ids.waiting.retain(|w| w.client() != client);
    }

    /// Whether an `InitProducerId` from `client` waits for an id block.
    pub(super) fn producer_ids_waiting_for(&self, client: NodeId) -> bool {
        self.producer_ids
            .waiting
            .iter()
            .any(|w| w.client() == client)
    }
}

impl Broker {
    /// Answers `InitProducerId` from the block in hand, or waits for a new block.
    pub(super) fn handle_init_producer_id(
        &mut self,
        ctx: &mut Ctx<'_, Node>,
        from: NodeId,
        correlation: u64,
    ) {
        if let Some(id) = self.producer_ids.next_id() {
            let response = Response::InitProducerId {
                correlation,
                result: Ok((id, 0)),
            };
            ctx.send(from, Msg::Response(response));
            return;
        }
        self.wait_for_producer_id(ctx, IdWaiter::Idempotent(from, correlation));
    }

    /// A transactional id's first `InitProducerId` at its coordinator: the id gets the next
    /// producer id of the block in hand, or the request waits for a new block.
    pub(super) fn init_transactional_id(
        &mut self,
        ctx: &mut Ctx<'_, Node>,
        from: NodeId,
        request: TxnRequest,
    ) {
        match self.producer_ids.next_id() {
            Some(id) => self.init_txn_with_producer_id(ctx, from, request, id),
            None => self.wait_for_producer_id(ctx, IdWaiter::Transactional(from, request)),
        }
    }

    /// Parks `waiter` until a block is claimed (refused when too many wait).
    fn wait_for_producer_id(&mut self, ctx: &mut Ctx<'_, Node>, waiter: IdWaiter) {
        if self.producer_ids.waiting.len() >= WAITING_MAX {
            return refuse_waiter(ctx, waiter);
        }
        self.producer_ids.waiting.push(waiter);
        if !self.producer_ids.claiming {
            self.claim_producer_id_block(ctx);
        }
    }

    /// Starts a claim by reading the latest block (unless the metadata service is unreachable).
    fn claim_producer_id_block(&mut self, ctx: &mut Ctx<'_, Node>) {
        if !self.zk.is_connected() {
            self.fail_producer_id_waiters(ctx);
            return;
        }
        self.producer_ids.claiming = true;
        let op = ZkOp::GetData {
            path: PRODUCER_ID_BLOCK_PATH.into(),
            watch: false,
        };
        self.zk_op(ctx, op, ZkTag::ProducerIdBlock(ProducerIdTag::Read));
    }

    /// The metadata service answered a step of a block claim.
    pub(super) fn on_producer_id_block(
        &mut self,
        ctx: &mut Ctx<'_, Node>,
        tag: ProducerIdTag,
        result: Result<ZkReply, ZkError>,
    ) {
        match (tag, result) {
            (ProducerIdTag::Read, Ok(ZkReply::Data { data, stat })) => {
                let last_end = if data.is_empty() {
                    Some(-1)
                } else {
                    serde_json::from_str::<BlockJson>(&data)
                        .ok()
                        .and_then(|b| b.block_end.parse::<i64>().ok())
                };
                let Some(last_end) = last_end else {
                    ctx.observe(Obs::Note(format!("bad {PRODUCER_ID_BLOCK_PATH}: {data}")));
                    self.producer_ids.claiming = false;
                    self.fail_producer_id_waiters(ctx);
                    return;
                };
                let (start, end) = (last_end + 1, last_end + PRODUCER_ID_BLOCK_SIZE);
                let op = ZkOp::SetData {
                    path: PRODUCER_ID_BLOCK_PATH.into(),
                    data: block_json(self.id, start, end),
                    version: Some(stat.version),
                };
                let tag = ZkTag::ProducerIdBlock(ProducerIdTag::Write { start, end });
                self.zk_op(ctx, op, tag);
            }
            (ProducerIdTag::Read, Err(ZkError::NoNode)) => {
                let (start, end) = (0, PRODUCER_ID_BLOCK_SIZE - 1);
                let op = ZkOp::Create {
                    path: PRODUCER_ID_BLOCK_PATH.into(),
                    data: block_json(self.id, start, end),
                    ephemeral: false,
                };
                let tag = ZkTag::ProducerIdBlock(ProducerIdTag::Write { start, end });
                self.zk_op(ctx, op, tag);
            }
            (ProducerIdTag::Write { start, end }, Ok(_)) => {
                self.producer_ids.claiming = false;
                self.producer_ids.block = Some((start, end));
                ctx.observe(Obs::Note(format!("claimed producer ids {start}..={end}")));
                self.serve_producer_id_waiters(ctx);
            }
            (ProducerIdTag::Write { .. }, Err(ZkError::BadVersion | ZkError::NodeExists)) => {
                // Another broker claimed first: read again.
                self.claim_producer_id_block(ctx);
            }
            _ => {
                self.producer_ids.claiming = false;
                self.fail_producer_id_waiters(ctx);
            }
        }
    }

    /// A claim's request was lost with the connection.
    pub(super) fn on_producer_id_block_lost(&mut self, ctx: &mut Ctx<'_, Node>) {
        self.producer_ids.claiming = false;
        self.fail_producer_id_waiters(ctx);
    }

    fn serve_producer_id_waiters(&mut self, ctx: &mut Ctx<'_, Node>) {
        let mut waiting = std::mem::take(&mut self.producer_ids.waiting).into_iter();
        while let Some(waiter) = waiting.next() {
            let Some(id) = self.producer_ids.next_id() else {
                self.producer_ids.waiting = std::iter::once(waiter).chain(waiting).collect();
                self.claim_producer_id_block(ctx);
                return;
            };
            match waiter {
                IdWaiter::Idempotent(client, correlation) => {
                    let result = Ok((id, 0));
                    let response = Response::InitProducerId {
                        correlation,
                        result,
                    };
                    ctx.send(client, Msg::Response(response));
                }
                IdWaiter::Transactional(client, request) => {
                    self.init_txn_with_producer_id(ctx, client, request, id)
                }
            }
        }
    }

    fn fail_producer_id_waiters(&mut self, ctx: &mut Ctx<'_, Node>) {
        for waiter in std::mem::take(&mut self.producer_ids.waiting) {
            refuse_waiter(ctx, waiter);
        }
    }
}

/// Answers a waiting `InitProducerId` `COORDINATOR_LOAD_IN_PROGRESS` (retriable).
fn refuse_waiter(ctx: &mut Ctx<'_, Node>, waiter: IdWaiter) {
    let error = KafkaError::CoordinatorLoadInProgress;
    match waiter {
        IdWaiter::Idempotent(client, correlation) => {
            let result = Err(error);
            let response = Response::InitProducerId {
                correlation,
                result,
            };
            ctx.send(client, Msg::Response(response));
        }
        IdWaiter::Transactional(client, request) => {
            ctx.send(client, Msg::TxnReply(request.error_response(error)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_come_from_the_block_in_hand_until_it_runs_out() {
        let mut ids = ProducerIdManager {
            block: Some((1_000, 1_001)),
            ..ProducerIdManager::default()
        };
        assert_eq!(ids.next_id(), Some(1_000));
        assert_eq!(ids.next_id(), Some(1_001));
        assert_eq!(ids.next_id(), None);
        assert_eq!(ids.block, None);
    }

    #[test]
    fn the_block_json_is_kafkas() {
        let json = block_json(2, 1_000, 1_999);
        assert_eq!(
            json,
            r#"{"version":1,"broker":2,"block_start":"1000","block_end":"1999"}"#
        );
        let parsed: BlockJson = serde_json::from_str(&json).expect("parses");
        assert_eq!(parsed.block_end, "1999");
    }
}
