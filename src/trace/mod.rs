//! Observations and the trace. Every state change worth seeing becomes one line of the short
//! log — `<time ms> <node> <event>` — and the run's `trace_hash` is a 64-bit hash of the same
//! observations, each folded in with its time and node: a process observation by its typed
//! fields (its `Hash`), a line the simulator writes itself (a fault, a start) by its text. The
//! hash does not depend on whether the log's text is kept, and the text is a function of what
//! is hashed, so two runs with equal hashes printed the same log; a run that keeps no log never
//! formats a line.

use std::fmt::{self, Write as _};
use std::hash::{Hash, Hasher};

use crate::sim::SimTime;

/// Where every trace hash starts.
pub const TRACE_HASH_SEED: u64 = 0xcbf2_9ce4_8422_2325;

const MIX: u64 = 0x9e37_79b9_7f4a_7c15;

/// Marks a process observation in the hash.
const OBSERVATION: u64 = 1;
/// Marks a line of the simulator's own (its text is what is hashed).
const TEXT: u64 = 2;

fn mix_word(h: u64, word: u64) -> u64 {
    let h = (h ^ word).wrapping_mul(MIX);
    h ^ (h >> 29)
}

/// Folds bytes into `h` eight at a time, their length first, so a boundary is never ambiguous
/// (also the disk's hash of file names).
pub(crate) fn mix_bytes(h: u64, bytes: &[u8]) -> u64 {
    let mut h = mix_word(h, bytes.len() as u64);
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        h = mix_word(h, u64::from_le_bytes(word.try_into().expect("8 bytes")));
    }
    let tail = words.remainder();
    if !tail.is_empty() {
        let mut buf = [0u8; 8];
        buf[..tail.len()].copy_from_slice(tail);
        h = mix_word(h, u64::from_le_bytes(buf));
    }
    h
}

/// The hasher observations are folded in with: every integer is one word, whatever its width
/// or the machine's byte order, so a hash is the same on every platform and build.
#[derive(Clone, Copy, Debug)]
pub struct TraceHasher(u64);

impl Hasher for TraceHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0 = mix_bytes(self.0, bytes);
    }

    fn write_u8(&mut self, i: u8) {
        self.0 = mix_word(self.0, u64::from(i));
    }

    fn write_u16(&mut self, i: u16) {
        self.0 = mix_word(self.0, u64::from(i));
    }

    fn write_u32(&mut self, i: u32) {
        self.0 = mix_word(self.0, u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        self.0 = mix_word(self.0, i);
    }

    fn write_usize(&mut self, i: usize) {
        self.0 = mix_word(self.0, i as u64);
    }

    fn write_i8(&mut self, i: i8) {
        self.write_u64(i as u64);
    }

    fn write_i16(&mut self, i: i16) {
        self.write_u64(i as u64);
    }

    fn write_i32(&mut self, i: i32) {
        self.write_u64(i as u64);
    }

    fn write_i64(&mut self, i: i64) {
        self.write_u64(i as u64);
    }

    fn write_isize(&mut self, i: isize) {
        self.write_u64(i as u64);
    }
}

/// The rolling hash of a run's observations and, optionally, their short log.
#[derive(Clone, Debug)]
pub struct Trace {
    hash: u64,
    observations: u64,
    /// The short log, kept only when asked for (`run --trace`).
    log: Option<String>,
    /// Reused buffer for formatting one line.
    line: String,
}

impl Trace {
    /// An empty trace; `keep_log` keeps the short log's text in memory.
    pub fn new(keep_log: bool) -> Trace {
        Trace {
            hash: TRACE_HASH_SEED,
            observations: 0,
            log: keep_log.then(String::new),
            line: String::new(),
        }
    }

    /// Records a line of the simulator's own made by `node` at `at`; its text is hashed.
    pub fn record(&mut self, at: SimTime, node: &str, event: &dyn fmt::Display) {
        self.line.clear();
        write_time(&mut self.line, at);
        self.line.push(' ');
        self.line.push_str(node);
        self.line.push(' ');
        write!(self.line, "{event}").expect("writing to a String cannot fail");
        self.hash = mix_bytes(mix_word(self.hash, TEXT), self.line.as_bytes());
        self.end_line();
    }

    /// Records an observation `node` (the node's index, named `name`) made at `at`: its time,
    /// node and fields go into the hash; `write_event` appends its text to the line, called
    /// only when the log is kept.
    pub fn record_observation(
        &mut self,
        at: SimTime,
        node: u32,
        name: &str,
        observation: &impl Hash,
        write_event: impl FnOnce(&mut String),
    ) {
        let h = mix_word(self.hash, OBSERVATION);
        let h = mix_word(mix_word(h, at.as_micros()), u64::from(node));
        let mut hasher = TraceHasher(h);
        observation.hash(&mut hasher);
        self.hash = hasher.finish();
        if self.log.is_none() {
            self.observations += 1;
            return;
        }
        self.line.clear();
        write_time(&mut self.line, at);
        self.line.push(' ');
        self.line.push_str(name);
        self.line.push(' ');
        write_event(&mut self.line);
        self.end_line();
    }

    /// Counts the line in `self.line` and appends it to the log, if kept.
    fn end_line(&mut self) {
        debug_assert!(
            !self.line.contains('\n'),
            "an observation is one line: {:?}",
            self.line
        );
        self.observations += 1;
        if let Some(log) = &mut self.log {
            log.push_str(&self.line);
            log.push('\n');
        }
    }

    /// The hash of every observation so far.
    pub fn hash(&self) -> u64 {
        self.hash
    }

    /// The hash as 16 lowercase hex digits, the form the JSON output uses.
    pub fn hash_hex(&self) -> String {
        format!("{:016x}", self.hash)
    }

    /// How many observations were recorded.
    pub fn observations(&self) -> u64 {
        self.observations
    }

    /// The short log, if it was kept.
    pub fn log(&self) -> Option<&str> {
        self.log.as_deref()
    }
}

/// Appends `n` in decimal, as `Display` writes it, without the formatting machinery (the short
/// log's frequent lines are mostly numbers).
pub fn push_u64(out: &mut String, n: u64) {
    out.push_str(itoa::Buffer::new().format(n));
}

/// Writes `at` as `SimTime`'s Display does (`12000.250`), without the formatting machinery:
/// every observation pays for it.
fn write_time(out: &mut String, at: SimTime) {
    let us = at.as_micros();
    push_u64(out, us / 1_000);
    let frac = (us % 1_000) as u16;
    let digit = |d: u16| char::from(b'0' + d as u8);
    out.push('.');
    out.push(digit(frac / 100));
    out.push(digit(frac / 10 % 10));
    out.push(digit(frac % 10));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_is_one_line_per_observation_and_the_hash_does_not_depend_on_it() {
        let mut kept = Trace::new(true);
        let mut bare = Trace::new(false);
        for trace in [&mut kept, &mut bare] {
            trace.record(SimTime::from_micros(12_000_250), "broker-1", &"kill");
            trace.record_observation(SimTime::from_millis(13_000), 1, "broker-1", &7u64, |l| {
                l.push_str("seven")
            });
        }
        let log = kept.log().expect("kept");
        assert_eq!(log, "12000.250 broker-1 kill\n13000.000 broker-1 seven\n");
        assert_eq!(bare.log(), None);
        assert_eq!(kept.hash(), bare.hash());
        assert_eq!((kept.observations(), bare.observations()), (2, 2));
        for us in [0, 7, 10, 99, 100, 999, 1_000, 12_000_250, u64::MAX] {
            let mut fast = String::new();
            write_time(&mut fast, SimTime::from_micros(us));
            assert_eq!(fast, SimTime::from_micros(us).to_string());
        }
        for n in (0..100_000).chain([u64::MAX / 3, u64::MAX - 1]) {
            let mut number = String::new();
            push_u64(&mut number, n);
            assert_eq!(number, n.to_string());
        }
    }

    #[test]
    fn the_hash_tells_apart_times_nodes_fields_and_line_boundaries() {
        let hash = |lines: &[(u64, u32, &str)]| {
            let mut trace = Trace::new(false);
            for &(at, node, text) in lines {
                trace.record_observation(SimTime::from_micros(at), node, "n", &text, |_| {});
            }
            trace.hash()
        };
        let base = hash(&[(1, 0, "a"), (2, 0, "b")]);
        assert_eq!(base, hash(&[(1, 0, "a"), (2, 0, "b")]));
        assert_ne!(base, hash(&[(1, 0, "a"), (3, 0, "b")]));
        assert_ne!(base, hash(&[(1, 0, "a"), (2, 1, "b")]));
        assert_ne!(base, hash(&[(1, 0, "a"), (2, 0, "c")]));
        assert_ne!(base, hash(&[(1, 0, "ab")]));
        assert_ne!(base, hash(&[]));
        let mut text = Trace::new(false);
        text.record(SimTime::from_micros(1), "n", &"a");
        let mut typed = Trace::new(false);
        typed.record_observation(SimTime::from_micros(1), 0, "n", &"a", |_| {});
        assert_ne!(
            text.hash(),
            typed.hash(),
            "a text line is not an observation"
        );
    }
}
