//! Group mode of the direct Kafka stream against a real broker (tansu on 127.0.0.1, skipped
//! loudly when it is not installed): `kafka-word-count --group APP` started twice is one consumer
//! group whose members split a 4-partition topic. Every record is one distinct word, so each
//! member's saved counts say exactly which records it read.
#![cfg(unix)]

mod common;

use common::kafka::{Broker, group_member, member_logs, produce_lines};
use common::process::{Running, temp_dir, wait_for, wait_for_later_batches, word_totals};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Records per second per partition: slow enough that the input outlasts the group's
/// rebalances (several seconds on tansu).
const RATE: u64 = 100;
/// The batch interval, in milliseconds.
const INTERVAL_MS: u64 = 200;

/// A topic `lines` of 4 partitions holding `n` records, record i being the word `r<i>` (in
/// partition i % 4).
fn produce(broker: &Broker, dir: &Path, n: usize) {
    let lines: Vec<String> = (0..n).map(|i| format!("r{i}")).collect();
    produce_lines(broker, dir, &lines, 4, 1);
}

/// One member of the group `app`, saving its counts under `<dir>/<name>/`.
fn member(broker: &Broker, dir: &Path, name: &str) -> (Running, PathBuf) {
    member_every(broker, dir, name, INTERVAL_MS)
}

/// [`member`] with batches `interval_ms` apart.
fn member_every(broker: &Broker, dir: &Path, name: &str, interval_ms: u64) -> (Running, PathBuf) {
    let out = dir.join(name);
    let args = [
        "--interval".to_string(),
        format!("{interval_ms}ms"),
        "--max-rate-per-partition".to_string(),
        RATE.to_string(),
        "--output".to_string(),
        format!("{}/counts", out.display()),
    ];
    (group_member(broker, dir, name, "app", &args), out)
}

/// The members' logs, for a failed assertion.
fn logs(dir: &Path, names: &[&str]) -> String {
    member_logs(dir, names, &["group"])
}

/// Records read by a member (its word totals).
fn read(out: &Path) -> usize {
    word_totals(out).values().sum::<i64>() as usize
}

/// Word totals over several members' outputs.
fn union(outs: &[&Path]) -> BTreeMap<String, i64> {
    let mut all = BTreeMap::new();
    for out in outs {
        for (w, n) in word_totals(out) {
            *all.entry(w).or_default() += n;
        }
    }
    all
}

#[test]
fn two_members_of_a_group_read_every_record_exactly_once() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = temp_dir("kafka-group", "split");
    let n = 8000;
    produce(&broker, &dir, n);
    // The first member owns every partition until the second joins; then the group moves two of
    // them, from the first member's committed offsets.
    let (a, out_a) = member(&broker, &dir, "a");
    wait_for("the first member to read", || read(&out_a) >= 400);
    let (b, out_b) = member(&broker, &dir, "b");
    wait_for("the second member to read", || read(&out_b) > 0);
    wait_for("every record to be read", || {
        union(&[&out_a, &out_b]).len() >= n
    });
    wait_for_later_batches(&out_a, 500);
    wait_for_later_batches(&out_b, 500);
    drop((a, b));
    let all = union(&[&out_a, &out_b]);
    let expected: BTreeMap<String, i64> = (0..n).map(|i| (format!("r{i}"), 1)).collect();
    assert!(
        all == expected,
        "read twice: {:?}; missing: {}; the first member read {}, the second {}\n{}",
        all.iter()
            .filter(|(_, c)| **c > 1)
            .take(20)
            .collect::<Vec<_>>(),
        expected.keys().filter(|w| !all.contains_key(*w)).count(),
        read(&out_a),
        read(&out_b),
        logs(&dir, &["a", "b"])
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_member_whose_batches_are_two_seconds_apart_is_assigned_its_partitions() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = temp_dir("kafka-group", "slow-batches");
    let n = 400;
    produce(&broker, &dir, n);
    // The CLI's default interval; the consumer's statistics reports come every second, and
    // draining once stopped at the first event, so the rebalance queued behind them was never
    // served (no partition, no record, ever).
    let (a, out) = member_every(&broker, &dir, "a", 2000);
    wait_for("every record to be read", || read(&out) >= n);
    drop(a);
    assert_eq!(read(&out), n, "{}", logs(&dir, &["a"]));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_killed_member_s_partitions_are_taken_over_from_the_committed_offsets() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = temp_dir("kafka-group", "kill");
    let n = 12_000;
    produce(&broker, &dir, n);
    let (a, out_a) = member(&broker, &dir, "a");
    let (b, out_b) = member(&broker, &dir, "b");
    wait_for("both members to read", || {
        read(&out_a) >= 200 && read(&out_b) >= 200
    });
    drop(b); // SIGKILL, at whatever batch the second member is in
    let b_read = read(&out_b);
    wait_for("the survivor to read every record", || {
        union(&[&out_a, &out_b]).len() >= n
    });
    wait_for_later_batches(&out_a, 500);
    drop(a);
    let all = union(&[&out_a, &out_b]);
    let missing = (0..n)
        .filter(|i| !all.contains_key(&format!("r{i}")))
        .count();
    let twice: Vec<(&String, &i64)> = all.iter().filter(|(_, c)| **c > 1).collect();
    // What is guaranteed: every record is read. Records of the batch the killed member was
    // running (planned, not committed) are read again by the survivor, and so are those of a
    // batch whose output was saved but whose commit the kill prevented: at most two batches of
    // the killed member, each at most RATE x interval records of each of its (at most 4)
    // partitions, each read once more. Nothing the survivor read itself is read twice.
    let per_batch = 4 * RATE * INTERVAL_MS / 1000;
    assert!(
        missing == 0 && twice.iter().all(|(_, c)| **c == 2) && twice.len() as u64 <= 2 * per_batch,
        "missing {missing}; read twice: {} ({:?}); the killed member had read {b_read}\n{}",
        twice.len(),
        twice.iter().take(20).collect::<Vec<_>>(),
        logs(&dir, &["a", "b"])
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn group_mode_refuses_an_assignment_an_assignor_and_a_checkpoint_directory() {
    use dstreams::prelude::*;
    use dstreams::source::KafkaConfig;
    // Refused when the stream is built, reported by `start`.
    let ssc = StreamingContext::new(Seconds(1));
    ssc.kafka_stream(KafkaConfig::assigned("127.0.0.1:1", [("lines", 0, None)]).group("app"))
        .print();
    ssc.kafka_stream(
        KafkaConfig::new("127.0.0.1:1", ["lines"])
            .group("app")
            .set("partition.assignment.strategy", "range"),
    )
    .print();
    let err = ssc.start().unwrap_err();
    let Error::InvalidProgram(ms) = &err else {
        panic!("expected InvalidProgram, got {err:?}");
    };
    let got: Vec<String> = ms.iter().map(|m| m.error.to_string()).collect();
    assert_eq!(
        got,
        [
            "a Kafka stream in group mode subscribes to topics: it cannot read an assigned list of partitions",
            "a Kafka stream in group mode uses the cooperative-sticky assignor: partition.assignment.strategy cannot be set",
        ]
    );
    // The group's committed offsets are its positions: no checkpoint directory (yet).
    let dir = temp_dir("kafka-group", "checkpoint");
    let ssc = StreamingContext::new(Seconds(1));
    ssc.checkpoint(&dir);
    ssc.kafka_stream(KafkaConfig::new("127.0.0.1:1", ["lines"]).group("app"))
        .print();
    let err = ssc.start().unwrap_err();
    assert!(matches!(err, Error::Unsupported(_)), "{err:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}
