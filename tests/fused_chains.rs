//! Fused narrow chains give what the same chains give unfused: random chains of `flat_map`,
//! `flat_map_emit`, `filter`, `map`, `map_values` and `flat_map_values` ahead of
//! `reduce_by_key`, `count_by_value`, a keyed window and `update_state_by_key`, on random lines,
//! against the same program with every stream of the chain also read by a second output (so
//! every step is materialised). PySpark's word count on the tokenizer
//! (`split(Separators::SpaceKeepTrailingEmpty)`) ahead of the same consumers, against Python's
//! `split(" ")` (`str::split(' ')`).

mod common;
use common::rng::Rng;
use common::*;
use dstreams::prelude::*;
use std::collections::BTreeMap;

/// Words short (inline views) and long (> 12 bytes), ASCII and not.
const WORDS: [&str; 9] = [
    "a",
    "to",
    "be",
    "or",
    "not",
    "déjà",
    "internationalization",
    "a-key-longer-than-twelve-bytes",
    "",
];

/// Random batches of lines of words separated by one or more spaces.
fn random_lines(rng: &mut Rng, batches: usize) -> Vec<Vec<String>> {
    (0..batches)
        .map(|_| {
            (0..rng.below(6))
                .map(|_| {
                    let words: Vec<&str> = (0..rng.below(7))
                        .map(|_| WORDS[rng.below(WORDS.len() as u64) as usize])
                        .collect();
                    words.join(if rng.below(4) == 0 { "  " } else { " " })
                })
                .collect()
        })
        .collect()
}

/// One step on strings.
#[derive(Clone, Copy, Debug)]
enum WordStep {
    SplitSpace,
    SplitWhitespaceEmit,
    FilterLength,
    Trim,
    /// Owned results: long ones are copies, not views of the input.
    Upper,
}

/// One step on `(word, n)` pairs.
#[derive(Clone, Copy, Debug)]
enum PairStep {
    MapValues,
    Filter,
    FlatMapValues,
    Map,
    FlatMap,
}

/// A chain: steps on the lines, then `(w, len)` pairs, then steps on the pairs.
#[derive(Clone, Debug)]
struct Chain {
    words: Vec<WordStep>,
    pairs: Vec<PairStep>,
}

fn random_chain(rng: &mut Rng) -> Chain {
    use PairStep::*;
    use WordStep::*;
    let word_steps = [SplitSpace, SplitWhitespaceEmit, FilterLength, Trim, Upper];
    let pair_steps = [MapValues, Filter, FlatMapValues, Map, FlatMap];
    Chain {
        words: (0..rng.below(4))
            .map(|_| word_steps[rng.below(word_steps.len() as u64) as usize])
            .collect(),
        pairs: (0..rng.below(4))
            .map(|_| pair_steps[rng.below(pair_steps.len() as u64) as usize])
            .collect(),
    }
}

/// `stream` with a second reader when `unfused` (so that it is materialised).
fn read_twice<T: Data>(stream: DStream<T>, unfused: bool) -> DStream<T> {
    if unfused {
        stream.foreach_rdd(|_| ());
    }
    stream
}

impl Chain {
    fn words(&self, lines: &DStream<String>, unfused: bool) -> DStream<String> {
        let mut s = lines.clone();
        for step in &self.words {
            s = match step {
                WordStep::SplitSpace => s.flat_map(|l| l.split(' ')),
                WordStep::SplitWhitespaceEmit => {
                    s.flat_map_emit(|l, out| out.extend(l.split_whitespace()))
                }
                WordStep::FilterLength => s.filter(|w| w.len() % 3 != 1),
                WordStep::Trim => s.map(|w| w.trim()),
                WordStep::Upper => s.map(|w| w.to_uppercase()),
            };
            s = read_twice(s, unfused);
        }
        s
    }

    fn pairs(&self, lines: &DStream<String>, unfused: bool) -> DStream<(String, i64)> {
        let words = self.words(lines, unfused);
        let mut s = read_twice(words.map(|w| (w, w.len() as i64)), unfused);
        for step in &self.pairs {
            s = match step {
                PairStep::MapValues => s.map_values(|v| v * 3 - 1),
                PairStep::Filter => s.filter(|(k, v)| (k.len() as i64 + v) % 4 != 0),
                PairStep::FlatMapValues => s.flat_map_values(|v| 0..v.rem_euclid(3)),
                PairStep::Map => s.map(|(k, v)| (k, v + 1)),
                PairStep::FlatMap => s.flat_map(|(k, v)| [(k, v), (k, -v)]),
            };
            s = read_twice(s, unfused);
        }
        s
    }
}

/// The batches `consumer` gives over `lines` after `chain`, fused or not, in output order.
fn run<O: Data>(
    lines: &[Vec<String>],
    chain: &Chain,
    unfused: bool,
    consumer: impl FnOnce(&Chain, &DStream<String>, bool) -> DStream<O>,
) -> Vec<(Time, Vec<O>)> {
    let (ssc, clock) = manual_context(2);
    let input = ssc.queue_stream(batches(lines.to_vec(), 3), true, None);
    let out = collect(&consumer(chain, &input, unfused));
    run_batches(&ssc, &clock, lines.len());
    std::mem::take(&mut *out.lock().unwrap())
}

/// Every random chain ahead of `consumer` gives the same batches fused and unfused.
fn fused_equals_unfused<O: Data + PartialEq + std::fmt::Debug>(
    seed: u64,
    consumer: impl Fn(&Chain, &DStream<String>, bool) -> DStream<O>,
) {
    let mut rng = Rng(seed);
    for case in 0..24 {
        let chain = random_chain(&mut rng);
        let lines = random_lines(&mut rng, 4);
        let fused = run(&lines, &chain, false, &consumer);
        let unfused = run(&lines, &chain, true, &consumer);
        assert_eq!(fused, unfused, "case {case}: {chain:?} over {lines:?}");
    }
}

#[test]
fn reduce_by_key_after_a_chain() {
    fused_equals_unfused(0xf05e_0001, |chain, lines, unfused| {
        chain.pairs(lines, unfused).reduce_by_key(|a, b| a + b)
    });
}

#[test]
fn count_by_value_after_a_chain() {
    fused_equals_unfused(0xf05e_0002, |chain, lines, unfused| {
        chain.words(lines, unfused).count_by_value()
    });
}

#[test]
fn count_by_value_of_pairs_after_a_chain() {
    // Pairs are not string keys: the chain is materialised for the general shuffle.
    fused_equals_unfused(0xf05e_0003, |chain, lines, unfused| {
        chain.pairs(lines, unfused).count_by_value()
    });
}

#[test]
fn combine_by_key_after_a_chain() {
    fused_equals_unfused(0xf05e_0004, |chain, lines, unfused| {
        chain.pairs(lines, unfused).combine_by_key(
            |v| (v, 1),
            |(s, n), v| (s + v, n + 1),
            |x, y| (x.0 + y.0, x.1 + y.1),
        )
    });
}

#[test]
fn keyed_window_after_a_chain() {
    fused_equals_unfused(0xf05e_0005, |chain, lines, unfused| {
        chain.pairs(lines, unfused).reduce_by_key_and_window(
            |a, b| a + b,
            Duration::seconds(2),
            Duration::seconds(1),
        )
    });
}

#[test]
fn update_state_by_key_after_a_chain() {
    fused_equals_unfused(0xf05e_0006, |chain, lines, unfused| {
        chain
            .pairs(lines, unfused)
            .update_state_by_key(|values: &[i64], total: Option<i64>| {
                Some(total.unwrap_or(0) + values.iter().sum::<i64>())
            })
    });
}

#[test]
fn a_chain_read_only_by_its_consumer_is_not_materialised() {
    let lines = vec![vec!["to be or not to be".to_string()]];
    let (ssc, clock) = manual_context(2);
    let input = ssc.queue_stream(batches(lines.clone(), 2), true, None);
    let words = input.flat_map(|l| l.split(' '));
    let pairs = words.map(|w| (w, 1));
    let counts = collect(&pairs.reduce_by_key(|a, b| a + b));
    let shared = input.flat_map(|l| l.split(' '));
    shared.foreach_rdd(|_| ());
    let also_counted = collect(&shared.map(|w| (w, 1)).reduce_by_key(|a, b| a + b));
    run_batches(&ssc, &clock, 1);
    assert!(words.remembered_times().is_empty());
    assert!(pairs.remembered_times().is_empty());
    assert_eq!(shared.remembered_times(), [Time::from_millis(1000)]);
    let mut got = counts.lock().unwrap()[0].1.clone();
    got.sort();
    let want: Vec<(String, i64)> = [("be", 2), ("not", 1), ("or", 1), ("to", 2)]
        .map(|(w, n)| (w.to_string(), n))
        .into();
    assert_eq!(got, want);
    assert_eq!(counts.lock().unwrap()[0], also_counted.lock().unwrap()[0]);
}

/// The words of every batch counted: one map per batch.
fn counts_of(batches: &[Vec<&str>]) -> Vec<BTreeMap<String, i64>> {
    batches
        .iter()
        .map(|words| {
            let mut counts = BTreeMap::new();
            for w in words {
                *counts.entry(w.to_string()).or_insert(0) += 1;
            }
            counts
        })
        .collect()
}

/// Collected batches as one map per batch (a key twice in a batch fails).
fn as_maps(out: &[(Time, Vec<(String, i64)>)]) -> Vec<BTreeMap<String, i64>> {
    out.iter()
        .map(|(t, batch)| {
            let mut m = BTreeMap::new();
            for (k, v) in batch {
                assert!(m.insert(k.clone(), *v).is_none(), "{k:?} twice at {t}");
            }
            m
        })
        .collect()
}

/// `a` plus `b`, keys whose sum is 0 dropped.
fn add(a: &BTreeMap<String, i64>, b: &BTreeMap<String, i64>) -> BTreeMap<String, i64> {
    let mut sum = a.clone();
    for (k, v) in b {
        *sum.entry(k.clone()).or_insert(0) += v;
    }
    sum.retain(|_, v| *v != 0);
    sum
}

/// PySpark's word count, `lines.flatMap(lambda l: l.split(" "))` counted, on the tokenizer with
/// [`Separators::SpaceKeepTrailingEmpty`]: the fused tokenize-and-count (`count_by_value`, and
/// per batch under `count_by_value_and_window`), the `(w, 1)` chain fused into `reduce_by_key`,
/// a keyed window and `update_state_by_key` give a count of `str::split(' ')`'s words of every
/// batch (Python's: the empty word's count included, trailing ones too), on random lines
/// with leading, trailing and repeated spaces, empty lines and multi-byte words.
#[test]
fn python_split_word_counts_equal_strs_split() {
    let mut rng = Rng(0xf05e_0007);
    let pads = ["", "", " ", "   "];
    let pad = |rng: &mut Rng| pads[rng.below(pads.len() as u64) as usize];
    let lines: Vec<Vec<String>> = random_lines(&mut rng, 8)
        .into_iter()
        .map(|batch| {
            let padded = batch
                .into_iter()
                .map(|line| format!("{}{line}{}", pad(&mut rng), pad(&mut rng)));
            padded.collect()
        })
        .collect();
    let words: Vec<Vec<&str>> = lines
        .iter()
        .map(|b| b.iter().flat_map(|l| l.split(' ')).collect())
        .collect();
    let per_batch = counts_of(&words);
    let java_words: Vec<Vec<&str>> = lines
        .iter()
        .map(|b| {
            b.iter()
                .flat_map(|l| dstreams::text::split_java(l, ' '))
                .collect()
        })
        .collect();
    assert_ne!(
        per_batch,
        counts_of(&java_words),
        "the lines have trailing spaces, where Python's and Java's splits differ"
    );
    assert!(per_batch.iter().any(|c| c.contains_key("")));

    let (ssc, clock) = manual_context(2);
    let input = ssc.queue_stream(batches(lines.clone(), 3), true, None);
    let sep = Separators::SpaceKeepTrailingEmpty;
    let (window, slide) = (Duration::seconds(2), Duration::seconds(1));
    let counted = collect(&input.split(sep).count_by_value());
    let windowed_count = collect(&input.split(sep).count_by_value_and_window(window, slide));
    let pairs = || input.split(sep).map(|w| (w, 1i64));
    let reduced = collect(&pairs().reduce_by_key(|a, b| a + b));
    let windowed_reduce = collect(&pairs().reduce_by_key_and_window(|a, b| a + b, window, slide));
    let totals = collect(
        &pairs().update_state_by_key(|values: &[i64], total: Option<i64>| {
            Some(total.unwrap_or(0) + values.iter().sum::<i64>())
        }),
    );
    run_batches(&ssc, &clock, lines.len());

    let windows: Vec<BTreeMap<String, i64>> = (0..per_batch.len())
        .map(|i| match i {
            0 => per_batch[0].clone(),
            _ => add(&per_batch[i - 1], &per_batch[i]),
        })
        .collect();
    let running: Vec<BTreeMap<String, i64>> = per_batch
        .iter()
        .scan(BTreeMap::new(), |total, batch| {
            *total = add(total, batch);
            Some(total.clone())
        })
        .collect();
    assert_eq!(as_maps(&counted.lock().unwrap()), per_batch);
    assert_eq!(as_maps(&reduced.lock().unwrap()), per_batch);
    assert_eq!(as_maps(&windowed_count.lock().unwrap()), windows);
    assert_eq!(as_maps(&windowed_reduce.lock().unwrap()), windows);
    assert_eq!(as_maps(&totals.lock().unwrap()), running);
}
