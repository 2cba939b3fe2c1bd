//! The kernel paths agree with the general closure paths: `split` (Java's and Python's rules),
//! fused `split -> count_by_value`, `reduce_by_key` on string keys (Spark's built-in reducers as
//! closures); and the fused paths are taken for every separator.

mod common;
use common::*;
use dstreams::prelude::*;
use std::collections::BTreeMap;

const KJV: &str = include_str!("../datasets/kjv.txt");

/// KJV lines in batches of `n` lines, 3 partitions each.
fn kjv_batches(n: usize) -> Vec<Vec<String>> {
    let lines: Vec<String> = KJV.lines().map(String::from).collect();
    lines.chunks(n).map(|c| c.to_vec()).collect()
}

fn as_maps<V: Ord + Clone>(batches: Vec<Vec<(String, V)>>) -> Vec<BTreeMap<String, V>> {
    batches
        .into_iter()
        .map(|b| {
            let mut m = BTreeMap::new();
            for (k, v) in b {
                assert!(
                    m.insert(k.clone(), v).is_none(),
                    "key {k:?} twice in one batch"
                );
            }
            m
        })
        .collect()
}

/// `split(sep)` gives `reference`'s words of every line, on the corpus and on edge cases.
fn split_agrees_with(sep: Separators, reference: fn(&str) -> Vec<&str>) {
    let mut input = kjv_batches(8000);
    input.push(s(&[
        "",
        " ",
        "   ",
        "a  b ",
        " lead",
        "trail  ",
        "multi byte é ß 🦀 words",
        "trailing multi-byte words é ß 🦀  ",
    ]));
    let expected: Vec<Vec<String>> = input
        .iter()
        .map(|b| {
            b.iter()
                .flat_map(|l| reference(l))
                .map(String::from)
                .collect()
        })
        .collect();
    let got = test_operation(input, |s| s.split(sep));
    assert_eq!(got, expected);
}

#[test]
fn split_equals_javas_split_on_the_corpus_and_edge_cases() {
    split_agrees_with(Separators::Space, |l| {
        dstreams::text::split_java(l, ' ').collect()
    });
}

#[test]
fn split_keep_trailing_empty_equals_strs_split_on_the_corpus_and_edge_cases() {
    split_agrees_with(Separators::SpaceKeepTrailingEmpty, |l| {
        l.split(' ').collect()
    });
}

#[test]
fn whitespace_split_drops_empty_words() {
    let got = test_operation(vec![s(&["  a\tb \n c  ", ""])], |s| {
        s.split(Separators::AsciiWhitespace)
    });
    assert_eq!(got, vec![s(&["a", "b", "c"])]);
}

#[test]
fn fused_word_count_equals_the_closure_pipeline() {
    let input = kjv_batches(7000);
    let fused = as_maps(test_operation(input.clone(), |s| {
        s.split(Separators::Space).count_by_value()
    }));
    let closures = as_maps(test_operation(input.clone(), |s| {
        s.flat_map(|l| l.split_java(' '))
            .map(|w| (w, 1i64))
            .reduce_by_key(|a, b| a + b)
    }));
    // Not fused (a map in between), on the kernel's count path.
    let unfused = as_maps(test_operation(input, |s| {
        s.split(Separators::Space).filter(|_| true).count_by_value()
    }));
    assert_eq!(fused, closures);
    assert_eq!(unfused, closures);
    let total: i64 = fused.iter().flat_map(|m| m.values()).sum();
    assert_eq!(total, 789_684);
}

/// Every separator takes the fused paths: `split(sep).count_by_value()` (also under a window)
/// tokenises and counts the lines in one pass (the words are never computed), and the
/// `(w, 1)` pairs of `split(sep).map(..)` are fused into `reduce_by_key`'s aggregation (never
/// materialised); the counts are the reference's, `reference` being the separator's split.
#[test]
fn every_separator_takes_the_fused_paths() {
    let java: fn(&str) -> Vec<&str> = |l| dstreams::text::split_java(l, ' ').collect();
    let python: fn(&str) -> Vec<&str> = |l| l.split(' ').collect();
    let whitespace: fn(&str) -> Vec<&str> = |l| l.split_ascii_whitespace().collect();
    for (sep, reference) in [
        (Separators::Space, java),
        (Separators::SpaceKeepTrailingEmpty, python),
        (Separators::AsciiWhitespace, whitespace),
    ] {
        let input = vec![
            s(&["to be  or not to be ", "", "  ", "é ß 🦀 é "]),
            s(&[" a line with a leading space and a trailing one ", "be "]),
        ];
        let (ssc, clock) = manual_context(2);
        let lines = ssc.queue_stream(batches(input.clone(), 3), true, None);
        let counted_words = lines.split(sep);
        let counted = collect(&counted_words.count_by_value());
        let windowed_words = lines.split(sep);
        let windowed = collect(
            &windowed_words.count_by_value_and_window(Duration::seconds(2), Duration::seconds(1)),
        );
        let pairs = lines.split(sep).map(|w| (w, 1i64));
        let reduced = collect(&pairs.reduce_by_key(|a, b| a + b));
        run_batches(&ssc, &clock, input.len());

        assert!(counted_words.remembered_times().is_empty(), "{sep:?}");
        assert!(windowed_words.remembered_times().is_empty(), "{sep:?}");
        assert!(pairs.remembered_times().is_empty(), "{sep:?}");
        let expected: Vec<BTreeMap<String, i64>> = input
            .iter()
            .map(|b| {
                let mut m = BTreeMap::new();
                for w in b.iter().flat_map(|l| reference(l)) {
                    *m.entry(w.to_string()).or_insert(0) += 1;
                }
                m
            })
            .collect();
        let batches_of = |out: &std::sync::Mutex<Vec<(Time, Vec<(String, i64)>)>>| {
            as_maps(out.lock().unwrap().iter().map(|(_, b)| b.clone()).collect())
        };
        assert_eq!(batches_of(&counted), expected, "{sep:?}");
        assert_eq!(batches_of(&reduced), expected, "{sep:?}");
        let mut both = expected[0].clone();
        for (w, n) in &expected[1] {
            *both.entry(w.clone()).or_insert(0) += n;
        }
        assert_eq!(
            batches_of(&windowed),
            [expected[0].clone(), both],
            "{sep:?}"
        );
    }
}

#[test]
fn string_keyed_reduce_by_key_runs_user_closures_on_the_kernel() {
    let pairs: Vec<Vec<(String, i32)>> = vec![
        vec![
            ("a".into(), 5),
            ("b".into(), -2),
            ("a".into(), 7),
            ("a longer key than twelve".into(), 3),
            ("b".into(), 9),
        ],
        vec![],
        vec![
            ("a longer key than twelve".into(), 1),
            ("a longer key than twelve".into(), 10),
        ],
    ];
    let max = as_maps(test_operation(pairs.clone(), |s| {
        s.reduce_by_key(|a, b| a.max(b))
    }));
    let key = |k: &str, v: i32| (k.to_string(), v);
    assert_eq!(
        max,
        as_maps(vec![
            vec![key("a", 7), key("b", 9), key("a longer key than twelve", 3)],
            vec![],
            vec![key("a longer key than twelve", 10)]
        ])
    );
    let min = as_maps(test_operation(pairs.clone(), |s| {
        s.reduce_by_key(|a, b| a.min(b))
    }));
    assert_eq!(min[0]["b"], -2);
    let sum = as_maps(test_operation(pairs, |s| s.reduce_by_key(|a, b| a + b)));
    assert_eq!(sum[0]["a"], 12);
    assert_eq!(sum[2]["a longer key than twelve"], 11);
}

#[test]
fn integer_sums_wrap_as_the_jvms_do_with_wrapping_add() {
    // On the kernel path too, the closure runs in the value's own type: `wrapping_add` is the
    // JVM's `Int` addition (a plain `+` is Rust's, which panics on overflow in debug builds).
    let pairs = vec![vec![("k".to_string(), i32::MAX), ("k".to_string(), 1)]];
    let wrapping = test_operation(pairs, |s| s.reduce_by_key(|a: i32, b| a.wrapping_add(b)));
    assert_eq!(wrapping, vec![vec![("k".to_string(), i32::MIN)]]);
}

#[test]
fn non_string_keys_take_the_general_path_with_the_same_results() {
    let pairs = vec![vec![(1i64, 4i64), (2, 1), (1, 6)], vec![(3, 3)]];
    let got = sorted(test_operation(pairs, |s| s.reduce_by_key(|a, b| a.max(b))));
    assert_eq!(got, vec![vec![(1, 6), (2, 1)], vec![(3, 3)]]);
}
