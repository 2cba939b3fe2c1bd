//! The kernel paths agree with the general closure paths: `split`, fused
//! `split -> count_by_value`, `reduce_by_key` on string keys (Spark's built-in reducers as
//! closures).

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

#[test]
fn split_equals_javas_split_on_the_corpus_and_edge_cases() {
    let mut input = kjv_batches(8000);
    input.push(s(&[
        "",
        " ",
        "a  b ",
        " lead",
        "trail  ",
        "multi byte é ß 🦀 words",
    ]));
    let expected: Vec<Vec<String>> = input
        .iter()
        .map(|b| {
            b.iter()
                .flat_map(|l| dstreams::text::split_java(l, ' '))
                .map(String::from)
                .collect()
        })
        .collect();
    let got = test_operation(input, |s| s.split(Separators::Space));
    assert_eq!(got, expected);
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
