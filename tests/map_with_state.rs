//! `map_with_state`: Spark's MapWithStateSuite vectors (B = 1 s), `State`'s rules, idle
//! timeouts and what a failed batch does to the state.

mod common;
use common::*;
use dstreams::prelude::*;
use std::sync::{Arc, Mutex};

/// The suite's running count: the new count is the mapped record and the state.
fn running_count() -> StateSpec<String, i64, i64, i64> {
    StateSpec::function(|_word: Str, one: Option<i64>, state: &mut State<i64>| {
        let sum = one.unwrap_or(0) + state.get_option().copied().unwrap_or(0);
        state.update(sum);
        sum
    })
}

/// Runs `spec` over `input` (one word per record, value 1): mapped records and snapshots.
fn run(
    input: Vec<Vec<String>>,
    spec: StateSpec<String, i64, i64, i64>,
) -> (Vec<Vec<i64>>, Vec<Vec<(String, i64)>>) {
    run_partitioned(input, spec, None)
}

/// [`run`] with the state in `partitions` partitions (else the context's default).
fn run_partitioned(
    input: Vec<Vec<String>>,
    spec: StateSpec<String, i64, i64, i64>,
    partitions: Option<usize>,
) -> (Vec<Vec<i64>>, Vec<Vec<(String, i64)>>) {
    let n = input.len();
    let (ssc, clock) = manual_context(2);
    let stream = ssc.queue_stream(batches(input, 2), true, None);
    let mut mapped = stream.map(|w| (w, 1i64)).map_with_state(spec);
    if let Some(p) = partitions {
        mapped = mapped.with_partitions(p);
    }
    let records = collect(&mapped);
    let snapshots = collect(&mapped.state_snapshots());
    run_batches(&ssc, &clock, n);
    (sorted(take(&records)), sorted(take(&snapshots)))
}

/// The error a run of `spec` over `input` reports (from `await_termination`), as text.
fn batch_error(input: Vec<Vec<String>>, spec: StateSpec<String, i64, i64, i64>) -> String {
    let n = input.len();
    let (ssc, clock) = manual_context(2);
    let stream = ssc.queue_stream(batches(input, 2), true, None);
    let mapped = stream.map(|w| (w, 1i64)).map_with_state(spec);
    let _ = collect(&mapped);
    run_batches(&ssc, &clock, n);
    ssc.await_termination().unwrap_err().to_string()
}

/// The batches collected so far, without their times.
fn take<T>(v: &Arc<Mutex<Vec<(Time, Vec<T>)>>>) -> Vec<Vec<T>> {
    std::mem::take(&mut *v.lock().unwrap())
        .into_iter()
        .map(|(_, b)| b)
        .collect()
}

fn suite_input() -> Vec<Vec<String>> {
    words(&[
        &[],
        &["a"],
        &["a", "b"],
        &["a", "b", "c"],
        &["a", "b"],
        &["a"],
        &[],
    ])
}

#[test]
fn map_with_state_basic_operation() {
    let (mapped, snapshots) = run(suite_input(), running_count());
    assert_eq!(
        mapped,
        vec![
            vec![],
            vec![1],
            vec![1, 2],
            vec![1, 2, 3],
            vec![3, 4],
            vec![5],
            vec![]
        ]
    );
    assert_eq!(
        snapshots,
        pairs(&[
            &[],
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
fn records_of_one_key_see_the_state_the_previous_one_left() {
    let (mapped, snapshots) = run(words(&[&["a", "a", "a"], &["a"]]), running_count());
    assert_eq!(mapped, vec![vec![1, 2, 3], vec![4]]);
    assert_eq!(snapshots, pairs(&[&[("a", 3)], &[("a", 4)]]));
}

#[test]
fn initial_state_and_removal() {
    let initial = Batch::from_vec(vec![("a".to_string(), 10i64), ("z".to_string(), 1)], 2);
    // "a" counts on from 10; "z" never gets a record and keeps its initial state; "b" is
    // removed by its second record.
    let spec = StateSpec::function(|word: Str, one: Option<i64>, state: &mut State<i64>| {
        let sum = one.unwrap_or(0) + state.get_option().copied().unwrap_or(0);
        if word == "b" && sum == 2 {
            state.remove();
        } else {
            state.update(sum);
        }
        sum
    })
    .initial_state(initial);
    let (mapped, snapshots) = run_partitioned(words(&[&["a", "b"], &["b"], &["a"]]), spec, Some(3));
    assert_eq!(mapped, vec![vec![1, 11], vec![2], vec![12]]);
    assert_eq!(
        snapshots,
        pairs(&[
            &[("a", 11), ("b", 1), ("z", 1)],
            &[("a", 11), ("z", 1)],
            &[("a", 12), ("z", 1)],
        ])
    );
}

fn idle_input() -> Vec<Vec<String>> {
    words(&[
        &["a"],
        &["a", "b", "c"],
        &["a"],
        &["a"],
        &["a"],
        &["a"],
        &["a"],
    ])
}

#[test]
fn idle_keys_time_out_exactly_once() {
    // Timeout 3 s: b and c were last updated at 2 s; a key times out in the first batch whose
    // time minus the timeout is after its last update (5 s), called once with no value.
    // (That a timing-out state can be neither updated nor removed is checked below: such a
    // misuse now fails the batch.)
    let spec = StateSpec::function_with_time(
        |t: Time, word: Str, one: Option<i64>, state: &mut State<i64>| {
            if state.is_timing_out() {
                assert!(one.is_none());
                return Some(-(t.as_millis() / 1000) * 100 - *state.get());
            }
            let sum = one.unwrap_or(0) + state.get_option().copied().unwrap_or(0);
            state.update(sum);
            let _ = word;
            Some(sum)
        },
    )
    .timeout(Duration::seconds(3));
    let (mapped, snapshots) = run(idle_input(), spec);
    // At 6 s (6 − 3 = 3 > 2) b and c time out: -600 - state (1 each).
    assert_eq!(
        mapped,
        vec![
            vec![1],
            vec![1, 1, 2],
            vec![3],
            vec![4],
            vec![5],
            vec![-601, -601, 6],
            vec![7]
        ]
    );
    assert_eq!(snapshots[4], pairs(&[&[("a", 5), ("b", 1), ("c", 1)]])[0]);
    assert_eq!(snapshots[5], pairs(&[&[("a", 6)]])[0]);
    assert_eq!(snapshots[6], pairs(&[&[("a", 7)]])[0]);
}

#[test]
fn a_timing_out_state_can_be_neither_updated_nor_removed() {
    // The timing-out call of `idle_keys_time_out_exactly_once` misusing its state: the batch
    // fails with Spark's message.
    for (misuse, message) in [
        (
            (|s: &mut State<i64>| s.update(0)) as fn(&mut State<i64>),
            "requirement failed: Cannot update the state that is timing out",
        ),
        (
            |s: &mut State<i64>| s.remove(),
            "requirement failed: Cannot remove the state that is timing out",
        ),
    ] {
        let spec = StateSpec::function_with_time(
            move |_: Time, _: Str, one: Option<i64>, state: &mut State<i64>| {
                if state.is_timing_out() {
                    misuse(state);
                    return None;
                }
                let sum = one.unwrap_or(0) + state.get_option().copied().unwrap_or(0);
                state.update(sum);
                Some(sum)
            },
        )
        .timeout(Duration::seconds(3));
        let err = batch_error(idle_input(), spec);
        assert!(err.contains(message), "{err}");
    }
}

#[test]
fn state_rules_have_sparks_messages() {
    let mut s: State<i64> = State::default();
    let unset = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| *s.get())).unwrap_err();
    // `get` without a state fails the batch with the typed error, Spark's message.
    let error = unset.downcast::<dstreams::Error>().unwrap();
    assert!(matches!(*error, dstreams::Error::StateNotSet));
    assert_eq!(error.to_string(), "State is not set");
    s.update(1);
    assert!(s.exists());
    s.remove();
    assert!(!s.exists());
    // Misuses change nothing and fail the batch (once the function returns) with Spark's
    // message.
    s.remove();
    s.update(2);
    assert!(!s.exists());
    let removed_twice = StateSpec::function(|_: Str, one: Option<i64>, state: &mut State<i64>| {
        state.update(1);
        state.remove();
        state.remove();
        one.unwrap_or(0)
    });
    let err = batch_error(words(&[&["a"]]), removed_twice);
    assert!(
        err.contains("requirement failed: Cannot remove the state that has already been removed"),
        "{err}"
    );
    let updated_after_removal =
        StateSpec::function(|_: Str, one: Option<i64>, state: &mut State<i64>| {
            state.update(1);
            state.remove();
            state.update(2);
            one.unwrap_or(0)
        });
    let err = batch_error(words(&[&["a"]]), updated_after_removal);
    assert!(
        err.contains("requirement failed: Cannot update the state after it has been removed"),
        "{err}"
    );
}

#[test]
fn a_failed_batch_leaves_the_state_as_it_was() {
    let (ssc, clock) = manual_context(2);
    let input = batches(words(&[&["a", "b"], &["a", "bad", "b"], &["a"]]), 2);
    let stream = ssc.queue_stream(input, true, None);
    let spec = StateSpec::function(|word: Str, one: Option<i64>, state: &mut State<i64>| {
        let sum = one.unwrap_or(0) + state.get_option().copied().unwrap_or(0);
        if word == "bad" {
            state.remove();
            state.remove(); // misuse: fails the batch
            return sum;
        }
        state.update(sum);
        sum
    });
    let mapped = stream.map(|w| (w, 1i64)).map_with_state(spec);
    let snapshots = collect(&mapped.state_snapshots());
    run_batches(&ssc, &clock, 3);
    let got = timed_sorted(&snapshots);
    let p = |v: &[(&str, i64)]| pairs(&[v]).remove(0);
    assert_eq!(
        got,
        vec![
            (1000, p(&[("a", 1), ("b", 1)])),
            (3000, p(&[("a", 2), ("b", 1)])),
        ]
    );
    assert!(
        ssc.await_termination()
            .unwrap_err()
            .to_string()
            .contains("Cannot remove the state that has already been removed")
    );
}
