//! Kafka's checkpoint files: small text files replaced whole (write a temporary file, fsync,
//! rename), here as one [`DiskOp::WriteAtomic`](crate::sim::DiskOp::WriteAtomic). Two shapes:
//!
//! - per broker, many partitions (`replication-offset-checkpoint` for high watermarks,
//!   `recovery-point-offset-checkpoint`): `0\n<count>\n<topic> <partition> <offset>\n…`;
//! - per partition, `leader-epoch-checkpoint`: `0\n<count>\n<epoch> <startOffset>\n…`
//!   (encoded by [`EpochCache`](super::EpochCache)).
//!
//! Fault model: an atomic replacement is never torn, but a checkpoint can be *old* (the broker
//! crashed before the next periodic write), which is exactly what the `hw-truncation` protocol
//! trips over. Decoding still rejects anything malformed, as Kafka's `CheckpointFile` reader
//! does (wrong version, count mismatch, bad line). Left out: Kafka's
//! `log-start-offset-checkpoint` (the log start offset here is always the first segment's base).

/// Kafka's checkpoint format version.
pub const CHECKPOINT_VERSION: u32 = 0;
/// The per-broker high-watermark checkpoint file.
pub const REPLICATION_OFFSET_CHECKPOINT: &str = "replication-offset-checkpoint";
/// The per-broker recovery-point checkpoint file.
pub const RECOVERY_POINT_OFFSET_CHECKPOINT: &str = "recovery-point-offset-checkpoint";
/// The per-partition leader-epoch checkpoint file, inside the partition's directory.
pub const LEADER_EPOCH_CHECKPOINT: &str = "leader-epoch-checkpoint";

/// One line of a per-broker offset checkpoint: topic, partition, offset.
pub type PartitionOffset = (String, u32, u64);

/// The text of a per-broker offset checkpoint, in Kafka's format.
pub fn encode_offset_checkpoint(entries: &[PartitionOffset]) -> Vec<u8> {
    let lines: Vec<String> = entries
        .iter()
        .map(|(topic, partition, offset)| {
            assert!(
                !topic.is_empty() && !topic.contains(char::is_whitespace),
                "topic {topic:?} cannot be written to a checkpoint"
            );
            format!("{topic} {partition} {offset}")
        })
        .collect();
    encode_lines(&lines)
}

/// Parses a per-broker offset checkpoint; any malformed content is an error naming the line.
pub fn decode_offset_checkpoint(bytes: &[u8]) -> Result<Vec<PartitionOffset>, String> {
    decode_lines(bytes, |line| {
        let [topic, partition, offset] = fields(line)?;
        Ok((
            topic.to_owned(),
            parse(partition, "partition")?,
            parse(offset, "offset")?,
        ))
    })
}

/// Writes the version line, the count line and one line per entry.
pub(crate) fn encode_lines(lines: &[String]) -> Vec<u8> {
    let mut text = format!("{CHECKPOINT_VERSION}\n{}\n", lines.len());
    for line in lines {
        text.push_str(line);
        text.push('\n');
    }
    text.into_bytes()
}

/// Reads the version and count lines, then exactly `count` entries with `entry`.
pub(crate) fn decode_lines<T>(
    bytes: &[u8],
    entry: impl Fn(&str) -> Result<T, String>,
) -> Result<Vec<T>, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "checkpoint is not UTF-8".to_owned())?;
    let body = text
        .strip_suffix('\n')
        .ok_or("checkpoint does not end with a newline")?;
    let mut lines = body.split('\n');
    let version: u32 = parse(lines.next().unwrap_or(""), "version")?;
    if version != CHECKPOINT_VERSION {
        return Err(format!("unknown checkpoint version {version}"));
    }
    let count: usize = parse(lines.next().ok_or("missing count line")?, "count")?;
    let entries = lines
        .enumerate()
        .map(|(i, line)| entry(line).map_err(|e| format!("line {}: {e}", i + 3)))
        .collect::<Result<Vec<T>, String>>()?;
    if entries.len() != count {
        return Err(format!("expected {count} entries, found {}", entries.len()));
    }
    Ok(entries)
}

/// Splits a line into exactly `N` single-space-separated fields.
pub(crate) fn fields<const N: usize>(line: &str) -> Result<[&str; N], String> {
    let parts: Vec<&str> = line.split(' ').collect();
    parts
        .try_into()
        .map_err(|_| format!("expected {N} fields in {line:?}"))
}

/// Parses a decimal number, naming the field when it is not one.
pub(crate) fn parse<T: std::str::FromStr>(text: &str, what: &str) -> Result<T, String> {
    let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    let value = digits.then(|| text.parse().ok()).flatten();
    value.ok_or_else(|| format!("bad {what} {text:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_checkpoints_use_kafkas_text_format_and_round_trip() {
        let entries = vec![
            ("orders".to_owned(), 0, 41),
            ("__consumer_offsets".to_owned(), 12, 0),
        ];
        let bytes = encode_offset_checkpoint(&entries);
        assert_eq!(bytes, b"0\n2\norders 0 41\n__consumer_offsets 12 0\n");
        assert_eq!(decode_offset_checkpoint(&bytes), Ok(entries));
        assert_eq!(decode_offset_checkpoint(b"0\n0\n"), Ok(vec![]));
    }

    #[test]
    fn malformed_offset_checkpoints_are_rejected() {
        let bad: [&[u8]; 11] = [
            b"",
            b"0\n",
            b"1\n0\n",
            b"0\n1\n",
            b"0\n2\nt 0 1\n",
            b"0\n1\nt 0 1\nt 1 1\n",
            b"0\n1\nt 0\n",
            b"0\n1\nt 0 -1\n",
            b"0\n1\nt  0 1\n",
            b"0\n1\nt 0 1",
            b"0\n1\nt 0 \xff\n",
        ];
        for bytes in bad {
            assert!(
                decode_offset_checkpoint(bytes).is_err(),
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
        }
    }
}
