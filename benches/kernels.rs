//! Kernel benchmarks: tokeniser and word count (tokenise + aggregate) on the bundled KJV corpus
//! replicated to 16 MB and on the first 16 MB of the GCIDE corpus, with 1 and 2 threads, plus
//! the naive `HashMap<String, u64>` word-count loop as the COST baseline; and word count on the
//! whole GCIDE corpus (31 MB, about 221k distinct words). The `hash` group hashes every token
//! of a corpus with the engine's hash (from the token's view) and, for comparison, with
//! fixed-seed ahash (the engine's earlier hash) and foldhash (hashbrown's default), each from the
//! token's `&str`. The tokenizer and the word count also run, one thread on the best kernel,
//! with Python's split rules (`SpaceKeepTrailingEmpty`, the same scan as `Space`'s).
//!
//! `cargo bench --bench kernels -- --warm-up-time 1 --measurement-time 3` (see BENCH-NOTES.md).

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::hint::black_box;

use arrow_array::{Array, StringViewArray};
use arrow_buffer::Buffer;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dstreams::kernels::aggregate::{count_words, count_words_using};
use dstreams::kernels::hash::{hash_view, key_hash_state};
use dstreams::kernels::simd::Simd;
use dstreams::kernels::tokenize::{Separators, tokenize_parallel, tokenize_using};

#[path = "../tests/kernel_common/mod.rs"]
mod common;

const SIZE: usize = 16 << 20;

struct Corpus {
    name: &'static str,
    text: Buffer,
    lines: StringViewArray,
    tokens: u64,
}

fn corpora() -> Vec<Corpus> {
    let mut out = Vec::new();
    if let Some(kjv) = common::corpus(common::KJV) {
        out.push(("kjv16", common::replicate(&kjv, SIZE - kjv.len() / 2)));
    }
    if let Some(gcide) = common::corpus(common::GCIDE) {
        out.push(("gcide16", common::prefix_lines(&gcide, SIZE).to_vec()));
        out.push(("gcide31", gcide));
    }
    out.into_iter()
        .map(|(name, bytes)| {
            let text = Buffer::from_vec(bytes);
            let lines = common::lines_of(&text);
            let tokens = tokenize_using(&lines, Separators::Space, Simd::best())
                .unwrap()
                .len() as u64;
            Corpus {
                name,
                text,
                lines,
                tokens,
            }
        })
        .collect()
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
}

/// The COST baseline: the word count anyone would write first.
fn naive_word_count(text: &str) -> HashMap<String, u64> {
    let mut counts: HashMap<String, u64> = HashMap::new();
    for line in text.lines() {
        for word in line.split(' ') {
            *counts.entry(word.to_string()).or_insert(0) += 1;
        }
    }
    counts
}

fn benches(c: &mut Criterion) {
    let pools = [(1, pool(1)), (2, pool(2))];
    for corpus in corpora() {
        let bytes = corpus.text.len() as u64;
        let throughput = Throughput::ElementsAndBytes {
            elements: corpus.tokens,
            bytes,
        };
        let whole = corpus.name == "gcide31";
        let mut g = c.benchmark_group(format!("tokenize/{}", corpus.name));
        g.throughput(throughput.clone());
        for simd in Simd::available().into_iter().filter(|_| !whole) {
            g.bench_function(format!("1t/{simd:?}"), |b| {
                b.iter(|| {
                    tokenize_using(black_box(&corpus.lines), Separators::Space, simd).unwrap()
                })
            });
        }
        if !whole {
            let best = Simd::best();
            g.bench_function(format!("1t/{best:?}/SpaceKeepTrailingEmpty"), |b| {
                b.iter(|| {
                    let lines = black_box(&corpus.lines);
                    tokenize_using(lines, Separators::SpaceKeepTrailingEmpty, best).unwrap()
                })
            });
        }
        for (threads, pool) in pools.iter().filter(|_| !whole) {
            g.bench_function(format!("{threads}t/parallel"), |b| {
                pool.install(|| {
                    b.iter(|| {
                        tokenize_parallel(black_box(&corpus.lines), Separators::Space, *threads)
                            .unwrap()
                    })
                })
            });
        }
        g.finish();

        if !whole {
            hash_benches(c, &corpus, throughput.clone());
        }

        let mut g = c.benchmark_group(format!("count_words/{}", corpus.name));
        g.throughput(throughput.clone());
        for (threads, pool) in &pools {
            g.bench_function(format!("{threads}t"), |b| {
                pool.install(|| {
                    b.iter(|| {
                        count_words(black_box(&corpus.lines), Separators::Space, *threads).unwrap()
                    })
                })
            });
        }
        if whole {
            g.finish();
            continue;
        }
        g.bench_function("1t/SpaceKeepTrailingEmpty", |b| {
            pools[0].1.install(|| {
                b.iter(|| {
                    let lines = black_box(&corpus.lines);
                    count_words(lines, Separators::SpaceKeepTrailingEmpty, 1).unwrap()
                })
            })
        });
        g.bench_function("1t/scalar", |b| {
            pools[0].1.install(|| {
                b.iter(|| {
                    count_words_using(black_box(&corpus.lines), Separators::Space, 1, Simd::Scalar)
                        .unwrap()
                })
            })
        });
        let text = std::str::from_utf8(corpus.text.as_slice()).unwrap();
        g.bench_function("1t/naive-hashmap", |b| {
            b.iter(|| naive_word_count(black_box(text)))
        });
        g.finish();
    }
}

/// Every token of the corpus hashed, one thread, the tokens already in memory.
fn hash_benches(c: &mut Criterion, corpus: &Corpus, throughput: Throughput) {
    let tokens = tokenize_using(&corpus.lines, Separators::Space, Simd::best()).unwrap();
    let (views, buffers) = (tokens.views(), tokens.data_buffers());
    let strs: Vec<&str> = tokens.iter().flatten().collect();
    let mut g = c.benchmark_group(format!("hash/{}", corpus.name));
    g.throughput(throughput);
    g.bench_function("engine (from the view)", |b| {
        b.iter(|| {
            let buffers = black_box(buffers);
            views
                .iter()
                .fold(0u64, |acc, &v| acc ^ hash_view(v, buffers))
        })
    });
    g.bench_function("ahash, fixed seeds", |b| {
        b.iter(|| hash_all(black_box(&strs), key_hash_state()))
    });
    g.bench_function("foldhash fast, fixed seed", |b| {
        let state = foldhash::fast::FixedState::with_seed(0x5eed);
        b.iter(|| hash_all(black_box(&strs), &state))
    });
    g.bench_function("foldhash quality, fixed seed", |b| {
        let state = foldhash::quality::FixedState::with_seed(0x5eed);
        b.iter(|| hash_all(black_box(&strs), &state))
    });
    g.finish();
}

/// The tokens hashed with `state` (xored, so that no hash can be left out).
fn hash_all(strs: &[&str], state: &impl BuildHasher) -> u64 {
    strs.iter().fold(0u64, |acc, s| acc ^ state.hash_one(s))
}

criterion_group!(kernels, benches);
criterion_main!(kernels);
