//! Command-line overrides, `--set KEY=VALUE` (DESIGN §7), applied to the TOML document before
//! it is read, so an override behaves exactly as if the file said it. KEY starts with a section;
//! for `[[topic]]`, `[[producer]]`, `[[consumer]]` and `[[pipeline]]` the entry's name follows,
//! for `[[fault]]` its 0-based index; then comes one key, dots included, except that `config`
//! (and a fault's `when`) descends into the sub-table:
//! `cluster.replication.protocol=kip-101`, `cluster.config.min.insync.replicas=2`,
//! `producer.p1.config.acks=1`, `fault.0.at_ms=5000`, `duration_ms=5000`.
//! VALUE is a TOML value (`1`, `0.5`, `true`, `[1, 2]`, `"x"`) or else a bare string (`all`).
//! Missing tables and keys are created; a missing entry is an error, since there is nothing to
//! attach its other required keys to.

use toml_edit::{DocumentMut, InlineTable, Item, Table, Value};

use super::error::{ScenarioError, suggest};

/// Top-level keys that take a value directly.
const TOP_KEYS: &[&str] = &["name", "description", "seed", "duration_ms", "settle_ms"];
/// Sections that are one table.
const TABLE_SECTIONS: &[&str] = &["cluster", "disk", "network", "nemesis", "expect"];
/// Sections that are arrays of tables addressed by their `name`.
const NAMED_SECTIONS: &[&str] = &["topic", "producer", "consumer", "pipeline"];

/// One parsed `--set` flag.
#[derive(Debug, Clone)]
pub(crate) struct Override {
    /// The flag as given, `KEY=VALUE`, for messages.
    pub flag: String,
    key_path: String,
    value: Value,
}

/// One step from the document root towards the table that receives the key.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

/// Parses `KEY=VALUE`.
pub(crate) fn parse_flag(flag: &str) -> Result<Override, ScenarioError> {
    let fail = |msg: &str| ScenarioError::for_flag(flag, msg);
    let Some((key_path, raw)) = flag.split_once('=') else {
        return Err(fail(
            "expected KEY=VALUE, e.g. --set producer.p1.config.acks=1",
        ));
    };
    let key_path = key_path.trim();
    if key_path.is_empty() {
        return Err(fail("the KEY before `=` is empty"));
    }
    if key_path.split('.').any(str::is_empty) {
        return Err(fail(
            "the KEY has an empty part (two dots in a row, or a leading or trailing dot)",
        ));
    }
    let raw = raw.trim();
    let mut value = raw.parse::<Value>().unwrap_or_else(|_| Value::from(raw));
    value.decor_mut().clear();
    Ok(Override {
        flag: flag.to_string(),
        key_path: key_path.to_string(),
        value,
    })
}

/// Applies one override to the document.
pub(crate) fn apply(doc: &mut DocumentMut, o: &Override) -> Result<(), ScenarioError> {
    let (steps, key) =
        target(doc, &o.key_path).map_err(|msg| ScenarioError::for_flag(&o.flag, msg))?;
    set(doc, &steps, &key, o.value.clone()).map_err(|msg| ScenarioError::for_flag(&o.flag, msg))
}

/// Resolves a KEY into the steps to its table and the key to set there.
fn target(doc: &DocumentMut, key_path: &str) -> Result<(Vec<Step>, String), String> {
    let (section, rest) = match key_path.split_once('.') {
        Some((section, rest)) => (section, Some(rest)),
        None => (key_path, None),
    };
    let key = |s: &str| Step::Key(s.to_string());
    if TOP_KEYS.contains(&section) {
        return match rest {
            None => Ok((Vec::new(), section.to_string())),
            Some(_) => Err(format!("`{section}` is a top-level value, not a section")),
        };
    }
    let Some(rest) = rest else {
        return Err(format!(
            "missing the key after `{section}`, e.g. `{section}.<key>=VALUE`"
        ));
    };
    if TABLE_SECTIONS.contains(&section) {
        return Ok(descend(
            vec![key(section)],
            rest,
            section == "cluster",
            false,
        ));
    }
    if section == "fault" {
        let (index, rest) = fault_entry(doc, rest)?;
        return Ok(descend(
            vec![key("fault"), Step::Index(index)],
            rest,
            false,
            true,
        ));
    }
    if NAMED_SECTIONS.contains(&section) {
        let (index, rest) = named_entry(doc, section, rest)?;
        return Ok(descend(
            vec![key(section), Step::Index(index)],
            rest,
            true,
            false,
        ));
    }
    let all: Vec<&str> = TOP_KEYS
        .iter()
        .chain(TABLE_SECTIONS)
        .chain(NAMED_SECTIONS)
        .copied()
        .chain(["fault"])
        .collect();
    let hint = match suggest(section, &all) {
        Some(close) => format!("did you mean `{close}`?"),
        None => format!("KEY starts with one of {}", all.join(", ")),
    };
    Err(format!("unknown section `{section}`; {hint}"))
}

/// Adds the `config.`/`when.` descent and splits off the final key.
fn descend(
    mut steps: Vec<Step>,
    rest: &str,
    has_config: bool,
    has_when: bool,
) -> (Vec<Step>, String) {
    for (sub, allowed) in [("config", has_config), ("when", has_when)] {
        if allowed && let Some(key) = rest.strip_prefix(sub).and_then(|r| r.strip_prefix('.')) {
            steps.push(Step::Key(sub.to_string()));
            return (steps, key.to_string());
        }
    }
    (steps, rest.to_string())
}

/// Finds the `[[fault]]` entry a KEY's index names.
fn fault_entry<'a>(doc: &DocumentMut, rest: &'a str) -> Result<(usize, &'a str), String> {
    let count = entries(doc, "fault").len();
    let (index, tail) = rest.split_once('.').unwrap_or((rest, ""));
    let Ok(index) = index.parse::<usize>() else {
        return Err(format!(
            "`fault.{index}`: faults are addressed by their 0-based index, e.g. fault.0.at_ms"
        ));
    };
    if index >= count {
        let known = match count {
            0 => "the scenario has no [[fault]] entries".to_string(),
            1 => "the scenario has one [[fault]], #0".to_string(),
            n => format!("the scenario has {n} [[fault]] entries, #0..#{}", n - 1),
        };
        return Err(format!("no [[fault]] #{index}; {known}"));
    }
    if tail.is_empty() {
        return Err(format!(
            "missing the key after `fault.{index}`, e.g. `fault.{index}.at_ms=VALUE`"
        ));
    }
    Ok((index, tail))
}

/// Finds the entry of `section` whose name starts `rest` (the longest, since names may hold dots).
fn named_entry<'a>(
    doc: &DocumentMut,
    section: &str,
    rest: &'a str,
) -> Result<(usize, &'a str), String> {
    let names = entries(doc, section);
    let mut best: Option<(usize, &str)> = None;
    let mut bare = false;
    for (i, name) in names.iter().enumerate() {
        let Some(name) = name else { continue };
        if rest == name {
            bare = true;
        }
        let tail = rest
            .strip_prefix(name.as_str())
            .and_then(|t| t.strip_prefix('.'));
        if let Some(tail) = tail.filter(|t| !t.is_empty())
            && best.is_none_or(|(_, t)| tail.len() < t.len())
        {
            best = Some((i, tail));
        }
    }
    if let Some(found) = best {
        return Ok(found);
    }
    if bare {
        return Err(format!(
            "missing the key after `{section}.{rest}`, e.g. `{section}.{rest}.<key>=VALUE`"
        ));
    }
    let known: Vec<String> = names.iter().flatten().map(|n| format!("\"{n}\"")).collect();
    let wanted = rest.split('.').next().unwrap_or(rest);
    let list = if known.is_empty() {
        format!("the scenario has no [[{section}]] entries")
    } else {
        format!("known: {}", known.join(", "))
    };
    Err(format!("no [[{section}]] named \"{wanted}\"; {list}"))
}

/// The `name` of each entry of an array-of-tables section (`None` where it has no string name).
fn entries(doc: &DocumentMut, section: &str) -> Vec<Option<String>> {
    let Some(array) = doc.as_item().get(section) else {
        return Vec::new();
    };
    (0..)
        .map_while(|i| array.get(i))
        .map(|entry| entry.get("name").and_then(Item::as_str).map(str::to_string))
        .collect()
}

/// Walks `steps` (creating missing tables) and sets `key` to `value`, keeping its comments.
fn set(doc: &mut DocumentMut, steps: &[Step], key: &str, value: Value) -> Result<(), String> {
    let mut item = doc.as_item_mut();
    let mut walked: Vec<String> = Vec::new();
    for step in steps {
        let shown = walked.join(".");
        item = match step {
            Step::Index(i) => {
                walked.push(i.to_string());
                item.get_mut(*i)
                    .ok_or_else(|| format!("`{shown}` has no entry #{i}"))?
            }
            Step::Key(k) => {
                walked.push(k.clone());
                let inline = item.is_inline_table();
                let table = item
                    .as_table_like_mut()
                    .ok_or_else(|| format!("`{shown}` is not a table"))?;
                if table.get(k).is_none() {
                    let fresh = if inline {
                        Item::Value(Value::InlineTable(InlineTable::new()))
                    } else {
                        Item::Table(Table::new())
                    };
                    table.insert(k, fresh);
                }
                table
                    .get_mut(k)
                    .ok_or_else(|| format!("cannot create `{k}`"))?
            }
        };
    }
    let shown = walked.join(".");
    let table = item
        .as_table_like_mut()
        .ok_or_else(|| format!("`{shown}` is not a table"))?;
    match table.get_mut(key).and_then(Item::as_value_mut) {
        Some(existing) => {
            let decor = existing.decor().clone();
            *existing = value;
            *existing.decor_mut() = decor;
        }
        None => {
            table.insert(key, Item::Value(value));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "name = \"x\" # the name\nduration_ms = 1\n[cluster]\nbrokers = 1\n\
                       [[producer]]\nname = \"p.1\"\n[[producer]]\nname = \"p\"\n\
                       [[fault]]\nat_ms = 1\n";

    fn applied(flags: &[&str]) -> Result<String, String> {
        let mut doc: DocumentMut = DOC.parse().map_err(|e| format!("{e}"))?;
        for flag in flags {
            let o = parse_flag(flag).map_err(|e| e.to_string())?;
            apply(&mut doc, &o).map_err(|e| e.to_string())?;
        }
        Ok(doc.to_string())
    }

    fn reparsed(flags: &[&str]) -> toml::Table {
        toml::from_str(&applied(flags).unwrap()).unwrap()
    }

    #[test]
    fn sets_keys_with_dots_and_creates_tables() {
        let t = reparsed(&[
            "cluster.replication.protocol=kip-101",
            "cluster.config.min.insync.replicas=2",
        ]);
        assert_eq!(
            t["cluster"]["replication.protocol"].as_str(),
            Some("kip-101")
        );
        assert_eq!(
            t["cluster"]["config"]["min.insync.replicas"].as_integer(),
            Some(2)
        );
        let t = reparsed(&[
            "network.loss=0.01",
            "nemesis.actions=[\"kill\", \"pause\"]",
            "duration_ms=5000",
        ]);
        assert_eq!(t["network"]["loss"].as_float(), Some(0.01));
        assert_eq!(t["nemesis"]["actions"].as_array().map(Vec::len), Some(2));
        assert_eq!(t["duration_ms"].as_integer(), Some(5000));
    }

    #[test]
    fn addresses_entries_by_name_and_faults_by_index() {
        let t = reparsed(&[
            "producer.p.1.records=7",
            "producer.p.config.acks=all",
            "fault.0.when.leo=3",
        ]);
        assert_eq!(t["producer"][0]["records"].as_integer(), Some(7));
        assert_eq!(t["producer"][1]["config"]["acks"].as_str(), Some("all"));
        assert_eq!(t["fault"][0]["when"]["leo"].as_integer(), Some(3));
    }

    #[test]
    fn keeps_comments_of_replaced_values() {
        let text = applied(&["name=y"]).unwrap();
        assert!(text.starts_with("name = \"y\" # the name\n"), "{text}");
    }

    #[test]
    fn rejects_bad_flags() {
        let err = |flags: &[&str]| applied(flags).unwrap_err();
        assert_eq!(
            err(&["duration_ms"]),
            "--set duration_ms: expected KEY=VALUE, e.g. --set producer.p1.config.acks=1"
        );
        assert!(err(&["=5"]).contains("the KEY before `=` is empty"));
        assert!(err(&["cluster..brokers=1"]).contains("empty part"));
        assert!(
            err(&["producer.nope.records=1"])
                .contains("no [[producer]] named \"nope\"; known: \"p.1\", \"p\"")
        );
        assert!(err(&["consumer.c.records=1"]).contains("no [[consumer]] entries"));
        assert!(
            err(&["fault.3.at_ms=1"])
                .contains("no [[fault]] #3; the scenario has one [[fault]], #0")
        );
        assert!(err(&["fault.x.at_ms=1"]).contains("0-based index"));
        assert!(err(&["clustr.brokers=1"]).contains("did you mean `cluster`?"));
        assert!(err(&["producer.p=1"]).contains("missing the key after `producer.p`"));
        assert!(err(&["seed.x=1"]).contains("top-level value"));
        assert!(err(&["name.x=1"]).contains("not a section"));
    }
}
