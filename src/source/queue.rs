//! `queue_stream`: batches handed over up front, one per interval or all at once (Spark's
//! `queueStream`; tests and demos).

use crate::context::{Input, StreamingContext};
use crate::data::{Batch, Data};
use crate::dstream::DStream;
use crate::error::{Error, Result};
use crate::lock::lock;
use crate::source::input::{described, input_stream};
use crate::time::Time;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

#[track_caller]
pub(crate) fn queue_stream<T: Data>(
    ctx: &StreamingContext,
    batches: impl IntoIterator<Item = Batch<T>>,
    one_at_a_time: bool,
    default: Option<Batch<T>>,
) -> DStream<T> {
    let queue = Arc::new(Mutex::new(batches.into_iter().collect::<VecDeque<_>>()));
    let input = Arc::new(QueueInput {
        queue: queue.clone(),
        finite: default.is_none(),
    });
    input_stream(ctx, "QueueInputDStream", input, move |_, _| {
        let taken = {
            let mut q = lock(&queue);
            if one_at_a_time {
                q.pop_front()
            } else if q.is_empty() {
                None
            } else {
                let parts = q.drain(..).flat_map(|b| b.partitions().to_vec()).collect();
                Some(Batch::from_partitions(parts))
            }
        };
        let batch = taken
            .or_else(|| default.clone())
            .unwrap_or_else(Batch::empty);
        Ok((batch, described("queue")))
    })
}

/// A queue is finite when it has no default batch; it is exhausted once drained.
struct QueueInput<T: Data> {
    queue: Arc<Mutex<VecDeque<Batch<T>>>>,
    finite: bool,
}

/// Spark does not drain a queue on graceful stop: queued batches are not received data, so a
/// queue never has anything pending. A queue's batches live in the program's memory only, so a
/// checkpoint cannot bring them back: recovering a program with a queue stream from a checkpoint
/// is refused with Spark's message (Spark refuses to checkpoint such a program at all; here its
/// stateful operators may still checkpoint while it runs).
impl<T: Data> Input for QueueInput<T> {
    fn kind(&self) -> &'static str {
        "queue"
    }
    fn is_exhausted(&self) -> bool {
        self.finite && lock(&self.queue).is_empty()
    }
    fn save(&self, _since: Time, _upto: Time) -> Vec<String> {
        Vec::new()
    }
    fn restore(&self, _entries: &[String]) -> Result<()> {
        Err(Error::Unsupported(
            "queueStream doesn't support checkpointing. Please don't use queueStream when checkpointing is enabled.".into(),
        ))
    }
}
