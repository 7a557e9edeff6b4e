//! Editing the scenario document: entries, fault tables, numbers, and the sizes shrinking
//! reports on.

use std::collections::BTreeSet;

use toml_edit::{Array, ArrayOfTables, DocumentMut, Item, Table, Value, value};

use crate::cli::FaultRecord;
use crate::faults::FaultAction;
use crate::sim::SimTime;

/// Sets `[[section]]` #`index`'s `key`; fewer partitions also trim an explicit assignment.
pub(super) fn set_number(doc: &mut DocumentMut, section: &str, index: usize, key: &str, n: i64) {
    let Some(table) = doc
        .get_mut(section)
        .and_then(Item::as_array_of_tables_mut)
        .and_then(|a| a.get_mut(index))
    else {
        return;
    };
    table[key] = value(n);
    if key == "partitions"
        && let Some(replicas) = table.get_mut("replicas").and_then(Item::as_array_mut)
    {
        while replicas.len() > n as usize {
            replicas.remove(replicas.len() - 1);
        }
    }
}

/// The `name`s of the `[[section]]` entries, in order.
pub(super) fn entries(doc: &DocumentMut, section: &str) -> Vec<String> {
    doc.get(section)
        .and_then(Item::as_array_of_tables)
        .map(|a| {
            a.iter()
                .map(|t| {
                    t.get("name")
                        .and_then(Item::as_str)
                        .unwrap_or("")
                        .to_owned()
                })
                .collect()
        })
        .unwrap_or_default()
}

pub(super) fn is_number(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// The faults that name no node `gone` matches (partition groups lose such nodes instead).
pub(super) fn without_node(faults: &[Table], gone: impl Fn(&str) -> bool) -> Vec<Table> {
    let names = |item: Option<&Item>| item.and_then(Item::as_str).is_some_and(&gone);
    faults
        .iter()
        .filter(|f| !names(f.get("node")) && !names(f.get("from")) && !names(f.get("to")))
        .filter_map(|f| {
            let mut f = f.clone();
            if let Some(groups) = f.get_mut("groups").and_then(Item::as_array_mut) {
                for group in groups.iter_mut() {
                    if let Some(members) = group.as_array_mut() {
                        members.retain(|m| !m.as_str().is_some_and(&gone));
                    }
                }
                groups.retain(|g| g.as_array().is_some_and(|m| !m.is_empty()));
                if groups.len() < 2 {
                    return None;
                }
            }
            Some(f)
        })
        .collect()
}

/// `doc` with exactly `faults` as its `[[fault]]` entries, placed before `[expect]`.
pub(super) fn with_faults(doc: &DocumentMut, faults: &[Table]) -> DocumentMut {
    let mut doc = doc.clone();
    doc.remove("fault");
    let expect = doc.remove("expect");
    if !faults.is_empty() {
        let mut array = ArrayOfTables::new();
        for fault in faults {
            array.push(fault.clone());
        }
        doc.insert("fault", Item::ArrayOfTables(array));
    }
    if let Some(expect) = expect {
        doc.insert("expect", expect);
    }
    doc
}

/// One fault as a `[[fault]]` table, with the fields the run's `faults` list gives it.
pub(super) fn fault_table(at: SimTime, fault: &FaultAction, names: &[String]) -> Table {
    let record = FaultRecord::new(at, fault, names);
    let mut t = Table::new();
    t["at_ms"] = value(record.at_ms as i64);
    t["action"] = value(record.action);
    let mut text = |key: &str, v: Option<String>| {
        if let Some(v) = v {
            t[key] = value(v);
        }
    };
    text("node", record.node);
    text("from", record.from);
    text("to", record.to);
    if let Some(groups) = record.groups {
        let groups = groups
            .iter()
            .map(|g| Value::Array(Array::from_iter(g.iter().map(String::as_str))));
        t["groups"] = value(Array::from_iter(groups));
    }
    for (key, v) in [("extra_ms", record.extra_ms), ("for_ms", record.for_ms)] {
        if let Some(v) = v {
            t[key] = value(v as i64);
        }
    }
    if let Some(torn) = record.torn {
        t["torn"] = value(torn);
    }
    t
}

/// The sizes shrinking reports on.
#[derive(PartialEq, Eq)]
pub(super) struct Snapshot {
    faults: usize,
    duration_ms: Option<i64>,
    brokers: Option<i64>,
    entries: Vec<(String, BTreeSet<String>)>,
    numbers: Vec<(String, i64)>,
}

impl Snapshot {
    pub(super) fn of(doc: &DocumentMut, faults: usize) -> Snapshot {
        let mut numbers = Vec::new();
        for (section, key) in [("topic", "partitions"), ("producer", "records")] {
            for (index, name) in entries(doc, section).into_iter().enumerate() {
                if let Some(n) = doc[section][index].get(key).and_then(Item::as_integer) {
                    numbers.push((format!("{section} {name} {key}"), n));
                }
            }
        }
        Snapshot {
            faults,
            duration_ms: doc.get("duration_ms").and_then(Item::as_integer),
            brokers: doc
                .get("cluster")
                .and_then(|c| c.get("brokers"))
                .and_then(Item::as_integer),
            entries: ["producer", "consumer", "pipeline"]
                .iter()
                .map(|s| (s.to_string(), entries(doc, s).into_iter().collect()))
                .collect(),
            numbers,
        }
    }

    /// What changed from `self` to `after`, one phrase each.
    pub(super) fn changes(&self, after: &Snapshot) -> Vec<String> {
        let mut out = Vec::new();
        if after.faults < self.faults {
            out.push(format!(
                "{} of {} faults",
                self.faults - after.faults,
                self.faults
            ));
        }
        for ((section, before), (_, kept)) in self.entries.iter().zip(&after.entries) {
            for gone in before.difference(kept) {
                out.push(format!("{section} {gone}"));
            }
        }
        if let (Some(b), Some(a)) = (self.brokers, after.brokers)
            && a < b
        {
            out.push(format!("brokers {b} -> {a}"));
        }
        for (what, before) in &self.numbers {
            if let Some((_, now)) = after.numbers.iter().find(|(w, _)| w == what)
                && now < before
            {
                out.push(format!("{what} {before} -> {now}"));
            }
        }
        if let (Some(b), Some(a)) = (self.duration_ms, after.duration_ms)
            && a < b
        {
            out.push(format!("duration_ms {b} -> {a}"));
        }
        out
    }
}
