//! The harness's workloads through the public API, on 16 MB batches of the bundled corpus
//! replicated. W1, per-batch word count: the fused `split(" ") -> count_by_value()`, the closure
//! pipeline `flat_map(split) -> map((w, 1)) -> reduce_by_key(+)`, and the naive single-threaded
//! `HashMap<String, u64>` loop over the same bytes (the COST baseline). W2, the windowed count
//! (`reduce_by_key_and_window(+, -, 10 batches, 1 batch)`, zero counts dropped), and W3, the
//! running count (`update_state_by_key`), both on the per-batch counts.

use arrow_buffer::Buffer;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dstreams::prelude::*;
use dstreams::source::lines::split_lines;
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

const BATCH_BYTES: usize = 16_000_000;

/// The corpus replicated to about 16 MB, cut at a line end.
fn batch_text() -> Vec<u8> {
    let kjv = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/kjv.txt"))
        .expect("datasets/kjv.txt");
    let mut text = Vec::with_capacity(BATCH_BYTES + kjv.len());
    while text.len() < BATCH_BYTES {
        text.extend_from_slice(&kjv);
    }
    let end = text[..BATCH_BYTES]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(text.len(), |i| i + 1);
    text.truncate(end);
    text
}

/// Runs `iters` batches through `job` on the fast clock, 2 cores, and returns the time taken.
fn run(
    batch: &Batch<String>,
    iters: u64,
    job: fn(&DStream<String>) -> DStream<(String, i64)>,
) -> StdDuration {
    let ssc = StreamingContext::builder(Duration::seconds(1))
        .clock(Arc::new(FastClock::new(Time::from_millis(0))))
        .parallelism(2)
        .stop_when_exhausted(true)
        .build();
    let lines = ssc.queue_stream((0..iters).map(|_| batch.clone()), true, None);
    job(&lines).foreach_rdd(|b| {
        black_box(b.len());
    });
    let start = Instant::now();
    ssc.start().unwrap();
    ssc.await_termination().unwrap();
    let elapsed = start.elapsed();
    if let Some(dir) = ssc.checkpoint_dir() {
        let _ = std::fs::remove_dir_all(dir);
    }
    elapsed
}

fn fused(lines: &DStream<String>) -> DStream<(String, i64)> {
    lines.split(Separators::Space).count_by_value()
}

fn closures(lines: &DStream<String>) -> DStream<(String, i64)> {
    lines
        .flat_map(|l| l.split_java(' '))
        .map(|w| (w, 1))
        .reduce_by_key(|a, b| a + b)
}

fn windowed(lines: &DStream<String>) -> DStream<(String, i64)> {
    lines
        .split(Separators::Space)
        .count_by_value()
        .reduce_by_key_and_window_with(
            |a, b| a + b,
            Window::new(Duration::seconds(10), Duration::seconds(1)).inverse(|a, b| a - b),
        )
        .filter(|(_, n)| n != 0)
}

fn stateful(lines: &DStream<String>) -> DStream<(String, i64)> {
    // A stateful operation needs a checkpoint directory, as in Spark (`start` refuses to run
    // without one); the state is checkpointed every 10 batches, Spark's default interval.
    lines
        .context()
        .checkpoint(std::env::temp_dir().join(format!("dstreams-bench-w3-{}", std::process::id())));
    lines
        .split(Separators::Space)
        .count_by_value()
        .update_state_by_key(|counts: &[i64], total: Option<i64>| {
            Some(total.unwrap_or(0) + counts.iter().sum::<i64>())
        })
}

fn bench(c: &mut Criterion) {
    let text = batch_text();
    let buffer = Buffer::from_vec(text.clone());
    // One partition of line views over the batch's bytes, as a receiver or replay hands it over.
    let lines = split_lines(&buffer).unwrap();
    let batch: Batch<String> = Batch::from_partitions(vec![lines]);
    let mut group = c.benchmark_group("w1_word_count_16MB");
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.sample_size(10);
    group.bench_function("fused_split_count_by_value_2_cores", |b| {
        b.iter_custom(|n| run(&batch, n, fused))
    });
    group.bench_function("closures_2_cores", |b| {
        b.iter_custom(|n| run(&batch, n, closures))
    });
    group.bench_function("naive_hashmap_1_core", |b| {
        b.iter(|| {
            let mut counts: HashMap<String, u64> = HashMap::new();
            for line in std::str::from_utf8(&text).unwrap().lines() {
                for w in line.split(' ') {
                    *counts.entry(w.to_string()).or_insert(0) += 1;
                }
            }
            black_box(counts.len())
        })
    });
    group.finish();
    for (name, job) in [
        (
            "w2_windowed_10_1_16MB",
            windowed as fn(&DStream<String>) -> _,
        ),
        ("w3_running_count_16MB", stateful),
    ] {
        let mut group = c.benchmark_group(name);
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.sample_size(10);
        group.bench_function("2_cores", |b| b.iter_custom(|n| run(&batch, n, job)));
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
