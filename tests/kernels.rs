//! The kernels agree with plain reference implementations (split + `HashMap`) on the corpora
//! and on random inputs: empty tokens, long tokens (> 12 bytes), multi-byte UTF-8, separators
//! at 64-byte block edges, lines in one buffer, in several buffers, sliced, with nulls.
//!
//! Under Miri (`scripts/miri`) the random and edge cases are fewer and the corpora are skipped:
//! interpreted, the kernels run thousands of times slower.

#[path = "kernel_common/mod.rs"]
mod common;
#[path = "common/rng.rs"]
mod rng;
use rng::Rng;

use std::collections::HashMap;

use arrow_array::builder::StringViewBuilder;
use arrow_array::{Array, StringViewArray};
use arrow_buffer::Buffer;
use dstreams::kernels::KernelError;
use dstreams::kernels::accumulate::Agg;
use dstreams::kernels::aggregate::{
    Aggregation, Partition, aggregate, aggregate_hashed, compact, count_words, count_words_using,
};
use dstreams::kernels::hash::{KeyHashes, hash_key, partition_of};
use dstreams::kernels::simd::Simd;
use dstreams::kernels::tokenize::{Separators, tokenize, tokenize_parallel, tokenize_using};
use dstreams::text::split_java;

fn reference_tokens(lines: &StringViewArray, sep: Separators) -> Vec<String> {
    lines
        .iter()
        .flatten()
        .flat_map(|line| match sep {
            Separators::Space => split_java(line, ' ').collect::<Vec<_>>(),
            Separators::SpaceKeepTrailingEmpty => line.split(' ').collect(),
            Separators::AsciiWhitespace => line.split_ascii_whitespace().collect(),
        })
        .map(str::to_owned)
        .collect()
}

/// Per partition, keys in first-seen order with their aggregate, placed by the engine's hash.
fn reference_aggregate(
    keys: &[String],
    values: &[i64],
    f: impl Fn(i64, i64) -> i64,
    partitions: usize,
) -> Vec<Vec<(String, i64)>> {
    let mut out: Vec<Vec<(String, i64)>> = vec![Vec::new(); partitions];
    let mut index: HashMap<&str, (usize, usize)> = HashMap::new();
    for (k, &v) in keys.iter().zip(values) {
        match index.get(k.as_str()) {
            Some(&(p, i)) => out[p][i].1 = f(out[p][i].1, v),
            None => {
                let p = partition_of(hash_key(k.as_bytes()), partitions);
                index.insert(k, (p, out[p].len()));
                out[p].push((k.clone(), v));
            }
        }
    }
    out
}

fn as_pairs(parts: &[Partition]) -> Vec<Vec<(String, i64)>> {
    parts
        .iter()
        .map(|(keys, values)| {
            assert_eq!(keys.len(), values.len());
            assert_eq!(keys.null_count(), 0);
            // The unchecked arrays pass Arrow's own validation.
            let (v, b, n) = keys.clone().into_parts();
            StringViewArray::try_new(v, b, n).expect("valid keys");
            keys.iter()
                .flatten()
                .map(str::to_owned)
                .zip(values.iter().copied())
                .collect()
        })
        .collect()
}

fn strings(a: &StringViewArray) -> Vec<String> {
    a.iter().flatten().map(str::to_owned).collect()
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
}

/// Every kernel variant and entry point against the references, on one array of lines.
fn check_lines(lines: &StringViewArray, partitions: &[usize]) {
    for sep in Separators::ALL {
        let expected = reference_tokens(lines, sep);
        let scalar = tokenize_using(lines, sep, Simd::Scalar).unwrap();
        assert_eq!(strings(&scalar), expected, "{sep:?}");
        for simd in Simd::available() {
            let out = tokenize_using(lines, sep, simd).unwrap();
            // Every variant gives exactly the scalar views (same buffers, same offsets).
            assert_eq!(out.views(), scalar.views(), "{simd:?} {sep:?}");
            assert!(std::sync::Arc::ptr_eq(
                out.data_buffers(),
                lines.data_buffers()
            ));
        }
        let (v, b, n) = scalar.clone().into_parts();
        StringViewArray::try_new(v, b, n).expect("valid tokens");
        for parts in [1, 2, 5] {
            let out = tokenize_parallel(lines, sep, parts).unwrap();
            assert_eq!(out.len(), parts);
            let joined: Vec<String> = out.iter().flat_map(strings).collect();
            assert_eq!(joined, expected, "{sep:?} parts={parts}");
        }
        let ones = vec![1; expected.len()];
        // Under Miri, where every thread pool costs seconds, only the two-thread one.
        let thread_counts: &[usize] = if cfg!(miri) { &[2] } else { &[1, 2] };
        for &p in partitions {
            let want = reference_aggregate(&expected, &ones, |a, b| a + b, p);
            for &threads in thread_counts {
                let got = pool(threads).install(|| count_words(lines, sep, p).unwrap());
                assert_eq!(got.len(), p);
                assert_eq!(as_pairs(&got), want, "{sep:?} p={p} threads={threads}");
            }
            let scalar = count_words_using(lines, sep, p, Simd::Scalar).unwrap();
            assert_eq!(as_pairs(&scalar), want);
            let agg = aggregate(
                std::slice::from_ref(&tokenize(lines, sep).unwrap()),
                None,
                Agg::Count,
                p,
            )
            .unwrap();
            assert_eq!(as_pairs(&agg), want);
        }
    }
}

#[test]
#[cfg_attr(miri, ignore = "megabytes of corpus take hours under Miri")]
fn corpora_agree_with_the_reference() {
    for path in [common::KJV, common::GCIDE] {
        let Some(bytes) = common::corpus(path) else {
            continue;
        };
        let lines = common::lines_of(&Buffer::from_vec(bytes));
        check_lines(&lines, &[1, 2, 7]);
    }
}

/// A reference fold of two values.
type Fold = dyn Fn(i64, i64) -> i64;

/// A random line: words (short, long, multi-byte) and separators (single and repeated spaces,
/// tabs, other whitespace, vertical tab which is not whitespace here).
fn random_line(rng: &mut Rng) -> String {
    const PIECES: &[&str] = &[
        "a",
        "the",
        "word",
        "caf\u{e9}",
        "\u{1f980}",
        "na\u{ef}ve",
        "x",
        "twelve_bytes",
        "thirteen_byte",
        "a-rather-long-token-of-many-bytes",
        "\u{3053}\u{3093}\u{306b}\u{3061}\u{306f}",
        "\x0b",
        "\r",
    ];
    const SEPS: &[&str] = &[" ", " ", " ", "  ", "   ", "\t", " \t ", "\x0c", "\r"];
    let mut line = String::new();
    let most = if rng.below(10) == 0 { 60 } else { 12 };
    let words = rng.below(most);
    if rng.below(4) == 0 {
        line.push_str(SEPS[rng.below(SEPS.len() as u64) as usize]);
    }
    for _ in 0..words {
        line.push_str(PIECES[rng.below(PIECES.len() as u64) as usize]);
        line.push_str(SEPS[rng.below(SEPS.len() as u64) as usize]);
    }
    if rng.below(2) == 0 {
        // Usually drop the separator after the last word.
        let trim = line.trim_end_matches([' ', '\t', '\x0c', '\r']).len();
        line.truncate(trim);
    }
    line
}

#[test]
fn random_inputs_agree_with_the_reference() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (rounds, most_lines, fewest_lines) = if cfg!(miri) {
        (1, 30, 20)
    } else {
        (40, 300, 0)
    };
    for round in 0..rounds {
        let count = (rng.below(most_lines) as usize).max(fewest_lines);
        let lines: Vec<String> = (0..count).map(|_| random_line(&mut rng)).collect();
        // 1. Lines as consecutive slices of one buffer (`\n` or `\r\n` between them).
        let mut text = String::new();
        for l in &lines {
            text.push_str(l.trim_end_matches('\r'));
            text.push_str(if rng.below(3) == 0 { "\r\n" } else { "\n" });
        }
        let buffered = common::lines_of(&Buffer::from(text.as_bytes()));
        check_lines(&buffered, &[1, 3]);
        // 2. Lines copied by a builder into several small blocks, some null.
        let mut builder = StringViewBuilder::new().with_fixed_block_size(256);
        for l in &lines {
            if rng.below(10) == 0 {
                builder.append_null();
            }
            builder.append_value(l);
        }
        let blocks = builder.finish();
        check_lines(&blocks, &[1, 4]);
        // 3. A slice of it.
        if blocks.len() > 4 {
            let sliced = blocks.slice(2, blocks.len() - 3);
            check_lines(&sliced, &[2]);
        }
        let _ = round;
    }
}

/// Lines longer than the piece the fused word count tokenises at a time (16 KiB) count as whole
/// lines: random long lines, and the cases where a cut could change the tokens (a run of
/// spaces across the cut point, trailing and leading spaces, one huge token, only spaces).
#[test]
#[cfg_attr(miri, ignore = "lines of tens of kilobytes take hours under Miri")]
fn lines_longer_than_a_piece_agree_with_the_reference() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let random_long = |rng: &mut Rng| {
        let mut line = String::new();
        while line.len() < 16 * 1024 + rng.below(60_000) as usize {
            line.push_str(&random_line(rng));
            line.push(' ');
        }
        line
    };
    let piece = 16 * 1024;
    let mut lines: Vec<String> = (0..6).map(|_| random_long(&mut rng)).collect();
    let words = |n: usize| "ab ".repeat(n / 3);
    lines.extend([
        // A run of spaces from just before the cut point to well after it.
        format!("{}{}tail words", words(piece - 7), " ".repeat(40)),
        // Spaces only, then a word: every empty token counts.
        format!("{}x", " ".repeat(3 * piece)),
        // Spaces only: no token at all with Spark's split, one more than the spaces with Python's.
        " ".repeat(2 * piece + 5),
        // Trailing spaces after the cut point, dropped by Spark's split, kept by Python's.
        format!("{}{}", words(piece + 30), " ".repeat(piece)),
        // Leading spaces, then words.
        format!("{}{}", " ".repeat(5), words(3 * piece)),
        // One token of 40 KiB.
        "y".repeat(40 * 1024),
        // A separator exactly at the cut point and the last byte a space.
        format!("{} z ", "q".repeat(piece - 1)),
        // The first space past the cut point the last byte (Python's split keeps its empty
        // token, which an empty last piece would lose).
        format!("{} ", "q".repeat(piece + 9)),
        // Tabs, which only the whitespace separators cut at.
        "w\t".repeat(piece),
    ]);
    let mut text = String::new();
    for l in &lines {
        text.push_str(l);
        text.push('\n');
    }
    let buffered = common::lines_of(&Buffer::from(text.as_bytes()));
    check_lines(&buffered, &[1, 3]);
    let mut builder = StringViewBuilder::new();
    for l in &lines {
        builder.append_value(l);
    }
    check_lines(&builder.finish(), &[2]);
}

#[test]
fn separators_at_every_block_edge() {
    // One long line per position of a separator around the 64-byte block edges of its buffer
    // (under Miri only the positions next to an edge, fewer line lengths and shifts).
    let near_edge = |pos: usize| !cfg!(miri) || matches!(pos % 64, 0 | 63) || pos >= 198;
    let step = if cfg!(miri) { 13 } else { 1 };
    let mut text = String::new();
    for pos in (0..200).filter(|&pos| near_edge(pos)) {
        let mut line: Vec<u8> = vec![b'w'; 200];
        line[pos] = b' ';
        if pos + 1 < 200 {
            line[pos + 1] = b' ';
        }
        line[199] = b' ';
        text.push_str(std::str::from_utf8(&line).unwrap());
        text.push('\n');
    }
    // Also lines whose ends fall on every offset modulo 64.
    for len in (0..130).step_by(step) {
        text.push_str(&"ab ".repeat(len / 3));
        text.push_str(&"c".repeat(len % 3));
        text.push('\n');
    }
    let lines = common::lines_of(&Buffer::from(text.as_bytes()));
    check_lines(&lines, &[1, 2]);
    // The same text shifted by every offset within a block.
    let shifts: Vec<usize> = if cfg!(miri) {
        vec![1, 63]
    } else {
        (1..64).collect()
    };
    for shift in shifts {
        let shifted = format!("{}\n{text}", "s".repeat(shift));
        let lines = common::lines_of(&Buffer::from(shifted.as_bytes()));
        for sep in Separators::ALL {
            let scalar = tokenize_using(&lines, sep, Simd::Scalar).unwrap();
            assert_eq!(strings(&scalar), reference_tokens(&lines, sep));
            for simd in Simd::available() {
                let out = tokenize_using(&lines, sep, simd).unwrap();
                assert_eq!(out.views(), scalar.views());
            }
        }
    }
}

#[test]
fn aggregates_with_values_agree_with_the_reference() {
    let mut rng = Rng(42);
    let words: Vec<String> = (0..500)
        .map(|i| match i % 4 {
            0 => format!("k{i}"),
            1 => format!("a key longer than twelve bytes {i}"),
            2 => format!("\u{e9}\u{1f980}{i}"),
            _ => String::new() + &"z".repeat(i % 13),
        })
        .collect();
    let (rounds, most_rows) = if cfg!(miri) { (1, 40) } else { (10, 3000) };
    for _ in 0..rounds {
        let arrays: Vec<StringViewArray> = (0..rng.below(4) + 1)
            .map(|_| {
                let n = rng.below(most_rows) as usize;
                let mut b = StringViewBuilder::new().with_fixed_block_size(1024);
                for _ in 0..n {
                    b.append_value(&words[rng.below(words.len() as u64) as usize]);
                }
                b.finish()
            })
            .collect();
        let values: Vec<Vec<i64>> = arrays
            .iter()
            .map(|a| {
                (0..a.len())
                    .map(|_| rng.next() as i64 >> rng.below(64))
                    .collect()
            })
            .collect();
        let value_slices: Vec<&[i64]> = values.iter().map(Vec::as_slice).collect();
        let all_keys: Vec<String> = arrays.iter().flat_map(strings).collect();
        let all_values: Vec<i64> = values.concat();
        let hashes: Vec<KeyHashes> = arrays.iter().map(KeyHashes::new).collect();
        let reduce = |a: i64, b: i64| a ^ b.rotate_left(7);
        let cases: [(Agg<'_>, &Fold); 5] = [
            (Agg::Sum, &|a: i64, b: i64| a.wrapping_add(b)),
            (Agg::Min, &|a: i64, b: i64| a.min(b)),
            (Agg::Max, &|a: i64, b: i64| a.max(b)),
            (Agg::Reduce(&reduce), &reduce),
            (Agg::Count, &|a: i64, _| a + 1),
        ];
        for (agg, f) in cases {
            for p in [1, 2, 5] {
                let init: Vec<i64> = match agg {
                    Agg::Count => vec![1; all_keys.len()],
                    _ => all_values.clone(),
                };
                let want = reference_aggregate(&all_keys, &init, f, p);
                for threads in [1, 2] {
                    let got = pool(threads)
                        .install(|| aggregate(&arrays, Some(&value_slices), agg, p).unwrap());
                    assert_eq!(as_pairs(&got), want, "{agg:?} p={p}");
                }
                let hashed =
                    aggregate_hashed(&arrays, &hashes, Some(&value_slices), agg, p).unwrap();
                assert_eq!(as_pairs(&hashed), want, "{agg:?} p={p} hashed");
            }
        }
        // Compacted keys are equal, valid, and no longer reference the input buffers.
        for (keys, _) in aggregate(&arrays, None, Agg::Sum, 3).unwrap() {
            let owned = compact(&keys);
            assert_eq!(owned, keys);
            for b in owned.data_buffers().iter() {
                for a in &arrays {
                    assert!(a.data_buffers().iter().all(|i| i.as_ptr() != b.as_ptr()));
                }
            }
            let (v, b, n) = owned.into_parts();
            StringViewArray::try_new(v, b, n).unwrap();
        }
    }
}

#[test]
fn long_keys_point_into_the_input_buffers() {
    let text = "a key longer than twelve bytes and short ones\n";
    let buffer = Buffer::from(text.repeat(3).as_bytes());
    let lines = common::lines_of(&buffer);
    let parts = count_words(&lines, Separators::Space, 1).unwrap();
    let (keys, counts) = &parts[0];
    assert_eq!(counts, &[3; 9]);
    let longer = keys.iter().flatten().find(|k| *k == "longer").unwrap();
    assert!(buffer.as_slice().as_ptr_range().contains(&longer.as_ptr()) || longer.len() <= 12);
    let twelve = keys.iter().flatten().find(|k| k.len() > 12);
    assert!(twelve.is_none(), "no word here is long");
    let tokens = tokenize(&lines, Separators::Space).unwrap();
    let long = StringViewArray::from(vec!["x".repeat(40)]);
    let parts = aggregate(&[tokens, long.clone()], None, Agg::Count, 1).unwrap();
    let key = parts[0].0.iter().flatten().find(|k| k.len() == 40).unwrap();
    assert_eq!(key.as_ptr(), long.value(0).as_ptr());
}

#[test]
fn bad_arguments_are_errors() {
    let lines = StringViewArray::from(vec!["a b"]);
    assert_eq!(
        count_words(&lines, Separators::Space, 0).unwrap_err(),
        KernelError::ZeroPartitions
    );
    assert_eq!(
        tokenize_parallel(&lines, Separators::Space, 0).unwrap_err(),
        KernelError::ZeroPartitions
    );
    let keys = [StringViewArray::from(vec!["a", "b"])];
    assert_eq!(
        aggregate(&keys, None, Agg::Sum, 0).unwrap_err(),
        KernelError::ZeroPartitions
    );
    assert_eq!(
        aggregate(&keys, Some(&[]), Agg::Sum, 1).unwrap_err(),
        KernelError::ValueArrays { keys: 1, values: 0 }
    );
    assert_eq!(
        aggregate(&keys, Some(&[&[1]]), Agg::Sum, 1).unwrap_err(),
        KernelError::ValueRows {
            array: 0,
            keys: 2,
            values: 1
        }
    );
    assert_eq!(
        aggregate_hashed(&keys, &[KeyHashes::from_vec(vec![1])], None, Agg::Sum, 1).unwrap_err(),
        KernelError::ValueRows {
            array: 0,
            keys: 2,
            values: 1
        }
    );
    let nulls = [StringViewArray::from(vec![Some("a"), None])];
    assert_eq!(
        aggregate(&nulls, None, Agg::Count, 1).unwrap_err(),
        KernelError::NullKeys { array: 0, nulls: 1 }
    );
    for simd in Simd::ALL {
        if !simd.is_available() {
            assert_eq!(
                tokenize_using(&lines, Separators::Space, simd).unwrap_err(),
                KernelError::SimdUnavailable(simd)
            );
            assert_eq!(
                count_words_using(&lines, Separators::Space, 1, simd).unwrap_err(),
                KernelError::SimdUnavailable(simd)
            );
        }
    }
    // Empty inputs are fine and honour the partition count.
    let empty = StringViewArray::from(Vec::<&str>::new());
    assert_eq!(tokenize(&empty, Separators::Space).unwrap().len(), 0);
    let parts = count_words(&empty, Separators::Space, 4).unwrap();
    assert_eq!(parts.len(), 4);
    assert!(parts.iter().all(|(k, v)| k.is_empty() && v.is_empty()));
    assert_eq!(aggregate(&[], None, Agg::Max, 3).unwrap().len(), 3);
}

/// A random word of one of the shapes that take different paths: empty, inline (1 to 12
/// bytes), exactly 12 and 13 bytes, long, multi-byte UTF-8 (split across the inline boundary).
fn random_word(rng: &mut Rng, vocabulary: u64) -> String {
    let n = rng.below(vocabulary);
    match n % 7 {
        0 => format!("w{n}"),
        1 => format!("{n:012}"),
        2 => format!("{n:013}"),
        3 => format!("a-long-word-number-{n}-of-the-vocabulary"),
        4 => format!("caf\u{e9}{n}\u{1f980}"),
        5 => format!("\u{3053}\u{3093}{n}"),
        _ if n.is_multiple_of(11) => String::new(),
        _ => format!("{n}"),
    }
}

/// An `Aggregation` kept over many batches (tables sized from the previous batch: growing,
/// shrinking, high-cardinality) gives every batch the reference's result, for word count over
/// several arrays of lines and for aggregation with values, on one and two threads.
#[test]
fn aggregations_kept_across_batches_agree_with_the_reference() {
    let mut rng = Rng(0x0dd_ba11);
    // Batch sizes in words: large (tens of thousands of distinct keys), tiny, large again.
    let sizes: &[usize] = if cfg!(miri) {
        &[300, 5, 200]
    } else {
        &[60_000, 20, 0, 90_000, 3_000, 70_000]
    };
    for threads in [1, 2] {
        let counts = Aggregation::new();
        let sums = Aggregation::new();
        for &size in sizes {
            let vocabulary = (size as u64).max(1) * 2;
            // Lines of random words; double spaces give empty tokens; two arrays of lines,
            // the second in small blocks so that long keys sit in several buffers.
            let mut text = String::new();
            let mut line_words = 0;
            for _ in 0..size {
                text.push_str(&random_word(&mut rng, vocabulary));
                line_words += 1;
                if line_words > rng.below(20) as usize {
                    text.push('\n');
                    line_words = 0;
                } else {
                    text.push_str(if rng.below(9) == 0 { "  " } else { " " });
                }
            }
            let first = common::lines_of(&Buffer::from(text.as_bytes()));
            let mut builder = StringViewBuilder::new().with_fixed_block_size(512);
            for line in text.lines().rev().take(200) {
                builder.append_value(line);
            }
            let arrays = [first, builder.finish()];
            let tokens: Vec<String> = arrays
                .iter()
                .flat_map(|a| reference_tokens(a, Separators::Space))
                .collect();
            for p in [1, 3] {
                let want = reference_aggregate(&tokens, &vec![1; tokens.len()], |a, b| a + b, p);
                let got = pool(threads)
                    .install(|| counts.count_words(&arrays, Separators::Space, p).unwrap());
                assert_eq!(
                    as_pairs(&got),
                    want,
                    "count {size} words, p={p}, {threads}t"
                );
                let keys: Vec<StringViewArray> = arrays
                    .iter()
                    .map(|a| tokenize(a, Separators::Space).unwrap())
                    .collect();
                let values: Vec<Vec<i64>> = keys
                    .iter()
                    .map(|k| (0..k.len()).map(|_| rng.below(100) as i64 - 50).collect())
                    .collect();
                let slices: Vec<&[i64]> = values.iter().map(Vec::as_slice).collect();
                let want = reference_aggregate(&tokens, &values.concat(), |a, b| a + b, p);
                let got = pool(threads).install(|| {
                    sums.aggregate(&keys, None, Some(&slices), Agg::Sum, p)
                        .unwrap()
                });
                assert_eq!(as_pairs(&got), want, "sum {size} words, p={p}, {threads}t");
            }
        }
    }
}
