//! Runs a DStream graph over given input batches on a manual clock, batch by batch, without
//! sleeping, and collects each output batch (Spark's `TestSuiteBase.testOperation`).
#![allow(dead_code)]

use dstreams::prelude::*;

pub mod job;
pub mod kafka;
pub mod process;
pub mod rng;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Batch interval of the tests: one second, as Spark's suites use.
pub const BATCH: Duration = Duration::seconds(1);

/// A context on a manual clock at 0 with `parallelism` partitions by default, checkpointing into
/// a fresh directory under `target/tmp` (as Spark's `TestSuiteBase` sets one: stateful
/// operations need it); `run_batches` removes it.
pub fn manual_context(parallelism: usize) -> (StreamingContext, Arc<ManualClock>) {
    static CONTEXTS: AtomicUsize = AtomicUsize::new(0);
    let clock = Arc::new(ManualClock::new(Time::from_millis(0)));
    let ssc = StreamingContext::builder(BATCH)
        .clock(clock.clone())
        .parallelism(parallelism)
        .build();
    // Under cargo's scratch directory for integration tests (target/tmp), not the system's.
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "checkpoints-{}-{}",
        std::process::id(),
        CONTEXTS.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    ssc.checkpoint(dir);
    (ssc, clock)
}

/// Collects every batch of `stream`, in batch order.
pub fn collect<T: Data>(stream: &DStream<T>) -> Arc<Mutex<Vec<(Time, Vec<T>)>>> {
    let out = Arc::new(Mutex::new(Vec::new()));
    let sink = out.clone();
    stream.foreach_rdd(move |b| sink.lock().unwrap().push((b.time(), b.to_vec())));
    out
}

/// Starts `ssc`, runs `n` batches by advancing the clock one interval at a time and waiting for
/// each batch to finish, then stops.
pub fn run_batches(ssc: &StreamingContext, clock: &ManualClock, n: usize) {
    ssc.start().unwrap();
    for i in 1..=n {
        clock.advance(BATCH);
        let done = ssc
            .await_batch(Time::from_millis(i as i64 * 1000), Seconds(30))
            .unwrap();
        assert!(done, "batch {i} did not complete");
    }
    ssc.stop(false).unwrap();
    if let Some(dir) = ssc.checkpoint_dir() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Input batches as queue batches of `partitions` partitions.
pub fn batches<T: Data>(input: Vec<Vec<T>>, partitions: usize) -> Vec<Batch<T>> {
    input
        .into_iter()
        .map(|b| owned_batch(b, partitions))
        .collect()
}

/// A batch of exactly these values (of any element type: `Batch::from_vec` takes closure
/// results, whose integers are `i64`s), spread over `partitions` partitions as Spark's
/// `parallelize` does.
pub fn owned_batch<T: Data>(values: Vec<T>, partitions: usize) -> Batch<T> {
    let p = partitions.max(1);
    let n = values.len();
    let mut iter = values.into_iter();
    let parts = (0..p)
        .map(|i| {
            let len = (i + 1) * n / p - i * n / p;
            dstreams::data::column_from_values(iter.by_ref().take(len))
        })
        .collect();
    Batch::from_partitions(parts)
}

/// Spark's `testOperation`: the outputs of `op` over `input` (2 partitions per batch), one `Vec`
/// per input batch.
pub fn test_operation<T: Data, O: Data>(
    input: Vec<Vec<T>>,
    op: impl FnOnce(&DStream<T>) -> DStream<O>,
) -> Vec<Vec<O>> {
    let n = input.len();
    let (ssc, clock) = manual_context(2);
    let stream = ssc.queue_stream(batches(input, 2), true, None);
    let out = collect(&op(&stream));
    run_batches(&ssc, &clock, n);
    let out = std::mem::take(&mut *out.lock().unwrap());
    out.into_iter().map(|(_, v)| v).collect()
}

/// The same with two input streams.
pub fn test_operation2<T: Data, U: Data, O: Data>(
    a: Vec<Vec<T>>,
    b: Vec<Vec<U>>,
    op: impl FnOnce(&DStream<T>, &DStream<U>) -> DStream<O>,
) -> Vec<Vec<O>> {
    let n = a.len();
    let (ssc, clock) = manual_context(2);
    let s1 = ssc.queue_stream(batches(a, 2), true, None);
    let s2 = ssc.queue_stream(batches(b, 2), true, None);
    let out = collect(&op(&s1, &s2));
    run_batches(&ssc, &clock, n);
    let out = std::mem::take(&mut *out.lock().unwrap());
    out.into_iter().map(|(_, v)| v).collect()
}

/// Sorts each batch (for outputs whose order depends on hashing, compared as sets in Spark).
pub fn sorted<T: Ord>(batches: Vec<Vec<T>>) -> Vec<Vec<T>> {
    batches
        .into_iter()
        .map(|mut b| {
            b.sort();
            b
        })
        .collect()
}

/// Owned strings.
pub fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

/// Spark's `testOperation` with `numBatches = expected.len() * slide / batch`: the input padded
/// with empty batches, each output batch sorted (Spark compares them as sets). Like Spark's
/// `TestInputStream`, the input yields batch `k` at time `k` whether or not a window asks for it
/// then (an output on the input pulls every batch; a queue stream is otherwise popped lazily).
pub fn test_windowed<T: Data, O: Data + Ord>(
    mut input: Vec<Vec<T>>,
    outputs: usize,
    slide_batches: usize,
    op: impl FnOnce(&DStream<T>) -> DStream<O>,
) -> Vec<Vec<O>> {
    let n = outputs * slide_batches;
    while input.len() < n {
        input.push(Vec::new());
    }
    let (ssc, clock) = manual_context(2);
    let stream = ssc.queue_stream(batches(input, 2), true, None);
    stream.foreach_rdd(|_| ());
    let out = collect(&op(&stream));
    run_batches(&ssc, &clock, n);
    let out = std::mem::take(&mut *out.lock().unwrap());
    out.into_iter()
        .map(|(_, mut b)| {
            b.sort();
            b
        })
        .collect()
}

/// Batches of owned strings.
pub fn words(v: &[&[&str]]) -> Vec<Vec<String>> {
    v.iter()
        .map(|b| b.iter().map(|w| w.to_string()).collect())
        .collect()
}

/// Batches of `(String, i64)` pairs.
pub fn pairs(v: &[&[(&str, i64)]]) -> Vec<Vec<(String, i64)>> {
    v.iter()
        .map(|b| b.iter().map(|&(k, n)| (k.to_string(), n)).collect())
        .collect()
}

/// The batches collected so far, each sorted, with their times in milliseconds.
pub fn timed_sorted<T: Ord>(out: &Arc<Mutex<Vec<(Time, Vec<T>)>>>) -> Vec<(i64, Vec<T>)> {
    std::mem::take(&mut *out.lock().unwrap())
        .into_iter()
        .map(|(t, mut b)| {
            b.sort();
            (t.as_millis(), b)
        })
        .collect()
}
