//! Errors a user sees when a scenario does not load. Every error is one paragraph that starts
//! with where the problem is: `file:line:column:` when the position is known, `file:` when it is
//! not, or `--set KEY=VALUE:` when a command-line override caused it. Inside the loader, problems
//! are first recorded against a key path (`[topic, 1, replication_factor]`) or a byte span, and
//! turned into positions only once the final text is known (see `locate`).

use std::fmt;
use std::ops::Range;

/// Why a scenario could not be loaded; its `Display` is the complete message for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    origin: Origin,
    message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Origin {
    File {
        label: String,
        position: Option<Position>,
    },
    Flag {
        flag: String,
    },
}

/// A 1-based line and column (in characters) in a scenario file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// The line, counting from 1.
    pub line: usize,
    /// The column in characters, counting from 1.
    pub column: usize,
}

impl Position {
    /// The position of byte `offset` in `source` (clamped to the text, rounded to a character).
    pub fn of_offset(source: &str, offset: usize) -> Position {
        let (mut line, mut column) = (1, 1);
        for (at, ch) in source.char_indices() {
            if at >= offset {
                break;
            }
            if ch == '\n' {
                line += 1;
                column = 1;
            } else {
                column += 1;
            }
        }
        Position { line, column }
    }
}

impl ScenarioError {
    /// An error in file `label`, at `span` of `source` when known.
    pub(crate) fn in_file(
        label: &str,
        source: &str,
        span: Option<Range<usize>>,
        message: impl Into<String>,
    ) -> ScenarioError {
        let position = span.map(|s| Position::of_offset(source, s.start));
        ScenarioError {
            origin: Origin::File {
                label: label.to_string(),
                position,
            },
            message: message.into(),
        }
    }

    /// An error caused by the command-line override `flag` (`KEY=VALUE`).
    pub(crate) fn for_flag(flag: &str, message: impl Into<String>) -> ScenarioError {
        ScenarioError {
            origin: Origin::Flag {
                flag: flag.to_string(),
            },
            message: message.into(),
        }
    }

    /// The file the error is in, or `None` when a `--set` flag caused it.
    pub fn file(&self) -> Option<&str> {
        match &self.origin {
            Origin::File { label, .. } => Some(label),
            Origin::Flag { .. } => None,
        }
    }

    /// The line and column of the offending text, when known.
    pub fn position(&self) -> Option<Position> {
        match &self.origin {
            Origin::File { position, .. } => *position,
            Origin::Flag { .. } => None,
        }
    }

    /// The `KEY=VALUE` text of the `--set` flag that caused the error, if one did.
    pub fn flag(&self) -> Option<&str> {
        match &self.origin {
            Origin::File { .. } => None,
            Origin::Flag { flag } => Some(flag),
        }
    }

    /// The message without its location prefix.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.origin {
            Origin::File {
                label,
                position: Some(p),
            } => {
                write!(f, "{label}:{}:{}: {}", p.line, p.column, self.message)
            }
            Origin::File {
                label,
                position: None,
            } => write!(f, "{label}: {}", self.message),
            Origin::Flag { flag } => write!(f, "--set {flag}: {}", self.message),
        }
    }
}

impl std::error::Error for ScenarioError {}

/// One step of a key path into the scenario document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    /// A key of a table.
    Key(String),
    /// An element of an array or array of tables.
    Index(usize),
}

impl From<&str> for Seg {
    fn from(key: &str) -> Seg {
        Seg::Key(key.to_string())
    }
}

impl From<usize> for Seg {
    fn from(index: usize) -> Seg {
        Seg::Index(index)
    }
}

/// Builds a key path: `key_path!["topic", 1, "replication_factor"]`.
macro_rules! key_path {
    ($($seg:expr),* $(,)?) => { vec![$($crate::scenario::error::Seg::from($seg)),*] };
}
pub(crate) use key_path;

/// A semantic problem found by validation: a message and the key path of the offending value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Issue {
    /// Where the offending value is (or would be) in the document.
    pub path: Vec<Seg>,
    /// The message, naming the entry (`[[topic]] "orders": …`).
    pub message: String,
}

impl Issue {
    /// A problem with the value at `path`.
    pub fn at(path: Vec<Seg>, message: impl Into<String>) -> Issue {
        Issue {
            path,
            message: message.into(),
        }
    }
}

/// A problem located in one particular text: a message and, when known, a byte span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    /// The message without location.
    pub message: String,
    /// The bytes of the checked text the message is about.
    pub span: Option<Range<usize>>,
}

/// The closest of `known` to `word`, if one is close enough to be a likely typo.
pub(crate) fn suggest<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    let lower = word.to_lowercase();
    let mut best: Option<(f64, &'a str)> = None;
    for &candidate in known {
        let distance = strsim::damerau_levenshtein(&lower, &candidate.to_lowercase());
        let longest = lower.chars().count().max(candidate.chars().count()).max(1);
        let similarity = 1.0 - distance as f64 / longest as f64;
        let close = distance <= 2 || similarity >= 0.7 || candidate.starts_with(&lower);
        if close && best.is_none_or(|(s, _)| similarity > s) {
            best = Some((similarity, candidate));
        }
    }
    // A one- or two-letter word is "close" to every short key; insist on real similarity then.
    best.filter(|(s, _)| *s >= 0.5).map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_lines_and_characters() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(
            Position::of_offset(text, 0),
            Position { line: 1, column: 1 }
        );
        assert_eq!(
            Position::of_offset(text, 6),
            Position { line: 2, column: 1 }
        );
        // "é" is two bytes but one column.
        assert_eq!(
            Position::of_offset(text, 10),
            Position { line: 2, column: 4 }
        );
        // Past the end or inside a character: clamped, never a panic.
        assert_eq!(
            Position::of_offset(text, 8),
            Position { line: 2, column: 3 }
        );
        assert_eq!(Position::of_offset(text, 999).line, 3);
    }

    #[test]
    fn display_prefixes() {
        let e = ScenarioError::in_file("x.toml", "a\nb = 1", Some(2..3), "bad");
        assert_eq!(e.to_string(), "x.toml:2:1: bad");
        assert_eq!(
            ScenarioError::in_file("x.toml", "", None, "bad").to_string(),
            "x.toml: bad"
        );
        let e = ScenarioError::for_flag("network.loss=2", "too big");
        assert_eq!(e.to_string(), "--set network.loss=2: too big");
        assert_eq!(e.flag(), Some("network.loss=2"));
    }

    #[test]
    fn suggestions() {
        let keys = [
            "replica.lag.time.max.ms",
            "min.insync.replicas",
            "num.partitions",
        ];
        assert_eq!(
            suggest("replica.lag.time.max", &keys),
            Some("replica.lag.time.max.ms")
        );
        assert_eq!(suggest("min.isr", &keys), None);
        assert_eq!(suggest("num.partition", &keys), Some("num.partitions"));
        let fields = [
            "name",
            "partitions",
            "replication_factor",
            "replicas",
            "config",
        ];
        assert_eq!(
            suggest("replicatoin_factor", &fields),
            Some("replication_factor")
        );
        assert_eq!(suggest("Partitions", &fields), Some("partitions"));
        assert_eq!(suggest("zzz", &fields), None);
        assert_eq!(
            suggest("lost-writes", &["lost-write", "duplicate"]),
            Some("lost-write")
        );
    }
}
