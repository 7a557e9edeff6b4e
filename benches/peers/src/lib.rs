//! The closed-loop request/response workload of the engine benchmark, on kafkasim's engine and on
//! its peers: turmoil (UDP), nexosim (single-threaded executor) and a heap-only baseline.
//!
//! N hosts each run C callers. A caller sends a request to a host drawn uniformly among the
//! others, that host answers at once, and the caller sends its next request when the answer
//! arrives. One-way latency is 1–10 ms. A run lasts 60 simulated seconds and counts deliveries:
//! requests and responses that reached their destination. Each engine runs the workload the way
//! its users would write it; what each one models beyond that (FIFO links in kafkasim, ports and
//! mailboxes in nexosim, sockets and per-host runtimes in turmoil) is part of what is measured.
//!
//! This crate is a workspace member outside `default-members`, so the main crate's build, tests
//! and `cargo bench --no-run` never compile turmoil or nexosim. Run it with
//! `cargo bench -p kafkasim-peers`.

pub mod heap;
pub mod kafkasim_engine;
pub mod nexosim_engine;
pub mod turmoil_engine;
pub mod workload;
