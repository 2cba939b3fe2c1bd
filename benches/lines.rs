//! Throughput of the ingest path on ~64 MB of text: sealing a receiver segment and splitting it
//! into line views, against the floor of a plain byte scan counting `\n` over the same bytes.
//!
//! The text is `datasets/kjv.txt` repeated to 64 MB at line boundaries (real verse lengths), or
//! Zipf text from `dstreams::zipf` if the corpus is missing.

use std::hint::black_box;

use arrow_array::Array;
use arrow_buffer::Buffer;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use dstreams::source::lines::{split_lines, split_lines_partitioned};
use dstreams::source::segment::{SegmentConfig, SegmentPool, SegmentWriter};
use dstreams::zipf::{ZipfConfig, ZipfText};

const TARGET_BYTES: usize = 64_000_000;
/// One segment holds the whole text (64 MiB > 64 MB).
const CAPACITY: usize = 64 << 20;
/// Receiver read size for the append benchmark.
const READ_SIZE: usize = 64 << 10;

fn text() -> Vec<u8> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/kjv.txt");
    let mut text = Vec::with_capacity(TARGET_BYTES);
    match std::fs::read(path) {
        Ok(corpus) if corpus.ends_with(b"\n") => 'fill: loop {
            for line in corpus.split_inclusive(|&b| b == b'\n') {
                if text.len() + line.len() > TARGET_BYTES {
                    break 'fill;
                }
                text.extend_from_slice(line);
            }
        },
        _ => {
            let mut zipf = ZipfText::new(ZipfConfig::default()).expect("valid default config");
            zipf.write_to(&mut text, TARGET_BYTES as u64)
                .expect("writing to a Vec cannot fail");
        }
    }
    text
}

fn writer_holding(pool: &SegmentPool, text: &[u8]) -> SegmentWriter {
    let mut writer = SegmentWriter::with_pool(pool.clone());
    writer
        .append_raw(text)
        .expect("the text fits in one segment");
    writer
}

fn bench(c: &mut Criterion) {
    let text = text();
    let pool = SegmentPool::new(SegmentConfig::with_capacity(CAPACITY)).expect("valid capacity");
    let sealed: Buffer = writer_holding(&pool, &text)
        .seal()
        .expect("seal")
        .pop()
        .expect("one segment");
    let lines = split_lines(&sealed).expect("valid text").len();
    eprintln!("{} bytes, {lines} lines", text.len());

    let mut group = c.benchmark_group("lines");
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.sample_size(20);

    group.bench_function("floor_count_newlines", |b| {
        b.iter(|| black_box(&text).iter().filter(|&&b| b == b'\n').count())
    });
    // The same count with per-255-byte u8 sums, which the compiler vectorises fully: closer
    // to what memory bandwidth allows than the plain loop above.
    group.bench_function("floor_count_newlines_u8_sums", |b| {
        b.iter(|| {
            black_box(&text)
                .chunks(255)
                .map(|c| usize::from(c.iter().map(|&b| u8::from(b == b'\n')).sum::<u8>()))
                .sum::<usize>()
        })
    });
    group.bench_function("utf8_validate", |b| {
        b.iter(|| std::str::from_utf8(black_box(&text)).is_ok())
    });
    group.bench_function("split_lines", |b| {
        b.iter(|| split_lines(black_box(&sealed)).expect("valid text"))
    });
    group.bench_function("seal_split_lines", |b| {
        b.iter_batched(
            || writer_holding(&pool, &text),
            |mut writer| {
                let buffers = writer.seal().expect("seal");
                split_lines(&buffers[0]).expect("valid text")
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("append_seal_split_lines", |b| {
        b.iter(|| {
            let mut writer = SegmentWriter::with_pool(pool.clone());
            for chunk in text.chunks(READ_SIZE) {
                writer.append_raw(chunk).expect("fits");
            }
            let buffers = writer.seal().expect("seal");
            split_lines(&buffers[0]).expect("valid text")
        })
    });
    group.bench_function("split_lines_partitioned_2", |b| {
        b.iter(|| split_lines_partitioned(black_box(&sealed), 2).expect("valid text"))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
