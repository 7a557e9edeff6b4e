//! Names: Kafka's rules for topic names and kafkasim's rules for node names. Topic names follow
//! Kafka's `Topic.validate`: 1–249 of `[a-zA-Z0-9._-]`, not `.` or `..`, not starting with `__`
//! (internal topics), and no two topics that differ only by `.` versus `_` (their metric names
//! would collide, so Kafka refuses the second). Client entry names are unique across producers,
//! consumers and pipelines, and every node name (`zk`, `broker-N`, `p1`, `c-0`, …) is unique.

use super::error::{Issue, key_path};
use super::messages::entry_label;
use super::schema::{Scenario, ZK_NODE, broker_id};

/// Kafka's longest topic name.
pub const MAX_TOPIC_NAME_CHARS: usize = 249;

/// Why `name` is not a legal Kafka topic name, if it is not.
pub fn topic_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("a topic name must not be empty".to_string());
    }
    if name == "." || name == ".." {
        return Some(format!("\"{name}\" is not a legal topic name"));
    }
    if name.len() > MAX_TOPIC_NAME_CHARS {
        return Some(format!(
            "a topic name has at most {MAX_TOPIC_NAME_CHARS} characters (found {})",
            name.len()
        ));
    }
    if let Some(bad) = name.chars().find(|c| !legal_char(*c)) {
        return Some(format!(
            "a topic name may only contain a-z, A-Z, 0-9, '.', '_' and '-' (found {bad:?})"
        ));
    }
    if name.starts_with("__") {
        return Some(format!(
            "\"{name}\" starts with \"__\", which Kafka reserves for internal topics"
        ));
    }
    None
}

/// Why `name` cannot name a client entry, if it cannot.
pub fn client_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("a client name must not be empty".to_string());
    }
    if let Some(bad) = name.chars().find(|c| !legal_char(*c)) {
        return Some(format!(
            "a client name may only contain a-z, A-Z, 0-9, '.', '_' and '-' (found {bad:?})"
        ));
    }
    if name == ZK_NODE || broker_id(name).is_some() {
        return Some(format!(
            "\"{name}\" is reserved for the cluster's own nodes"
        ));
    }
    None
}

fn legal_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

/// Checks every topic and client name, and that names are unique.
pub(crate) fn check(s: &Scenario) -> Result<(), Issue> {
    topics(s)?;
    clients(s)
}

fn topics(s: &Scenario) -> Result<(), Issue> {
    for (i, topic) in s.topics.iter().enumerate() {
        let label = entry_label("topic", i, Some(&topic.name));
        if let Some(problem) = topic_name_problem(&topic.name) {
            return Err(Issue::at(
                key_path!["topic", i, "name"],
                format!("{label}: {problem}"),
            ));
        }
        let collides = |other: &str| other.replace('.', "_") == topic.name.replace('.', "_");
        if let Some(earlier) = s.topics[..i].iter().find(|t| collides(&t.name)) {
            let msg = if earlier.name == topic.name {
                format!("{label}: duplicate topic name (already used by an earlier [[topic]])")
            } else {
                format!(
                    "{label}: collides with topic \"{}\"; \
                     Kafka treats '.' and '_' alike in topic names",
                    earlier.name
                )
            };
            return Err(Issue::at(key_path!["topic", i, "name"], msg));
        }
    }
    Ok(())
}

/// Client entries in file order per section: (section, index, entry name, node names).
fn client_entries(s: &Scenario) -> Vec<(&'static str, usize, &str, Vec<String>)> {
    let mut entries = Vec::new();
    for (i, p) in s.producers.iter().enumerate() {
        entries.push(("producer", i, p.name.as_str(), vec![p.name.clone()]));
    }
    for (i, c) in s.consumers.iter().enumerate() {
        entries.push(("consumer", i, c.name.as_str(), c.instance_names()));
    }
    for (i, p) in s.pipelines.iter().enumerate() {
        entries.push(("pipeline", i, p.name.as_str(), p.instance_names()));
    }
    entries
}

fn clients(s: &Scenario) -> Result<(), Issue> {
    let entries = client_entries(s);
    let mut nodes: Vec<(String, String)> = Vec::new();
    for (k, (section, i, name, instance_nodes)) in entries.iter().enumerate() {
        let label = entry_label(section, *i, Some(name));
        let at = key_path![*section, *i, "name"];
        if let Some(problem) = client_name_problem(name) {
            return Err(Issue::at(at, format!("{label}: {problem}")));
        }
        if let Some((other, j, _, _)) = entries[..k].iter().find(|e| e.2 == *name) {
            let msg = format!(
                "{label}: the name is already used by {}",
                entry_label(other, *j, Some(name))
            );
            return Err(Issue::at(at, msg));
        }
        for node in instance_nodes {
            if let Some((_, owner)) = nodes.iter().find(|(n, _)| n == node) {
                let msg = format!("{label}: its node \"{node}\" is also a node of {owner}");
                return Err(Issue::at(at, msg));
            }
            nodes.push((node.clone(), label.clone()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_topic_names() {
        assert_eq!(topic_name_problem("orders"), None);
        assert_eq!(topic_name_problem("orders.v2_x-y"), None);
        assert!(topic_name_problem("").is_some());
        assert!(topic_name_problem(".").is_some());
        assert!(topic_name_problem("..").is_some());
        assert!(topic_name_problem("__consumer_offsets").is_some());
        assert!(topic_name_problem("a b").is_some());
        assert!(topic_name_problem(&"x".repeat(250)).is_some());
        assert_eq!(topic_name_problem(&"x".repeat(249)), None);
    }

    #[test]
    fn client_names() {
        assert_eq!(client_name_problem("p1"), None);
        assert!(client_name_problem("zk").is_some());
        assert!(client_name_problem("broker-1").is_some());
        assert!(client_name_problem("broker-*").is_some());
        assert!(client_name_problem("").is_some());
    }
}
