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
//! already fetched (possibly nothing) with a warning (at most one every 10 s) and the rest
//! follows once it is back: no range is lost or read twice; once no broker has answered for
//! [`KafkaConfig::unreachable_timeout`] (60 s), batches fail with an error saying so.
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
//!
//! In group mode ([`KafkaConfig::group`]) the stream subscribes as a member of a consumer group
//! instead of reading every partition: the group assigns each member its partitions, a batch
//! plans ranges on the partitions the member owns when the batch starts (over the records
//! already fetched), an assigned partition starts at the group's committed offset, every
//! completed batch is committed before the next one starts, and a revoked partition is let go
//! only when no batch holds uncommitted ranges on it (`group.rs` explains how this avoids
//! deadlocks, and what is guaranteed when a member dies).

mod arena;
mod columns;
mod config;
mod distributed;
mod group;
mod lag;
mod outage;
mod partitions;
mod plan;
pub(crate) mod range_log;
mod reader;
mod stream;

pub use columns::KafkaRecord;
pub use config::{KafkaConfig, StartingOffsets};
pub use plan::OffsetRange;

use crate::error::Error;

/// A partition: (topic, partition).
type Key = (String, i32);

/// Turns an rdkafka error into [`Error::Kafka`] saying what was being done.
fn kafka_error(context: impl Into<String>) -> impl FnOnce(rdkafka::error::KafkaError) -> Error {
    let context = context.into();
    move |e| Error::kafka(context, e)
}
