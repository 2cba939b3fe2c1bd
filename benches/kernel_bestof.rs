//! Best-of-N timings of every benchmark case, for a shared machine where criterion's means
//! are inflated by other jobs: each case runs in `N` rounds of 3 runs, every round started
//! only once both CPUs have been idle for a second (up to 60 s of waiting), and the fastest
//! run is reported, with the process's on-CPU time over all runs. Prints a Markdown table.
//!
//! `cargo bench --bench kernel_bestof -- [N] [filter]` (filter: a substring of
//! "corpus case", e.g. `count_words`).

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Instant;

use arrow_array::Array;
use arrow_buffer::Buffer;
use dstreams::kernels::aggregate::count_words;
use dstreams::kernels::simd::Simd;
use dstreams::kernels::tokenize::{Separators, tokenize_parallel, tokenize_using};

#[path = "../tests/kernel_common/mod.rs"]
mod common;

fn naive_word_count(text: &str) -> HashMap<String, u64> {
    let mut counts: HashMap<String, u64> = HashMap::new();
    for line in text.lines() {
        for word in line.split(' ') {
            *counts.entry(word.to_string()).or_insert(0) += 1;
        }
    }
    counts
}

/// Waits (up to 60 s) until the CPUs have been at least 95 % idle over one second.
fn wait_idle() {
    fn sample() -> Option<(u64, u64)> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let cpu: Vec<u64> = stat
            .lines()
            .next()?
            .split_whitespace()
            .skip(1)
            .filter_map(|v| v.parse().ok())
            .collect();
        let total = cpu.iter().take(8).sum();
        let idle = cpu.get(3)? + cpu.get(4)?;
        Some((total, idle))
    }
    let start = Instant::now();
    while start.elapsed().as_secs() < 60 {
        let Some(a) = sample() else { return };
        std::thread::sleep(std::time::Duration::from_secs(1));
        let Some(b) = sample() else { return };
        let (total, idle) = (b.0 - a.0, b.1 - a.1);
        if total > 0 && idle * 100 >= total * 95 {
            return;
        }
    }
}

/// Nanoseconds the live threads of this process have run on a CPU.
fn cpu_ns() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

fn main() {
    // `cargo bench` adds `--bench` to the arguments.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let runs: usize = args.first().and_then(|s| s.parse().ok()).unwrap_or(5);
    let filter = args.get(1).cloned().unwrap_or_default();
    let mut corpora: Vec<(&str, Vec<u8>)> = Vec::new();
    if let Some(kjv) = common::corpus(common::KJV) {
        corpora.push(("kjv16", common::replicate(&kjv, (16 << 20) - kjv.len() / 2)));
    }
    if let Some(g) = common::corpus(common::GCIDE) {
        corpora.push(("gcide16", common::prefix_lines(&g, 16 << 20).to_vec()));
        corpora.push(("gcide31", g));
    }
    let pools: Vec<rayon::ThreadPool> = (1..=2)
        .map(|t| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(t)
                .build()
                .unwrap()
        })
        .collect();
    println!(
        "| corpus | case | best ms | GB/s (best) | M tokens/s (best) | GB per CPU-second (all runs) |"
    );
    println!("|---|---|---|---|---|---|");
    for (name, bytes) in corpora {
        let text = Buffer::from_vec(bytes);
        let lines = common::lines_of(&text);
        let lines = &lines;
        let tokens = tokenize_using(lines, Separators::Space, Simd::best())
            .unwrap()
            .len();
        let s = std::str::from_utf8(text.as_slice()).unwrap();
        type Case<'a> = (String, usize, Box<dyn Fn() + Sync + 'a>);
        let mut cases: Vec<Case<'_>> = Vec::new();
        for t in 1..=2 {
            cases.push((
                format!("count_words {t}t"),
                t,
                Box::new(move || {
                    black_box(count_words(lines, Separators::Space, t).unwrap());
                }),
            ));
        }
        if name != "gcide31" {
            for simd in Simd::available() {
                cases.push((
                    format!("tokenize 1t {simd:?}"),
                    1,
                    Box::new(move || {
                        black_box(tokenize_using(lines, Separators::Space, simd).unwrap());
                    }),
                ));
            }
            cases.push((
                "tokenize_parallel 2t".into(),
                2,
                Box::new(|| {
                    black_box(tokenize_parallel(lines, Separators::Space, 2).unwrap());
                }),
            ));
            cases.push((
                "naive HashMap<String,u64> 1t".into(),
                1,
                Box::new(|| {
                    black_box(naive_word_count(s));
                }),
            ));
        }
        for (case, threads, f) in &cases {
            if !format!("{name} {case}").contains(&filter) {
                continue;
            }
            pools[threads - 1].install(|| {
                let mut best = f64::MAX;
                let mut cpu = 0.0;
                for _ in 0..runs {
                    wait_idle();
                    f();
                    let cpu0 = cpu_ns();
                    for _ in 0..3 {
                        let t = Instant::now();
                        f();
                        best = best.min(t.elapsed().as_secs_f64());
                    }
                    cpu += (cpu_ns() - cpu0) as f64 / 1e9;
                }
                let len = text.len() as f64;
                println!(
                    "| {name} | {case} | {:.1} | {:.3} | {:.1} | {:.3} |",
                    best * 1e3,
                    len / best / 1e9,
                    tokens as f64 / best / 1e6,
                    len * (3 * runs) as f64 / cpu / 1e9,
                );
            });
        }
    }
}
