//! The input node every source builds on: it produces the source's batch for each batch time and
//! reports what came in (records and metadata) to the batch's listeners.

use crate::context::{BatchContext, Input, StreamInputInfo, StreamingContext};
use crate::data::{Batch, Data};
use crate::dstream::DStream;
use crate::dstream::node::Plan;
use crate::error::{Error, Result};
use crate::time::{Duration, Time};
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

/// Facts about one batch of an input (Spark's `StreamInputInfo.metadata`).
pub(crate) type Metadata = BTreeMap<String, String>;

/// Metadata with a `"Description"`.
pub(crate) fn described(description: impl Into<String>) -> Metadata {
    let mut m = Metadata::new();
    m.insert("Description".to_string(), description.into());
    m
}

/// An input stream named `name` whose batch at each time is what `take` returns, registered with
/// its context as `input`; its node id is its input stream id in `BatchInfo`.
#[track_caller]
pub(crate) fn input_stream<T: Data>(
    ctx: &StreamingContext,
    name: &str,
    input: Arc<dyn Input>,
    take: impl Fn(Time, &BatchContext) -> Result<(Batch<T>, Metadata)> + Send + Sync + 'static,
) -> DStream<T> {
    let id = Arc::new(OnceLock::<usize>::new());
    let my_id = id.clone();
    let stream = DStream::create(
        ctx,
        name,
        ctx.batch_interval(),
        Vec::new(),
        Duration::default(),
        Plan::default(),
        Box::new(move |t, bctx: &BatchContext| {
            if bctx.is_late() {
                // A late batch runs only what follows an exchange (distributed mode).
                return Ok(None);
            }
            let (batch, metadata) = take(t, bctx)?;
            // A batch re-created for a window after recovery is not this batch's input.
            if t == bctx.time() {
                bctx.report_input(StreamInputInfo {
                    input_stream_id: my_id.get().copied().unwrap_or_default(),
                    num_records: batch.len() as u64,
                    metadata,
                });
            }
            Ok(Some(batch))
        }),
    );
    let _ = id.set(stream.node.id);
    ctx.core.add_input(stream.node.id, input);
    stream
}

/// The stream of a source that could not be built (its problem is recorded for `start`, which
/// then refuses to run): a node of the source's name without an input behind it.
#[track_caller]
pub(crate) fn unavailable_input<T: Data>(ctx: &StreamingContext, name: &str) -> DStream<T> {
    let name_owned = name.to_string();
    DStream::create(
        ctx,
        name,
        ctx.batch_interval(),
        Vec::new(),
        Duration::default(),
        Plan::default(),
        Box::new(move |_, _| {
            Err(Error::Internal(format!(
                "{name_owned} could not be built and must not run (start refuses such a program)"
            )))
        }),
    )
}
