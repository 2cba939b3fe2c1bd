//! `join`, `left_outer_join` and `cogroup` of a keyed batch with a lookup table, on real keys:
//! KJV's words (13 k distinct) and Zipf words over a 1-million-word vocabulary (high
//! cardinality). Left: every word with its position; right: every second distinct word with its
//! rank, so about half the left rows find a match. 4 partitions each side.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dstreams::Batch;
use dstreams::zipf::{ZipfConfig, ZipfText};
use std::collections::BTreeSet;
use std::hint::black_box;

const PARTITIONS: usize = 4;
const ZIPF_ROWS: usize = 2_000_000;

/// The `(word, position)` pairs of `words`, and `(word, rank)` for every second distinct word.
fn sides(words: Vec<String>) -> (Batch<(String, i64)>, Batch<(String, i64)>) {
    let distinct: BTreeSet<&String> = words.iter().collect();
    let table: Vec<(String, i64)> = distinct
        .into_iter()
        .enumerate()
        .filter(|(rank, _)| rank % 2 == 0)
        .map(|(rank, w)| (w.clone(), rank as i64))
        .collect();
    let left = words
        .into_iter()
        .enumerate()
        .map(|(i, w)| (w, i as i64))
        .collect();
    (
        Batch::from_vec(left, PARTITIONS),
        Batch::from_vec(table, PARTITIONS),
    )
}

fn kjv() -> Vec<String> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/kjv.txt"))
        .expect("datasets/kjv.txt");
    text.split_whitespace().map(str::to_string).collect()
}

fn zipf() -> Vec<String> {
    let mut z = ZipfText::new(ZipfConfig {
        vocabulary: 1_000_000,
        ..ZipfConfig::default()
    })
    .expect("a Zipf vocabulary");
    (0..ZIPF_ROWS)
        .map(|_| {
            let rank = z.sample_rank();
            z.word(rank).expect("a rank in the vocabulary").to_string()
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    for (name, words) in [("kjv", kjv()), ("zipf-1M", zipf())] {
        let (left, right) = sides(words);
        let mut group = c.benchmark_group(format!("joins/{name}"));
        group.sample_size(10);
        group.throughput(Throughput::Elements(left.len() as u64));
        group.bench_function("join", |b| b.iter(|| black_box(left.join(&right).len())));
        group.bench_function("left_outer_join", |b| {
            b.iter(|| black_box(left.left_outer_join(&right).len()))
        });
        group.bench_function("cogroup", |b| {
            b.iter(|| black_box(left.cogroup(&right).len()))
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
