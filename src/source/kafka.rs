//! `kafka_stream`: Spark's direct Kafka stream (`KafkaUtils.createDirectStream`) on rdkafka.
//!
//! Each batch reads a defined offset range `[from, until)` of every partition of its topics, and
//! each Kafka partition becomes one partition of the batch, its record values as a string column:
//! values are copied once, out of librdkafka's buffers into a per-partition arena, and the
//! column's strings are views into it (a chunk of the arena is sealed into an Arrow buffer when a
//! batch takes records from it, and dropped once no record points into it). How a batch's ranges are chosen:
//!
//! - `from` is where the previous batch stopped (for a partition seen for the first time:
//!   [`StartingOffsets`], Spark's `auto.offset.reset`);
//! - `until` is the end of what is available: the broker's latest offset (ListOffsets), or
//!   further if the consumer already received records beyond it — which also covers brokers whose
//!   ListOffsets lags the log end (tansu's memory storage answers with the start of its last
//!   record batch + 1; the records after it are read as soon as they are fetched);
//! - capped by [`KafkaConfig::max_rate_per_partition`] × the batch interval (Spark's
//!   `spark.streaming.kafka.maxRatePerPartition`) and, with [`KafkaConfig::backpressure`], by
//!   the rate Spark's PID estimator sets after each batch, shared among partitions by their lag
//!   (Spark's `maxMessagesPerPartition`);
//! - partitions added to a topic are picked up at the next batch (metadata is read every batch).
//!
//! The consumer stays assigned to every partition at the next offsets, so records are fetched
//! ahead while batches run; a batch waits (up to [`KafkaConfig::fetch_timeout`]) only for records
//! of its ranges not fetched yet. If the broker cannot be reached, the batch takes what was
//! already fetched (possibly nothing) with a warning and the rest follows once it is back: no
//! range is lost or read twice.
//!
//! With a checkpoint directory, the ranges of every batch are written (synced) to
//! `<checkpoint dir>/kafka/<input id>/<t ms>.ranges` before the batch runs, and the next offsets
//! are part of each checkpoint. After a restart from a checkpoint, batches with a range file are
//! re-read with exactly those ranges (the batches that ran after the checkpoint, and older ones a
//! window rebuilds), and new batches continue after the last logged range: exactly-once for
//! outputs that replace their results per batch (`save_as_text_files`). Range files go once no
//! kept checkpoint needs them. With [`KafkaConfig::commit_offsets`], a batch's ranges are also
//! committed to the consumer group after its outputs completed (Spark's `commitAsync`), for
//! monitoring and for other consumers; recovery never reads them back.

use crate::checkpoint::InputState;
use crate::context::{InputLifecycle, StreamingContext, StreamingListener};
use crate::data::{Batch, Sources};
use crate::data::{ColumnBuilder, Data};
use crate::dstream::DStream;
use crate::error::{Error, Result};
use crate::lock::lock;
use crate::source::file_stream::Utf8Policy;
use crate::source::input::{described, input_stream};
use crate::source::rate::PidRateEstimator;
use crate::time::Time;
use arrow_buffer::Buffer;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::{BTreeMap, VecDeque};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration as StdDuration, Instant};

/// Where a partition without a position starts reading.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StartingOffsets {
    /// At the oldest record the broker keeps.
    Earliest,
    /// At the end: only records produced from now on (Kafka's default).
    #[default]
    Latest,
}

/// How a Kafka stream connects and reads.
///
/// ```
/// use dstreams::source::{KafkaConfig, StartingOffsets};
/// let config = KafkaConfig::new("127.0.0.1:9092", ["lines"])
///     .starting_offsets(StartingOffsets::Earliest)
///     .max_rate_per_partition(10_000);
/// # let _ = config;
/// ```
#[derive(Clone, Debug)]
pub struct KafkaConfig {
    /// `bootstrap.servers`.
    pub brokers: String,
    /// The topics to read (all their partitions, found again every batch), unless
    /// `assignment` names the partitions.
    pub topics: Vec<String>,
    /// Spark's `ConsumerStrategies.Assign`: exactly these partitions (topic, partition), each
    /// from the given offset or, with `None`, from `starting_offsets`. Empty: every partition of
    /// `topics` (Spark's `Subscribe`).
    pub assignment: Vec<(String, i32, Option<i64>)>,
    /// The consumer group (`group.id`; offsets are committed there with `commit_offsets`).
    pub group_id: String,
    /// Where partitions without a position start.
    pub starting_offsets: StartingOffsets,
    /// Records per second per partition at most (Spark's `maxRatePerPartition`); `None`:
    /// everything available.
    pub max_rate_per_partition: Option<u64>,
    /// Commit each batch's ranges to the group once its outputs completed.
    pub commit_offsets: bool,
    /// Adapt the records per batch to what the batches can process (Spark's
    /// `spark.streaming.backpressure.enabled` with its PID estimator), never above
    /// `max_rate_per_partition`; the rate is shared among partitions by their lag.
    pub backpressure: bool,
    /// Records per second (all partitions) before backpressure has an estimate (Spark's
    /// `spark.streaming.backpressure.initialRate`).
    pub initial_rate: Option<u64>,
    /// How long a batch waits for records of its ranges that were not fetched yet.
    pub fetch_timeout: StdDuration,
    /// How long a metadata or offsets request may take before the batch goes on without it.
    pub request_timeout: StdDuration,
    /// What to do with record values that are not UTF-8.
    pub utf8: Utf8Policy,
    /// A finite read: the stream ends after this many records in all (the context stops by
    /// itself with `stop_when_exhausted`), for replaying a topic and for benchmarks. `None`:
    /// endless, as Spark's.
    pub max_records: Option<u64>,
    /// More librdkafka settings (`key`, `value`), applied last.
    pub client: Vec<(String, String)>,
}

impl KafkaConfig {
    /// Reads `topics` from `brokers` with the defaults: group `dstreams`, latest offsets, no rate
    /// limit, no commits, 60 s fetch timeout, 5 s request timeout, invalid UTF-8 fails the batch.
    pub fn new(
        brokers: impl Into<String>,
        topics: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        KafkaConfig {
            brokers: brokers.into(),
            topics: topics.into_iter().map(Into::into).collect(),
            assignment: Vec::new(),
            group_id: "dstreams".to_string(),
            starting_offsets: StartingOffsets::Latest,
            max_rate_per_partition: None,
            commit_offsets: false,
            backpressure: false,
            initial_rate: None,
            fetch_timeout: StdDuration::from_secs(60),
            request_timeout: StdDuration::from_secs(5),
            utf8: Utf8Policy::Fail,
            max_records: None,
            client: Vec::new(),
        }
    }
    /// Reads exactly these partitions (Spark's `Assign`): `(topic, partition, from offset)`, `None`
    /// for `starting_offsets`; their topics are read only through them.
    ///
    /// ```
    /// use dstreams::source::KafkaConfig;
    /// let config = KafkaConfig::assigned("127.0.0.1:9092", [("lines", 0, Some(1_000)), ("lines", 2, None)]);
    /// assert_eq!(config.topics, ["lines"]);
    /// ```
    pub fn assigned<'a>(
        brokers: impl Into<String>,
        partitions: impl IntoIterator<Item = (&'a str, i32, Option<i64>)>,
    ) -> Self {
        let assignment: Vec<(String, i32, Option<i64>)> = partitions
            .into_iter()
            .map(|(t, p, o)| (t.to_string(), p, o))
            .collect();
        let mut topics: Vec<String> = assignment.iter().map(|(t, _, _)| t.clone()).collect();
        topics.dedup();
        let mut config = KafkaConfig::new(brokers, topics);
        config.assignment = assignment;
        config
    }
    /// Sets [`starting_offsets`](Self::starting_offsets).
    pub fn starting_offsets(mut self, s: StartingOffsets) -> Self {
        self.starting_offsets = s;
        self
    }
    /// Sets [`max_rate_per_partition`](Self::max_rate_per_partition).
    pub fn max_rate_per_partition(mut self, records_per_second: u64) -> Self {
        self.max_rate_per_partition = Some(records_per_second);
        self
    }
    /// Sets [`group_id`](Self::group_id).
    pub fn group_id(mut self, group: impl Into<String>) -> Self {
        self.group_id = group.into();
        self
    }
    /// Sets [`commit_offsets`](Self::commit_offsets).
    pub fn commit_offsets(mut self, yes: bool) -> Self {
        self.commit_offsets = yes;
        self
    }
    /// Sets [`fetch_timeout`](Self::fetch_timeout) and [`request_timeout`](Self::request_timeout).
    pub fn timeouts(mut self, fetch: StdDuration, request: StdDuration) -> Self {
        self.fetch_timeout = fetch;
        self.request_timeout = request;
        self
    }
    /// Turns [`backpressure`](Self::backpressure) on, starting at `initial_rate` records per
    /// second if given.
    pub fn backpressure(mut self, initial_rate: Option<u64>) -> Self {
        self.backpressure = true;
        self.initial_rate = initial_rate;
        self
    }
    /// Sets [`max_records`](Self::max_records).
    pub fn max_records(mut self, n: u64) -> Self {
        self.max_records = Some(n);
        self
    }
    /// Sets a librdkafka setting.
    pub fn set(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.client.push((key.into(), value.into()));
        self
    }
}

/// A record as [`StreamingContext::kafka_record_stream`] gives it: key (`None` for a null key),
/// value, and the record's timestamp (milliseconds since the epoch, -1 if it has none) with its
/// headers (name, value; a null value as an empty string).
pub type KafkaRecord = (Option<String>, String, (i64, Vec<(String, String)>));

/// One batch's range of one partition: offsets `from..until`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OffsetRange {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The first offset.
    pub from: i64,
    /// One past the last offset.
    pub until: i64,
}

impl OffsetRange {
    fn encode(&self) -> String {
        format!(
            "{}\t{}\t{}\t{}",
            self.topic, self.partition, self.from, self.until
        )
    }
    fn decode(line: &str) -> Option<OffsetRange> {
        let mut f = line.split('\t');
        let r = OffsetRange {
            topic: f.next()?.to_string(),
            partition: f.next()?.parse().ok()?,
            from: f.next()?.parse().ok()?,
            until: f.next()?.parse().ok()?,
        };
        f.next().is_none().then_some(r)
    }
}

fn kafka_error(context: impl Into<String>) -> impl FnOnce(rdkafka::error::KafkaError) -> Error {
    let context = context.into();
    move |e| Error::Kafka {
        context,
        message: e.to_string(),
    }
}

/// Where a fetched value's bytes lie: a chunk of its partition's arena.
#[derive(Clone, Copy)]
struct Span {
    chunk: u64,
    start: usize,
    len: usize,
}

/// A record received and not yet in a batch.
struct Fetched {
    offset: i64,
    /// Kept only for streams of records ([`StreamingContext::kafka_record_stream`]).
    key: Option<Vec<u8>>,
    /// `None` for a null value.
    value: Option<Span>,
    /// Milliseconds since the epoch; -1 when the record has none.
    timestamp: i64,
    /// Kept only for streams of records, as the key.
    headers: Vec<(String, Option<Vec<u8>>)>,
}

/// What is known of one partition.
#[derive(Default)]
struct PartitionState {
    /// The first offset the next batch reads.
    next: i64,
    /// Records received and not yet in a batch, by offset.
    fetched: VecDeque<Fetched>,
    /// The values of fetched records, copied here once out of librdkafka's buffers; a batch's
    /// strings are views into it. The open chunk takes new values...
    arena: Vec<u8>,
    /// ...and has this number;
    chunk: u64,
    /// earlier chunks, sealed as Arrow buffers, stay while fetched records point into them.
    sealed: BTreeMap<u64, Buffer>,
}

/// Bytes of fetched values held at most before a batch stops draining the consumer's queue
/// (what is not drained waits in librdkafka's bounded prefetch queue).
const DRAIN_BUDGET: usize = 64 << 20;

impl PartitionState {
    /// One past the last offset received.
    fn fetched_end(&self) -> i64 {
        self.fetched.back().map_or(self.next, |f| f.offset + 1)
    }

    /// Bytes of values held (open and sealed chunks).
    fn held_bytes(&self) -> usize {
        self.arena.len() + self.sealed.values().map(Buffer::len).sum::<usize>()
    }

    /// Appends a value to the open chunk.
    fn hold(&mut self, value: &[u8]) -> Span {
        let start = self.arena.len();
        self.arena.extend_from_slice(value);
        Span {
            chunk: self.chunk,
            start,
            len: value.len(),
        }
    }

    /// Seals the open chunk (if it holds anything) so views can point into it.
    fn seal(&mut self) {
        if !self.arena.is_empty() {
            let bytes = std::mem::take(&mut self.arena);
            self.sealed.insert(self.chunk, Buffer::from_vec(bytes));
            self.chunk += 1;
        }
    }

    /// Drops sealed chunks no fetched record points into.
    fn release(&mut self) {
        let oldest = self
            .fetched
            .iter()
            .find_map(|f| f.value.map(|v| v.chunk))
            .unwrap_or(self.chunk);
        self.sealed.retain(|&c, _| c >= oldest);
    }
}

/// One range's records and the sealed chunks their values lie in.
struct Taken {
    records: Vec<Fetched>,
    chunks: BTreeMap<u64, Buffer>,
}

impl Taken {
    /// The bytes of a value.
    fn bytes(&self, span: Option<Span>) -> &[u8] {
        span.map_or(&[][..], |v| {
            &self.chunks[&v.chunk].as_slice()[v.start..v.start + v.len]
        })
    }
}

type Key = (String, i32);

struct State {
    partitions: BTreeMap<Key, PartitionState>,
    /// Ranges of the batches of this run and of logged batches, by time.
    ranges: BTreeMap<Time, Vec<OffsetRange>>,
    /// Where range files go (with a checkpoint directory).
    log: Option<PathBuf>,
    /// Whether the consumer's assignment matches `partitions`.
    assigned: bool,
    /// Records handed to new batches so far (for `max_records`).
    records: u64,
}

struct KafkaSource {
    config: KafkaConfig,
    consumer: BaseConsumer,
    /// Whether records' keys are kept (a stream of records, not of values).
    keys: bool,
    state: Mutex<State>,
    /// The backpressure rate (records per second, all partitions), once there is one.
    rate: Mutex<Option<f64>>,
    input_id: OnceLock<String>,
    core: Weak<crate::context::Core>,
}

fn client_config(config: &KafkaConfig) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &config.brokers)
        .set("group.id", &config.group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("fetch.wait.max.ms", "10")
        // Prefetch deeper than librdkafka's defaults (100 k messages, 64 MiB per partition): with
        // them the fetcher keeps pausing while a batch drains its queue, and a 256 MiB topic read
        // at 34 MB/s instead of 105 (BENCHMARKS.md, "Kafka").
        .set("queued.min.messages", "1000000")
        .set("queued.max.messages.kbytes", "131072")
        .set(
            "auto.offset.reset",
            match config.starting_offsets {
                StartingOffsets::Earliest => "earliest",
                StartingOffsets::Latest => "latest",
            },
        );
    for (k, v) in &config.client {
        c.set(k, v);
    }
    c
}

/// Reads records with a consumer into a [`State`] (the stream's own consumer, or one that
/// re-reads logged ranges).
struct Reader<'a> {
    consumer: &'a BaseConsumer,
    config: &'a KafkaConfig,
    /// Whether records' keys are kept.
    keys: bool,
}

impl KafkaSource {
    fn reader(&self) -> Reader<'_> {
        Reader {
            consumer: &self.consumer,
            config: &self.config,
            keys: self.keys,
        }
    }

    /// The partitions of the topics now, new ones added at their starting offsets.
    fn discover(&self, st: &mut State) {
        if !self.config.assignment.is_empty() {
            for (topic, p, from) in &self.config.assignment {
                let key = (topic.clone(), *p);
                if !st.partitions.contains_key(&key)
                    && let Some(start) = from.or_else(|| self.starting_offset(topic, *p))
                {
                    self.add_partition(st, key, start);
                }
            }
            return;
        }
        for topic in &self.config.topics {
            let metadata = match self
                .consumer
                .fetch_metadata(Some(topic), self.config.request_timeout)
            {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(topic = %topic, "Kafka metadata not available ({e}); reading the known partitions only");
                    continue;
                }
            };
            for t in metadata.topics() {
                for p in t.partitions() {
                    let key = (t.name().to_string(), p.id());
                    if st.partitions.contains_key(&key) {
                        continue;
                    }
                    if let Some(start) = self.starting_offset(t.name(), p.id()) {
                        self.add_partition(st, key, start);
                    }
                }
            }
        }
    }

    /// Where a partition without a position starts, by `starting_offsets`; `None` (with a
    /// warning) if the broker does not say yet.
    fn starting_offset(&self, topic: &str, p: i32) -> Option<i64> {
        match self
            .consumer
            .fetch_watermarks(topic, p, self.config.request_timeout)
        {
            Ok((low, high)) => Some(match self.config.starting_offsets {
                StartingOffsets::Earliest => low,
                StartingOffsets::Latest => high,
            }),
            Err(e) => {
                tracing::warn!("Kafka {topic}-{p}: no offsets yet ({e}); trying again next batch");
                None
            }
        }
    }

    fn add_partition(&self, st: &mut State, key: Key, start: i64) {
        tracing::info!("Kafka {}-{}: reading from offset {start}", key.0, key.1);
        st.partitions.insert(
            key,
            PartitionState {
                next: start,
                ..PartitionState::default()
            },
        );
        st.assigned = false;
    }

    /// Assigns the consumer to every partition at the offset after what was fetched.
    fn assign(&self, st: &mut State) -> Result<()> {
        if st.assigned {
            return Ok(());
        }
        let mut tpl = TopicPartitionList::new();
        for ((topic, p), s) in &st.partitions {
            tpl.add_partition_offset(topic, *p, Offset::Offset(s.fetched_end()))
                .map_err(kafka_error("assigning partitions"))?;
        }
        self.consumer
            .assign(&tpl)
            .map_err(kafka_error("assigning partitions"))?;
        st.assigned = true;
        Ok(())
    }

    /// The ranges of a new batch: from each partition's next offset to what is available,
    /// capped by the rate limit.
    fn plan(&self, st: &mut State, batch_secs: f64) -> Vec<OffsetRange> {
        while st
            .partitions
            .values()
            .map(PartitionState::held_bytes)
            .sum::<usize>()
            < DRAIN_BUDGET
            && self.reader().poll_once(st, StdDuration::ZERO)
        {}
        // What is available per partition: the broker's latest offset, or what was fetched.
        let ends: Vec<i64> = st
            .partitions
            .iter()
            .map(|((topic, p), s)| {
                let latest = match self.consumer.fetch_watermarks(topic, *p, self.config.request_timeout) {
                    Ok((_, high)) => high,
                    Err(e) => {
                        tracing::warn!("Kafka {topic}-{p}: latest offset unknown ({e}); this batch takes only what was already fetched");
                        s.next
                    }
                };
                latest.max(s.fetched_end())
            })
            .collect();
        let lags: Vec<i64> = st
            .partitions
            .values()
            .zip(&ends)
            .map(|(s, end)| (end - s.next).max(0))
            .collect();
        let total_lag: i64 = lags.iter().sum();
        let rate = *lock(&self.rate);
        let mut left = self
            .config
            .max_records
            .map_or(i64::MAX, |m| m.saturating_sub(st.records) as i64);
        st.partitions
            .iter()
            .zip(ends.iter().zip(&lags))
            .map(|(((topic, p), s), (&end, &lag))| {
                // Spark's maxMessagesPerPartition: the backpressure rate shared by lag, capped by
                // the rate per partition, at least one record.
                let per_second = match (rate, self.config.max_rate_per_partition) {
                    (Some(r), max) if total_lag > 0 => {
                        let share = r * lag as f64 / total_lag as f64;
                        Some(max.map_or(share, |m| share.min(m as f64)))
                    }
                    (_, max) => max.map(|m| m as f64),
                };
                let cap = per_second.map(|r| ((r * batch_secs).floor() as i64).max(1));
                let until = cap.map_or(end, |c| end.min(s.next + c)).max(s.next);
                let until = until.min(s.next.saturating_add(left));
                left -= until - s.next;
                OffsetRange {
                    topic: topic.clone(),
                    partition: *p,
                    from: s.next,
                    until,
                }
            })
            .collect()
    }

    /// Re-reads logged ranges with a consumer of their own (after recovery).
    fn reread(&self, ranges: &[OffsetRange]) -> Result<Vec<Taken>> {
        let consumer: BaseConsumer = client_config(&self.config)
            .create()
            .map_err(kafka_error("creating a consumer to re-read a batch"))?;
        let mut tpl = TopicPartitionList::new();
        let mut st = State {
            partitions: BTreeMap::new(),
            ranges: BTreeMap::new(),
            log: None,
            assigned: true,
            records: 0,
        };
        for r in ranges.iter().filter(|r| r.until > r.from) {
            tpl.add_partition_offset(&r.topic, r.partition, Offset::Offset(r.from))
                .map_err(kafka_error("re-reading a batch"))?;
            st.partitions.insert(
                (r.topic.clone(), r.partition),
                PartitionState {
                    next: r.from,
                    ..PartitionState::default()
                },
            );
        }
        consumer
            .assign(&tpl)
            .map_err(kafka_error("re-reading a batch"))?;
        let reader = Reader {
            consumer: &consumer,
            config: &self.config,
            keys: self.keys,
        };
        reader.fill(&mut st, ranges)?;
        for r in ranges.iter().filter(|r| r.until <= r.from) {
            st.partitions.insert(
                (r.topic.clone(), r.partition),
                PartitionState {
                    next: r.from,
                    ..PartitionState::default()
                },
            );
        }
        Ok(reader.take(&mut st, ranges))
    }

    /// The batch at `t`: a logged or earlier batch re-read with its ranges, or a new one.
    fn batch(&self, t: Time, batch_secs: f64) -> Result<(Vec<Taken>, Vec<OffsetRange>)> {
        let mut st = lock(&self.state);
        if let Some(ranges) = st.ranges.get(&t).cloned() {
            drop(st);
            tracing::info!(
                "Kafka batch {t} re-read with its ranges {}",
                describe(&ranges)
            );
            return Ok((self.reread(&ranges)?, ranges));
        }
        if let Some((&last, _)) = st.ranges.last_key_value()
            && t < last
        {
            return Err(Error::Unsupported(format!(
                "the Kafka stream cannot re-create its batch at {t}: its ranges are no longer known"
            )));
        }
        self.discover(&mut st);
        self.assign(&mut st)?;
        let ranges = self.plan(&mut st, batch_secs);
        if let Some(dir) = st.log.clone() {
            write_ranges(&dir, t, &ranges)?;
        }
        self.reader().fill(&mut st, &ranges)?;
        let batch = self.reader().take(&mut st, &ranges);
        st.records += ranges
            .iter()
            .map(|r| (r.until - r.from) as u64)
            .sum::<u64>();
        st.ranges.insert(t, ranges.clone());
        Ok((batch, ranges))
    }

    /// Opens the range log when the context starts: with a checkpoint directory, under it;
    /// logged ranges are known again, and new batches start after the last one.
    fn open_log(&self) -> Result<()> {
        let Some(core) = self.core.upgrade() else {
            return Ok(());
        };
        let (dir, restored) = {
            let c = lock(&core.checkpointing);
            (c.dir.clone(), c.restored.is_some())
        };
        let Some(dir) = dir else { return Ok(()) };
        let id = self.input_id.get().expect("registered when built");
        let log = dir.join("kafka").join(id);
        fs::create_dir_all(&log)
            .map_err(|e| Error::io(format!("creating {}", log.display()), e))?;
        let mut st = lock(&self.state);
        for (t, path) in logged(&log)? {
            if !restored {
                // A fresh start: nothing will ask for an earlier run's batches.
                let _ = fs::remove_file(&path);
                continue;
            }
            let text = fs::read_to_string(&path)
                .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
            let ranges = text
                .lines()
                .map(|l| {
                    OffsetRange::decode(l).ok_or_else(|| Error::Kafka {
                        context: format!("reading {}", path.display()),
                        message: format!("malformed range {l:?}"),
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            for r in &ranges {
                let s = st
                    .partitions
                    .entry((r.topic.clone(), r.partition))
                    .or_default();
                s.next = s.next.max(r.until);
            }
            st.ranges.insert(t, ranges);
        }
        st.log = Some(log);
        st.assigned = false;
        Ok(())
    }
}

impl Reader<'_> {
    /// Takes one polled record or event into `st`; false if the poll timed out.
    fn poll_once(&self, st: &mut State, timeout: StdDuration) -> bool {
        match self.consumer.poll(timeout) {
            None => false,
            Some(Ok(m)) => {
                // A scan of the (few) partitions: no key allocated per record.
                let (topic, partition) = (m.topic(), m.partition());
                if let Some(s) = st
                    .partitions
                    .iter_mut()
                    .find_map(|((t, p), s)| (t == topic && *p == partition).then_some(s))
                    && m.offset() >= s.fetched_end()
                {
                    let value = m.payload().map(|p| s.hold(p));
                    s.fetched.push_back(Fetched {
                        offset: m.offset(),
                        key: if self.keys {
                            m.key().map(<[u8]>::to_vec)
                        } else {
                            None
                        },
                        value,
                        timestamp: m.timestamp().to_millis().unwrap_or(-1),
                        headers: match (self.keys, m.headers()) {
                            (true, Some(h)) => (0..h.count())
                                .map(|i| {
                                    let h = h.get(i);
                                    (h.key.to_string(), h.value.map(<[u8]>::to_vec))
                                })
                                .collect(),
                            _ => Vec::new(),
                        },
                    });
                }
                true
            }
            Some(Err(e)) => {
                tracing::warn!("Kafka: {e}");
                true
            }
        }
    }

    /// Polls until every range is fetched; fails after the fetch timeout.
    fn fill(&self, st: &mut State, ranges: &[OffsetRange]) -> Result<()> {
        /// Records taken without waiting between two checks of what is still missing.
        const BURST: usize = 4096;
        let deadline = Instant::now() + self.config.fetch_timeout;
        let targets: Vec<(Key, i64)> = ranges
            .iter()
            .map(|r| ((r.topic.clone(), r.partition), r.until))
            .collect();
        let missing = |st: &State| {
            targets.iter().any(|(k, until)| {
                st.partitions
                    .get(k)
                    .is_some_and(|s| s.fetched_end() < *until)
            })
        };
        while missing(st) {
            let mut taken = 0;
            while taken < BURST && self.poll_once(st, StdDuration::ZERO) {
                taken += 1;
            }
            if taken > 0 {
                continue;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::Kafka {
                    context: "reading a batch's offset ranges".into(),
                    message: format!(
                        "records not received within {:?}: {}",
                        self.config.fetch_timeout,
                        describe(ranges)
                    ),
                });
            }
            self.poll_once(st, left.min(StdDuration::from_millis(100)));
        }
        Ok(())
    }

    /// The records of `ranges` from the fetched ones (removing them), one list per range, with
    /// the chunks their values lie in.
    fn take(&self, st: &mut State, ranges: &[OffsetRange]) -> Vec<Taken> {
        ranges
            .iter()
            .map(|r| {
                let s = st
                    .partitions
                    .get_mut(&(r.topic.clone(), r.partition))
                    .expect("a range is planned for a known partition");
                let mut records = Vec::new();
                while s.fetched.front().is_some_and(|f| f.offset < r.until) {
                    records.push(s.fetched.pop_front().expect("front exists"));
                }
                if records
                    .iter()
                    .any(|f| f.value.is_some_and(|v| v.chunk == s.chunk))
                {
                    s.seal();
                }
                let chunks = records
                    .iter()
                    .filter_map(|f| f.value.map(|v| v.chunk))
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .map(|c| (c, s.sealed[&c].clone()))
                    .collect();
                s.next = r.until;
                s.release();
                Taken { records, chunks }
            })
            .collect()
    }
}

/// Bytes as text by `policy`: invalid UTF-8 fails with [`Error::InvalidUtf8`] naming the record,
/// or is replaced by U+FFFD with a warning.
fn text<'a>(
    bytes: &'a [u8],
    policy: Utf8Policy,
    r: &OffsetRange,
    offset: i64,
) -> Result<std::borrow::Cow<'a, str>> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(std::borrow::Cow::Borrowed(s)),
        Err(e) if policy == Utf8Policy::Fail => Err(Error::InvalidUtf8 {
            source_name: format!("Kafka {}-{} offset {offset}", r.topic, r.partition),
            offset: e.valid_up_to(),
            line: 1,
        }),
        Err(_) => {
            tracing::warn!(
                "Kafka {}-{} offset {offset}: invalid UTF-8 replaced by U+FFFD",
                r.topic,
                r.partition
            );
            Ok(String::from_utf8_lossy(bytes))
        }
    }
}

/// What a Kafka stream's elements are made of its records.
trait RecordShape: Data {
    /// Whether the stream needs record keys.
    const KEYS: bool;
    /// The column of one range's records.
    fn column(taken: Taken, r: &OffsetRange, policy: Utf8Policy) -> Result<Self::Column>;
    /// The bytes of one element as a text line would have them.
    fn line_bytes(v: Self::Ref<'_>) -> usize;
}

impl RecordShape for String {
    const KEYS: bool = false;
    /// Values as views into the chunks they were copied into when fetched (a null value is an
    /// empty string).
    fn column(taken: Taken, r: &OffsetRange, policy: Utf8Policy) -> Result<Self::Column> {
        let sources = Sources::new(taken.chunks.values().cloned().collect());
        let mut b = <String as Data>::Builder::new(taken.records.len(), &sources);
        for f in &taken.records {
            match text(taken.bytes(f.value), policy, r, f.offset)? {
                std::borrow::Cow::Borrowed(s) => b.push_ref(s),
                std::borrow::Cow::Owned(s) => b.push(s),
            }
        }
        Ok(b.finish())
    }
    fn line_bytes(v: &str) -> usize {
        v.len() + 1
    }
}

impl RecordShape for KafkaRecord {
    const KEYS: bool = true;
    fn column(taken: Taken, r: &OffsetRange, policy: Utf8Policy) -> Result<Self::Column> {
        let mut b = <Self as Data>::Builder::new(taken.records.len(), &Sources::none());
        for f in &taken.records {
            let owned = |bytes: &[u8]| -> Result<String> {
                Ok(text(bytes, policy, r, f.offset)?.into_owned())
            };
            let key = f.key.as_deref().map(owned).transpose()?;
            let headers = f
                .headers
                .iter()
                .map(|(name, value)| {
                    Ok((name.clone(), owned(value.as_deref().unwrap_or_default())?))
                })
                .collect::<Result<Vec<_>>>()?;
            b.push((key, owned(taken.bytes(f.value))?, (f.timestamp, headers)));
        }
        Ok(b.finish())
    }
    fn line_bytes(v: Self::Ref<'_>) -> usize {
        v.1.len() + 1
    }
}

fn describe(ranges: &[OffsetRange]) -> String {
    ranges
        .iter()
        .map(|r| format!("{}-{}:{}-{}", r.topic, r.partition, r.from, r.until))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Range files in `dir`, by batch time.
fn logged(dir: &Path) -> Result<Vec<(Time, PathBuf)>> {
    let entries =
        fs::read_dir(dir).map_err(|e| Error::io(format!("listing {}", dir.display()), e))?;
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') {
            let _ = fs::remove_file(entry.path()); // an interrupted write
            continue;
        }
        if let Some(ms) = name
            .strip_suffix(".ranges")
            .and_then(|n| n.parse::<i64>().ok())
        {
            found.push((Time::from_millis(ms), entry.path()));
        }
    }
    found.sort();
    Ok(found)
}

/// Writes a batch's ranges durably before the batch reads them.
fn write_ranges(dir: &Path, t: Time, ranges: &[OffsetRange]) -> Result<()> {
    let path = dir.join(format!("{}.ranges", t.as_millis()));
    let tmp = dir.join(format!(".{}.ranges.tmp", t.as_millis()));
    let io = |what: &str, p: &Path| {
        let context = format!("{what} {}", p.display());
        move |e| Error::io(context, e)
    };
    let mut f = fs::File::create(&tmp).map_err(io("creating", &tmp))?;
    for r in ranges {
        writeln!(f, "{}", r.encode()).map_err(io("writing", &tmp))?;
    }
    f.sync_all().map_err(io("syncing", &tmp))?;
    fs::rename(&tmp, &path).map_err(io("renaming into", &path))?;
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("syncing", dir))
}

struct KafkaInput(Arc<KafkaSource>);

impl InputLifecycle for KafkaInput {
    fn start(&self) -> Result<()> {
        self.0.open_log()
    }
    fn is_exhausted(&self) -> bool {
        self.0
            .config
            .max_records
            .is_some_and(|m| lock(&self.0.state).records >= m)
    }
}

/// A Kafka stream's checkpoint: `next TOPIC PARTITION OFFSET` for every partition (the ranges of
/// batches are in their range files).
impl InputState for KafkaInput {
    fn kind(&self) -> &'static str {
        "kafka"
    }

    fn save(&self, _since: Time, _upto: Time) -> Vec<String> {
        lock(&self.0.state)
            .partitions
            .iter()
            .map(|((topic, p), s)| format!("next {topic} {p} {}", s.next))
            .collect()
    }

    fn restore(&self, entries: &[String]) -> Result<()> {
        let mut st = lock(&self.0.state);
        for e in entries {
            let parsed = e.strip_prefix("next ").and_then(|rest| {
                let mut f = rest.split(' ');
                let topic = f.next()?.to_string();
                let p: i32 = f.next()?.parse().ok()?;
                let next: i64 = f.next()?.parse().ok()?;
                Some((topic, p, next))
            });
            let (topic, p, next) = parsed.ok_or_else(|| Error::Kafka {
                context: "restoring Kafka offsets".into(),
                message: format!("malformed checkpoint entry {e:?}"),
            })?;
            st.partitions.entry((topic, p)).or_default().next = next;
        }
        st.assigned = false;
        Ok(())
    }

    fn forget_before(&self, t: Time) {
        let mut st = lock(&self.0.state);
        if st.log.is_none() {
            // Without range files nothing re-reads old batches; keep the newest for ordering.
            let newest = st.ranges.keys().next_back().copied();
            st.ranges.retain(|at, _| *at > t || Some(*at) == newest);
        }
    }

    fn checkpoint_written(&self, t: Time) {
        let mut st = lock(&self.0.state);
        let newest = st.ranges.keys().next_back().copied();
        st.ranges.retain(|at, _| *at > t || Some(*at) == newest);
        if let Some(dir) = &st.log
            && let Ok(files) = logged(dir)
        {
            for (at, path) in files {
                if at <= t {
                    let _ = fs::remove_file(path);
                }
            }
        }
    }
}

/// Estimates the rate the batches can process after each batch (Spark's `RateController` with
/// its PID estimator).
struct Backpressure {
    source: Arc<KafkaSource>,
    stream_id: usize,
    pid: Mutex<PidRateEstimator>,
}

impl StreamingListener for Backpressure {
    fn on_batch_completed(&self, info: &crate::BatchInfo) {
        if let Some(rate) = lock(&self.pid).compute_after(info, self.stream_id) {
            tracing::debug!(rate, "Kafka backpressure rate update");
            *lock(&self.source.rate) = Some(rate);
        }
    }
}

/// Commits each completed batch's ranges to the consumer group (Spark's `commitAsync`).
struct Committer(Arc<KafkaSource>);

impl StreamingListener for Committer {
    fn on_batch_completed(&self, info: &crate::BatchInfo) {
        if info
            .output_operation_infos
            .values()
            .any(|o| o.failure_reason.is_some())
        {
            return;
        }
        let ranges = lock(&self.0.state).ranges.get(&info.batch_time).cloned();
        let Some(ranges) = ranges else { return };
        let mut tpl = TopicPartitionList::new();
        for r in &ranges {
            if tpl
                .add_partition_offset(&r.topic, r.partition, Offset::Offset(r.until))
                .is_err()
            {
                return;
            }
        }
        if let Err(e) = self.0.consumer.commit(&tpl, CommitMode::Async) {
            tracing::warn!(
                "Kafka: committing the offsets of batch {} failed: {e}",
                info.batch_time
            );
        }
    }
}

impl StreamingContext {
    /// Spark's direct Kafka stream: each batch reads a defined offset range of every partition of
    /// `config.topics`, one batch partition per Kafka partition, record values as strings (a
    /// null value as an empty string); see the module documentation for how ranges are chosen
    /// and recovered. The stream reports each batch's ranges (metadata `"offsets"`).
    ///
    /// ```no_run
    /// use dstreams::prelude::*;
    /// use dstreams::source::{KafkaConfig, StartingOffsets};
    /// let ssc = StreamingContext::new(Duration::seconds(2))?;
    /// let config = KafkaConfig::new("127.0.0.1:9092", ["lines"])
    ///     .starting_offsets(StartingOffsets::Earliest)
    ///     .max_rate_per_partition(100_000);
    /// let counts = ssc.kafka_stream(config)?.split(Separators::Space)?.count_by_value()?;
    /// counts.pprint(10)?;
    /// ssc.start()?;
    /// ssc.await_termination()?;
    /// # Ok::<(), dstreams::Error>(())
    /// ```
    pub fn kafka_stream(&self, config: KafkaConfig) -> Result<DStream<String>> {
        self.kafka_stream_of::<String>(config)
    }

    /// [`kafka_stream`](Self::kafka_stream) with each record's key, timestamp and headers
    /// ([`KafkaRecord`]): Spark's `ConsumerRecord`. The partition and offset of a record are its
    /// batch partition and its place in the batch's range (metadata `"offsets"`).
    pub fn kafka_record_stream(&self, config: KafkaConfig) -> Result<DStream<KafkaRecord>> {
        self.kafka_stream_of::<KafkaRecord>(config)
    }

    fn kafka_stream_of<T: RecordShape>(&self, config: KafkaConfig) -> Result<DStream<T>> {
        if config.topics.is_empty() {
            return Err(Error::Unsupported(
                "kafka_stream needs at least one topic".into(),
            ));
        }
        let consumer: BaseConsumer = client_config(&config)
            .create()
            .map_err(kafka_error("creating the Kafka consumer"))?;
        let commit = config.commit_offsets;
        let backpressure = config.backpressure;
        let config_rate = config
            .initial_rate
            .filter(|_| config.backpressure)
            .map(|r| r as f64);
        let source = Arc::new(KafkaSource {
            config,
            consumer,
            keys: T::KEYS,
            state: Mutex::new(State {
                partitions: BTreeMap::new(),
                ranges: BTreeMap::new(),
                log: None,
                assigned: false,
                records: 0,
            }),
            input_id: OnceLock::new(),
            rate: Mutex::new(config_rate),
            core: Arc::downgrade(&self.core),
        });
        self.core.add_input(Arc::new(KafkaInput(source.clone())))?;
        let reader = source.clone();
        let stream = input_stream(self, "DirectKafkaInputDStream", move |t, bctx| {
            let secs = bctx.batch_interval().as_millis() as f64 / 1000.0;
            let (records, ranges) = reader.batch(t, secs)?;
            let policy = reader.config.utf8;
            let parts = records
                .into_iter()
                .zip(&ranges)
                .map(|(recs, r)| T::column(recs, r, policy))
                .collect::<Result<Vec<_>>>()?;
            let batch = Batch::from_partitions(parts);
            let mut metadata = described(format!("Kafka {}", reader.config.topics.join(", ")));
            metadata.insert("offsets".to_string(), describe(&ranges));
            // As a text file of the values would have them: one line each.
            let bytes: usize = batch.iter().map(T::line_bytes).sum();
            metadata.insert("bytes".to_string(), bytes.to_string());
            Ok((batch, metadata))
        })?;
        let id = lock(&self.core.checkpointing)
            .add_input(stream.node.id, Arc::new(KafkaInput(source.clone())));
        let _ = source.input_id.set(id);
        if backpressure {
            let pid = PidRateEstimator::with_defaults(self.batch_interval().as_millis())?;
            self.add_streaming_listener(Arc::new(Backpressure {
                source: source.clone(),
                stream_id: stream.node.id,
                pid: Mutex::new(pid),
            }));
        }
        if commit {
            self.add_streaming_listener(Arc::new(Committer(source)));
        }
        Ok(stream)
    }
}
