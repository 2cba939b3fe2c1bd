//! Input sources: the queue, receivers (custom, socket), their mmap-backed segments, line
//! splitting, and rate control.

pub mod lines;
pub(crate) mod queue;
pub mod rate;
pub(crate) mod receiver;
mod replay;
pub mod segment;

pub use rate::{PidRateEstimator, RateLimiter};
pub use receiver::{Receiver, ReceiverConfig, ReceiverHandle};
pub use replay::{ReplayCut, ReplayData};
