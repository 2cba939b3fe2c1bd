//! `reduce_by_key` with a user closure over a 4-million-row `(String, i32)` batch, through the
//! public API (queue source, fast clock: each iteration is one batch), next to a plain
//! single-threaded `HashMap<String, i64>` loop over the same pairs.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dstreams::prelude::*;
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

const ROWS: usize = 4_000_000;
const VOCABULARY: u64 = 50_000;

/// Deterministic words with a skewed (roughly Zipf) distribution over the vocabulary.
fn words() -> Vec<String> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    (0..ROWS)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let u = (state >> 11) as f64 / (1u64 << 53) as f64;
            let rank = (VOCABULARY as f64).powf(u) as u64;
            format!("word{rank}")
        })
        .collect()
}

/// `(word, 1)` pairs with `i32` counts, spread over `partitions` partitions as
/// `Batch::from_vec` spreads values (which would store closure-style `i64` counts).
fn pair_batch(words: &[String], partitions: usize) -> Batch<(String, i32)> {
    let n = words.len();
    let parts = (0..partitions)
        .map(|i| {
            let part = &words[i * n / partitions..(i + 1) * n / partitions];
            dstreams::data::column_from_values(part.iter().map(|w| (w.clone(), 1i32)))
        })
        .collect();
    Batch::from_partitions(parts)
}

/// Runs `iters` batches of `batch` through `reduce_by_key(+)` and returns the time taken.
fn run_batches(batch: &Batch<(String, i32)>, iters: u64) -> StdDuration {
    let clock = Arc::new(FastClock::new(Time::from_millis(0)));
    let ssc = StreamingContext::builder(Duration::seconds(1))
        .clock(clock)
        .stop_when_exhausted(true)
        .build();
    let queue = (0..iters).map(|_| batch.clone());
    let pairs = ssc.queue_stream(queue, true, None);
    let counts = pairs.reduce_by_key(|a, b| a + b);
    counts.foreach_rdd(|b| {
        black_box(b.len());
    });
    let start = Instant::now();
    ssc.start().unwrap();
    ssc.await_termination().unwrap();
    start.elapsed()
}

fn bench(c: &mut Criterion) {
    let words = words();
    let batch = pair_batch(&words, 2);
    let mut group = c.benchmark_group("reduce_by_key");
    group.throughput(Throughput::Elements(ROWS as u64));
    group.sample_size(10);
    group.bench_function("closure_4M_pairs_2_partitions", |b| {
        b.iter_custom(|iters| run_batches(&batch, iters))
    });
    group.bench_function("naive_hashmap_single_thread", |b| {
        b.iter(|| {
            let mut counts: HashMap<String, i64> = HashMap::new();
            for w in &words {
                *counts.entry(w.clone()).or_insert(0) += 1;
            }
            black_box(counts.len())
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
