//! Spark's `QueueStream`: a queue of batches of the integers 1 to 1000 in 10 partitions, one
//! taken each second, counted by `x % 10`.
//!
//! `cargo run --release --example queue_stream` (or `dstreams run queue-stream --fast`). Spark
//! pushes 30 batches in while it runs; here they are queued up front, and the program stops
//! once the queue is drained (`stop_when_exhausted`; Spark runs on with empty batches).

use dstreams::prelude::*;

/// The queued batches, Spark's `sc.makeRDD(1 to 1000, 10)` each.
pub fn rdd_queue(batches: usize) -> Vec<Batch<i64>> {
    (0..batches)
        .map(|_| Batch::from_vec((1..=1000).collect(), 10))
        .collect()
}

/// `inputStream.map(x => (x % 10, 1)).reduceByKey(_ + _)`.
pub fn reduced(input_stream: &DStream<i64>) -> DStream<(i64, i64)> {
    let mapped_stream = input_stream.map(|x| (x % 10, 1));
    mapped_stream.reduce_by_key(|a, b| a + b)
}

fn main() -> Result<()> {
    let ssc = StreamingContext::builder(Seconds(1))
        .stop_when_exhausted(true)
        .build();
    // Create the queue through which RDDs can be pushed to a QueueInputDStream
    let input_stream = ssc.queue_stream(rdd_queue(30), true, None);
    // Create the QueueInputDStream and use it do some processing
    reduced(&input_stream).print();
    ssc.start()?;
    ssc.await_termination()
}
