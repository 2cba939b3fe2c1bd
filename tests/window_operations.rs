//! Spark's WindowOperationsSuite vectors (apache/spark streaming/src/test/.../WindowOperationsSuite.scala,
//! B = 1 s, 2 input partitions) and the window vectors of PySpark's test_dstream.py (B = 0.5 s there;
//! here the same counts of batches at B = 1 s), plus what dstreams does where Spark fails.

mod common;
use common::*;
use dstreams::prelude::*;

fn s(n: i64) -> Duration {
    Duration::seconds(n)
}

fn ints(v: &[&[i64]]) -> Vec<Vec<i64>> {
    v.iter().map(|b| b.to_vec()).collect()
}

fn zero_to_five() -> Vec<Vec<i64>> {
    (0..6).map(|i| vec![i]).collect()
}

#[test]
fn window_basic() {
    let out = test_windowed(zero_to_five(), 6, 1, |st| st.window(s(2), s(1)));
    assert_eq!(
        out,
        ints(&[&[0], &[0, 1], &[1, 2], &[2, 3], &[3, 4], &[4, 5]])
    );
}

#[test]
fn window_tumbling() {
    let out = test_windowed(zero_to_five(), 3, 2, |st| st.window(s(2), s(2)));
    assert_eq!(out, ints(&[&[0, 1], &[2, 3], &[4, 5]]));
}

#[test]
fn window_larger() {
    let out = test_windowed(zero_to_five(), 4, 2, |st| st.window(s(4), s(2)));
    assert_eq!(out, ints(&[&[0, 1], &[0, 1, 2, 3], &[2, 3, 4, 5], &[4, 5]]));
}

#[test]
fn window_non_overlapping() {
    let out = test_windowed(zero_to_five(), 2, 3, |st| st.window(s(2), s(3)));
    assert_eq!(out, ints(&[&[1, 2], &[4, 5]]));
}

fn larger_slide_input() -> Vec<Vec<(String, i64)>> {
    pairs(&[
        &[("a", 1)],
        &[("a", 2)],
        &[("a", 3)],
        &[("a", 4)],
        &[("a", 5)],
        &[("a", 6)],
        &[],
        &[],
    ])
}

fn larger_slide_output() -> Vec<Vec<(String, i64)>> {
    pairs(&[&[("a", 3)], &[("a", 10)], &[("a", 18)], &[("a", 11)]])
}

fn big_input() -> Vec<Vec<(String, i64)>> {
    let half: &[&[(&str, i64)]] = &[
        &[("a", 1)],
        &[("a", 1), ("b", 1)],
        &[("a", 1), ("b", 1), ("c", 1)],
        &[("a", 1), ("b", 1)],
        &[("a", 1)],
        &[],
    ];
    let mut v = pairs(half);
    v.extend(pairs(half));
    v
}

fn big_reduce_output() -> Vec<Vec<(String, i64)>> {
    let half: &[&[(&str, i64)]] = &[
        &[("a", 1)],
        &[("a", 2), ("b", 1)],
        &[("a", 2), ("b", 2), ("c", 1)],
        &[("a", 2), ("b", 2), ("c", 1)],
        &[("a", 2), ("b", 1)],
        &[("a", 1)],
    ];
    let mut v = pairs(half);
    v.extend(pairs(half));
    v
}

fn big_reduce_inv_output() -> Vec<Vec<(String, i64)>> {
    pairs(&[
        &[("a", 1)],
        &[("a", 2), ("b", 1)],
        &[("a", 2), ("b", 2), ("c", 1)],
        &[("a", 2), ("b", 2), ("c", 1)],
        &[("a", 2), ("b", 1), ("c", 0)],
        &[("a", 1), ("b", 0), ("c", 0)],
        &[("a", 1), ("b", 0), ("c", 0)],
        &[("a", 2), ("b", 1), ("c", 0)],
        &[("a", 2), ("b", 2), ("c", 1)],
        &[("a", 2), ("b", 2), ("c", 1)],
        &[("a", 2), ("b", 1), ("c", 0)],
        &[("a", 1), ("b", 0), ("c", 0)],
    ])
}

/// The small reduceByKeyAndWindow cases shared by the naive and inverse suites (W = 2, S = 1).
fn small_cases() -> Vec<(
    &'static str,
    Vec<Vec<(String, i64)>>,
    Vec<Vec<(String, i64)>>,
)> {
    vec![
        (
            "basic reduction",
            pairs(&[&[("a", 1), ("a", 3)]]),
            pairs(&[&[("a", 4)]]),
        ),
        (
            "key already in window and new value added into window",
            pairs(&[&[("a", 1)], &[("a", 1)]]),
            pairs(&[&[("a", 1)], &[("a", 2)]]),
        ),
        (
            "new key added into window",
            pairs(&[&[("a", 1)], &[("a", 1), ("b", 1)]]),
            pairs(&[&[("a", 1)], &[("a", 2), ("b", 1)]]),
        ),
    ]
}

fn naive(w: i64, sl: i64) -> impl FnOnce(&DStream<(String, i64)>) -> DStream<(String, i64)> {
    move |st| st.reduce_by_key_and_window(|a, b| a + b, s(w), s(sl))
}

fn inverse(w: i64, sl: i64) -> impl FnOnce(&DStream<(String, i64)>) -> DStream<(String, i64)> {
    move |st| {
        st.reduce_by_key_and_window_with(
            |a, b| a + b,
            Window::new(s(w), s(sl)).inverse(|a, b| a - b),
        )
    }
}

#[test]
fn reduce_by_key_and_window_small_cases() {
    for (name, input, expected) in small_cases() {
        let n = expected.len();
        assert_eq!(
            test_windowed(input.clone(), n, 1, naive(2, 1)),
            expected,
            "naive: {name}"
        );
        assert_eq!(
            test_windowed(input, n, 1, inverse(2, 1)),
            expected,
            "inverse: {name}"
        );
    }
}

#[test]
fn reduce_by_key_and_window_key_removed_from_window() {
    let input = pairs(&[&[("a", 1)], &[("a", 1)], &[], &[]]);
    assert_eq!(
        test_windowed(input.clone(), 4, 1, naive(2, 1)),
        pairs(&[&[("a", 1)], &[("a", 2)], &[("a", 1)], &[]])
    );
    // With an inverse function the key stays, at 0 (Spark's documented behaviour).
    assert_eq!(
        test_windowed(input, 4, 1, inverse(2, 1)),
        pairs(&[&[("a", 1)], &[("a", 2)], &[("a", 1)], &[("a", 0)]])
    );
}

#[test]
fn reduce_by_key_and_window_larger_slide_time() {
    assert_eq!(
        test_windowed(larger_slide_input(), 4, 2, naive(4, 2)),
        larger_slide_output()
    );
    assert_eq!(
        test_windowed(larger_slide_input(), 4, 2, inverse(4, 2)),
        larger_slide_output()
    );
}

#[test]
fn reduce_by_key_and_window_big_test() {
    assert_eq!(
        test_windowed(big_input(), 12, 1, naive(2, 1)),
        big_reduce_output()
    );
}

#[test]
fn reduce_by_key_and_window_with_inverse_big_test() {
    assert_eq!(
        test_windowed(big_input(), 12, 1, inverse(2, 1)),
        big_reduce_inv_output()
    );
}

#[test]
fn reduce_by_key_and_window_with_inverse_and_filter_big_test() {
    let out = test_windowed(big_input(), 12, 1, |st| {
        st.reduce_by_key_and_window_with(
            |a, b| a + b,
            Window::new(s(2), s(1)).inverse(|a, b| a - b),
        )
        .filter(|(_, v)| v != 0)
    });
    assert_eq!(out, big_reduce_output());
}

#[test]
fn drop_empty_keys_gives_the_naive_result() {
    let out = test_windowed(big_input(), 12, 1, |st| {
        st.reduce_by_key_and_window_with(
            |a, b| a + b,
            Window::new(s(2), s(1))
                .inverse(|a, b| a - b)
                .drop_empty_keys(),
        )
    });
    assert_eq!(out, big_reduce_output());
}

/// Spark (Scala) fails this batch with "Neither previous window has value for key, nor new values
/// found": its filter also decides what the next window starts from. PySpark loses the key's
/// later values. Here the filter only decides what is emitted.
#[test]
fn a_filtered_key_keeps_its_exact_value_in_later_windows() {
    let input = pairs(&[
        &[("a", 1)],
        &[("a", 1)],
        &[],
        &[],
        &[("a", 5)],
        &[("a", 1), ("b", 2)],
        &[],
    ]);
    let out = test_windowed(input, 7, 1, |st| {
        st.reduce_by_key_and_window_with(
            |a, b| a + b,
            Window::new(s(2), s(1)).inverse(|a, b| a - b),
        )
        .filter(|(_, v)| v > 1)
    });
    assert_eq!(
        out,
        pairs(&[
            &[],
            &[("a", 2)],
            &[],
            &[],
            &[("a", 5)],
            &[("a", 6), ("b", 2)],
            &[("b", 2)],
        ])
    );
}

#[test]
fn group_by_key_and_window() {
    let out = test_windowed(big_input(), 12, 1, |st| {
        st.group_by_key_and_window(s(2), s(1))
            .map(|(k, vs)| (k, vs.iter().sum::<i64>(), vs.len() as i64))
    });
    // Spark's bigGroupByOutput, as (key, sum, number of values).
    let expected: Vec<Vec<(String, i64, i64)>> = big_reduce_output()
        .into_iter()
        .map(|b| b.into_iter().map(|(k, n)| (k, n, n)).collect())
        .collect();
    assert_eq!(out, expected);
}

#[test]
fn count_by_window() {
    let input = ints(&[&[1], &[1], &[1, 2], &[0], &[], &[]]);
    let out = test_windowed(input, 6, 1, |st| st.count_by_window(s(2), s(1)));
    assert_eq!(out, ints(&[&[1], &[2], &[3], &[3], &[1], &[0]]));
}

#[test]
fn count_by_window_is_empty_before_any_data() {
    let input = ints(&[&[], &[], &[7]]);
    let out = test_windowed(input, 3, 1, |st| st.count_by_window(s(2), s(1)));
    assert_eq!(out, ints(&[&[], &[], &[1]]));
}

#[test]
fn count_by_value_and_window() {
    let input: Vec<Vec<String>> = vec![vec!["a"], vec!["b", "b"], vec!["a", "b"]]
        .into_iter()
        .map(|b| b.into_iter().map(String::from).collect())
        .collect();
    let out = test_windowed(input, 3, 1, |st| st.count_by_value_and_window(s(2), s(1)));
    assert_eq!(
        out,
        pairs(&[&[("a", 1)], &[("a", 1), ("b", 2)], &[("a", 1), ("b", 3)]])
    );
}

fn python_ranges(n: i64) -> Vec<Vec<i64>> {
    (0..n).map(|i| (0..=i).collect()).collect()
}

#[test]
fn python_window_count_and_count_by_window() {
    // test_window / test_count_by_window: window(1.5, .5).count() over range(1)..range(5).
    let expected = ints(&[&[1], &[3], &[6], &[9], &[12], &[9], &[5]]);
    let counted = test_windowed(python_ranges(5), 7, 1, |st| st.window(s(3), s(1)).count());
    assert_eq!(counted, expected);
    let by_window = test_windowed(python_ranges(5), 7, 1, |st| st.count_by_window(s(3), s(1)));
    assert_eq!(by_window, expected);
}

#[test]
fn python_count_by_window_large() {
    let out = test_windowed(python_ranges(6), 10, 1, |st| st.count_by_window(s(5), s(1)));
    assert_eq!(
        out,
        ints(&[
            &[1],
            &[3],
            &[6],
            &[10],
            &[15],
            &[20],
            &[18],
            &[15],
            &[11],
            &[6]
        ])
    );
}

#[test]
fn python_group_by_key_and_window() {
    let input: Vec<Vec<(String, i64)>> = (0..5).map(|i| vec![("a".to_string(), i)]).collect();
    let out = test_windowed(input, 7, 1, |st| {
        st.group_by_key_and_window(s(3), s(1)).map(|(_, vs)| {
            let mut v: Vec<i64> = vs.iter().collect();
            v.sort();
            v
        })
    });
    let expected: Vec<Vec<Vec<i64>>> = [
        vec![0],
        vec![0, 1],
        vec![0, 1, 2],
        vec![1, 2, 3],
        vec![2, 3, 4],
        vec![3, 4],
        vec![4],
    ]
    .into_iter()
    .map(|v| vec![v])
    .collect();
    assert_eq!(out, expected);
}

#[test]
fn python_reduce_by_key_and_window_with_none_inv_func() {
    // test_reduce_by_key_and_window_with_none_invFunc (B = 0.5 s): range(1)..range(6) mapped to
    // (x, 1); reduceByKeyAndWindow(add, None, 5, 1).filter(v > 0).count() → 2,4,6,6,6,6.
    let input: Vec<Vec<(String, i64)>> = python_ranges(6)
        .into_iter()
        .map(|b| b.into_iter().map(|x| (x.to_string(), 1)).collect())
        .collect();
    let out = test_windowed(input, 6, 2, |st| {
        st.reduce_by_key_and_window(|a, b| a + b, s(10), s(2))
            .filter(|(_, v)| v > 0)
            .count()
    });
    assert_eq!(out, ints(&[&[2], &[4], &[6], &[6], &[6], &[6]]));
}

#[test]
fn reduce_by_window_with_and_without_inverse() {
    let input = ints(&[&[1, 2], &[3], &[], &[4], &[], &[]]);
    let plain = test_windowed(input.clone(), 6, 1, |st| {
        st.reduce_by_window(|a, b| a + b, s(2), s(1))
    });
    assert_eq!(plain, ints(&[&[3], &[6], &[3], &[4], &[4], &[]]));
    let inv = test_windowed(input, 6, 1, |st| {
        st.reduce_by_window_with(|a, b| a + b, Window::new(s(2), s(1)).inverse(|a, b| a - b))
    });
    assert_eq!(inv, ints(&[&[3], &[6], &[3], &[4], &[4], &[0]]));
}

/// The first misuse `start` reports for a program that builds `op` on a stream of pairs and
/// outputs its result.
fn misuse_of<O: Data>(
    op: impl FnOnce(&DStream<(String, i64)>) -> DStream<O>,
) -> std::sync::Arc<dstreams::Misuse> {
    let (ssc, _clock) = manual_context(2);
    let st = ssc.queue_stream(Vec::<Batch<(String, i64)>>::new(), true, None);
    op(&st).foreach_rdd(|_| ());
    match ssc.start().unwrap_err() {
        Error::InvalidProgram(misuses) => misuses[0].clone(),
        e => panic!("expected an invalid program, got {e}"),
    }
}

#[test]
fn window_durations_must_be_multiples_of_the_parent_slide() {
    let m = misuse_of(|st| st.window(Duration::millis(1500), s(1)));
    assert_eq!(m.operator, "window");
    assert!(
        matches!(m.error, Error::WindowNotMultiple { .. }),
        "{}",
        m.error
    );
    assert_eq!(
        m.error.to_string(),
        "The window duration of windowed DStream (1500 ms) must be a multiple of the slide duration of parent DStream (1000 ms)"
    );
    let m = misuse_of(|st| st.window(s(2), Duration::millis(500)));
    assert_eq!(m.operator, "window");
    assert!(
        matches!(m.error, Error::WindowNotMultiple { .. }),
        "{}",
        m.error
    );
    assert_eq!(
        m.error.to_string(),
        "The slide duration of windowed DStream (500 ms) must be a multiple of the slide duration of parent DStream (1000 ms)"
    );
    let m = misuse_of(|st| {
        st.reduce_by_key_and_window_with(
            |a, b| a + b,
            Window::new(Duration::millis(2500), s(1)).inverse(|a, b| a - b),
        )
    });
    assert_eq!(m.operator, "reduce_by_key_and_window");
    assert!(
        matches!(m.error, Error::ReducedWindowNotMultiple { .. }),
        "{}",
        m.error
    );
    assert_eq!(
        m.error.to_string(),
        "requirement failed: The window duration of ReducedWindowedDStream (2500 ms) must be multiple of the slide duration of parent DStream (1000 ms)"
    );
    let m = misuse_of(|st| st.window(Duration::millis(0), s(1)));
    assert_eq!(m.operator, "window");
    assert!(matches!(m.error, Error::InvalidDuration(_)), "{}", m.error);
    let m = misuse_of(|st| st.count_by_window(s(2), Duration::millis(-1000)));
    assert_eq!(m.operator, "count_by_window");
    assert!(matches!(m.error, Error::InvalidDuration(_)), "{}", m.error);
}

#[test]
fn windows_keep_only_what_they_need() {
    // Spark's "rdd cleanup - map and window": map → window(2, 1) → window(4, 2) with
    // remember(3 s) keeps batches back to 7 s, 4 s and 2 s at t = 10 s.
    let (ssc, clock) = manual_context(2);
    let input = ssc.queue_stream(
        batches((1..=10).map(|i| vec![i as i64]).collect(), 2),
        true,
        None,
    );
    let mapped = input.map(|x| x);
    let w1 = mapped.window(s(2), s(1));
    let w2 = w1.window(s(4), s(2));
    ssc.remember(s(3));
    let _ = collect(&w2);
    run_batches(&ssc, &clock, 10);
    let min = |v: Vec<Time>| v.into_iter().min().unwrap().as_millis();
    assert_eq!(min(w2.remembered_times()), 8000);
    assert_eq!(min(w1.remembered_times()), 4000);
    assert_eq!(min(mapped.remembered_times()), 2000);
}

/// Panes are compacted when sealed: a keyed window's results never point into the input
/// batches' buffers, so a long window does not keep every input batch alive.
#[test]
fn keyed_windows_do_not_pin_input_buffers() {
    use std::sync::{Arc, Mutex};
    let long = |i: i64| (format!("a key longer than twelve bytes #{i}"), i);
    let input: Vec<Vec<(String, i64)>> = (0..6).map(|i| vec![long(i), long(i + 1)]).collect();
    let (ssc, clock) = manual_context(2);
    let stream = ssc.queue_stream(batches(input, 2), true, None);
    let buffers = |b: &Batch<(String, i64)>| -> Vec<usize> {
        b.to_record_batches()
            .unwrap()
            .iter()
            .flat_map(|rb| {
                let keys = rb
                    .column(0)
                    .as_any()
                    .downcast_ref::<arrow_array::StringViewArray>()
                    .unwrap()
                    .clone();
                keys.data_buffers()
                    .iter()
                    .map(|d| d.as_ptr() as usize)
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let seen_in = Arc::new(Mutex::new(Vec::new()));
    let sink = seen_in.clone();
    stream.foreach_rdd(move |b| sink.lock().unwrap().extend(buffers(b)));
    let seen_out = Arc::new(Mutex::new(Vec::new()));
    let sink = seen_out.clone();
    for windowed in [
        stream.reduce_by_key_and_window_with(
            |a, b| a + b,
            Window::new(s(3), s(1)).inverse(|a, b| a - b),
        ),
        stream.reduce_by_key_and_window(|a, b| a + b, s(3), s(1)),
    ] {
        let sink = sink.clone();
        windowed.foreach_rdd(move |b| {
            assert!(b.len() >= 2);
            sink.lock().unwrap().extend(buffers(b));
        });
    }
    run_batches(&ssc, &clock, 6);
    let input_buffers = seen_in.lock().unwrap().clone();
    let output_buffers = seen_out.lock().unwrap().clone();
    assert!(!input_buffers.is_empty() && !output_buffers.is_empty());
    for p in &output_buffers {
        assert!(
            !input_buffers.contains(p),
            "a window result points into an input buffer"
        );
    }
}
