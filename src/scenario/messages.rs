//! Rewrites serde's and toml's raw messages into short ones a scenario author can act on.
//! serde says "unknown field `replica.lag.time.max`, expected one of `…` (60 keys)"; we say
//! "unknown key `replica.lag.time.max` in [cluster.config]; did you mean
//! `replica.lag.time.max.ms`?". The raw texts come from serde's `de::Error` constructors, whose
//! wording is stable; anything unrecognised is passed through with the key it concerns.

use super::error::suggest;

/// The most names listed after an unknown key or value before the list becomes a wall.
const MAX_LISTED: usize = 8;

/// A raw serde/toml message, taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Raw<'a> {
    /// `unknown field `x`, expected …`.
    UnknownField {
        field: &'a str,
        expected: Vec<&'a str>,
    },
    /// `unknown variant `x`, expected …`.
    UnknownVariant {
        variant: &'a str,
        expected: Vec<&'a str>,
    },
    /// `missing field `x``.
    MissingField { field: &'a str },
    /// `invalid type: F, expected E`.
    InvalidType { found: &'a str, expected: &'a str },
    /// `invalid value: F, expected E`.
    InvalidValue { found: &'a str, expected: &'a str },
    /// Anything else (custom messages of kafkasim's own types, toml's messages).
    Other(&'a str),
}

/// Takes a raw message apart.
pub(crate) fn classify(message: &str) -> Raw<'_> {
    let message = message.trim();
    if let Some(rest) = message.strip_prefix("unknown field `")
        && let Some((field, tail)) = rest.split_once('`')
    {
        return Raw::UnknownField {
            field,
            expected: backticked(tail),
        };
    }
    if let Some(rest) = message.strip_prefix("unknown variant `")
        && let Some((variant, tail)) = rest.split_once('`')
    {
        return Raw::UnknownVariant {
            variant,
            expected: backticked(tail),
        };
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        return Raw::MissingField {
            field: rest.trim_end_matches('`'),
        };
    }
    for (prefix, is_type) in [("invalid type: ", true), ("invalid value: ", false)] {
        if let Some((found, expected)) = message
            .strip_prefix(prefix)
            .and_then(|r| r.rsplit_once(", expected "))
        {
            return if is_type {
                Raw::InvalidType { found, expected }
            } else {
                Raw::InvalidValue { found, expected }
            };
        }
    }
    Raw::Other(message)
}

/// The names quoted in backticks in `text`, in order.
fn backticked(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

/// What to call the offending key and where it is: `` `acks` in [producer.config] of … ``.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Context<'a> {
    /// The key whose value is wrong, when known.
    pub key: Option<&'a str>,
    /// "in [cluster.config]", "at the top level", ….
    pub place: &'a str,
}

/// The user-facing message for a raw data error.
pub(crate) fn rewrite(raw: &Raw<'_>, cx: Context<'_>) -> String {
    let subject = match cx.key {
        Some(key) => format!("`{key}` {}", cx.place),
        None => cx.place.to_string(),
    };
    match raw {
        Raw::UnknownField { field, expected } => unknown_key(field, expected, cx.place),
        Raw::UnknownVariant { variant, expected } => {
            format!("{subject}: {}", unknown_value(variant, expected))
        }
        Raw::MissingField { field } => format!("missing required key `{field}` {}", cx.place),
        Raw::InvalidType { found, expected } => {
            if let Some(number) = huge_integer(found) {
                return format!("{subject}: {number} is too large");
            }
            format!(
                "{subject}: expected {}, found {}",
                expected_text(expected),
                found_text(found)
            )
        }
        Raw::InvalidValue { found, expected } => {
            format!("{subject}: {}", invalid_value(found, expected))
        }
        Raw::Other(text) => format!("{subject}: {text}"),
    }
}

fn unknown_key(field: &str, expected: &[&str], place: &str) -> String {
    let mut text = format!("unknown key `{field}` {place}");
    if let Some(close) = suggest(field, expected) {
        text.push_str(&format!("; did you mean `{close}`?"));
    } else if expected.is_empty() {
        text.push_str("; this table takes no keys");
    } else if expected.len() <= MAX_LISTED {
        let names: Vec<String> = expected.iter().map(|n| format!("`{n}`")).collect();
        text.push_str(&format!("; expected one of {}", names.join(", ")));
    } else {
        text.push_str(&format!(
            "; none of the {} keys kafkasim knows here is close",
            expected.len()
        ));
    }
    text
}

fn unknown_value(variant: &str, expected: &[&str]) -> String {
    let listed: Vec<String> = expected.iter().map(|n| format!("\"{n}\"")).collect();
    let list = listed.join(", ");
    match suggest(variant, expected) {
        Some(close) if expected.len() <= MAX_LISTED => {
            format!("unknown value \"{variant}\"; did you mean \"{close}\"? (one of {list})")
        }
        Some(close) => format!("unknown value \"{variant}\"; did you mean \"{close}\"?"),
        None => format!("unknown value \"{variant}\"; expected one of {list}"),
    }
}

fn invalid_value(found: &str, expected: &str) -> String {
    let number = found
        .strip_prefix("integer `")
        .map(|r| r.trim_end_matches('`'));
    if let Some(number) = number {
        if number.starts_with('-') && is_unsigned(expected) {
            return format!("must not be negative (found {number})");
        }
        if let Some(max) = unsigned_max(expected) {
            return format!("{number} is too large (at most {max})");
        }
    }
    format!(
        "expected {}, found {}",
        expected_text(expected),
        found_text(found)
    )
}

fn huge_integer(found: &str) -> Option<&str> {
    found.strip_prefix("integer `")?.strip_suffix("` as i128")
}

fn is_unsigned(expected: &str) -> bool {
    matches!(expected, "u8" | "u16" | "u32" | "u64" | "usize")
}

fn unsigned_max(expected: &str) -> Option<u64> {
    match expected {
        "u8" => Some(u8::MAX.into()),
        "u16" => Some(u16::MAX.into()),
        "u32" => Some(u32::MAX.into()),
        _ => None,
    }
}

/// serde's name of an expected type in words.
fn expected_text(expected: &str) -> String {
    let text = match expected {
        "u8" | "u16" | "u32" | "u64" | "usize" => "a non-negative integer",
        "i8" | "i16" | "i32" | "i64" | "isize" => "an integer",
        "f32" | "f64" => "a number",
        "a sequence" => "an array",
        "a map" => "a table",
        "a borrowed string" => "a string",
        other if other.starts_with("struct ") => "a table",
        other => other,
    };
    text.to_string()
}

/// serde's description of the value found, in words.
fn found_text(found: &str) -> String {
    let quoted = |prefix: &str| {
        found
            .strip_prefix(prefix)
            .map(|r| r.trim_matches('`').to_string())
    };
    if let Some(s) = found.strip_prefix("string ") {
        return format!("the string {s}");
    }
    if let Some(v) = quoted("integer ").or_else(|| quoted("floating point ")) {
        return format!("the number {v}");
    }
    if let Some(v) = quoted("boolean ") {
        return v;
    }
    match found {
        "sequence" => "an array".to_string(),
        "map" => "a table".to_string(),
        other => other.to_string(),
    }
}

/// How an array-of-tables entry is named in messages: `[[topic]] "orders"` or `[[fault]] #2`.
pub(crate) fn entry_label(section: &str, index: usize, name: Option<&str>) -> String {
    match name {
        Some(name) if section != "fault" => format!("[[{section}]] \"{name}\""),
        _ => format!("[[{section}]] #{index}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cx<'a>(key: Option<&'a str>, place: &'a str) -> Context<'a> {
        Context { key, place }
    }

    #[test]
    fn unknown_keys_suggest_the_closest() {
        let raw = classify(
            "unknown field `replica.lag.time.max`, \
             expected `replica.lag.time.max.ms` or `min.insync.replicas`",
        );
        assert_eq!(
            rewrite(&raw, cx(None, "in [cluster.config]")),
            "unknown key `replica.lag.time.max` in [cluster.config]; \
             did you mean `replica.lag.time.max.ms`?"
        );
        let raw = classify("unknown field `zzz`, expected one of `a`, `b`, `c`");
        assert_eq!(
            rewrite(&raw, cx(None, "in [disk]")),
            "unknown key `zzz` in [disk]; expected one of `a`, `b`, `c`"
        );
        let raw = classify("unknown field `x`, there are no fields");
        assert_eq!(
            rewrite(&raw, cx(None, "in [t]")),
            "unknown key `x` in [t]; this table takes no keys"
        );
    }

    #[test]
    fn values_types_and_ranges() {
        let raw = classify("unknown variant `kip-102`, expected `hw-truncation` or `kip-101`");
        assert_eq!(
            rewrite(&raw, cx(Some("replication.protocol"), "in [cluster]")),
            "`replication.protocol` in [cluster]: unknown value \"kip-102\"; \
             did you mean \"kip-101\"? (one of \"hw-truncation\", \"kip-101\")"
        );
        let raw = classify("invalid value: integer `-5`, expected u64");
        assert_eq!(
            rewrite(&raw, cx(Some("duration_ms"), "at the top level")),
            "`duration_ms` at the top level: must not be negative (found -5)"
        );
        let raw = classify("invalid value: integer `5000000000`, expected u32");
        assert_eq!(
            rewrite(&raw, cx(Some("k"), "in [t]")),
            "`k` in [t]: 5000000000 is too large (at most 4294967295)"
        );
        let raw = classify("invalid type: string \"a\", expected u64");
        assert_eq!(
            rewrite(&raw, cx(Some("k"), "in [t]")),
            "`k` in [t]: expected a non-negative integer, found the string \"a\""
        );
        let raw = classify("invalid type: integer `99999999999999999999` as i128, expected u64");
        assert_eq!(
            rewrite(&raw, cx(Some("k"), "in [t]")),
            "`k` in [t]: 99999999999999999999 is too large"
        );
        let raw = classify("missing field `partitions`");
        assert_eq!(
            rewrite(&raw, cx(None, "in [[topic]] \"a\"")),
            "missing required key `partitions` in [[topic]] \"a\""
        );
        let raw = classify("invalid type: sequence, expected a string");
        assert_eq!(
            rewrite(&raw, cx(Some("k"), "in [t]")),
            "`k` in [t]: expected a string, found an array"
        );
    }

    #[test]
    fn entry_labels() {
        assert_eq!(
            entry_label("topic", 1, Some("orders")),
            "[[topic]] \"orders\""
        );
        assert_eq!(entry_label("topic", 1, None), "[[topic]] #1");
        assert_eq!(entry_label("fault", 3, None), "[[fault]] #3");
    }
}
