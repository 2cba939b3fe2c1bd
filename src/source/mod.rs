//! Input sources: the queue, a constant batch, replays, text files, Kafka, receivers (custom, socket), their mmap-backed segments and
//! write-ahead log, line splitting, and rate control.

pub(crate) mod constant;
mod file_stream;
mod input;
pub(crate) mod kafka;
pub mod lines;
pub mod mapped_file;
pub(crate) mod queue;
pub mod rate;
pub(crate) mod receiver;
mod replay;
pub mod segment;
pub(crate) mod socket;
pub(crate) mod wal;

pub use file_stream::{FileStreamConfig, Utf8Policy};
pub use kafka::{KafkaConfig, KafkaRecord, OffsetRange, StartingOffsets};
pub use rate::{PidRateEstimator, RateLimiter};
pub use receiver::{Receiver, ReceiverConfig, ReceiverHandle};
pub use replay::{ReplayCut, ReplayData};
