//! Writing records to Kafka: [`KafkaWriter`], a producer whose callers wait for their records'
//! delivery and get failures as [`Error::Kafka`]. `DStream::save_to_kafka`,
//! `DStream::save_pairs_to_kafka` and `dstreams kafka-produce` write through it.

use crate::data::{Batch, Data, SparkDisplay, column_iter};
use crate::error::{Error, Result};
use crate::time::Time;
use rayon::prelude::*;
use rdkafka::ClientConfig;
use rdkafka::client::ClientContext;
use rdkafka::config::{FromClientConfigAndContext, RDKafkaLogLevel};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, ProducerContext, ThreadedProducer};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// librdkafka's default `message.timeout.ms`: a record not delivered after this long fails.
const DEFAULT_MESSAGE_TIMEOUT_MS: u64 = 300_000;
/// Beyond the message timeout, how long [`PendingRecords::wait`] waits for the delivery reports
/// librdkafka promises before it gives up.
const REPORT_GRACE: Duration = Duration::from_secs(30);
/// The longest [`PendingRecords::wait`] sleeps before it looks at the counts again.
const WAIT_SLICE: Duration = Duration::from_millis(50);
/// How long a send waits before it retries when the producer's queue is full.
const QUEUE_FULL_BACKOFF: Duration = Duration::from_millis(1);

/// A Kafka producer for one topic (librdkafka's, on a background polling thread) whose records
/// are sent in rounds: [`records`](Self::records) starts one, [`PendingRecords::send`] enqueues
/// records, and [`PendingRecords::wait`] returns once the broker acknowledged every one of them,
/// or fails with [`Error::Kafka`] if any could not be delivered.
///
/// The configuration is librdkafka's (`bootstrap.servers`, `acks`, `linger.ms`,
/// `compression.type`, `message.timeout.ms`, ...; see librdkafka's CONFIGURATION.md), so a failed
/// delivery is one librdkafka gave up on: after its retries, at the latest after
/// `message.timeout.ms` (default 300 s).
///
/// ```no_run
/// use dstreams::KafkaWriter;
/// use dstreams::rdkafka::ClientConfig;
///
/// let writer = KafkaWriter::new(
///     ClientConfig::new().set("bootstrap.servers", "127.0.0.1:9092"),
///     "lines",
/// )?;
/// let pending = writer.records();
/// for line in ["to be", "or not", "to be"] {
///     pending.send(None, None, line.as_bytes())?;
/// }
/// let delivered = pending.wait()?; // every record is in Kafka, or an error says how many are not
/// assert_eq!(delivered.records, 3);
/// # Ok::<(), dstreams::Error>(())
/// ```
pub struct KafkaWriter {
    producer: ThreadedProducer<WriterContext>,
    topic: String,
    /// How long a round's delivery reports may take at most.
    report_timeout: Duration,
}

impl std::fmt::Debug for KafkaWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaWriter")
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl KafkaWriter {
    /// A producer writing to `topic`, configured by `config`. Fails with [`Error::Kafka`] when
    /// librdkafka refuses the configuration; connecting to the brokers happens later, in the
    /// background.
    pub fn new(config: &ClientConfig, topic: &str) -> Result<Self> {
        let producer = ThreadedProducer::from_config_and_context(config, WriterContext)
            .map_err(|e| Error::kafka(format!("creating a producer for topic {topic}"), e))?;
        let timeout_ms = ["message.timeout.ms", "delivery.timeout.ms"]
            .iter()
            .find_map(|key| config.get(key).and_then(|v| v.parse::<u64>().ok()))
            .unwrap_or(DEFAULT_MESSAGE_TIMEOUT_MS);
        Ok(KafkaWriter {
            producer,
            topic: topic.to_string(),
            report_timeout: Duration::from_millis(timeout_ms) + REPORT_GRACE,
        })
    }

    /// The topic written to.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Starts a round of records whose delivery is awaited together. Rounds may overlap; each
    /// counts only its own records.
    pub fn records(&self) -> PendingRecords<'_> {
        PendingRecords {
            writer: self,
            deliveries: Arc::new(Deliveries::default()),
        }
    }
}

/// Records sent through a [`KafkaWriter`] and not yet known to be delivered. `send` may be
/// called from several threads at once.
pub struct PendingRecords<'w> {
    writer: &'w KafkaWriter,
    deliveries: Arc<Deliveries>,
}

impl std::fmt::Debug for PendingRecords<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingRecords")
            .field("topic", &self.writer.topic)
            .field("sent", &self.deliveries.sent.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// What a round of [`PendingRecords`] delivered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delivered {
    /// Records acknowledged by the broker.
    pub records: u64,
    /// Their key and value bytes.
    pub bytes: u64,
}

impl PendingRecords<'_> {
    /// Enqueues one record: to `partition`, or where the producer's partitioner puts it (by the
    /// key's hash; keyless records to a random partition, sticky for `sticky.partitioning.linger.ms`).
    /// When librdkafka's queue is full (`queue.buffering.max.messages` / `.kbytes`) this waits
    /// for deliveries to make room. Fails with [`Error::Kafka`] when librdkafka refuses the
    /// record (too large, unknown partition, ...) or, while waiting for room, once a record of
    /// this round failed.
    pub fn send(&self, partition: Option<i32>, key: Option<&[u8]>, value: &[u8]) -> Result<()> {
        self.send_with_headers(partition, key, value, None)
    }

    /// [`send`](Self::send) with record headers.
    pub fn send_with_headers(
        &self,
        partition: Option<i32>,
        key: Option<&[u8]>,
        value: &[u8],
        headers: Option<OwnedHeaders>,
    ) -> Result<()> {
        let topic = self.writer.topic.as_str();
        let mut record = BaseRecord::with_opaque_to(topic, self.deliveries.clone()).payload(value);
        if let Some(partition) = partition {
            record = record.partition(partition);
        }
        if let Some(key) = key {
            record = record.key(key);
        }
        if let Some(headers) = headers {
            record = record.headers(headers);
        }
        self.deliveries.sent.fetch_add(1, Ordering::Relaxed);
        loop {
            match self.writer.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    if let Some(e) = self.deliveries.failure(topic) {
                        self.deliveries.sent.fetch_sub(1, Ordering::Relaxed);
                        return Err(e);
                    }
                    record = back;
                    std::thread::sleep(QUEUE_FULL_BACKOFF);
                }
                Err((e, _)) => {
                    self.deliveries.sent.fetch_sub(1, Ordering::Relaxed);
                    return Err(Error::kafka(
                        format!("sending a record to topic {topic}"),
                        e,
                    ));
                }
            }
        }
    }

    /// Waits until every record sent in this round is acknowledged or failed. `Ok` means all were
    /// delivered; otherwise [`Error::Kafka`] says how many failed and why the first one did.
    /// Bounded by `message.timeout.ms` (librdkafka reports every record by then) plus 30 s.
    pub fn wait(self) -> Result<Delivered> {
        let d = &self.deliveries;
        let topic = &self.writer.topic;
        let deadline = Instant::now() + self.writer.report_timeout;
        let mut guard = crate::lock::lock(&d.lock);
        while d.reported() < d.sent.load(Ordering::Acquire) {
            let now = Instant::now();
            if now >= deadline {
                let missing = d.sent.load(Ordering::Acquire) - d.reported();
                return Err(Error::kafka_failure(
                    format!("delivering to topic {topic}"),
                    format!(
                        "{missing} records without a delivery report after {:.0} s",
                        self.writer.report_timeout.as_secs_f64()
                    ),
                ));
            }
            // Capped: a record whose send failed after counting as sent is uncounted again
            // without a notification.
            guard = d
                .changed
                .wait_timeout(guard, (deadline - now).min(WAIT_SLICE))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        drop(guard);
        match d.failure(topic) {
            Some(e) => Err(e),
            None => Ok(Delivered {
                records: d.delivered.load(Ordering::Acquire),
                bytes: d.bytes.load(Ordering::Acquire),
            }),
        }
    }
}

/// The delivery state of one round of records; every record carries an `Arc` of it to its
/// delivery report.
#[derive(Default)]
struct Deliveries {
    sent: AtomicU64,
    delivered: AtomicU64,
    bytes: AtomicU64,
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
    /// Taken to notify `changed` when the last report arrives, and by the waiter around its
    /// check, so the notification cannot fall between its check and its wait.
    lock: Mutex<()>,
    changed: Condvar,
}

impl Deliveries {
    fn reported(&self) -> u64 {
        self.delivered.load(Ordering::Acquire) + self.failed.load(Ordering::Acquire)
    }

    fn record(&self, result: &DeliveryResult<'_>) {
        match result {
            Ok(message) => {
                let bytes = message.key_len() + message.payload_len();
                self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
                self.delivered.fetch_add(1, Ordering::AcqRel);
            }
            Err((e, _)) => {
                let mut first = crate::lock::lock(&self.first_error);
                if first.is_none() {
                    *first = Some(e.to_string());
                }
                drop(first);
                self.failed.fetch_add(1, Ordering::AcqRel);
            }
        }
        if self.reported() >= self.sent.load(Ordering::Acquire) {
            let _guard = crate::lock::lock(&self.lock);
            self.changed.notify_all();
        }
    }

    /// The error for the records of this round that failed so far, if any did.
    fn failure(&self, topic: &str) -> Option<Error> {
        let failed = self.failed.load(Ordering::Acquire);
        if failed == 0 {
            return None;
        }
        let first = crate::lock::lock(&self.first_error).clone();
        Some(Error::kafka_failure(
            format!("delivering to topic {topic}"),
            format!(
                "{failed} of {} records failed; the first with: {}",
                self.sent.load(Ordering::Acquire),
                first.unwrap_or_default()
            ),
        ))
    }
}

/// Routes librdkafka's logs and errors to `tracing` and delivery reports to their round.
struct WriterContext;

impl ClientContext for WriterContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => tracing::error!(target: "librdkafka", "{fac}: {message}"),
            RDKafkaLogLevel::Warning => tracing::warn!(target: "librdkafka", "{fac}: {message}"),
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(target: "librdkafka", "{fac}: {message}")
            }
            RDKafkaLogLevel::Debug => tracing::debug!(target: "librdkafka", "{fac}: {message}"),
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        // Client-level errors (a broker down, ...) are retried by librdkafka; the records they
        // affect fail through their delivery reports.
        tracing::warn!(target: "librdkafka", "{error}: {reason}");
    }
}

impl ProducerContext for WriterContext {
    type DeliveryOpaque = Arc<Deliveries>;

    fn delivery(&self, result: &DeliveryResult<'_>, deliveries: Arc<Deliveries>) {
        deliveries.record(result);
    }
}

/// Writes the elements of `batch`, value = the element as Spark's `toString` writes it, and
/// waits for their delivery.
pub(crate) fn save_values<T: Data>(
    writer: &KafkaWriter,
    batch: &Batch<T>,
    time: Time,
) -> Result<()> {
    save_records(writer, batch, time, |v, _key, value| {
        let _ = write!(value, "{}", SparkDisplay::<T>(v));
        false
    })
}

/// Writes the pairs of `batch`, key = the first element and value = the second as Spark's
/// `toString` writes them, and waits for their delivery.
pub(crate) fn save_pairs<K: Data, V: Data>(
    writer: &KafkaWriter,
    batch: &Batch<(K, V)>,
    time: Time,
) -> Result<()> {
    save_records(writer, batch, time, |(k, v), key, value| {
        let _ = write!(key, "{}", SparkDisplay::<K>(k));
        let _ = write!(value, "{}", SparkDisplay::<V>(v));
        true
    })
}

/// Header of a record saved from a distributed batch: the batch time, in milliseconds.
pub const BATCH_TIME_HEADER: &str = "dstreams-batch-time";
/// Header of a record saved from a distributed batch: the partition it came from (an exchange
/// partition after a keyed operation, a source partition before one; see
/// [`Origin`](crate::data::Origin)). With [`BATCH_TIME_HEADER`] it identifies the output a
/// batch run again after a failover writes again, so that a consumer can keep one copy.
pub const PARTITION_HEADER: &str = "dstreams-partition";

/// The headers of the records saved from partition `partition` of the batch at `time`.
fn partition_headers(time: Time, partition: u32) -> OwnedHeaders {
    OwnedHeaders::new()
        .insert(Header {
            key: BATCH_TIME_HEADER,
            value: Some(&time.as_millis().to_string()),
        })
        .insert(Header {
            key: PARTITION_HEADER,
            value: Some(&partition.to_string()),
        })
}

/// Sends one record per element (partitions in parallel), formatted by `format` into a key and
/// a value buffer (it returns whether the record has a key), then waits for every delivery.
fn save_records<T: Data>(
    writer: &KafkaWriter,
    batch: &Batch<T>,
    time: Time,
    format: impl Fn(T::Ref<'_>, &mut String, &mut String) -> bool + Sync,
) -> Result<()> {
    let started = Instant::now();
    let pending = writer.records();
    let labels = batch.origin().map(|o| o.ids.as_slice());
    batch
        .partitions()
        .par_iter()
        .enumerate()
        .try_for_each(|(i, part)| {
            let headers = labels.map(|ids| partition_headers(time, ids[i]));
            let (mut key, mut value) = (String::new(), String::new());
            for v in column_iter(part) {
                key.clear();
                value.clear();
                let keyed = format(v, &mut key, &mut value);
                let key = keyed.then_some(key.as_bytes());
                pending.send_with_headers(None, key, value.as_bytes(), headers.clone())?;
            }
            Ok::<_, Error>(())
        })?;
    let delivered = pending.wait()?;
    tracing::debug!(
        "batch {time}: {} records ({} bytes) delivered to topic {} in {:.1} ms",
        delivered.records,
        delivered.bytes,
        writer.topic,
        started.elapsed().as_secs_f64() * 1e3
    );
    Ok(())
}
