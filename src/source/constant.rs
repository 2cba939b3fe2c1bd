//! `constant_stream`: the same batch at every batch time (Spark's `ConstantInputDStream`), for a
//! static table joined with a stream, or a test's steady input.

use crate::context::{Input, StreamingContext};
use crate::data::{Batch, Data};
use crate::dstream::DStream;
use crate::error::Result;
use crate::source::input::{described, input_stream};
use crate::time::Time;
use std::sync::Arc;

#[track_caller]
pub(crate) fn constant_stream<T: Data>(ctx: &StreamingContext, batch: Batch<T>) -> DStream<T> {
    input_stream(
        ctx,
        "ConstantInputDStream",
        Arc::new(ConstantInput),
        move |_, _| Ok((batch.clone(), described("constant"))),
    )
}

/// A constant stream has a batch at every time, so it is never exhausted (a context with
/// `stop_when_exhausted` keeps running while it is an input) and holds nothing pending. It
/// recovers from a checkpoint as it is: the program that rebuilds it gives it its batch again.
struct ConstantInput;

impl Input for ConstantInput {
    fn kind(&self) -> &'static str {
        "constant"
    }
    fn save(&self, _since: Time, _upto: Time) -> Vec<String> {
        Vec::new()
    }
    fn restore(&self, _entries: &[String]) -> Result<()> {
        Ok(())
    }
}
