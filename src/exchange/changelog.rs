//! A stateful operator's changelog in distributed mode: the topic `<app>-<operator>-state`,
//! whose partition `p` holds snapshots of the operator's state for exchange partition `p`
//! (ARCHITECTURE.md, "State that moves with its partition").
//!
//! A snapshot record's key is the batch time it covers and, for each exchange the operator's
//! input comes through, where partition `p`'s records not yet applied start (big-endian `i64`
//! time, `u32` count, then `u32` exchange id and `i64` offset each, then the value's CRC-32); its
//! value is the state as one Arrow IPC stream whose schema metadata names the operator's kind.
//! A record that does not decode, or whose value does not match its checksum, is skipped with a
//! warning and the one before it used.
//!
//! Old snapshots are deleted by retention (`cleanup.policy=delete`, `retention.ms` from
//! [`ExchangeConfig::state_retention`]), not compaction: compaction would keep one record
//! per key, and the previous snapshot is the fallback for a damaged latest one. The broker never
//! deletes a partition's active segment, so the latest snapshot survives any retention.

use super::config::ExchangeConfig;
use crate::error::{Error, Result};
use crate::kafka_admin::{self, StoredRecord};
use crate::lock::lock;
use crate::sink::KafkaWriter;
use crate::time::Time;
use arrow_array::RecordBatch;
use arrow_ipc::reader::StreamReader;
use arrow_ipc::writer::StreamWriter;
use arrow_schema::{Schema, SchemaRef};
use rdkafka::ClientConfig;
use std::collections::HashMap;
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;
use std::time::Instant;

/// The schema metadata key naming the operator's kind in a snapshot.
const KIND: &str = "dstreams.operator";
/// The largest snapshot record (the topic's `max.message.bytes`).
const MAX_RECORD_BYTES: &str = "268435456";
/// How long creating the topic, and reading one partition whole, may take.
const TIMEOUT: StdDuration = StdDuration::from_secs(60);

/// One exchange partition's state after a batch.
#[derive(Debug)]
pub(crate) struct Snapshot {
    /// The batch it covers: every batch up to this one is in it.
    pub(crate) time: Time,
    /// For each exchange the operator's input comes through, where the partition's records of
    /// later batches start.
    pub(crate) positions: Vec<(usize, i64)>,
    /// The operator's kind (types included), checked against the restoring operator's.
    pub(crate) kind: String,
    pub(crate) schema: SchemaRef,
    pub(crate) batches: Vec<RecordBatch>,
}

impl Snapshot {
    /// The snapshot as a changelog record: key and value.
    pub(crate) fn encode(&self) -> Result<(Vec<u8>, Vec<u8>)> {
        let metadata = HashMap::from([(KIND.to_string(), self.kind.clone())]);
        let schema = Arc::new(Schema::new_with_metadata(
            self.schema.fields().clone(),
            metadata,
        ));
        let mut value = Vec::new();
        let mut writer = StreamWriter::try_new(&mut value, &schema)?;
        for batch in &self.batches {
            writer.write(&batch.clone().with_schema(schema.clone())?)?;
        }
        writer.finish()?;
        drop(writer);
        let mut key = Vec::with_capacity(16 + 12 * self.positions.len());
        key.extend_from_slice(&self.time.as_millis().to_be_bytes());
        key.extend_from_slice(&(self.positions.len() as u32).to_be_bytes());
        for &(exchange, offset) in &self.positions {
            key.extend_from_slice(&(exchange as u32).to_be_bytes());
            key.extend_from_slice(&offset.to_be_bytes());
        }
        key.extend_from_slice(&crc32fast::hash(&value).to_be_bytes());
        Ok((key, value))
    }

    /// A changelog record's snapshot; an error says what is wrong with it.
    pub(crate) fn decode(key: &[u8], value: &[u8]) -> Result<Snapshot> {
        let bad = |why: &str| Error::corrupt_checkpoint(format!("a state snapshot record {why}"));
        let mut rest = key;
        let mut take = |n: usize| -> Result<&[u8]> {
            if rest.len() < n {
                return Err(bad("has a truncated key"));
            }
            let (head, tail) = rest.split_at(n);
            rest = tail;
            Ok(head)
        };
        let time = Time::from_millis(i64::from_be_bytes(take(8)?.try_into().expect("8 bytes")));
        let n = u32::from_be_bytes(take(4)?.try_into().expect("4 bytes")) as usize;
        let mut positions = Vec::with_capacity(n.min(64));
        for _ in 0..n {
            let exchange = u32::from_be_bytes(take(4)?.try_into().expect("4 bytes")) as usize;
            let offset = i64::from_be_bytes(take(8)?.try_into().expect("8 bytes"));
            positions.push((exchange, offset));
        }
        let crc = u32::from_be_bytes(take(4)?.try_into().expect("4 bytes"));
        if crc32fast::hash(value) != crc {
            return Err(bad("does not match its checksum (damaged or truncated)"));
        }
        let reader = StreamReader::try_new(value, None)?;
        let schema = reader.schema();
        let kind = schema
            .metadata()
            .get(KIND)
            .cloned()
            .ok_or_else(|| bad("does not name its operator"))?;
        let batches = reader.collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(Snapshot {
            time,
            positions,
            kind,
            schema,
            batches,
        })
    }
}

/// One stateful operator's changelog topic.
pub(crate) struct Changelog {
    topic: String,
    client: ClientConfig,
    /// Hands snapshots to the thread that writes them (off the batch thread).
    queue: Mutex<Sender<Vec<(u32, Snapshot)>>>,
}

impl Changelog {
    /// Creates (or uses) the changelog topic of operator `operator` with `P` partitions.
    pub(crate) fn open(config: &ExchangeConfig, operator: &str) -> Result<Changelog> {
        let topic = format!("{}-{operator}-state", config.app_id);
        let client = config.client_config();
        let retention = config.state_retention.as_millis().to_string();
        kafka_admin::create_topic(
            &client,
            &topic,
            config.partitions as i32,
            &[
                ("cleanup.policy", "delete"),
                ("retention.ms", &retention),
                ("max.message.bytes", MAX_RECORD_BYTES),
            ],
            TIMEOUT,
        )?;
        let mut producer = client.clone();
        producer
            .set("enable.idempotence", "true")
            .set("message.max.bytes", MAX_RECORD_BYTES);
        let writer = KafkaWriter::new(&producer, &topic)?;
        let (queue, snapshots) = channel::<Vec<(u32, Snapshot)>>();
        std::thread::Builder::new()
            .name(format!("{topic} writer"))
            .spawn(move || {
                for due in snapshots {
                    write(&writer, &due);
                }
            })
            .map_err(|e| Error::Internal(format!("starting the writer of {topic}: {e}")))?;
        Ok(Changelog {
            topic,
            client,
            queue: Mutex::new(queue),
        })
    }

    /// The topic's name.
    pub(crate) fn topic(&self) -> &str {
        &self.topic
    }

    /// Writes each `(partition, snapshot)`, in the background: the partitions' next owners
    /// restore from them once they are written; until then, from the ones before.
    pub(crate) fn write(&self, snapshots: Vec<(u32, Snapshot)>) {
        if !snapshots.is_empty() && lock(&self.queue).send(snapshots).is_err() {
            tracing::warn!(
                "{}: its writer stopped; snapshots are not written",
                self.topic
            );
        }
    }

    /// Every snapshot record of partition `p`, oldest first.
    pub(crate) fn records(&self, p: u32) -> Result<Vec<StoredRecord>> {
        kafka_admin::read_partition(&self.client, &self.topic, p as i32, None, None, TIMEOUT)
    }
}

/// Writes a batch's snapshots (all sent, then their acknowledgements waited for once), and logs
/// what was written or why not.
fn write(writer: &KafkaWriter, due: &[(u32, Snapshot)]) {
    let started = Instant::now();
    let records = writer.records();
    let mut sizes = Vec::with_capacity(due.len());
    let sent = due.iter().try_for_each(|(p, snapshot)| {
        let (key, value) = snapshot.encode()?;
        records.send(Some(*p as i32), Some(&key), &value)?;
        sizes.push(key.len() + value.len());
        Ok::<_, Error>(())
    });
    match sent.and_then(|()| records.wait().map(|_| ())) {
        Ok(()) => {
            let ms = started.elapsed().as_secs_f64() * 1e3;
            for ((p, snapshot), bytes) in due.iter().zip(sizes) {
                let rows: usize = snapshot.batches.iter().map(RecordBatch::num_rows).sum();
                tracing::info!(
                    "{}: snapshot of partition {p} after batch {}: {rows} rows, {bytes} bytes \
                     (with {} other(s) in {ms:.1} ms)",
                    snapshot.kind,
                    snapshot.time,
                    due.len() - 1
                );
            }
        }
        Err(e) => tracing::warn!(
            "{}: the snapshots of partitions {:?} were not written ({e}); a restore starts from \
             the ones before them",
            writer.topic(),
            due.iter().map(|(p, _)| p).collect::<Vec<_>>()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Int64Array, StringArray};
    use arrow_schema::{DataType, Field};

    fn snapshot() -> Snapshot {
        let schema = Arc::new(Schema::new(vec![
            Field::new("key", DataType::Utf8, true),
            Field::new("state", DataType::Int64, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(vec!["a", "b"])),
                Arc::new(Int64Array::from(vec![3, 4])),
            ],
        )
        .unwrap();
        Snapshot {
            time: Time::from_millis(1_700_000_002_000),
            positions: vec![(0, 41), (2, 7)],
            kind: "update_state_by_key(Utf8 -> Int64)".into(),
            schema,
            batches: vec![batch],
        }
    }

    #[test]
    fn a_snapshot_round_trips() {
        let s = snapshot();
        let (key, value) = s.encode().unwrap();
        let back = Snapshot::decode(&key, &value).unwrap();
        assert_eq!(back.time, s.time);
        assert_eq!(back.positions, s.positions);
        assert_eq!(back.kind, s.kind);
        assert_eq!(back.batches.len(), 1);
        assert_eq!(back.batches[0].columns(), s.batches[0].columns());
    }

    #[test]
    fn a_damaged_or_truncated_snapshot_is_an_error() {
        let (key, value) = snapshot().encode().unwrap();
        let truncated = &value[..value.len() / 2];
        assert!(Snapshot::decode(&key, truncated).is_err());
        let mut flipped = value.clone();
        let last = flipped.len() - 9;
        flipped[last] ^= 0xff;
        assert!(Snapshot::decode(&key, &flipped).is_err());
        assert!(Snapshot::decode(&key[..10], &value).is_err());
        assert!(Snapshot::decode(b"", b"garbage").is_err());
    }
}
