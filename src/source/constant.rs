//! `constant_stream`: the same batch at every batch time (Spark's `ConstantInputDStream`), for a
//! static table joined with a stream, or a test's steady input.

use crate::context::{InputLifecycle, StreamingContext};
use crate::data::{Batch, Data};
use crate::dstream::DStream;
use crate::error::Result;
use crate::source::input::{described, input_stream};
use std::sync::Arc;

pub(crate) fn constant_stream<T: Data>(
    ctx: &StreamingContext,
    batch: Batch<T>,
) -> Result<DStream<T>> {
    ctx.core.add_input(Arc::new(ConstantInput))?;
    input_stream(ctx, "ConstantInputDStream", move |_, _| {
        Ok((batch.clone(), described("constant")))
    })
}

/// A constant stream has a batch at every time, so it is never exhausted (a context with
/// `stop_when_exhausted` keeps running while it is an input), and holds nothing pending.
struct ConstantInput;

impl InputLifecycle for ConstantInput {}
