//! Spark's QueueStream example: five batches of 1..=1000, counted by `x % 10`, printed each second.

use dstreams::prelude::*;

fn main() -> Result<()> {
    let ssc = StreamingContext::builder(Duration::seconds(1))
        .stop_when_exhausted(true)
        .build()?;
    let batches = (0..5).map(|_| Batch::from_vec((1..=1000).collect::<Vec<i64>>(), 10));
    let nums = ssc.queue_stream(batches, true, None)?;
    let counts = nums
        .map(|x, out| out.push((x % 10, 1)))?
        .reduce_by_key(|a, b| a + b)?;
    counts.pprint(10)?;
    ssc.start()?;
    ssc.await_termination()
}
