//! `map_with_state`: Spark's MapWithStateSuite vectors (B = 1 s), `State`'s rules, idle
//! timeouts and what a failed batch does to the state.

mod common;
use common::*;
use dstreams::prelude::*;
use std::sync::{Arc, Mutex};

/// The suite's running count: the new count is the mapped record and the state.
fn running_count() -> StateSpec<String, i64, i64, i64> {
    StateSpec::function(|_word: &str, one: Option<i64>, state: &mut State<i64>| {
        let sum = one.unwrap_or(0) + state.get_option().copied().unwrap_or(0);
        state.update(sum)?;
        Ok(sum)
    })
}

/// Runs `spec` over `input` (one word per record, value 1): mapped records and snapshots.
fn run(
    input: Vec<Vec<String>>,
    spec: StateSpec<String, i64, i64, i64>,
) -> (Vec<Vec<i64>>, Vec<Vec<(String, i64)>>) {
    let n = input.len();
    let (ssc, clock) = manual_context(2);
    let stream = ssc.queue_stream(batches(input, 2), true, None).unwrap();
    let mapped = stream
        .map(|w, out| out.push((w, 1i64)))
        .unwrap()
        .map_with_state(spec)
        .unwrap();
    let records = collect(&mapped);
    let snapshots = collect(&mapped.state_snapshots().unwrap());
    run_batches(&ssc, &clock, n);
    (sorted(take(&records)), sorted(take(&snapshots)))
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
    let spec = StateSpec::function(|word: &str, one: Option<i64>, state: &mut State<i64>| {
        let sum = one.unwrap_or(0) + state.get_option().copied().unwrap_or(0);
        if word == "b" && sum == 2 {
            state.remove()?;
        } else {
            state.update(sum)?;
        }
        Ok(sum)
    })
    .initial_state(initial)
    .num_partitions(3);
    let (mapped, snapshots) = run(words(&[&["a", "b"], &["b"], &["a"]]), spec);
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

#[test]
fn idle_keys_time_out_exactly_once() {
    // Timeout 3 s: b and c were last updated at 2 s; a key times out in the first batch whose
    // time minus the timeout is after its last update (5 s), called once with no value.
    let spec = StateSpec::function_with_time(
        |t: Time, word: &str, one: Option<i64>, state: &mut State<i64>| {
            if state.is_timing_out() {
                assert!(one.is_none());
                assert!(state.update(0).is_err() && state.remove().is_err());
                return Ok(Some(-(t.as_millis() / 1000) * 100 - state.get()?));
            }
            let sum = one.unwrap_or(0) + state.get_option().copied().unwrap_or(0);
            state.update(sum)?;
            let _ = word;
            Ok(Some(sum))
        },
    )
    .timeout(Duration::seconds(3));
    let input = words(&[
        &["a"],
        &["a", "b", "c"],
        &["a"],
        &["a"],
        &["a"],
        &["a"],
        &["a"],
    ]);
    let (mapped, snapshots) = run(input, spec);
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
fn state_rules_have_sparks_messages() {
    let mut s: State<i64> = State::default();
    assert_eq!(s.get().unwrap_err().to_string(), "State is not set");
    s.update(1).unwrap();
    assert!(s.exists());
    s.remove().unwrap();
    assert_eq!(
        s.remove().unwrap_err().to_string(),
        "requirement failed: Cannot remove the state that has already been removed"
    );
    assert_eq!(
        s.update(2).unwrap_err().to_string(),
        "requirement failed: Cannot update the state after it has been removed"
    );
}

#[test]
fn a_failed_batch_leaves_the_state_as_it_was() {
    let (ssc, clock) = manual_context(2);
    let input = batches(words(&[&["a", "b"], &["a", "bad", "b"], &["a"]]), 2);
    let stream = ssc.queue_stream(input, true, None).unwrap();
    let spec = StateSpec::function(|word: &str, one: Option<i64>, state: &mut State<i64>| {
        let sum = one.unwrap_or(0) + state.get_option().copied().unwrap_or(0);
        if word == "bad" {
            state.remove()?;
            state.remove()?; // misuse: fails the batch
        }
        state.update(sum)?;
        Ok(sum)
    });
    let mapped = stream
        .map(|w, out| out.push((w, 1i64)))
        .unwrap()
        .map_with_state(spec)
        .unwrap();
    let snapshots = collect(&mapped.state_snapshots().unwrap());
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
