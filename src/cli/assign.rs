//! `kafkasim assign --strategy S < members.json`: what a Kafka assignor would assign (DESIGN §7).
//!
//! Reads one JSON object on stdin — `partitions_per_topic` (topic → partition count) and
//! `members` (`member_id`, `topics`, and optionally `group_instance_id`, `owned_partitions` as
//! `[topic, partition]` pairs, `generation`) — and prints one line: every member's partitions in
//! the order Kafka's assignor returns them, members by id. Members are taken in the order given,
//! as the JoinGroup response lists them. Bad JSON (named by line and column), an unknown field,
//! or input no Kafka group leader could see exits 2 with nothing on stdout.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{Read as _, Write as _};

use clap::Args;
use clap::builder::PossibleValuesParser;
use serde::Deserialize;

use super::{EXIT_INTERNAL, EXIT_OK, EXIT_USAGE};
use crate::group::assignor::{
    self, Assignment, DEFAULT_GENERATION, Member, Strategy, TopicPartition,
};

/// Arguments of `kafkasim assign`.
#[derive(Debug, Args)]
pub struct AssignArgs {
    /// The assignor, as `partition.assignment.strategy` names it.
    #[arg(long, value_name = "S", value_parser = PossibleValuesParser::new(Strategy::NAMES))]
    pub strategy: String,
}

/// The JSON object on stdin.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupInput {
    partitions_per_topic: BTreeMap<String, u32>,
    members: Vec<MemberInput>,
}

/// One member in the JSON input.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MemberInput {
    member_id: String,
    #[serde(default)]
    group_instance_id: Option<String>,
    topics: Vec<String>,
    #[serde(default)]
    owned_partitions: Option<Vec<(String, u32)>>,
    #[serde(default)]
    generation: Option<i32>,
}

impl From<MemberInput> for Member {
    fn from(input: MemberInput) -> Self {
        Member {
            member_id: input.member_id,
            group_instance_id: input.group_instance_id,
            topics: input.topics,
            owned_partitions: input
                .owned_partitions
                .unwrap_or_default()
                .into_iter()
                .map(|(topic, partition)| TopicPartition { topic, partition })
                .collect(),
            generation: input.generation.unwrap_or(DEFAULT_GENERATION),
        }
    }
}

/// Runs `kafkasim assign` on stdin and returns the exit code.
pub fn assign(args: &AssignArgs) -> i32 {
    let mut text = String::new();
    if let Err(err) = std::io::stdin().read_to_string(&mut text) {
        eprintln!("error: <stdin>: cannot read: {err}");
        return EXIT_USAGE;
    }
    match assign_text(&args.strategy, &text) {
        Ok(line) => {
            let mut stdout = std::io::stdout().lock();
            match writeln!(stdout, "{line}").and_then(|()| stdout.flush()) {
                // A reader that stopped early (`| head`) is not a failure.
                Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => {
                    eprintln!("error: cannot write the assignment to stdout: {err}");
                    EXIT_INTERNAL
                }
                _ => EXIT_OK,
            }
        }
        Err(message) => {
            eprintln!("error: {message}");
            EXIT_USAGE
        }
    }
}

/// The output line for `text` under the strategy named `strategy`, or why there is none.
fn assign_text(strategy: &str, text: &str) -> Result<String, String> {
    let strategy = Strategy::from_name(strategy).ok_or_else(|| {
        format!(
            "unknown strategy {strategy:?}: expected one of {}",
            Strategy::NAMES.join(", ")
        )
    })?;
    let input: GroupInput = serde_json::from_str(text).map_err(|err| {
        // serde_json ends its message with " at line L column C"; say it first, as a position.
        let position = format!(" at line {} column {}", err.line(), err.column());
        let message = err.to_string();
        let message = message.strip_suffix(&position).unwrap_or(&message);
        format!("<stdin>:{}:{}: {message}", err.line(), err.column())
    })?;
    let members: Vec<Member> = input.members.into_iter().map(Member::from).collect();
    let assignment = assignor::assign(strategy, &input.partitions_per_topic, &members)
        .map_err(|err| format!("<stdin>: {err}"))?;
    Ok(render(&assignment))
}

/// `{"c1": [["t1", 0], ["t1", 1]], "c2": []}`, members by id.
fn render(assignment: &Assignment) -> String {
    let quote = |s: &str| serde_json::to_string(s).expect("a string serializes");
    let mut out = String::from("{");
    for (i, (member, partitions)) in assignment.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "{}: [", quote(member));
        for (j, tp) in partitions.iter().enumerate() {
            if j > 0 {
                out.push_str(", ");
            }
            let _ = write!(out, "[{}, {}]", quote(&tp.topic), tp.partition);
        }
        out.push(']');
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_design_example() {
        let input = r#"{"partitions_per_topic": {"t1": 3, "t2": 2},
            "members": [{"member_id": "c1", "group_instance_id": null, "topics": ["t1", "t2"],
                         "owned_partitions": [["t1", 0]], "generation": 4},
                        {"member_id": "c2", "topics": ["t1"]}]}"#;
        assert_eq!(
            assign_text("range", input).unwrap(),
            r#"{"c1": [["t1", 0], ["t1", 1], ["t2", 0], ["t2", 1]], "c2": [["t1", 2]]}"#
        );
    }

    #[test]
    fn json_errors_name_line_and_column() {
        let err =
            assign_text("range", "{\n  \"partitions_per_topic\": {},\n  \"x\": 1}").unwrap_err();
        assert!(err.starts_with("<stdin>:3:"), "{err}");
        assert!(err.contains("unknown field `x`"), "{err}");
        assert!(!err.contains(" at line "), "{err}");
    }

    #[test]
    fn an_unknown_strategy_is_refused() {
        let err = assign_text("fair", "{}").unwrap_err();
        assert!(err.contains("unknown strategy \"fair\""), "{err}");
    }
}
