//! The broker's metadata-service session: connecting and registering under `/brokers/ids`
//! (with Kafka's checked ephemeral create), the controller election, answers and lost requests,
//! watches, the client-side read timeout, and handing the controller's requests to the service.

use super::controller::{Controller, ControllerOut};
use super::server::{Broker, BrokerTimer, ZkTag};
use super::zkpaths;
use crate::node::{Msg, Node, Obs, Timer, millis};
use crate::sim::Ctx;
use crate::zk::{WatchEvent, WatchKind, ZkError, ZkOp, ZkReply};

impl Broker {
    /// A session is (re)established: register, then try to become controller.
    pub(super) fn on_zk_session(&mut self, ctx: &mut Ctx<'_, Node>) {
        self.registered = false;
        for path in zkpaths::PERSISTENT_PATHS {
            self.zk_op(
                ctx,
                ZkOp::Create {
                    path: (*path).into(),
                    data: String::new(),
                    ephemeral: false,
                },
                ZkTag::EnsurePath,
            );
        }
        self.register(ctx);
    }

    pub(super) fn register(&mut self, ctx: &mut Ctx<'_, Node>) {
        let data = zkpaths::broker_registration(self.id);
        let path = zkpaths::broker_path(self.id);
        self.zk_op(
            ctx,
            ZkOp::Create {
                path,
                data,
                ephemeral: true,
            },
            ZkTag::Register,
        );
    }

    /// After a session expired the broker starts over with a new one (and stops controlling).
    pub(super) fn after_zk_response(&mut self, ctx: &mut Ctx<'_, Node>) {
        if self.zk.session_expired() {
            ctx.observe(Obs::Note("zk session expired: re-registering".into()));
            self.resign(ctx);
            let connect = self.zk.connect();
            ctx.send(self.spec.zk, Msg::Zk(connect));
        }
    }

    /// Sends a metadata-service request (dropped if not connected: callers retry by design).
    pub(super) fn zk_op(&mut self, ctx: &mut Ctx<'_, Node>, op: ZkOp, tag: ZkTag) {
        if let Some(request) = self.zk.request(op, tag) {
            ctx.send(self.spec.zk, Msg::Zk(request));
        }
    }

    pub(super) fn on_zk_result(
        &mut self,
        ctx: &mut Ctx<'_, Node>,
        tag: ZkTag,
        result: Result<ZkReply, ZkError>,
    ) {
        match tag {
            ZkTag::EnsurePath => {}
            ZkTag::Register => match result {
                Ok(_) => {
                    self.registered = true;
                    self.try_become_controller(ctx);
                }
                Err(ZkError::NodeExists) => {
                    ctx.observe(Obs::Note(
                        "registration exists from an old session: waiting".into(),
                    ));
                    let op = ZkOp::Exists {
                        path: zkpaths::broker_path(self.id),
                        watch: true,
                    };
                    self.zk_op(ctx, op, ZkTag::WatchOldRegistration);
                }
                Err(err) => ctx.observe(Obs::Note(format!("registration failed: {err}"))),
            },
            ZkTag::WatchOldRegistration => match result {
                Ok(ZkReply::Exists(None)) => self.register(ctx),
                // Our own create landed though its answer was lost (Kafka's checked ephemeral
                // create): the registration is ours.
                Ok(ZkReply::Exists(Some(stat)))
                    if stat.ephemeral_owner.is_some()
                        && stat.ephemeral_owner == self.zk.session() =>
                {
                    self.registered = true;
                    self.try_become_controller(ctx);
                }
                _ => {}
            },
            ZkTag::ElectController => match result {
                Ok(_) => self.become_controller(ctx),
                Err(_) => {
                    let op = ZkOp::GetData {
                        path: zkpaths::CONTROLLER.into(),
                        watch: true,
                    };
                    self.zk_op(ctx, op, ZkTag::WatchController);
                }
            },
            ZkTag::WatchController => match result {
                Ok(ZkReply::Data { data, stat })
                    if self.controller.is_none()
                        && stat.ephemeral_owner.is_some()
                        && stat.ephemeral_owner == self.zk.session() =>
                {
                    // Our own election write landed though its answer was lost.
                    assert_eq!(zkpaths::controller_id(&data), Some(self.id));
                    self.become_controller(ctx);
                }
                Ok(ZkReply::Data { data, .. }) => {
                    self.controller_id = zkpaths::controller_id(&data)
                }
                _ => self.try_become_controller(ctx),
            },
            ZkTag::Controller(tag) => {
                if let Some(controller) = &mut self.controller {
                    let mut out = ControllerOut::default();
                    controller.on_zk(tag, result, &mut out);
                    self.apply_controller_out(ctx, out);
                }
            }
            ZkTag::IsrWrite { tp, epoch, isr } => self.on_isr_written(ctx, tp, epoch, isr, result),
            ZkTag::IsrReread { tp, epoch } => self.on_isr_reread(ctx, tp, epoch, result),
            ZkTag::ProducerIdBlock(tag) => self.on_producer_id_block(ctx, tag, result),
        }
    }

    /// Re-reads what this broker watches, as a ZooKeeper client re-registers its watches on
    /// reconnecting: the controller path, and everything the controller follows.
    pub(super) fn resync_watches(&mut self, ctx: &mut Ctx<'_, Node>) {
        if let Some(controller) = &mut self.controller {
            let mut out = ControllerOut::default();
            controller.on_connection_lost(std::iter::empty(), &mut out);
            self.apply_controller_out(ctx, out);
        } else {
            let op = ZkOp::GetData {
                path: zkpaths::CONTROLLER.into(),
                watch: true,
            };
            self.zk_op(ctx, op, ZkTag::WatchController);
        }
        if !self.registered {
            self.register(ctx);
        }
    }

    /// Requests whose outcome is unknown (their connection closed, or a later answer proved
    /// them lost): ask again what matters, each thing once however many requests were lost.
    pub(super) fn on_zk_lost(&mut self, ctx: &mut Ctx<'_, Node>, tags: Vec<ZkTag>) {
        let any = |pred: fn(&ZkTag) -> bool| tags.iter().any(pred);
        if any(|t| matches!(t, ZkTag::Register | ZkTag::WatchOldRegistration)) {
            self.register(ctx);
        }
        if any(|t| matches!(t, ZkTag::ElectController | ZkTag::WatchController)) {
            self.try_become_controller(ctx);
        }
        if any(|t| matches!(t, ZkTag::Controller(_)))
            && let Some(controller) = &mut self.controller
        {
            let lost = tags.iter().filter_map(|t| match t {
                ZkTag::Controller(tag) => Some(tag),
                _ => None,
            });
            let mut out = ControllerOut::default();
            controller.on_connection_lost(lost, &mut out);
            self.apply_controller_out(ctx, out);
        }
        if any(|t| matches!(t, ZkTag::ProducerIdBlock(_))) {
            self.on_producer_id_block_lost(ctx);
        }
        for tag in tags {
            if let ZkTag::IsrWrite { tp, epoch, isr } = tag {
                self.on_isr_written(ctx, tp, epoch, isr, Err(ZkError::NoNode));
            }
        }
    }

    pub(super) fn try_become_controller(&mut self, ctx: &mut Ctx<'_, Node>) {
        let data = zkpaths::controller_data(self.id);
        let op = ZkOp::Create {
            path: zkpaths::CONTROLLER.into(),
            data,
            ephemeral: true,
        };
        self.zk_op(ctx, op, ZkTag::ElectController);
    }

    pub(super) fn become_controller(&mut self, ctx: &mut Ctx<'_, Node>) {
        ctx.observe(Obs::Note("became controller".into()));
        self.controller_id = Some(self.id);
        let mut controller = Box::new(Controller::new(self.id, &self.spec));
        let mut out = ControllerOut::default();
        controller.start(&mut out);
        self.controller = Some(controller);
        self.apply_controller_out(ctx, out);
    }

    pub(super) fn resign(&mut self, ctx: &mut Ctx<'_, Node>) {
        self.channels.clear();
        if self.controller.take().is_some() {
            ctx.observe(Obs::Note("resigned as controller".into()));
        }
    }

    /// Sends what the controller asked for.
    pub(super) fn apply_controller_out(&mut self, ctx: &mut Ctx<'_, Node>, out: ControllerOut) {
        for note in out.notes {
            ctx.observe(Obs::Note(note));
        }
        for (op, tag) in out.zk {
            self.zk_op(ctx, op, ZkTag::Controller(tag));
        }
        for (broker, request) in out.requests {
            self.send_controller_request(ctx, broker, request);
        }
        if out.resign {
            self.resign(ctx);
        }
    }

    pub(super) fn on_watch(&mut self, ctx: &mut Ctx<'_, Node>, event: WatchEvent) {
        if event.path == zkpaths::CONTROLLER {
            if event.kind == WatchKind::NodeDeleted {
                self.controller_id = None;
                self.try_become_controller(ctx);
            } else {
                let op = ZkOp::GetData {
                    path: zkpaths::CONTROLLER.into(),
                    watch: true,
                };
                self.zk_op(ctx, op, ZkTag::WatchController);
            }
            return;
        }
        if event.path == zkpaths::broker_path(self.id) && !self.registered {
            self.register(ctx);
            return;
        }
        if let Some(controller) = &mut self.controller {
            let mut out = ControllerOut::default();
            controller.on_watch(&event, &mut out);
            self.apply_controller_out(ctx, out);
        }
    }

    /// ZooKeeper's client gives up on a connection silent for two thirds of the session timeout
    /// while it waits for answers (requests sent into a partition vanish without a close);
    /// otherwise the check is armed for when that would be.
    pub(super) fn check_zk_read_timeout(&mut self, ctx: &mut Ctx<'_, Node>) {
        if self.zk.in_flight() == 0 {
            return;
        }
        let due = self.zk_heard_at + millis(self.zk.session_timeout_ms() * 2 / 3);
        if ctx.now() >= due {
            ctx.observe(Obs::Note("zk connection timed out".into()));
            self.zk_heard_at = ctx.now();
            self.on_connection_closed(ctx, self.spec.zk);
        } else {
            self.zk_read_check = true;
            let after = due.saturating_since(ctx.now());
            ctx.set_timer(after, Timer::Broker(BrokerTimer::ZkReadTimeout));
        }
    }
}
