//! Running the `kafkasim` binary from integration tests.

use std::process::{Command, Output};

/// Runs `kafkasim` with `args` and returns what it printed and its status.
pub fn kafkasim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kafkasim"))
        .args(args)
        .output()
        .expect("the binary runs")
}

/// Bytes printed, as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
