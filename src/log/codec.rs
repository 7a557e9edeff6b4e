//! The on-disk encoding of a [`RecordBatch`] in a segment's `.log` file: a compact binary format
//! in the spirit of Kafka's record batch v2 (fixed length and CRC up front, varints after), sized
//! so that a record costs a few bytes on the virtual disk however large its simulated size is.
//!
//! Layout of one batch (integers little-endian; `varint` is LEB128, `zigzag` maps signed values
//! to unsigned first):
//!
//! ```text
//! length u32        bytes after this field (CRC + body)
//! crc u32           CRC-32 of the body
//! body:
//!   base_offset u64, partition_leader_epoch varint, producer_id zigzag,
//!   producer_epoch zigzag, base_sequence zigzag, attributes u8 (bit 0 transactional,
//!   bits 1-2 control: 0 none, 1 COMMIT, 2 ABORT), max_timestamp_ms varint, record_count varint,
//!   records: producer varint, n zigzag delta from the previous record's n + 1,
//!            key varint (0 none, i + 1 for key-i), size_bytes varint
//! ```
//!
//! Fault model: a power-off can tear a file anywhere, so decoding reports a short input as
//! [`DecodeError::Torn`], and a body whose CRC does not match (or whose fields are impossible) as
//! corrupt; recovery cuts the file at the first such batch. The CRC is CRC-32 (IEEE, the
//! `crc32fast` crate) rather than Kafka's CRC-32C and also covers the base offset and leader
//! epoch (Kafka leaves those outside its CRC so it can restamp them): this is not Kafka's wire
//! format, only its shape. Left out: compression, per-record timestamps and headers.

use std::fmt;

use crate::record::{ControlType, Record, RecordBatch, RecordId};

/// Bytes before a batch's body: the 4-byte length and the 4-byte CRC.
pub const BATCH_PREFIX_BYTES: usize = 8;
/// The largest length field a decoder accepts; a larger one is garbage, not a torn tail.
pub const BATCH_LENGTH_BYTES_MAX: usize = 1 << 28;
/// The smallest body: base offset, five one-byte varints, attributes and the record count.
const BODY_BYTES_MIN: usize = 8 + 5 + 1 + 1;
/// The smallest encoded record (four one-byte varints), used to bound a garbled record count.
const RECORD_BYTES_MIN: usize = 4;

/// Why bytes do not decode to a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The input ends inside the batch: a torn tail.
    Torn {
        /// Bytes the batch needs.
        needed_bytes: usize,
        /// Bytes the input has.
        available_bytes: usize,
    },
    /// The stored CRC does not match the body.
    CrcMismatch {
        /// The CRC in the file.
        stored: u32,
        /// The CRC of the body as read.
        computed: u32,
    },
    /// The length or a field is impossible (with a matching CRC: an encoder bug).
    Garbled(&'static str),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Torn {
                needed_bytes,
                available_bytes,
            } => write!(
                f,
                "torn batch: needs {needed_bytes} bytes, {available_bytes} present"
            ),
            DecodeError::CrcMismatch { stored, computed } => {
                write!(
                    f,
                    "crc mismatch: stored {stored:#010x}, computed {computed:#010x}"
                )
            }
            DecodeError::Garbled(what) => write!(f, "garbled batch: {what}"),
        }
    }
}

/// Appends the encoding of `batch` to `out` and returns how many bytes it took.
pub fn encode_batch(batch: &RecordBatch, out: &mut Vec<u8>) -> usize {
    assert!(
        batch.control.is_some() == batch.records.is_empty(),
        "a control batch has no records and a data batch has at least one"
    );
    let start = out.len();
    out.extend_from_slice(&[0; BATCH_PREFIX_BYTES]);
    let body = out.len();
    out.extend_from_slice(&batch.base_offset.to_le_bytes());
    put_varint(out, u64::from(batch.partition_leader_epoch));
    put_varint(out, zigzag(batch.producer_id));
    put_varint(out, zigzag(i64::from(batch.producer_epoch)));
    put_varint(out, zigzag(i64::from(batch.base_sequence)));
    out.push(attributes(batch));
    put_varint(out, batch.max_timestamp_ms);
    put_varint(out, batch.records.len() as u64);
    let mut next_n = 0i64;
    for record in batch.records.iter() {
        put_varint(out, u64::from(record.id.producer));
        put_varint(out, zigzag(i64::from(record.id.n) - next_n));
        next_n = i64::from(record.id.n) + 1;
        put_varint(out, record.key.map_or(0, |k| u64::from(k) + 1));
        put_varint(out, u64::from(record.size_bytes));
    }
    let length = u32::try_from(out.len() - body + 4).expect("batch encoding over 4 GiB");
    assert!(
        length as usize <= BATCH_LENGTH_BYTES_MAX,
        "batch too large to encode"
    );
    let crc = crc32fast::hash(&out[body..]);
    out[start..start + 4].copy_from_slice(&length.to_le_bytes());
    out[start + 4..body].copy_from_slice(&crc.to_le_bytes());
    out.len() - start
}

/// The encoding of one batch, as a fresh buffer.
pub fn encode_batch_to_vec(batch: &RecordBatch) -> Vec<u8> {
    // Room for the header and a typical record's four varints, so the encoding rarely grows.
    let mut out = Vec::with_capacity(64 + 12 * batch.records.len());
    encode_batch(batch, &mut out);
    out
}

/// Decodes the batch at the start of `bytes`, returning it and the bytes it took.
pub fn decode_batch(bytes: &[u8]) -> Result<(RecordBatch, usize), DecodeError> {
    let torn = |needed_bytes| DecodeError::Torn {
        needed_bytes,
        available_bytes: bytes.len(),
    };
    if bytes.len() < BATCH_PREFIX_BYTES {
        return Err(torn(BATCH_PREFIX_BYTES));
    }
    let length = u32::from_le_bytes(bytes[0..4].try_into().expect("4 bytes")) as usize;
    if !(4 + BODY_BYTES_MIN..=BATCH_LENGTH_BYTES_MAX).contains(&length) {
        return Err(DecodeError::Garbled("length out of range"));
    }
    let total = 4 + length;
    if bytes.len() < total {
        return Err(torn(total));
    }
    let stored = u32::from_le_bytes(bytes[4..8].try_into().expect("4 bytes"));
    let body = &bytes[BATCH_PREFIX_BYTES..total];
    let computed = crc32fast::hash(body);
    if stored != computed {
        return Err(DecodeError::CrcMismatch { stored, computed });
    }
    let batch = decode_body(body)?;
    Ok((batch, total))
}

/// One batch decoded from a file, with where it sits there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredBatch {
    /// The batch.
    pub batch: RecordBatch,
    /// Its first byte in the file.
    pub file_position: usize,
    /// Its encoded length.
    pub encoded_len: usize,
}

/// A whole file decoded: its valid prefix and, if decoding stopped early, where and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodedFile {
    /// The batches before the first undecodable one.
    pub batches: Vec<StoredBatch>,
    /// The file position and cause of the first undecodable batch.
    pub error: Option<(usize, DecodeError)>,
}

/// Decodes consecutive batches up to the end of `bytes` or the first that does not decode.
pub fn decode_all(bytes: &[u8]) -> DecodedFile {
    let mut batches = Vec::new();
    let mut position = 0;
    while position < bytes.len() {
        match decode_batch(&bytes[position..]) {
            Ok((batch, len)) => {
                batches.push(StoredBatch {
                    batch,
                    file_position: position,
                    encoded_len: len,
                });
                position += len;
            }
            Err(error) => {
                return DecodedFile {
                    batches,
                    error: Some((position, error)),
                };
            }
        }
    }
    DecodedFile {
        batches,
        error: None,
    }
}

fn attributes(batch: &RecordBatch) -> u8 {
    let control = match batch.control {
        None => 0,
        Some(ControlType::Commit) => 1,
        Some(ControlType::Abort) => 2,
    };
    u8::from(batch.transactional) | (control << 1)
}

fn decode_body(body: &[u8]) -> Result<RecordBatch, DecodeError> {
    let mut r = Reader { bytes: body, at: 0 };
    let base_offset = u64::from_le_bytes(r.take(8)?.try_into().expect("8 bytes"));
    let partition_leader_epoch = narrow(r.varint()?, "leader epoch")?;
    let producer_id = unzigzag(r.varint()?);
    let producer_epoch = narrow(unzigzag(r.varint()?), "producer epoch")?;
    let base_sequence = narrow(unzigzag(r.varint()?), "base sequence")?;
    let attributes = r.take(1)?[0];
    let control = match attributes >> 1 {
        0 => None,
        1 => Some(ControlType::Commit),
        2 => Some(ControlType::Abort),
        _ => return Err(DecodeError::Garbled("unknown attributes")),
    };
    let max_timestamp_ms = r.varint()?;
    let count = r.varint()?;
    if count > ((body.len() - r.at) / RECORD_BYTES_MIN) as u64 {
        return Err(DecodeError::Garbled("record count past the body"));
    }
    if control.is_some() != (count == 0) {
        return Err(DecodeError::Garbled(
            "control batch with records or empty data batch",
        ));
    }
    if base_offset.checked_add(count.max(1)).is_none() {
        return Err(DecodeError::Garbled("offsets past u64"));
    }
    let records = decode_records(&mut r, count as usize)?;
    if r.at != body.len() {
        return Err(DecodeError::Garbled("bytes after the last record"));
    }
    Ok(RecordBatch {
        base_offset,
        partition_leader_epoch,
        producer_id,
        producer_epoch,
        base_sequence,
        transactional: attributes & 1 == 1,
        control,
        max_timestamp_ms,
        records: records.into(),
    })
}

fn decode_records(r: &mut Reader<'_>, count: usize) -> Result<Vec<Record>, DecodeError> {
    let mut records = Vec::with_capacity(count);
    let mut next_n = 0i64;
    for _ in 0..count {
        let producer = narrow(r.varint()?, "record producer")?;
        let n: u32 = narrow(next_n + unzigzag(r.varint()?), "record n")?;
        next_n = i64::from(n) + 1;
        let key = match r.varint()? {
            0 => None,
            k => Some(narrow(k - 1, "record key")?),
        };
        let size_bytes = narrow(r.varint()?, "record size")?;
        records.push(Record {
            id: RecordId { producer, n },
            key,
            size_bytes,
        });
    }
    Ok(records)
}

/// A cursor over a batch body whose CRC already matched.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], DecodeError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len());
        let end = end.ok_or(DecodeError::Garbled("field past the body"))?;
        let taken = &self.bytes[self.at..end];
        self.at = end;
        Ok(taken)
    }

    fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.take(1)?[0];
            if shift == 63 && byte > 1 {
                return Err(DecodeError::Garbled("varint overflow"));
            }
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError::Garbled("varint overflow"))
    }
}

fn narrow<T: TryFrom<V>, V>(value: V, what: &'static str) -> Result<T, DecodeError> {
    T::try_from(value).map_err(|_| DecodeError::Garbled(what))
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE};

    fn batch(records: u32) -> RecordBatch {
        RecordBatch {
            base_offset: 1234,
            partition_leader_epoch: 7,
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            base_sequence: NO_SEQUENCE,
            transactional: false,
            control: None,
            max_timestamp_ms: 99_000,
            records: (0..records)
                .map(|n| Record {
                    id: RecordId {
                        producer: 3,
                        n: 500 + n,
                    },
                    key: (n % 2 == 0).then_some(n),
                    size_bytes: 100,
                })
                .collect(),
        }
    }

    #[test]
    fn batches_round_trip_through_the_codec() {
        let mut control = batch(0);
        control.control = Some(ControlType::Abort);
        control.transactional = true;
        control.producer_id = i64::MAX;
        control.producer_epoch = i16::MIN;
        control.base_sequence = i32::MAX;
        let mut odd = batch(3);
        let mut records = odd.records.to_vec();
        records[1].id = RecordId {
            producer: u16::MAX,
            n: 0,
        };
        records[2].id.n = u32::MAX;
        records[2].key = Some(u32::MAX);
        odd.records = records.into();
        for b in [batch(1), batch(50), control, odd] {
            let bytes = encode_batch_to_vec(&b);
            assert_eq!(decode_batch(&bytes), Ok((b, bytes.len())));
        }
    }

    #[test]
    fn a_record_costs_a_few_bytes_on_disk() {
        let bytes = encode_batch_to_vec(&batch(100));
        assert!(
            bytes.len() < 100 * 8,
            "{} bytes for 100 records",
            bytes.len()
        );
    }

    #[test]
    fn every_prefix_is_torn_and_every_flipped_byte_is_caught() {
        let bytes = encode_batch_to_vec(&batch(3));
        for len in 0..bytes.len() {
            assert!(
                matches!(decode_batch(&bytes[..len]), Err(DecodeError::Torn { .. })),
                "prefix of {len} bytes"
            );
        }
        for at in 0..bytes.len() {
            let mut garbled = bytes.clone();
            garbled[at] ^= 0x10;
            assert!(decode_batch(&garbled).is_err(), "flip at byte {at}");
        }
    }

    #[test]
    fn decode_all_stops_at_the_first_bad_batch() {
        let mut bytes = encode_batch_to_vec(&batch(2));
        let first = bytes.len();
        encode_batch(&batch(1), &mut bytes);
        bytes.truncate(bytes.len() - 1);
        let decoded = decode_all(&bytes);
        assert_eq!(decoded.batches.len(), 1);
        let stored = &decoded.batches[0];
        assert_eq!((stored.file_position, stored.encoded_len), (0, first));
        assert!(matches!(decoded.error, Some((at, DecodeError::Torn { .. })) if at == first));
    }

    #[test]
    fn varints_and_zigzag_cover_the_extremes() {
        for v in [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            let mut r = Reader { bytes: &out, at: 0 };
            assert_eq!(r.varint(), Ok(v));
        }
        for v in [0, -1, 1, i64::MIN, i64::MAX] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
        let overlong = [0xff; 11];
        assert!(
            Reader {
                bytes: &overlong,
                at: 0
            }
            .varint()
            .is_err()
        );
    }
}
