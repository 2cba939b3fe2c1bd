//! Spark's BasicOperationsSuite vectors (apache/spark streaming/src/test/.../BasicOperationsSuite.scala),
//! batch by batch, with 2 input partitions and a 1 s batch interval.

mod common;
use common::*;
use dstreams::prelude::*;

fn ints(v: std::ops::RangeInclusive<i64>) -> Vec<i64> {
    v.collect()
}

fn input_1_to_12() -> Vec<Vec<i64>> {
    vec![ints(1..=4), ints(5..=8), ints(9..=12)]
}

#[test]
fn map() {
    let out = test_operation(input_1_to_12(), |s| s.map(|x| x.to_string()));
    let expected: Vec<Vec<String>> = input_1_to_12()
        .iter()
        .map(|b| b.iter().map(|x| x.to_string()).collect())
        .collect();
    assert_eq!(out, expected);
}

#[test]
fn flat_map() {
    let out = test_operation(input_1_to_12(), |s| s.flat_map(|x| [x, x * 2]));
    let expected: Vec<Vec<i64>> = input_1_to_12()
        .iter()
        .map(|b| b.iter().flat_map(|&x| [x, x * 2]).collect())
        .collect();
    assert_eq!(out, expected);
}

#[test]
fn filter() {
    let out = test_operation(input_1_to_12(), |s| s.filter(|x| x % 2 == 0));
    assert_eq!(out, vec![vec![2, 4], vec![6, 8], vec![10, 12]]);
}

#[test]
fn glom() {
    let out = test_operation(input_1_to_12(), |s| s.glom());
    assert_eq!(
        out,
        vec![
            vec![vec![1, 2], vec![3, 4]],
            vec![vec![5, 6], vec![7, 8]],
            vec![vec![9, 10], vec![11, 12]]
        ]
    );
}

#[test]
fn map_partitions() {
    let out = test_operation(input_1_to_12(), |s| {
        s.map_partitions(|items| [items.sum::<i64>()])
    });
    assert_eq!(out, vec![vec![3, 7], vec![11, 15], vec![19, 23]]);
}

#[test]
fn repartition_more_and_fewer_partitions() {
    let input = vec![ints(1..=10), ints(11..=20), ints(21..=30)];
    for n in [5usize, 1] {
        let parts = test_operation(input.clone(), move |s| s.repartition(n).glom());
        for (batch, expected) in parts.iter().zip(&input) {
            assert_eq!(batch.len(), n, "partitions");
            let mut all: Vec<i64> = batch.iter().flatten().copied().collect();
            all.sort();
            assert_eq!(&all, expected);
        }
    }
}

#[test]
fn reduce() {
    let out = test_operation(input_1_to_12(), |s| s.reduce(|a, b| a + b));
    assert_eq!(out, vec![vec![10], vec![26], vec![42]]);
}

#[test]
fn reduce_of_an_empty_batch_has_no_element() {
    let out = test_operation(vec![vec![], vec![1i64]], |s| s.reduce(|a, b| a + b));
    assert_eq!(out, vec![vec![], vec![1]]);
}

#[test]
fn count() {
    let input: Vec<Vec<i64>> = vec![vec![], ints(1..=1), ints(1..=2), ints(1..=3), ints(1..=4)];
    let out = test_operation(input, |s| s.count());
    assert_eq!(out, vec![vec![0], vec![1], vec![2], vec![3], vec![4]]);
}

#[test]
fn count_by_value() {
    let input = vec![vec![1i64], vec![1, 1, 1], vec![1, 2], vec![1, 1, 2, 2]];
    let out = sorted(test_operation(input, |s| s.count_by_value()));
    assert_eq!(
        out,
        vec![
            vec![(1, 1)],
            vec![(1, 3)],
            vec![(1, 1), (2, 1)],
            vec![(1, 2), (2, 2)]
        ]
    );
}

fn keyed_input() -> Vec<Vec<String>> {
    vec![s(&["a", "a", "b"]), s(&["", ""]), vec![]]
}

#[test]
fn group_by_key() {
    let out = sorted(test_operation(keyed_input(), |s| {
        s.map(|x| (x, 1)).group_by_key()
    }));
    assert_eq!(
        out,
        vec![
            vec![("a".to_string(), vec![1i64, 1]), ("b".to_string(), vec![1])],
            vec![("".to_string(), vec![1, 1])],
            vec![]
        ]
    );
}

#[test]
fn reduce_by_key() {
    let out = sorted(test_operation(keyed_input(), |s| {
        s.map(|x| (x, 1)).reduce_by_key(|a, b| a + b)
    }));
    assert_eq!(
        out,
        vec![
            vec![("a".to_string(), 2i64), ("b".to_string(), 1)],
            vec![("".to_string(), 2)],
            vec![]
        ]
    );
}

#[test]
fn reduce_by_key_with_partitions() {
    let out = test_operation(keyed_input(), |s| {
        s.map(|x| (x, 1))
            .reduce_by_key(|a, b| a + b)
            .with_partitions(10)
            .glom()
    });
    assert!(out.iter().all(|b| b.len() == 10));
}

#[test]
fn combine_by_key() {
    let out = sorted(test_operation(keyed_input(), |s| {
        s.map(|x| (x, 1))
            .combine_by_key(|v| v, |c, v| c + v, |a, b| a + b)
            .with_partitions(2)
    }));
    assert_eq!(
        out,
        vec![
            vec![("a".to_string(), 2i64), ("b".to_string(), 1)],
            vec![("".to_string(), 2)],
            vec![]
        ]
    );
}

#[test]
fn map_values() {
    let out = sorted(test_operation(keyed_input(), |s| {
        s.map(|x| (x, 1i64))
            .reduce_by_key(|a, b| a + b)
            .map_values(|v| v + 10)
    }));
    assert_eq!(
        out,
        vec![
            vec![("a".to_string(), 12), ("b".to_string(), 11)],
            vec![("".to_string(), 12)],
            vec![]
        ]
    );
}

#[test]
fn flat_map_values() {
    let out = sorted(test_operation(keyed_input(), |s| {
        s.map(|x| (x, 1i64))
            .reduce_by_key(|a, b| a + b)
            .flat_map_values(|v| [v, v + 10])
    }));
    let p = |k: &str, v: i64| (k.to_string(), v);
    assert_eq!(
        out,
        vec![
            vec![p("a", 2), p("a", 12), p("b", 1), p("b", 11)],
            vec![p("", 2), p("", 12)],
            vec![]
        ]
    );
}

#[test]
fn union() {
    let input = vec![ints(1..=4), ints(101..=104), ints(201..=204)];
    let out = sorted(test_operation(input, |s| s.union(&s.map(|x| x + 4))));
    assert_eq!(out, vec![ints(1..=8), ints(101..=108), ints(201..=208)]);
}

#[test]
fn context_union() {
    let (ssc, clock) = manual_context(2);
    let a = ssc.queue_stream(batches(vec![vec![1i64], vec![2]], 1), true, None);
    let b = ssc.queue_stream(batches(vec![vec![10i64], vec![20]], 1), true, None);
    let out = collect(&ssc.union(&[a, b]));
    run_batches(&ssc, &clock, 2);
    let got: Vec<Vec<i64>> = out.lock().unwrap().iter().map(|(_, v)| v.clone()).collect();
    assert_eq!(got, vec![vec![1, 10], vec![2, 20]]);
    // After stop, adding any operator panics with Spark's message.
    let refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        ssc.union::<i64>(&[]);
    }))
    .unwrap_err();
    let message = refused
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| refused.downcast_ref::<&str>().copied())
        .unwrap_or_default();
    assert_eq!(message, Error::AddedAfterStop.to_string());
}

#[test]
fn transform() {
    let out = test_operation(input_1_to_12(), |s| {
        s.transform(|b| Batch::from_vec(b.iter().map(|x| x.to_string()).collect(), 2))
    });
    let expected: Vec<Vec<String>> = input_1_to_12()
        .iter()
        .map(|b| b.iter().map(|x| x.to_string()).collect())
        .collect();
    assert_eq!(out, expected);
}

#[test]
fn transform_with_time_sees_batch_times() {
    let out = test_operation(vec![vec![0i64], vec![0], vec![0]], |s| {
        s.transform(|b| Batch::from_vec(vec![b.time().as_millis()], 1))
    });
    assert_eq!(out, vec![vec![1000], vec![2000], vec![3000]]);
}

#[test]
fn transform_with() {
    let out = sorted(test_operation2(
        vec![vec![1i64, 2], vec![3]],
        vec![vec![10i64], vec![20, 30]],
        |a, b| {
            a.transform_with(b, |x, y| {
                Batch::from_vec(x.iter().chain(y.iter()).collect(), 1)
            })
        },
    ));
    assert_eq!(out, vec![vec![1, 2, 10], vec![3, 20, 30]]);
}

fn join_inputs() -> (Vec<Vec<String>>, Vec<Vec<String>>) {
    (
        vec![s(&["a", "a", "b"]), s(&["a", ""]), s(&[""]), vec![]],
        vec![s(&["a", "a", "b"]), s(&["b", ""]), vec![], vec![]],
    )
}

#[test]
fn cogroup() {
    let (a, b) = join_inputs();
    let out = sorted(test_operation2(a, b, |x, y| {
        x.map(|w| (w, 1)).cogroup(&y.map(|w| (w, "x")))
    }));
    let g = |k: &str, l: Vec<i64>, r: &[&str]| (k.to_string(), (l, s(r)));
    assert_eq!(
        out,
        vec![
            vec![g("a", vec![1, 1], &["x", "x"]), g("b", vec![1], &["x"])],
            vec![
                g("", vec![1], &["x"]),
                g("a", vec![1], &[]),
                g("b", vec![], &["x"])
            ],
            vec![g("", vec![1], &[])],
            vec![],
        ]
    );
}

fn join_inputs_2() -> (Vec<Vec<String>>, Vec<Vec<String>>) {
    (
        vec![s(&["a", "b"]), s(&["a", ""]), s(&[""]), vec![]],
        vec![s(&["a", "b"]), s(&["b", ""]), vec![], s(&[""])],
    )
}

fn x() -> String {
    "x".to_string()
}

#[test]
fn join() {
    let (a, b) = join_inputs_2();
    let out = sorted(test_operation2(a, b, |l, r| {
        l.map(|w| (w, 1)).join(&r.map(|w| (w, "x")))
    }));
    let j = |k: &str| (k.to_string(), (1i64, x()));
    assert_eq!(out, vec![vec![j("a"), j("b")], vec![j("")], vec![], vec![]]);
}

#[test]
fn left_outer_join() {
    let (a, b) = join_inputs_2();
    let out = sorted(test_operation2(a, b, |l, r| {
        l.map(|w| (w, 1)).left_outer_join(&r.map(|w| (w, "x")))
    }));
    let j = |k: &str, w: Option<String>| (k.to_string(), (1i64, w));
    assert_eq!(
        out,
        vec![
            vec![j("a", Some(x())), j("b", Some(x()))],
            vec![j("", Some(x())), j("a", None)],
            vec![j("", None)],
            vec![],
        ]
    );
}

#[test]
fn right_outer_join() {
    let (a, b) = join_inputs_2();
    let out = sorted(test_operation2(a, b, |l, r| {
        l.map(|w| (w, 1)).right_outer_join(&r.map(|w| (w, "x")))
    }));
    let j = |k: &str, v: Option<i64>| (k.to_string(), (v, x()));
    assert_eq!(
        out,
        vec![
            vec![j("a", Some(1)), j("b", Some(1))],
            vec![j("", Some(1)), j("b", None)],
            vec![],
            vec![j("", None)]
        ]
    );
}

#[test]
fn full_outer_join() {
    let (a, b) = join_inputs_2();
    let out = sorted(test_operation2(a, b, |l, r| {
        l.map(|w| (w, 1)).full_outer_join(&r.map(|w| (w, "x")))
    }));
    let j = |k: &str, v: Option<i64>, w: Option<String>| (k.to_string(), (v, w));
    assert_eq!(
        out,
        vec![
            vec![j("a", Some(1), Some(x())), j("b", Some(1), Some(x()))],
            vec![
                j("", Some(1), Some(x())),
                j("a", Some(1), None),
                j("b", None, Some(x()))
            ],
            vec![j("", Some(1), None)],
            vec![j("", None, Some(x()))],
        ]
    );
}

#[test]
fn slice() {
    let (ssc, clock) = manual_context(2);
    ssc.remember(Duration::seconds(10));
    let stream = ssc.queue_stream(
        batches(vec![vec![1i64], vec![2], vec![3], vec![4]], 2),
        true,
        None,
    );
    let _ = collect(&stream);
    assert!(matches!(
        stream.slice(Time::from_millis(0), Time::from_millis(1000)),
        Err(Error::NotInitialized(_))
    ));
    ssc.start().unwrap();
    for i in 1..=4 {
        clock.advance(BATCH);
        assert!(
            ssc.await_batch(
                Time::from_millis(i * 1000),
                std::time::Duration::from_secs(30)
            )
            .unwrap()
        );
    }
    let slice = |from: i64, to: i64| -> Vec<i64> {
        stream
            .slice(Time::from_millis(from), Time::from_millis(to))
            .unwrap()
            .iter()
            .flat_map(|b| b.to_vec())
            .collect()
    };
    assert_eq!(slice(0, 1000), vec![1]);
    assert_eq!(slice(0, 2000), vec![1, 2]);
    assert_eq!(slice(1000, 2000), vec![1, 2]);
    assert_eq!(slice(2000, 4000), vec![2, 3, 4]);
    // Ends off the grid are floored to it.
    assert_eq!(slice(1500, 2500), vec![1, 2]);
    ssc.stop(false).unwrap();
}

#[test]
fn queue_stream_all_at_once_and_default() {
    let (ssc, clock) = manual_context(2);
    let stream = ssc.queue_stream(
        batches(vec![vec![1i64], vec![2, 3]], 1),
        false,
        Some(Batch::from_vec(vec![99], 1)),
    );
    let out = collect(&stream);
    run_batches(&ssc, &clock, 2);
    let got: Vec<Vec<i64>> = out.lock().unwrap().iter().map(|(_, v)| v.clone()).collect();
    assert_eq!(got, vec![vec![1, 2, 3], vec![99]]);
}

#[test]
fn old_batches_are_forgotten_after_the_remember_duration() {
    let (ssc, clock) = manual_context(2);
    let stream = ssc.queue_stream(
        batches((0..10).map(|i| vec![i as i64]).collect(), 1),
        true,
        None,
    );
    let mapped = stream.map(|x| x + 1);
    let _ = collect(&mapped);
    run_batches(&ssc, &clock, 10);
    // Remember duration defaults to the slide: only the last batch is held.
    assert_eq!(mapped.remembered_times(), vec![Time::from_millis(10_000)]);
    assert_eq!(stream.remembered_times(), vec![Time::from_millis(10_000)]);
}
