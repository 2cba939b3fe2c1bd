//! Windows computed incrementally (inverse path, two stacks, min/max) equal a full recompute of
//! each window from its batches, on random batch sequences, window lengths and slides; and the
//! floating-point drift of the inverse path stays bounded.

mod common;
use common::rng::Rng;
use common::*;
use dstreams::prelude::*;
use std::collections::BTreeMap;

/// Keys short (inline views) and long (> 12 bytes, in buffers).
const KEYS: [&str; 8] = [
    "a",
    "b",
    "c",
    "",
    "a-key-longer-than-twelve-bytes",
    "another-long-key-of-the-window",
    "dé",
    "z",
];

type Pairs = Vec<Vec<(String, i64)>>;

fn random_input(rng: &mut Rng, batches: usize) -> Pairs {
    (0..batches)
        .map(|_| {
            let n = rng.below(7) as usize; // empty batches included
            (0..n)
                .map(|_| {
                    let k = KEYS[rng.below(KEYS.len() as u64) as usize].to_string();
                    (k, rng.below(11) as i64 - 5)
                })
                .collect()
        })
        .collect()
}

/// The batches (1-based times in batches) of the window ending at `t`.
fn window_of(input: &Pairs, t: usize, w: usize) -> impl Iterator<Item = &(String, i64)> {
    let first = (t + 1).saturating_sub(w).max(1);
    (first..=t).flat_map(move |b| input.get(b - 1).into_iter().flatten())
}

fn fold(
    pairs: impl Iterator<Item = (String, i64)>,
    f: impl Fn(i64, i64) -> i64,
) -> Vec<(String, i64)> {
    let mut m: BTreeMap<String, i64> = BTreeMap::new();
    for (k, v) in pairs {
        let e = m.remove(&k);
        m.insert(k, e.map_or(v, |a| f(a, v)));
    }
    m.into_iter().collect()
}

struct Case {
    input: Pairs,
    w: usize,
    s: usize,
    outputs: usize,
}

fn cases() -> Vec<Case> {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    (0..40)
        .map(|_| {
            let w = 1 + rng.below(8) as usize;
            let s = 1 + rng.below(4) as usize;
            let outputs = 3 + rng.below(10) as usize;
            let input = random_input(&mut rng, outputs * s);
            Case {
                input,
                w,
                s,
                outputs,
            }
        })
        .collect()
}

fn secs(n: usize) -> Duration {
    Duration::seconds(n as i64)
}

/// Output `i` (0-based) of a window sliding by `s` batches is at batch time `(i + 1) * s`.
fn expected(case: &Case, per_window: impl Fn(usize) -> Vec<(String, i64)>) -> Pairs {
    (1..=case.outputs).map(|i| per_window(i * case.s)).collect()
}

#[test]
fn two_stacks_equals_recompute() {
    for (n, case) in cases().into_iter().enumerate() {
        let want = expected(&case, |t| {
            fold(window_of(&case.input, t, case.w).cloned(), |a, b| a + b)
        });
        let got = test_windowed(case.input.clone(), case.outputs, case.s, |st| {
            st.reduce_by_key_and_window(|a, b| a + b, secs(case.w), secs(case.s))
                .with_partitions(3)
        });
        assert_eq!(got, want, "case {n}: W = {}, S = {}", case.w, case.s);
    }
}

#[test]
fn min_and_max_equal_recompute() {
    for (n, case) in cases().into_iter().enumerate() {
        for (reducer, f) in [
            ("min", i64::min as fn(i64, i64) -> i64),
            ("max", i64::max as fn(i64, i64) -> i64),
        ] {
            let want = expected(&case, |t| {
                fold(window_of(&case.input, t, case.w).cloned(), f)
            });
            let got = test_windowed(case.input.clone(), case.outputs, case.s, |st| {
                st.reduce_by_key_and_window(f, secs(case.w), secs(case.s))
            });
            assert_eq!(
                got, want,
                "case {n} {reducer}: W = {}, S = {}",
                case.w, case.s
            );
        }
    }
}

#[test]
fn inverse_path_dropping_empty_keys_equals_recompute() {
    for (n, case) in cases().into_iter().enumerate() {
        let want = expected(&case, |t| {
            fold(window_of(&case.input, t, case.w).cloned(), |a, b| a + b)
        });
        let got = test_windowed(case.input.clone(), case.outputs, case.s, |st| {
            st.reduce_by_key_and_window_with(
                |a, b| a + b,
                Window::new(secs(case.w), secs(case.s))
                    .inverse(|a, b| a - b)
                    .drop_empty_keys(),
            )
            .with_partitions(3)
        });
        assert_eq!(got, want, "case {n}: W = {}, S = {}", case.w, case.s);
    }
}

#[test]
fn inverse_path_keeps_every_key_seen_at_its_window_sum_as_spark_does() {
    for (n, case) in cases().into_iter().enumerate() {
        let want = expected(&case, |t| {
            // Every key of a batch some window so far covered; its value is the window's sum.
            let mut seen: BTreeMap<String, i64> = BTreeMap::new();
            for i in 1..=t / case.s {
                for (k, _) in window_of(&case.input, i * case.s, case.w) {
                    seen.insert(k.clone(), 0);
                }
            }
            for (k, v) in window_of(&case.input, t, case.w) {
                *seen.get_mut(k).unwrap() += v;
            }
            seen.into_iter().collect()
        });
        let got = test_windowed(case.input.clone(), case.outputs, case.s, |st| {
            st.reduce_by_key_and_window_with(
                |a, b| a + b,
                Window::new(secs(case.w), secs(case.s)).inverse(|a, b| a - b),
            )
        });
        assert_eq!(got, want, "case {n}: W = {}, S = {}", case.w, case.s);
    }
}

#[test]
fn inverse_path_with_a_filter_equals_the_filtered_recompute() {
    for (n, case) in cases().into_iter().enumerate() {
        let want = expected(&case, |t| {
            fold(window_of(&case.input, t, case.w).cloned(), |a, b| a + b)
                .into_iter()
                .filter(|(_, v)| *v > 0)
                .collect()
        });
        let got = test_windowed(case.input.clone(), case.outputs, case.s, |st| {
            st.reduce_by_key_and_window_with(
                |a, b| a + b,
                Window::new(secs(case.w), secs(case.s)).inverse(|a, b| a - b),
            )
            .filter(|(_, v)| v > 0)
        });
        assert_eq!(got, want, "case {n}: W = {}, S = {}", case.w, case.s);
    }
}

#[test]
fn count_and_reduce_by_window_equal_recompute() {
    for (n, case) in cases().into_iter().enumerate() {
        let values: Vec<Vec<i64>> = case
            .input
            .iter()
            .map(|b| b.iter().map(|(_, v)| *v).collect())
            .collect();
        let sums = test_windowed(values.clone(), case.outputs, case.s, |st| {
            st.reduce_by_window(|a, b| a + b, secs(case.w), secs(case.s))
        });
        let counts = test_windowed(values, case.outputs, case.s, |st| {
            st.count_by_window(secs(case.w), secs(case.s))
        });
        for i in 1..=case.outputs {
            let t = i * case.s;
            let in_window: Vec<i64> = window_of(&case.input, t, case.w).map(|(_, v)| *v).collect();
            let sum = (!in_window.is_empty()).then(|| in_window.iter().sum::<i64>());
            assert_eq!(
                sums[i - 1],
                sum.into_iter().collect::<Vec<_>>(),
                "case {n} sum at {t}"
            );
            // countByWindow: nothing before any data entered a window, then the count (0 too).
            let any_before =
                (1..=i).any(|j| window_of(&case.input, j * case.s, case.w).next().is_some());
            let count = any_before.then_some(in_window.len() as i64);
            assert_eq!(
                counts[i - 1],
                count.into_iter().collect::<Vec<_>>(),
                "case {n} count at {t}"
            );
        }
    }
}

/// Many keys coming and going (a window over a large vocabulary: keys the window forgets come
/// back later, more than a thousand at a time), short and long, against a recompute.
#[test]
fn inverse_path_over_many_churning_keys_equals_recompute() {
    let mut rng = Rng(0x5eed_c4a7_0000_0001);
    let vocabulary: Vec<String> = (0..12_000)
        .map(|i| match i % 3 {
            0 => format!("k{i}"),
            1 => format!("a key longer than twelve bytes, {i}"),
            _ => format!("d\u{e9}j\u{e0}-{i}"),
        })
        .collect();
    let (batches, per_batch) = (14, 3000);
    // Each batch draws from a part of the vocabulary that moves on, so keys leave (thousands
    // of them dormant in the window's tables, then dropped) and return when it wraps around.
    let input: Pairs = (0..batches)
        .map(|b| {
            (0..per_batch)
                .map(|_| {
                    let i = (b * 2000 + rng.below(2000) as usize) % vocabulary.len();
                    (vocabulary[i].clone(), rng.below(5) as i64 + 1)
                })
                .collect()
        })
        .collect();
    let case = Case {
        input,
        w: 2,
        s: 1,
        outputs: batches,
    };
    let want = expected(&case, |t| {
        fold(window_of(&case.input, t, case.w).cloned(), |a, b| a + b)
    });
    // Keys whose window emptied dropped (dormant in the key table, then gone), and kept at
    // their residual zero with the result filtered (Spark's `filterFunc`).
    let dropped = test_windowed(case.input.clone(), case.outputs, case.s, |st| {
        st.reduce_by_key_and_window_with(
            |a, b| a + b,
            Window::new(secs(case.w), secs(case.s))
                .inverse(|a, b| a - b)
                .drop_empty_keys(),
        )
        .with_partitions(2)
    });
    assert_eq!(dropped, want);
    let filtered = test_windowed(case.input.clone(), case.outputs, case.s, |st| {
        st.reduce_by_key_and_window_with(
            |a, b| a + b,
            Window::new(secs(case.w), secs(case.s)).inverse(|a, b| a - b),
        )
        .with_partitions(2)
        .filter(|(_, v)| v != 0)
    });
    assert_eq!(filtered, want);
}

/// One huge value then ones: `1e16 + 1` rounds to `1e16`, so subtracting `1e16` later loses the
/// ones it absorbed. The default recompute (once per window length for floating-point values)
/// repairs the result within one window; without it the error stays forever.
#[test]
fn floating_point_drift_is_repaired_within_a_window() {
    let input: Vec<Vec<(String, f64)>> = (0..40)
        .map(|i| vec![("x".to_string(), if i == 0 { 1e16 } else { 1.0 })])
        .collect();
    let run = |window: Window<f64>| -> Vec<f64> {
        let (ssc, clock) = manual_context(2);
        let stream = ssc.queue_stream(batches(input.clone(), 2), true, None);
        let w = stream.reduce_by_key_and_window_with(|a, b| a + b, window);
        let out = collect(&w);
        run_batches(&ssc, &clock, 40);
        let out = out.lock().unwrap();
        out.iter().map(|(_, b)| b[0].1).collect()
    };
    let window = || Window::new(secs(4), secs(1)).inverse(|a: f64, b: f64| a - b);
    let repaired = run(window());
    // Windows from batch 5 on hold four ones; by batch 9 a recompute has happened.
    assert!(repaired[8..].iter().all(|&v| v == 4.0), "{repaired:?}");
    let drifting = run(window().exact_recompute_every(usize::MAX));
    assert_eq!(
        drifting[39], 1.0,
        "the drift this test guards against did not occur"
    );
}
