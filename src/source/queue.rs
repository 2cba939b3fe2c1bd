//! `queue_stream`: batches handed over up front, one per interval or all at once (Spark's
//! `queueStream`; tests and demos).

use crate::context::{InputLifecycle, StreamInputInfo, StreamingContext};
use crate::data::{Batch, Data};
use crate::dstream::DStream;
use crate::dstream::node::lock;
use crate::error::Result;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

pub(crate) fn queue_stream<T: Data>(
    ctx: &StreamingContext,
    batches: impl IntoIterator<Item = Batch<T>>,
    one_at_a_time: bool,
    default: Option<Batch<T>>,
) -> Result<DStream<T>> {
    let queue = Arc::new(Mutex::new(batches.into_iter().collect::<VecDeque<_>>()));
    ctx.core.add_input(Arc::new(QueueInput {
        queue: queue.clone(),
        finite: default.is_none(),
    }))?;
    let id = Arc::new(std::sync::OnceLock::<usize>::new());
    let my_id = id.clone();
    let stream = DStream::create(
        ctx,
        "QueueInputDStream",
        ctx.batch_interval(),
        Vec::new(),
        crate::Duration::default(),
        Box::new(move |_, bctx| {
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
            let mut metadata = BTreeMap::new();
            metadata.insert("Description".to_string(), "queue".to_string());
            bctx.report_input(StreamInputInfo {
                input_stream_id: my_id.get().copied().unwrap_or_default(),
                num_records: batch.len() as u64,
                metadata,
            });
            Ok(Some(batch))
        }),
    )?;
    let _ = id.set(stream.node.id);
    Ok(stream)
}

/// A queue is finite when it has no default batch; it is exhausted once drained.
struct QueueInput<T: Data> {
    queue: Arc<Mutex<VecDeque<Batch<T>>>>,
    finite: bool,
}

impl<T: Data> InputLifecycle for QueueInput<T> {
    fn start(&self) -> Result<()> {
        Ok(())
    }
    fn stop(&self) {}
    /// Spark does not drain a queue on graceful stop: queued batches are not received data.
    fn has_pending(&self) -> bool {
        false
    }
    fn is_exhausted(&self) -> bool {
        self.finite && lock(&self.queue).is_empty()
    }
}
