//! State that moves with its partition, against a real broker (tansu on 127.0.0.1, skipped loudly
//! when it is not installed): `kafka-word-count --group APP --exchange-partitions P --stateful`
//! --window 10 --slide 2` started several times keeps each word's running count
//! (`update_state_by_key`) and its count over the last 10 batches (`reduce_by_key_and_window`)
//! per exchange partition, snapshots them to the changelog topics `APP-op0-state` and
//! `APP-op1-state`, and a partition's next owner restores them from Kafka alone. Every member runs
//! in an empty working directory of its own.
//!
//! The check: at every batch, each exchange partition's totals are the sums of its words' counts
//! over every batch up to that one (the per-batch counts, saved by the same job, are checked as
//! in `distributed.rs`: every record counted once), which is what one process running
//! `update_state_by_key` over the same batches computes; the job's last batch holds every word's
//! total over the whole input; and each window holds the sums of its batches' counts.
#![cfg(unix)]

mod common;

use common::job::{
    INTERVAL_MS, batches, check_counts, in_process_member, log_to_test_output, member_with,
    produce, records_counted, saved, wait_for_every_record,
};
use common::kafka::{Broker, read_topic};
use common::process::{Running, temp_dir, wait_for};
use common::rng::Rng;
use rdkafka::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

/// Exchange partitions.
const P: u32 = 8;

/// The window's length and slide, in batches.
const WINDOW: i64 = 10;
const SLIDE: i64 = 2;

/// A member keeping running totals and windowed counts, snapshotting every 3 batches.
fn stateful_member(broker: &Broker, dir: &Path, name: &str, app: &str) -> Running {
    let (window, slide) = (WINDOW.to_string(), SLIDE.to_string());
    member_with(
        broker,
        dir,
        name,
        app,
        P,
        &[
            "--stateful",
            "--window",
            &window,
            "--slide",
            &slide,
            "--checkpoint-every",
            "3",
        ],
    )
}

/// Fails, saying `what` and how they differ, unless the saved counts `got` are the `expected`
/// sums of the batches' counts.
fn assert_same(
    got: &BTreeMap<&str, i64>,
    expected: &BTreeMap<&str, i64>,
    what: impl Fn() -> String,
) {
    if got == expected {
        return;
    }
    let wrong: Vec<String> = expected
        .iter()
        .filter(|(w, c)| got.get(*w) != Some(c))
        .take(10)
        .map(|(w, c)| format!("{w}: {:?} instead of {c}", got.get(w)))
        .collect();
    let extra: Vec<&&str> = got.keys().filter(|w| !expected.contains_key(*w)).collect();
    panic!(
        "{}: differs from the sums of the batches' counts: {wrong:?}, not expected: {extra:?}",
        what()
    );
}

/// Checks the running totals (`counts-<t>.state`) against the per-batch counts (see the module
/// documentation); `n` records in all.
fn check_totals(dir: &Path, n: usize, context: impl Fn() -> String) {
    let counts = batches(dir);
    let totals = saved(dir, "state");
    let mut partition_of: BTreeMap<String, u32> = BTreeMap::new();
    let mut running: BTreeMap<String, i64> = BTreeMap::new();
    let times: BTreeSet<i64> = counts.keys().chain(totals.keys()).copied().collect();
    for t in times {
        for (w, c, p) in counts.get(&t).into_iter().flatten() {
            *running.entry(w.clone()).or_default() += c;
            partition_of.insert(w.clone(), *p);
        }
        let Some(state) = totals.get(&t) else {
            continue;
        };
        let parts: BTreeSet<u32> = state.iter().map(|(_, _, p)| *p).collect();
        let mut got: BTreeMap<&str, i64> = BTreeMap::new();
        for (w, c, p) in state {
            assert_eq!(
                partition_of.get(w),
                Some(p),
                "{w}'s total at {t} is in partition {p}\n{}",
                context()
            );
            assert!(
                got.insert(w, *c).is_none(),
                "{w} twice in the totals at {t}\n{}",
                context()
            );
        }
        let expected: BTreeMap<&str, i64> = running
            .iter()
            .filter(|(w, _)| parts.contains(&partition_of[*w]))
            .map(|(w, c)| (w.as_str(), *c))
            .collect();
        assert_same(&got, &expected, || {
            format!("the totals at {t} (partitions {parts:?})\n{}", context())
        });
    }
    // The last batch every partition's totals were saved for (the members were stopped in
    // the middle of later ones).
    let (last, state) = totals
        .iter()
        .rev()
        .find(|(_, state)| {
            state
                .iter()
                .map(|(_, _, p)| *p)
                .collect::<BTreeSet<u32>>()
                .len()
                == P as usize
        })
        .expect("the totals of every partition were saved");
    let records = state.iter().filter(|(w, _, _)| w.starts_with('r')).count();
    assert_eq!(records, n, "the totals at {last}\n{}", context());
}

/// Checks the windowed counts (`counts-<t>.window`) against the per-batch counts: at each
/// slide, each exchange partition's counts are the sums of its words' counts over the batches
/// of the window, words whose window is empty left out (as one process running
/// `reduce_by_key_and_window` with the inverse function over the same batches computes).
fn check_windows(dir: &Path, context: impl Fn() -> String) {
    let counts = batches(dir);
    let windows = saved(dir, "window");
    assert!(!windows.is_empty(), "no window was saved\n{}", context());
    let interval = INTERVAL_MS as i64;
    for (&t, window) in &windows {
        assert_eq!(
            t % (SLIDE * interval),
            0,
            "a window at {t}, off the slide grid"
        );
        let parts: BTreeSet<u32> = window.iter().map(|(_, _, p)| *p).collect();
        let mut expected: BTreeMap<&str, i64> = BTreeMap::new();
        for (_, batch) in counts.range(t - WINDOW * interval + 1..=t) {
            for (w, c, p) in batch.iter().filter(|(_, _, p)| parts.contains(p)) {
                *expected.entry(w.as_str()).or_default() += c;
                assert!(window.iter().all(|(x, _, q)| x != w || q == p));
            }
        }
        let got: BTreeMap<&str, i64> = window.iter().map(|(w, c, _)| (w.as_str(), *c)).collect();
        assert_eq!(got.len(), window.len(), "a word twice in the window at {t}");
        assert_same(&got, &expected, || {
            format!("the window at {t} (partitions {parts:?})\n{}", context())
        });
    }
}

/// Waits until the totals of the latest batch hold every one of the `n` records.
fn wait_for_totals(dir: &Path, n: usize) {
    wait_for("the totals of every record", || {
        saved(dir, "state")
            .values()
            .next_back()
            .is_some_and(|state| state.iter().filter(|(w, _, _)| w.starts_with('r')).count() == n)
    });
}

/// Runs the stateful job over `n` records with members `a`, `b`, `c`; `disrupt` gets them once
/// `at` records are counted and returns the members to run on. Then checks the counts and the
/// totals, and that the restores the job logged came from its changelog.
fn stateful_job(
    name: &str,
    n: usize,
    at: usize,
    disrupt: impl FnOnce(&Broker, &Path, &str, Vec<Running>) -> Vec<Running>,
) -> String {
    let Some(broker) = Broker::start() else {
        return String::new();
    };
    let dir = temp_dir("distributed-state", name);
    produce(&broker, &dir, n);
    let app = name.to_string();
    let members: Vec<Running> = ["a", "b", "c"]
        .iter()
        .map(|m| stateful_member(&broker, &dir, m, &app))
        .collect();
    wait_for("records to be counted before the disruption", || {
        records_counted(&dir) >= at
    });
    let members = disrupt(&broker, &dir, &app, members);
    wait_for_every_record(&dir, n);
    wait_for_totals(&dir, n);
    drop(members);
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let f = e.file_name().to_string_lossy().into_owned();
            f.strip_suffix(".log").map(str::to_string)
        })
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let context =
        || common::kafka::member_logs(&dir, &names, &["restored", "snapshot", "ERROR", "exchange"]);
    check_counts(&dir, n, P, context);
    check_totals(&dir, n, context);
    check_windows(&dir, context);
    let all_logs: String = names
        .iter()
        .map(|m| std::fs::read_to_string(dir.join(format!("{m}.log"))).unwrap_or_default())
        .collect();
    std::fs::remove_dir_all(&dir).unwrap();
    all_logs
}

#[test]
fn totals_and_windows_survive_a_process_killed_at_a_random_batch() {
    for seed in [0x7374_6174_6501_u64, 0x7374_6174_6502] {
        let at = 600 + Rng(seed).below(2400) as usize;
        let logs = stateful_job(
            &format!("state-kill-{seed:x}"),
            6000,
            at,
            |_, _, _, mut m| {
                drop(m.remove(1)); // SIGKILL, at whatever batch it is in
                m
            },
        );
        if logs.is_empty() {
            return; // no broker
        }
        assert!(
            logs.contains("from the snapshot after batch"),
            "the dead member's partitions were not restored from their snapshots"
        );
    }
}

#[test]
fn totals_and_windows_survive_a_rolling_restart_of_every_process() {
    let n = 12_000;
    let logs = stateful_job("state-rolling", n, 1000, |broker, dir, app, members| {
        let mut members: Vec<Option<Running>> = members.into_iter().map(Some).collect();
        let mut replaced = Vec::new();
        for (i, name) in ["a2", "b2", "c2"].iter().enumerate() {
            let before = records_counted(dir);
            members[i].take(); // SIGKILL
            replaced.push(stateful_member(broker, dir, name, app));
            wait_for("the restarted member's batches", || {
                records_counted(dir) >= (before + 1500).min(n)
            });
        }
        members.into_iter().flatten().chain(replaced).collect()
    });
    if logs.is_empty() {
        return;
    }
    assert!(
        logs.contains("from the snapshot after batch"),
        "no partition was restored from its snapshot"
    );
}

/// The last snapshot record of each partition of `topic` (of `P`), after waiting for every
/// partition to have one.
fn last_snapshots(broker: &Broker, topic: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    let data = read_topic(
        broker.addr(),
        topic,
        P as i32,
        P as usize,
        Duration::from_millis(500),
    );
    data.partitions
        .iter()
        .map(|records| {
            let last = records.last().expect("a snapshot in every partition");
            (last.key.clone().unwrap_or_default(), last.value.clone())
        })
        .collect()
}

#[test]
fn a_damaged_or_truncated_latest_snapshot_falls_back_to_the_one_before_with_a_warning() {
    let n = 6000;
    let logs = stateful_job("state-damaged", n, 1500, |broker, dir, app, members| {
        // Every member stopped: the next ones restore every partition.
        drop(members);
        let topic = format!("{app}-op0-state");
        let snapshots = last_snapshots(broker, &topic);
        let producer: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", broker.addr())
            .create()
            .expect("a producer");
        for (p, (key, value)) in snapshots.iter().enumerate() {
            // Half the partitions get a truncated copy of their snapshot, half bytes that are
            // not one.
            let value: &[u8] = if p % 2 == 0 {
                &value[..value.len() / 2]
            } else {
                b"not a snapshot"
            };
            producer
                .send(
                    BaseRecord::to(&topic)
                        .partition(p as i32)
                        .key(key.as_slice())
                        .payload(value),
                )
                .expect("queued");
        }
        producer.flush(Duration::from_secs(30)).expect("flushed");
        ["d", "e", "f"]
            .iter()
            .map(|m| stateful_member(broker, dir, m, app))
            .collect()
    });
    if logs.is_empty() {
        return;
    }
    assert!(
        logs.contains("falling back to the one before it"),
        "no damaged snapshot was reported"
    );
}

/// One in-process member of job `app` (a context of its own, as another process would have):
/// the words' counts per batch (`count_by_value`, through the exchange), each word's running
/// total from `map_with_state`, and its occurrences over the last 10 batches every 2
/// (`group_by_key_and_window`, counted), all saved under `<dir>/out/`, snapshotting every 3
/// batches.
fn mapping_member(broker: &Broker, dir: &Path, app: &str) -> dstreams::StreamingContext {
    use dstreams::prelude::*;
    let (ssc, lines) = in_process_member(broker, app, P);
    let counts = lines.split(Separators::Space).count_by_value();
    counts.checkpoint(Milliseconds(3 * INTERVAL_MS as i64));
    let out = |name: &str| format!("{}/out/{name}", dir.display());
    counts.save_as_text_files(&out("counts"), "");
    let totals = counts.map_with_state(StateSpec::function(
        |word: Str, count: Option<i64>, state: &mut State<i64>| {
            let total = count.unwrap_or(0) + state.get_option().copied().unwrap_or(0);
            state.update(total);
            (word, total)
        },
    ));
    totals.save_as_text_files(&out("counts"), "mapped");
    // Each word's occurrences over the window, grouped, and counted to compare with the counts.
    let interval = INTERVAL_MS as i64;
    lines
        .flat_map(|line| line.split(' '))
        .map(|word| (word, 1i64))
        .group_by_key_and_window(
            Milliseconds(WINDOW * interval),
            Milliseconds(SLIDE * interval),
        )
        .map(|(word, ones)| (word, ones.len() as i64))
        .save_as_text_files(&out("counts"), "window");
    ssc.start().unwrap();
    ssc
}

#[test]
fn map_with_state_and_group_by_key_and_window_run_distributed_and_move_with_their_partitions() {
    let Some(broker) = Broker::start() else {
        return;
    };
    log_to_test_output();
    let dir = temp_dir("distributed-state", "mapping");
    let n = 6000;
    produce(&broker, &dir, n);
    let first = mapping_member(&broker, &dir, "mapping");
    wait_for("records to be counted", || records_counted(&dir) >= 1500);
    // A second member joins: it restores the partitions it takes from the changelog.
    let second = mapping_member(&broker, &dir, "mapping");
    wait_for_every_record(&dir, n);
    for ssc in [&first, &second] {
        ssc.stop(false).unwrap();
    }
    check_counts(&dir, n, P, String::new);
    // Each batch's mapped records: one per word counted in it, its running total then.
    let counts = batches(&dir);
    let mapped = saved(&dir, "mapped");
    let mut running: BTreeMap<String, i64> = BTreeMap::new();
    for (t, batch) in &counts {
        let mut expected: BTreeMap<&str, i64> = BTreeMap::new();
        for (w, c, _) in batch {
            let total = running.entry(w.clone()).or_default();
            *total += c;
            expected.insert(w, *total);
        }
        let got: BTreeMap<&str, i64> = mapped
            .get(t)
            .into_iter()
            .flatten()
            .map(|(w, c, _)| (w.as_str(), *c))
            .collect();
        assert_same(&got, &expected, || format!("the mapped records at {t}"));
    }
    check_windows(&dir, String::new);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_stateful_operator_changed_by_a_new_version_is_refused_naming_its_changelog() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = temp_dir("distributed-state", "upgrade");
    produce(&broker, &dir, 3000);
    let old = ["--stateful", "--checkpoint-every", "1"];
    let a = member_with(&broker, &dir, "a", "upgrade", P, &old);
    wait_for("snapshots of the running totals", || {
        saved(&dir, "state").len() >= 3
    });
    drop(a);
    // The new version's first stateful operator (op0) is a window, where the old one's was
    // the running totals.
    let mut b = member_with(&broker, &dir, "b", "upgrade", P, &["--window", "4"]);
    wait_for("the new version to stop", || {
        b.0.try_wait().unwrap().is_some()
    });
    let status = b.0.wait().unwrap();
    let log = std::fs::read_to_string(dir.join("b.log")).unwrap();
    assert!(!status.success(), "{log}");
    assert!(
        log.contains("checkpoint does not fit this program at upgrade-op0-state")
            && log.contains("the state was written by update_state_by_key")
            && log.contains("checkpoint_name"),
        "{log}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
