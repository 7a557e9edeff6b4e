//! The transaction log: one JSON line per committed transaction in the file `zk/txnlog`,
//! appended as each write is applied and fsynced (group commit) before the write is answered,
//! as ZooKeeper's `FileTxnLog` is. Replaying the log from the start rebuilds the tree and the
//! sessions.
//!
//! Fault model: a kill keeps every written line (the page cache survives); a power-off cuts the
//! file back to its durable length, possibly in the middle of a line. A last line without its
//! newline is a torn write that was never acknowledged (a write is answered only after a sync
//! covering its whole line), so replay ignores it and the server truncates it away. A damaged
//! line *before* the last one cannot happen on the virtual disk and is reported as corruption.
//!
//! Left out: snapshots and log rolling (the log only grows; a run is short), checksums (the disk
//! has no bit rot) and ZooKeeper's binary jute format.

use serde::{Deserialize, Serialize};

/// The file the log lives in, on the service's own disk.
pub const LOG_FILE: &str = "zk/txnlog";

/// One state change, as ZooKeeper's `TxnHeader` type plus body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Txn {
    /// A session was created with this (negotiated) timeout.
    CreateSession {
        /// The new session id.
        session: u64,
        /// Its timeout.
        timeout_ms: u64,
    },
    /// A session ended (closed or expired); its ephemerals are deleted with it.
    CloseSession {
        /// The session id.
        session: u64,
    },
    /// A znode was created.
    Create {
        /// Its path.
        path: String,
        /// Its data.
        data: String,
        /// The owning session of an ephemeral.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ephemeral_owner: Option<u64>,
    },
    /// A znode was deleted.
    Delete {
        /// Its path.
        path: String,
    },
    /// A znode's data was replaced (its version bumped).
    SetData {
        /// Its path.
        path: String,
        /// The new data.
        data: String,
    },
}

/// A transaction with its zxid, one line of the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnRecord {
    /// The transaction id, increasing by one per transaction.
    pub zxid: u64,
    /// The change.
    #[serde(flatten)]
    pub txn: Txn,
}

impl TxnRecord {
    /// The record as one log line, newline included.
    pub fn encode(&self) -> Vec<u8> {
        let mut line = serde_json::to_vec(self).expect("a txn record serializes");
        line.push(b'\n');
        line
    }
}

/// What reading the log found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogContents {
    /// The complete records, in log order.
    pub records: Vec<TxnRecord>,
    /// Bytes up to the end of the last complete line: where the next append must start.
    pub valid_len: usize,
    /// Bytes of a torn last line past `valid_len` (0 if none).
    pub torn_len: usize,
}

/// Reads a log's bytes: every newline-terminated line must parse; a trailing fragment is torn.
pub fn read_log(bytes: &[u8]) -> Result<LogContents, String> {
    let mut contents = LogContents::default();
    let mut start = 0;
    while let Some(end) = bytes[start..].iter().position(|&b| b == b'\n') {
        let line = &bytes[start..start + end];
        let record: TxnRecord = serde_json::from_slice(line).map_err(|e| {
            let n = contents.records.len() + 1;
            format!("{LOG_FILE}: line {n} is corrupt: {e}")
        })?;
        if let Some(last) = contents.records.last()
            && record.zxid != last.zxid + 1
        {
            return Err(format!(
                "{LOG_FILE}: zxid {} follows {}",
                record.zxid, last.zxid
            ));
        }
        contents.records.push(record);
        start += end + 1;
    }
    contents.valid_len = start;
    contents.torn_len = bytes.len() - start;
    Ok(contents)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records() -> Vec<TxnRecord> {
        let txns = [
            Txn::CreateSession {
                session: 1,
                timeout_ms: 18_000,
            },
            Txn::Create {
                path: "/controller".into(),
                data: "{\"brokerid\":0}\n".into(),
                ephemeral_owner: Some(1),
            },
            Txn::SetData {
                path: "/controller".into(),
                data: "{}".into(),
            },
            Txn::Delete {
                path: "/controller".into(),
            },
            Txn::CloseSession { session: 1 },
        ];
        (1..)
            .zip(txns)
            .map(|(zxid, txn)| TxnRecord { zxid, txn })
            .collect()
    }

    #[test]
    fn a_record_is_one_readable_json_line() {
        let line = records()[1].encode();
        let text = String::from_utf8(line).unwrap();
        assert_eq!(
            text,
            "{\"zxid\":2,\"op\":\"create\",\"path\":\"/controller\",\
             \"data\":\"{\\\"brokerid\\\":0}\\n\",\"ephemeral_owner\":1}\n"
        );
    }

    #[test]
    fn the_log_reads_back_and_a_torn_last_line_is_ignored() {
        let bytes: Vec<u8> = records().iter().flat_map(TxnRecord::encode).collect();
        let whole = read_log(&bytes).unwrap();
        assert_eq!(whole.records, records());
        assert_eq!((whole.valid_len, whole.torn_len), (bytes.len(), 0));
        for cut in 1..bytes.len() {
            let part = read_log(&bytes[..cut]).unwrap();
            let ends = bytes[..cut].iter().filter(|&&b| b == b'\n').count();
            assert_eq!(part.records, records()[..ends], "cut at {cut}");
            assert_eq!(part.valid_len + part.torn_len, cut);
        }
    }

    #[test]
    fn damage_before_the_last_line_is_corruption() {
        let mut bytes = records()[0].encode();
        bytes.extend_from_slice(b"{\"zxid\":2,\"op\n");
        let error = read_log(&bytes).unwrap_err();
        assert!(error.contains("line 2 is corrupt"), "{error}");
        let mut gap = records()[0].encode();
        gap.extend(records()[2].encode());
        assert_eq!(read_log(&gap).unwrap_err(), "zk/txnlog: zxid 3 follows 1");
    }
}
