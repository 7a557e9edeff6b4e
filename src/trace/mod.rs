//! Observations and the trace. Every state change worth seeing becomes one line of the short
//! log — `<time ms> <node> <event>` — and the run's `trace_hash` is a 64-bit hash of
//! exactly those lines, each followed by `\n`, whether or not the log is kept. So the hash of a
//! `--trace` file is the run's `trace_hash`, and two runs with equal hashes printed the same log.

use std::fmt::{self, Write as _};

use crate::sim::SimTime;

/// Where every trace hash starts.
pub const TRACE_HASH_SEED: u64 = 0xcbf2_9ce4_8422_2325;

const MIX: u64 = 0x9e37_79b9_7f4a_7c15;

fn mix_word(h: u64, word: u64) -> u64 {
    let h = (h ^ word).wrapping_mul(MIX);
    h ^ (h >> 29)
}

/// Folds one short-log line (its bytes, newline included) into the hash `h`, eight bytes at a
/// time with its length mixed in first: lines are hashed one by one, so equal logs have equal
/// hashes and a line boundary is never ambiguous.
pub fn hash_line(h: u64, line: &[u8]) -> u64 {
    let mut h = mix_word(h, line.len() as u64);
    let mut words = line.chunks_exact(8);
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

/// The trace hash of a whole short log (a `--trace` file): its lines folded in order.
pub fn hash_log(text: &[u8]) -> u64 {
    text.split_inclusive(|&b| b == b'\n')
        .fold(TRACE_HASH_SEED, hash_line)
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

    /// Records one observation made by `node` at `at`.
    pub fn record(&mut self, at: SimTime, node: &str, event: &dyn fmt::Display) {
        self.record_with(at, node, |line| {
            write!(line, "{event}").expect("writing to a String cannot fail")
        });
    }

    /// Records one observation made by `node` at `at` whose text `write_event` appends to the
    /// line: the same line as [`Trace::record`] with its `Display`, for callers that write
    /// their frequent events without the formatting machinery.
    pub fn record_with(&mut self, at: SimTime, node: &str, write_event: impl FnOnce(&mut String)) {
        self.line.clear();
        write_time(&mut self.line, at);
        self.line.push(' ');
        self.line.push_str(node);
        self.line.push(' ');
        write_event(&mut self.line);
        debug_assert!(
            !self.line.contains('\n'),
            "an observation is one line: {:?}",
            self.line
        );
        self.line.push('\n');
        self.hash = hash_line(self.hash, self.line.as_bytes());
        self.observations += 1;
        if let Some(log) = &mut self.log {
            log.push_str(&self.line);
        }
    }

    /// The hash of every line so far.
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
    fn hash_is_the_hash_of_the_log_text() {
        let mut trace = Trace::new(true);
        trace.record(SimTime::from_micros(12_000_250), "broker-1", &"kill");
        trace.record(SimTime::from_millis(13_000), "broker-1", &"restart");
        let log = trace.log().expect("kept");
        assert_eq!(log, "12000.250 broker-1 kill\n13000.000 broker-1 restart\n");
        assert_eq!(trace.hash(), hash_log(log.as_bytes()));
        assert_eq!(trace.observations(), 2);
        for us in [0, 7, 10, 99, 100, 999, 1_000, 12_000_250, u64::MAX] {
            let mut fast = String::new();
            write_time(&mut fast, SimTime::from_micros(us));
            assert_eq!(fast, SimTime::from_micros(us).to_string());
            let mut number = String::new();
            push_u64(&mut number, us);
            assert_eq!(number, us.to_string());
        }
        for n in (0..100_000).chain([u64::MAX / 3, u64::MAX - 1]) {
            let mut number = String::new();
            push_u64(&mut number, n);
            assert_eq!(number, n.to_string());
        }
        // A different log hashes differently, and so does the same text split differently.
        assert_ne!(hash_log(b"a\nb\n"), hash_log(b"ab\n"));
        assert_ne!(hash_log(log.as_bytes()), hash_log(b""));
    }
}
