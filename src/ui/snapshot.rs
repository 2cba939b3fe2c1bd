//! What the web UI shows, as one immutable snapshot: a listener keeps a working copy up to date on
//! the threads that report events (the batch thread, receivers, the checkpoint writer) and
//! publishes a fresh `Arc` of it after each event; the server only clones the published `Arc`.
//! Neither side ever takes a lock of the scheduler, and the server never waits for a batch.

use crate::checkpoint::CheckpointInfo;
use crate::context::{BatchInfo, Core, OutputOperationInfo, ReceiverInfo, StreamingListener};
use crate::lock::lock;
use crate::time::Time;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock, Weak};

/// Completed batches kept for the page and the REST API (Spark's
/// `spark.streaming.ui.retainedBatches`, 1000 by default).
pub(crate) const RETAINED_BATCHES: usize = 1000;

/// Upper bounds, in seconds, of the buckets of the delay and duration histograms.
pub(crate) const BUCKETS: [f64; 14] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// A Prometheus histogram of durations: cumulative counts per bucket of [`BUCKETS`], plus one
/// for `+Inf` (the count), and the sum.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Histogram {
    /// How many observations were at most each bucket's bound.
    pub(crate) cumulative: [u64; BUCKETS.len()],
    pub(crate) count: u64,
    pub(crate) sum_seconds: f64,
}

impl Histogram {
    fn observe_ms(&mut self, ms: f64) {
        let seconds = ms / 1000.0;
        for (bound, n) in BUCKETS.iter().zip(&mut self.cumulative) {
            if seconds <= *bound {
                *n += 1;
            }
        }
        self.count += 1;
        self.sum_seconds += seconds;
    }
}

/// An input stream of the program: its id (as in [`BatchInfo`]), its stream's name and whether
/// a receiver feeds it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct InputStream {
    pub(crate) id: usize,
    pub(crate) name: String,
    pub(crate) receiver: bool,
}

/// A receiver as its last event left it, with the time of its last error and its error count.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ReceiverState {
    pub(crate) info: ReceiverInfo,
    /// Wall clock of the last error, epoch ms.
    pub(crate) last_error_time: Option<i64>,
    pub(crate) errors: u64,
}

/// Everything an input stream delivered to completed batches.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct InputTotals {
    pub(crate) records: u64,
    /// Bytes, for sources that report them (metadata `"bytes"`).
    pub(crate) bytes: Option<u64>,
}

/// Checkpoints written since the start.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct CheckpointTotals {
    /// Snapshot plus write time of each.
    pub(crate) seconds: Histogram,
    pub(crate) bytes_total: u64,
    pub(crate) last_bytes: Option<u64>,
}

/// The UI's view of the context at one moment.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct UiSnapshot {
    /// Spark's application id, `local-<start ms>`.
    pub(crate) app_id: String,
    pub(crate) app_name: String,
    /// When the context started (wall clock, epoch ms).
    pub(crate) start_time: i64,
    /// The batch interval, ms.
    pub(crate) batch_duration: i64,
    pub(crate) inputs: Arc<[InputStream]>,
    /// By stream id, receivers that reported an event.
    pub(crate) receivers: BTreeMap<usize, ReceiverState>,
    /// Batches submitted and not completed (queued: not started yet), by batch time.
    pub(crate) active: BTreeMap<Time, BatchInfo>,
    /// The last [`RETAINED_BATCHES`] completed batches, oldest first.
    pub(crate) completed: Arc<VecDeque<Arc<BatchInfo>>>,
    pub(crate) completed_batches: u64,
    /// Completed batches with a failed output operation.
    pub(crate) failed_batches: u64,
    /// Records of all completed batches.
    pub(crate) processed_records: u64,
    /// By input stream id.
    pub(crate) input_totals: BTreeMap<usize, InputTotals>,
    pub(crate) processing: Histogram,
    pub(crate) scheduling_delay: Histogram,
    pub(crate) total_delay: Histogram,
    /// By `topic-partition`, the records the last batch reading it left behind (Kafka sources).
    pub(crate) kafka_lag: BTreeMap<String, i64>,
    /// Each stateful operator's checkpoint id and keys with a state, after the last batch.
    pub(crate) state_keys: Vec<(String, usize)>,
    pub(crate) checkpoints: CheckpointTotals,
}

impl UiSnapshot {
    /// Batches retained: the completed ones and the active ones, by batch time.
    pub(crate) fn retained(&self) -> impl Iterator<Item = &BatchInfo> {
        self.completed
            .iter()
            .map(|b| b.as_ref())
            .chain(self.active.values())
    }

    /// A retained batch by its id (its batch time in ms), with whether it completed.
    pub(crate) fn batch(&self, id: i64) -> Option<(&BatchInfo, bool)> {
        let time = Time::from_millis(id);
        if let Some(active) = self.active.get(&time) {
            return Some((active, false));
        }
        self.completed
            .binary_search_by_key(&time, |b| b.batch_time)
            .ok()
            .map(|i| (self.completed[i].as_ref(), true))
    }
}

/// Where the listener publishes and the server reads.
pub(crate) type Published = Arc<RwLock<Arc<UiSnapshot>>>;

/// The snapshot last published (a poisoned lock still holds a whole `Arc`).
pub(crate) fn current(published: &Published) -> Arc<UiSnapshot> {
    published.read().unwrap_or_else(|e| e.into_inner()).clone()
}

/// The listener that keeps the snapshot.
pub(crate) struct Publisher {
    working: Mutex<UiSnapshot>,
    published: Published,
    /// To count the stateful operators' keys after each batch, on the batch thread.
    core: Weak<Core>,
}

impl Publisher {
    /// A publisher for `core`'s program, whose snapshot starts empty.
    pub(crate) fn new(core: &Arc<Core>, app_name: String, inputs: Vec<InputStream>) -> Self {
        let empty = UiSnapshot {
            app_id: String::new(),
            app_name,
            start_time: 0,
            batch_duration: core.batch_interval.as_millis(),
            inputs: inputs.into(),
            receivers: BTreeMap::new(),
            active: BTreeMap::new(),
            completed: Arc::new(VecDeque::new()),
            completed_batches: 0,
            failed_batches: 0,
            processed_records: 0,
            input_totals: BTreeMap::new(),
            processing: Histogram::default(),
            scheduling_delay: Histogram::default(),
            total_delay: Histogram::default(),
            kafka_lag: BTreeMap::new(),
            state_keys: Vec::new(),
            checkpoints: CheckpointTotals::default(),
        };
        Publisher {
            published: Arc::new(RwLock::new(Arc::new(empty.clone()))),
            working: Mutex::new(empty),
            core: Arc::downgrade(core),
        }
    }

    /// Where snapshots are published.
    pub(crate) fn published(&self) -> Published {
        self.published.clone()
    }

    /// Applies `change` to the working copy and publishes the result.
    fn update(&self, change: impl FnOnce(&mut UiSnapshot)) {
        let mut working = lock(&self.working);
        change(&mut working);
        let next = Arc::new(working.clone());
        drop(working);
        *self.published.write().unwrap_or_else(|e| e.into_inner()) = next;
    }

    /// A batch submitted or started: active, as reported.
    fn active_batch(&self, info: &BatchInfo) {
        self.update(|s| {
            s.active.insert(info.batch_time, info.clone());
        });
    }

    /// An output operation of an active batch started or completed.
    fn output_operation(&self, info: &OutputOperationInfo) {
        self.update(|s| {
            if let Some(batch) = s.active.get_mut(&info.batch_time) {
                batch.output_operation_infos.insert(info.id, info.clone());
            }
        });
    }

    fn receiver_event(&self, info: &ReceiverInfo, error: bool) {
        let now = crate::context::wall_millis();
        self.update(|s| {
            let state = s
                .receivers
                .entry(info.stream_id)
                .or_insert_with(|| ReceiverState {
                    info: info.clone(),
                    last_error_time: None,
                    errors: 0,
                });
            state.info = info.clone();
            if error {
                state.errors += 1;
                state.last_error_time = Some(now);
            }
        });
    }
}

/// Parses Kafka's `"lag.partitions"` metadata: `topic-partition:records`, comma separated.
fn partition_lags(text: &str) -> impl Iterator<Item = (String, i64)> + '_ {
    text.split(", ").filter_map(|entry| {
        let (partition, lag) = entry.rsplit_once(':')?;
        Some((partition.to_string(), lag.parse().ok()?))
    })
}

impl StreamingListener for Publisher {
    fn on_streaming_started(&self, time: i64) {
        self.update(|s| {
            s.start_time = time;
            s.app_id = format!("local-{time}");
        });
    }
    fn on_receiver_started(&self, info: &ReceiverInfo) {
        self.receiver_event(info, false);
    }
    fn on_receiver_error(&self, info: &ReceiverInfo) {
        self.receiver_event(info, true);
    }
    fn on_receiver_stopped(&self, info: &ReceiverInfo) {
        self.receiver_event(info, false);
    }
    fn on_batch_submitted(&self, info: &BatchInfo) {
        self.active_batch(info);
    }
    fn on_batch_started(&self, info: &BatchInfo) {
        self.active_batch(info);
    }
    fn on_output_operation_started(&self, info: &OutputOperationInfo) {
        self.output_operation(info);
    }
    fn on_output_operation_completed(&self, info: &OutputOperationInfo) {
        self.output_operation(info);
    }
    fn on_batch_completed(&self, info: &BatchInfo) {
        // Counted here, on the batch thread, between batches: the operators' cells are free.
        let state_keys = self
            .core
            .upgrade()
            .map(|core| lock(&core.checkpointing).state_keys())
            .unwrap_or_default();
        self.update(|s| {
            s.active.remove(&info.batch_time);
            let completed = Arc::make_mut(&mut s.completed);
            if completed.len() == RETAINED_BATCHES {
                completed.pop_front();
            }
            completed.push_back(Arc::new(info.clone()));
            s.completed_batches += 1;
            let failed = info
                .output_operation_infos
                .values()
                .any(|o| o.failure_reason.is_some());
            s.failed_batches += u64::from(failed);
            s.processed_records += info.num_records();
            for (id, input) in &info.stream_id_to_input_info {
                let totals = s.input_totals.entry(*id).or_default();
                totals.records += input.num_records;
                if let Some(bytes) = input
                    .metadata
                    .get("bytes")
                    .and_then(|b| b.parse::<u64>().ok())
                {
                    *totals.bytes.get_or_insert(0) += bytes;
                }
                if let Some(lags) = input.metadata.get("lag.partitions") {
                    s.kafka_lag.extend(partition_lags(lags));
                }
            }
            if let Some(ms) = info.processing_delay() {
                s.processing.observe_ms(ms as f64);
            }
            if let Some(ms) = info.scheduling_delay() {
                s.scheduling_delay.observe_ms(ms as f64);
            }
            if let Some(ms) = info.total_delay() {
                s.total_delay.observe_ms(ms as f64);
            }
            s.state_keys = state_keys;
        });
    }
    fn on_checkpoint_completed(&self, info: &CheckpointInfo) {
        self.update(|s| {
            let c = &mut s.checkpoints;
            c.seconds.observe_ms(info.snapshot_ms + info.write_ms);
            c.bytes_total += info.bytes;
            c.last_bytes = Some(info.bytes);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let mut h = Histogram::default();
        h.observe_ms(3.0);
        h.observe_ms(700.0);
        h.observe_ms(120_000.0);
        assert_eq!(h.count, 3);
        assert_eq!(h.cumulative[0], 0); // 1 ms
        assert_eq!(h.cumulative[1], 1); // 5 ms
        assert_eq!(h.cumulative[8], 2); // 1 s
        assert_eq!(h.cumulative[BUCKETS.len() - 1], 2); // 60 s: the 120 s one is only in +Inf
        assert!((h.sum_seconds - 120.703).abs() < 1e-9);
    }

    #[test]
    fn kafka_partition_lags_are_parsed() {
        let lags: Vec<_> = partition_lags("words-0:12, my-topic-3:0, bad").collect();
        assert_eq!(
            lags,
            vec![("words-0".to_string(), 12), ("my-topic-3".to_string(), 0)]
        );
    }
}
