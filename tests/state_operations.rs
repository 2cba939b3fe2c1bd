//! `update_state_by_key`: Spark's BasicOperationsSuite vectors (B = 1 s, 2 input partitions) and
//! what a failed batch does to the state.

mod common;
use common::*;
use dstreams::prelude::*;
use std::sync::{Arc, Mutex};

fn input() -> Vec<Vec<String>> {
    words(&[
        &["a"],
        &["a", "b"],
        &["a", "b", "c"],
        &["a", "b"],
        &["a"],
        &[],
    ])
}

fn running_sum(values: &[i64], state: Option<i64>) -> Option<i64> {
    Some(state.unwrap_or(0) + values.iter().sum::<i64>())
}

#[test]
fn update_state_by_key() {
    let out = sorted(test_operation(input(), |s| {
        s.map(|w| (w, 1i64)).update_state_by_key(running_sum)
    }));
    assert_eq!(
        out,
        pairs(&[
            &[("a", 1)],
            &[("a", 2), ("b", 1)],
            &[("a", 3), ("b", 2), ("c", 1)],
            &[("a", 4), ("b", 3), ("c", 1)],
            &[("a", 5), ("b", 3), ("c", 1)],
            &[("a", 5), ("b", 3), ("c", 1)],
        ])
    );
}

#[test]
fn update_state_by_key_with_initial_state() {
    let initial = Batch::from_vec(vec![("a".to_string(), 1i64), ("c".to_string(), 2)], 2);
    let out = sorted(test_operation(input(), move |s| {
        s.map(|w| (w, 1i64))
            .update_state_by_key_with(UpdateStateSpec::function(running_sum).initial_state(initial))
            .with_partitions(2)
    }));
    assert_eq!(
        out,
        pairs(&[
            &[("a", 2), ("c", 2)],
            &[("a", 3), ("b", 1), ("c", 2)],
            &[("a", 4), ("b", 2), ("c", 3)],
            &[("a", 5), ("b", 3), ("c", 3)],
            &[("a", 6), ("b", 3), ("c", 3)],
            &[("a", 6), ("b", 3), ("c", 3)],
        ])
    );
}

#[test]
fn update_state_by_key_with_batch_times() {
    // BasicOperationsSuite "testing time stamps as input": a's state adds the batch time of
    // every batch in which it has values.
    let out = test_operation(input(), |s| {
        s.map(|w| (w, 1i64))
            .update_state_by_key_with(UpdateStateSpec::function_with_time(
                |time, _key, values: &[i64], state: Option<i64>| {
                    let state = state.unwrap_or(0);
                    Some(if values.is_empty() {
                        state
                    } else {
                        state + time.as_millis()
                    })
                },
            ))
            .with_partitions(2)
    });
    let a: Vec<i64> = out
        .iter()
        .map(|b| b.iter().find(|(k, _)| k == "a").unwrap().1)
        .collect();
    assert_eq!(a, [1000, 3000, 6000, 10000, 15000, 15000]);
}

#[test]
fn the_function_is_called_for_every_key_and_none_removes_it() {
    // Each key lives while it keeps getting values: a key without new values is removed.
    let calls = Arc::new(Mutex::new(Vec::new()));
    let seen = calls.clone();
    let out = sorted(test_operation(input(), move |s| {
        s.map(|w| (w, 1i64))
            .update_state_by_key_with(UpdateStateSpec::function_with_time(
                move |t, key: &str, values: &[i64], state: Option<i64>| {
                    seen.lock()
                        .unwrap()
                        .push((t.as_millis(), key.to_string(), values.len()));
                    (!values.is_empty()).then(|| state.unwrap_or(0) + values.len() as i64)
                },
            ))
            .with_partitions(2)
    }));
    assert_eq!(
        out,
        pairs(&[
            &[("a", 1)],
            &[("a", 2), ("b", 1)],
            &[("a", 3), ("b", 2), ("c", 1)],
            &[("a", 4), ("b", 3)],
            &[("a", 5)],
            &[],
        ])
    );
    let mut at4: Vec<(String, usize)> = calls
        .lock()
        .unwrap()
        .iter()
        .filter(|(t, _, _)| *t == 4000)
        .map(|(_, k, n)| (k.clone(), *n))
        .collect();
    at4.sort();
    // c has a state but no values at 4 s: still called, with no values (Spark's rule).
    assert_eq!(
        at4,
        [
            ("a".to_string(), 1),
            ("b".to_string(), 1),
            ("c".to_string(), 0)
        ]
    );
}

#[test]
fn counting_first_gives_the_same_state() {
    // A state over count_by_value's output (already one row per key and partition) equals one
    // over the raw pairs.
    let by_pairs = sorted(test_operation(input(), |s| {
        s.map(|w| (w, 1i64)).update_state_by_key(running_sum)
    }));
    let by_counts = sorted(test_operation(input(), |s| {
        s.count_by_value().update_state_by_key(running_sum)
    }));
    assert_eq!(by_pairs, by_counts);
}

#[test]
fn a_failed_batch_leaves_the_state_as_it_was() {
    // The function panics at 2 s on key "boom", after (or before) updating other keys: the
    // batch fails, and the next batch starts from the state of 1 s, not from a half update.
    let (ssc, clock) = manual_context(2);
    let input = batches(
        words(&[&["a", "b"], &["a", "b", "boom"], &["a"], &["b"]]),
        2,
    );
    let stream = ssc.queue_stream(input, true, None);
    let state = stream
        .map(|w| (w, 1i64))
        .update_state_by_key_with(UpdateStateSpec::function_with_time(
            |_, key: &str, values: &[i64], state: Option<i64>| {
                assert_ne!(key, "boom", "a user function failing on one key");
                Some(state.unwrap_or(0) + values.len() as i64)
            },
        ))
        .with_partitions(2);
    let out = collect(&state);
    run_batches(&ssc, &clock, 4);
    let out = timed_sorted(&out);
    let p = |v: &[(&str, i64)]| pairs(&[v]).remove(0);
    assert_eq!(
        out,
        vec![
            (1000, p(&[("a", 1), ("b", 1)])),
            (3000, p(&[("a", 2), ("b", 1)])),
            (4000, p(&[("a", 2), ("b", 2)])),
        ]
    );
}

/// Many keys, short and long, that get a state, lose it (the function returns `None`) and come
/// back: the state after every batch equals Spark's rule applied to a map.
#[test]
fn many_keys_coming_and_going_follow_sparks_rule() {
    use std::collections::BTreeMap;
    let mut rng = common::rng::Rng(0x57a7_e000_0000_0001);
    let key = |i: u64| match i % 3 {
        0 => format!("k{i}"),
        1 => format!("a key longer than twelve bytes, {i}"),
        _ => format!("cl\u{e9}-{i}"),
    };
    let input: Vec<Vec<(String, i64)>> = (0..12)
        .map(|_| {
            (0..2000)
                .map(|_| (key(rng.below(5000)), 1 + rng.below(3) as i64))
                .collect()
        })
        .collect();
    // The running sum, forgotten once it passes 4 (the key then starts again from nothing).
    let update = |values: &[i64], state: Option<i64>| {
        let sum = state.unwrap_or(0) + values.iter().sum::<i64>();
        (sum <= 4).then_some(sum)
    };
    let mut state: BTreeMap<String, i64> = BTreeMap::new();
    let want: Vec<Vec<(String, i64)>> = input
        .iter()
        .map(|batch| {
            let mut values: BTreeMap<String, Vec<i64>> = BTreeMap::new();
            for (k, v) in batch {
                values.entry(k.clone()).or_default().push(*v);
            }
            let keys: Vec<String> = values.keys().chain(state.keys()).cloned().collect();
            let mut next = BTreeMap::new();
            for k in keys {
                let vs = values.get(&k).map_or(&[][..], Vec::as_slice);
                if let Some(s) = update(vs, state.get(&k).copied()) {
                    next.insert(k, s);
                }
            }
            state = next;
            state.clone().into_iter().collect()
        })
        .collect();
    let got = sorted(test_operation(input, move |s| {
        s.reduce_by_key(|a, b| a + b).update_state_by_key(
            move |values: &[i64], state: Option<i64>| {
                // Values arrive reduced per batch: one sum per key.
                update(values, state)
            },
        )
    }));
    assert_eq!(got, want);
}
