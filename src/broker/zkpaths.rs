//! Where Kafka keeps its state in ZooKeeper and the JSON it writes there: broker registrations
//! under `/brokers/ids`, the controller's `/controller` and `/controller_epoch`, topic
//! assignments under `/brokers/topics` and each partition's state znode.

use serde::{Deserialize, Serialize};

use crate::protocol::BrokerId;

/// The ephemeral znode the controller holds.
pub const CONTROLLER: &str = "/controller";
/// The controller epoch.
pub const CONTROLLER_EPOCH: &str = "/controller_epoch";
/// Live broker registrations.
pub const BROKER_IDS: &str = "/brokers/ids";
/// Persistent paths every broker makes sure exist at startup, parents first.
pub const PERSISTENT_PATHS: &[&str] = &["/brokers", BROKER_IDS, "/brokers/topics"];

/// `/brokers/ids/<id>`.
pub fn broker_path(id: BrokerId) -> String {
    format!("{BROKER_IDS}/{id}")
}

/// The registration JSON of a broker.
pub fn broker_registration(id: BrokerId) -> String {
    format!(r#"{{"version":5,"host":"broker-{id}","port":9092,"jmx_port":-1}}"#)
}

/// `/controller`'s JSON.
pub fn controller_data(id: BrokerId) -> String {
    format!(r#"{{"version":1,"brokerid":{id},"timestamp":"0"}}"#)
}

/// The broker id in `/controller`'s JSON.
pub fn controller_id(data: &str) -> Option<BrokerId> {
    #[derive(Deserialize)]
    struct Controller {
        brokerid: BrokerId,
    }
    serde_json::from_str::<Controller>(data)
        .ok()
        .map(|c| c.brokerid)
}

/// `/brokers/topics/<topic>`.
pub fn topic_path(topic: &str) -> String {
    format!("/brokers/topics/{topic}")
}

/// `/brokers/topics/<topic>/partitions`.
pub fn partitions_path(topic: &str) -> String {
    format!("/brokers/topics/{topic}/partitions")
}

/// `/brokers/topics/<topic>/partitions/<p>`.
pub fn partition_path(topic: &str, partition: u32) -> String {
    format!("/brokers/topics/{topic}/partitions/{partition}")
}

/// `/brokers/topics/<topic>/partitions/<p>/state`.
pub fn state_path(topic: &str, partition: u32) -> String {
    format!("/brokers/topics/{topic}/partitions/{partition}/state")
}

/// A topic's assignment JSON: `{"version":1,"partitions":{"0":[0,1]}}`.
pub fn topic_assignment(assignment: &[Vec<BrokerId>]) -> String {
    let parts: Vec<String> = assignment
        .iter()
        .enumerate()
        .map(|(p, replicas)| format!("\"{p}\":{}", serde_json::to_string(replicas).expect("ids")))
        .collect();
    format!(r#"{{"version":1,"partitions":{{{}}}}}"#, parts.join(","))
}

/// A partition state znode's JSON, as Kafka writes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaderIsrJson {
    /// The controller epoch that wrote it.
    pub controller_epoch: u32,
    /// The leader, or -1.
    pub leader: i64,
    /// Format version (1).
    pub version: u32,
    /// The leader epoch.
    pub leader_epoch: u32,
    /// The ISR.
    pub isr: Vec<BrokerId>,
}

impl LeaderIsrJson {
    /// Encodes a state.
    pub fn encode(
        controller_epoch: u32,
        leader: Option<BrokerId>,
        leader_epoch: u32,
        isr: &[BrokerId],
    ) -> String {
        let json = LeaderIsrJson {
            controller_epoch,
            leader: leader.map_or(-1, i64::from),
            version: 1,
            leader_epoch,
            isr: isr.to_vec(),
        };
        serde_json::to_string(&json).expect("a state always encodes")
    }

    /// Decodes a state.
    pub fn decode(data: &str) -> Option<LeaderIsrJson> {
        serde_json::from_str(data).ok()
    }

    /// The leader, if any.
    pub fn leader(&self) -> Option<BrokerId> {
        BrokerId::try_from(self.leader).ok()
    }
}
