//! Finds where a problem is in the text. Validation reports problems against key paths
//! (`[topic, 1, replication_factor]`) and serde against byte spans; this module translates
//! between the two with a `toml_edit` parse of the exact text that was checked, which keeps the
//! span of every key and value. A path that does not exist in the text (a defaulted key) falls
//! back to the nearest enclosing table that does, and failing that, to the file alone.

use std::ops::Range;

use toml_edit::{Document, Item, Value};

use super::error::{Issue, Problem, Seg};
use super::messages::{Context, Raw, classify, entry_label, rewrite};

/// Locates a validation issue in `text`.
pub(crate) fn issue_problem(text: &str, issue: Issue) -> Problem {
    let span = Document::parse(text)
        .ok()
        .and_then(|doc| span_at(doc.as_item(), &issue.path));
    Problem {
        message: issue.message,
        span,
    }
}

/// Turns a syntax or data error from `toml` into a located, rewritten problem.
pub(crate) fn data_problem(text: &str, error: &toml::de::Error) -> Problem {
    let raw_message = error.message().trim();
    let doc = match Document::parse(text) {
        Ok(doc) => doc,
        Err(syntax) => return syntax_problem(&syntax),
    };
    let root = doc.as_item();
    let span = error.span();
    let raw = classify(raw_message);
    let path = match (&raw, &span) {
        // A missing key is reported at its table's header (or at 0..0 for the top level).
        (Raw::MissingField { .. }, Some(s)) if s.is_empty() && s.start == 0 => Vec::new(),
        (_, Some(s)) => path_at(root, s.start),
        (_, None) => Vec::new(),
    };
    let (table_path, key) = match raw {
        Raw::MissingField { .. } => (path.as_slice(), None),
        _ => split_key(&path),
    };
    let place = place(root, table_path);
    let message = rewrite(&raw, Context { key, place: &place });
    let span = span.filter(|s| !(s.is_empty() && s.start == 0 && path.is_empty()));
    Problem { message, span }
}

/// A TOML syntax error, with its position.
pub(crate) fn syntax_problem(error: &toml_edit::TomlError) -> Problem {
    Problem {
        message: format!("TOML syntax error: {}", error.message().trim()),
        span: error.span(),
    }
}

/// Splits a value's path into the path of its table and its key (skipping array indices).
fn split_key(path: &[Seg]) -> (&[Seg], Option<&str>) {
    let mut end = path.len();
    while end > 0 {
        end -= 1;
        if let Seg::Key(key) = &path[end] {
            return (&path[..end], Some(key));
        }
    }
    (&[], None)
}

/// The span of the value at `path`, or of the nearest enclosing item that has one.
pub(crate) fn span_at(root: &Item, path: &[Seg]) -> Option<Range<usize>> {
    let mut found = Vec::new();
    let mut item = root;
    for seg in path {
        let next = match seg {
            Seg::Key(key) => item.get(key.as_str()),
            Seg::Index(i) => item.get(*i),
        };
        match next {
            Some(next) => {
                item = next;
                found.push(item.span());
            }
            None => break,
        }
    }
    found.into_iter().rev().flatten().next()
}

/// The path of the deepest key or value whose text contains byte `offset`.
pub(crate) fn path_at(root: &Item, offset: usize) -> Vec<Seg> {
    let mut path = Vec::new();
    descend(root, offset, &mut path);
    path
}

fn descend(item: &Item, offset: usize, path: &mut Vec<Seg>) -> bool {
    for (seg, key_span, child) in children(item) {
        path.push(seg);
        if descend(child, offset, path) {
            return true;
        }
        let hit = |span: Option<Range<usize>>| span.is_some_and(|s| contains(&s, offset));
        if hit(key_span) || hit(child.span()) {
            return true;
        }
        path.pop();
    }
    false
}

fn contains(span: &Range<usize>, offset: usize) -> bool {
    span.contains(&offset) || (span.is_empty() && span.start == offset)
}

/// The children of a table, inline table, array or array of tables, with their key spans.
fn children(item: &Item) -> Vec<(Seg, Option<Range<usize>>, &Item)> {
    let mut out = Vec::new();
    match item {
        Item::Table(table) => {
            for (key, _) in table.iter() {
                if let Some((k, child)) = table.get_key_value(key) {
                    out.push((Seg::Key(key.to_string()), k.span(), child));
                }
            }
        }
        Item::Value(Value::InlineTable(table)) => {
            for (key, _) in table.iter() {
                if let Some((k, child)) = table.get_key_value(key) {
                    out.push((Seg::Key(key.to_string()), k.span(), child));
                }
            }
        }
        Item::Value(Value::Array(array)) => {
            out.extend((0..array.len()).filter_map(|i| Some((Seg::Index(i), None, item.get(i)?))));
        }
        Item::ArrayOfTables(tables) => {
            out.extend((0..tables.len()).filter_map(|i| Some((Seg::Index(i), None, item.get(i)?))));
        }
        _ => {}
    }
    out
}

/// Where the table at `path` is, as a phrase: "at the top level", "in [cluster.config]", ….
pub(crate) fn place(root: &Item, path: &[Seg]) -> String {
    match section_name(root, path) {
        None => "at the top level".to_string(),
        Some(name) => format!("in {name}"),
    }
}

/// The name of the table at `path`, as messages write it; `None` for the top level.
fn section_name(root: &Item, path: &[Seg]) -> Option<String> {
    let key = |i: usize| match path.get(i) {
        Some(Seg::Key(k)) => Some(k.as_str()),
        _ => None,
    };
    let entry = |section: &str, index: usize| {
        let name = root
            .get(section)
            .and_then(|s| s.get(index))
            .and_then(|e| e.get("name"));
        entry_label(section, index, name.and_then(Item::as_str))
    };
    let section = key(0)?;
    let text = match (path.get(1), path.get(2), path.len()) {
        (None, _, _) => format!("[{section}]"),
        (Some(Seg::Index(i)), None, _) => entry(section, *i),
        (Some(Seg::Index(i)), Some(Seg::Key(sub)), 3) if sub == "when" => {
            format!("`when` of {}", entry(section, *i))
        }
        (Some(Seg::Index(i)), Some(Seg::Key(sub)), 3) => {
            format!("[{section}.{sub}] of {}", entry(section, *i))
        }
        (Some(Seg::Key(sub)), None, 2) => format!("[{section}.{sub}]"),
        _ => dotted(path),
    };
    Some(text)
}

fn dotted(path: &[Seg]) -> String {
    let parts: Vec<String> = path
        .iter()
        .map(|seg| match seg {
            Seg::Key(k) => k.clone(),
            Seg::Index(i) => i.to_string(),
        })
        .collect();
    format!("`{}`", parts.join("."))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::error::key_path;

    const TEXT: &str = "name = 'x'\n[cluster]\nbrokers = 1\n\
                        [cluster.config]\n\"min.insync.replicas\" = 2\n\
                        [[topic]]\nname = 'orders'\nreplicas = [[0], [1]]\n\
                        [[fault]]\nwhen = { leo = 3 }\n";

    #[test]
    fn spans_of_paths_fall_back_to_tables() {
        let doc = Document::parse(TEXT).unwrap();
        let root = doc.as_item();
        let at = |p: Vec<Seg>| span_at(root, &p).map(|s| &TEXT[s]);
        assert_eq!(
            at(key_path!["cluster", "config", "min.insync.replicas"]),
            Some("2")
        );
        assert_eq!(
            at(key_path!["cluster", "config", "num.partitions"]),
            Some("[cluster.config]")
        );
        assert_eq!(at(key_path!["topic", 0, "replicas", 1, 0]), Some("1"));
        assert_eq!(at(key_path!["topic", 0, "partitions"]), Some("[[topic]]"));
        assert_eq!(at(key_path!["fault", 0, "when", "leo"]), Some("3"));
        assert_eq!(at(key_path!["nemesis", "actions"]), None);
    }

    #[test]
    fn paths_of_offsets() {
        let doc = Document::parse(TEXT).unwrap();
        let root = doc.as_item();
        let offset = |needle: &str| TEXT.find(needle).unwrap();
        assert_eq!(
            path_at(root, offset("\"min.insync")),
            key_path!["cluster", "config", "min.insync.replicas"]
        );
        assert_eq!(
            path_at(root, offset("[1]") + 1),
            key_path!["topic", 0, "replicas", 1, 0]
        );
        assert_eq!(
            path_at(root, offset("leo")),
            key_path!["fault", 0, "when", "leo"]
        );
        assert_eq!(path_at(root, offset("[[fault]]")), key_path!["fault", 0]);
    }

    #[test]
    fn places() {
        let doc = Document::parse(TEXT).unwrap();
        let at = |path: Vec<Seg>| place(doc.as_item(), &path);
        assert_eq!(at(key_path![]), "at the top level");
        assert_eq!(at(key_path!["cluster", "config"]), "in [cluster.config]");
        assert_eq!(at(key_path!["topic", 0]), "in [[topic]] \"orders\"");
        let config = "in [topic.config] of [[topic]] \"orders\"";
        assert_eq!(at(key_path!["topic", 0, "config"]), config);
        assert_eq!(
            at(key_path!["fault", 0, "when"]),
            "in `when` of [[fault]] #0"
        );
    }
}
