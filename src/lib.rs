//! kafkasim: a deterministic simulation testbed for Apache Kafka's replication and client
//! protocols. One process, one thread, one seed runs a whole cluster over a virtual network and
//! virtual disks, injects faults, and checks what clients saw against what Kafka promises.
//!
//! Map of the crate, one line per module:
//!
//! - [`sim`]: simulated time, the event queue, the seeded RNG and its forks, effects, the loop.
//! - [`net`]: the virtual network: FIFO links, latency, loss, partitions, connection closes.
//! - [`disk`]: the virtual disk: page cache versus durable bytes, sync latency, kill, power-off.
//! - [`record`]: records as identities, batches with Kafka's header fields.
//! - [`log`]: one replica's partition log: segments, sparse index, retention, recovery, epochs.
//! - [`protocol`]: Kafka's requests, responses and error codes as Rust values.
//! - [`broker`]: Kafka's replication rules: follower state, ISR, high watermark, elections.
//! - [`client`]: Kafka clients: the producer's partitioner (murmur2, sticky, round-robin).
//! - [`group`]: consumer groups: Kafka's partition assignors (range, roundrobin, sticky, …).
//! - [`txn`]: the transaction coordinator: Kafka's transaction states, markers, fencing.
//! - [`node`]: the process enum of a Kafka cluster, its messages, timers and observations.
//! - [`check`]: checkers over the history and the final logs, anomalies by name.
//! - [`run`]: one run of a scenario: world, phases, final reads, checkers, summary.
//! - [`faults`]: fault actions (kill, power-off, partition, …) as data, resolved to node ids.
//! - [`trace`]: observations, the short log and the rolling `trace_hash`.
//! - [`report`]: LEO/HW timeline charts (SVG, PNG) and the HTML run report of `run --report`.
//! - [`zk`]: the ZooKeeper-style metadata service (sessions, ephemerals, watches) and its client.
//! - [`scenario`]: the TOML scenario format: schema, Kafka defaults, validation, `--set`.
//! - [`shrink`]: a failing run cut down to a minimal scenario that still shows its anomaly.
//! - [`cli`]: the `kafkasim` command: subcommands, output formats, exit codes.
//!
//! ```
//! use kafkasim::sim::{SimDuration, SimTime};
//! let t = SimTime::ZERO + SimDuration::from_millis(12);
//! assert_eq!(t.as_micros(), 12_000);
//! ```

pub mod broker;
pub mod check;
pub mod cli;
pub mod client;
pub mod disk;
pub mod faults;
pub mod group;
pub mod log;
pub mod net;
pub mod node;
pub mod protocol;
pub mod record;
pub mod report;
pub mod run;
pub mod scenario;
pub mod shrink;
pub mod sim;
pub mod trace;
pub mod txn;
pub mod zk;
