//! Batch metrics and the listener interface (Spark's `StreamingListener` and `BatchInfo`).
//!
//! Unlike Spark's asynchronous listener bus, listeners are called on the batch thread, in order:
//! submitted, started, each output operation's started/completed, completed. A slow listener
//! delays the next batch; keep them short.

use crate::time::Time;
use std::collections::BTreeMap;

/// What one input stream contributed to a batch (Spark's `StreamInputInfo`).
#[derive(Clone, Debug, PartialEq)]
pub struct StreamInputInfo {
    /// The input stream's id.
    pub input_stream_id: usize,
    /// Records it delivered for the batch.
    pub num_records: u64,
    /// Source-specific facts (`"Description"`, `"files"`, `"offsets"`, ...).
    pub metadata: BTreeMap<String, String>,
}

/// One output operation's run in one batch (Spark's `OutputOperationInfo`).
#[derive(Clone, Debug, PartialEq)]
pub struct OutputOperationInfo {
    /// The batch time.
    pub batch_time: Time,
    /// The operation's id, in registration order.
    pub id: usize,
    /// The operation's name, e.g. `pprint`.
    pub name: String,
    /// Where it was defined, or what it does.
    pub description: String,
    /// Wall-clock start, epoch ms.
    pub start_time: Option<i64>,
    /// Wall-clock end, epoch ms.
    pub end_time: Option<i64>,
    /// Why it failed, if it did.
    pub failure_reason: Option<String>,
}

impl OutputOperationInfo {
    /// End minus start, in ms, once finished.
    pub fn duration(&self) -> Option<i64> {
        Some(self.end_time? - self.start_time?)
    }
}

/// One batch's metrics (Spark's `BatchInfo`). Times are wall-clock epoch milliseconds.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchInfo {
    /// The batch time.
    pub batch_time: Time,
    /// Per input stream: what it delivered.
    pub stream_id_to_input_info: BTreeMap<usize, StreamInputInfo>,
    /// When the batch was handed to the job executor.
    pub submission_time: i64,
    /// When its first job started.
    pub processing_start_time: Option<i64>,
    /// When its last job ended.
    pub processing_end_time: Option<i64>,
    /// Its output operations.
    pub output_operation_infos: BTreeMap<usize, OutputOperationInfo>,
}

impl BatchInfo {
    /// Time from submission to the start of processing, in ms.
    pub fn scheduling_delay(&self) -> Option<i64> {
        Some(self.processing_start_time? - self.submission_time)
    }
    /// Time from the start to the end of processing, in ms.
    pub fn processing_delay(&self) -> Option<i64> {
        Some(self.processing_end_time? - self.processing_start_time?)
    }
    /// Scheduling plus processing delay, in ms.
    pub fn total_delay(&self) -> Option<i64> {
        Some(self.scheduling_delay()? + self.processing_delay()?)
    }
    /// Records received from all inputs.
    pub fn num_records(&self) -> u64 {
        self.stream_id_to_input_info
            .values()
            .map(|i| i.num_records)
            .sum()
    }
}

/// A receiver's state, as reported to listeners.
#[derive(Clone, Debug, PartialEq)]
pub struct ReceiverInfo {
    /// The input stream's id.
    pub stream_id: usize,
    /// The receiver's name.
    pub name: String,
    /// Whether it is running.
    pub active: bool,
    /// The last error it reported.
    pub last_error: Option<String>,
}

/// Receives the events of a running context. Every method does nothing by default.
#[allow(unused_variables)]
pub trait StreamingListener: Send + Sync {
    /// The context started; `time` is the wall clock at start.
    fn on_streaming_started(&self, time: i64) {}
    /// A receiver started.
    fn on_receiver_started(&self, info: &ReceiverInfo) {}
    /// A receiver reported an error.
    fn on_receiver_error(&self, info: &ReceiverInfo) {}
    /// A receiver stopped.
    fn on_receiver_stopped(&self, info: &ReceiverInfo) {}
    /// A batch was submitted for processing.
    fn on_batch_submitted(&self, info: &BatchInfo) {}
    /// A batch started processing.
    fn on_batch_started(&self, info: &BatchInfo) {}
    /// A batch finished (successfully or not: see its output operations).
    fn on_batch_completed(&self, info: &BatchInfo) {}
    /// An output operation started.
    fn on_output_operation_started(&self, info: &OutputOperationInfo) {}
    /// An output operation finished.
    fn on_output_operation_completed(&self, info: &OutputOperationInfo) {}
    /// A checkpoint was written after a batch (not part of Spark's listener interface).
    fn on_checkpoint_completed(&self, info: &crate::checkpoint::CheckpointInfo) {}
}
