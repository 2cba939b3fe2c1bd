//! Distributed mode against a real broker (tansu on 127.0.0.1, skipped loudly when it is not
//! installed): `kafka-word-count --group APP --exchange-partitions P` started three times is one
//! job whose word counts are exchanged through Kafka. Record i of the input is `r<i> m<i % 5>
//! n<i % 7>`: the `r` words say exactly which records a batch counted, and the `m` and `n` words,
//! which every source partition holds, must be counted across the processes within each batch
//! exactly as one process counting that batch's records would.
#![cfg(unix)]

mod common;

use common::job::{
    INTERVAL_MS, SOURCES, batches, check_counts, in_process_member, log_to_test_output, logs,
    member, member_with, produce, records_counted, wait_for_every_record,
};
use common::kafka::{Broker, read_topic};
use common::process::{LIMIT, Running, temp_dir, wait_for};
use common::rng::Rng;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn three_processes_are_one_job_whose_batches_count_like_one_process() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = temp_dir("distributed", "three");
    let n = 6000;
    produce(&broker, &dir, n);
    let p = 8;
    let members: Vec<Running> = ["a", "b", "c"]
        .iter()
        .map(|name| member(&broker, &dir, name, "wc", p))
        .collect();
    wait_for_every_record(&dir, n);
    drop(members);
    check_counts(&dir, n, p, || logs(&dir, &["a", "b", "c"]));
    // All three processes took part: each joined its exchange's group.
    for name in ["a", "b", "c"] {
        let log = std::fs::read_to_string(dir.join(format!("{name}.log"))).unwrap();
        assert!(
            log.contains("joined its group"),
            "{name}\n{}",
            logs(&dir, &["a", "b", "c"])
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_process_killed_at_a_random_batch_is_taken_over_and_nothing_is_lost_or_counted_twice() {
    let n = 6000;
    let p = 8;
    for seed in [0x006b_696c_6c01_u64, 0x006b_696c_6c02] {
        // A broker per seed: each run reads its own topic from the beginning.
        let Some(broker) = Broker::start() else {
            return;
        };
        let dir = temp_dir("distributed", &format!("kill-{seed:x}"));
        produce(&broker, &dir, n);
        let app = format!("kill-{seed:x}");
        let a = member(&broker, &dir, "a", &app, p);
        let mut b = Some(member(&broker, &dir, "b", &app, p));
        let c = member(&broker, &dir, "c", &app, p);
        let at = 300 + Rng(seed).below(2500) as usize;
        wait_for("records to be counted before the kill", || {
            records_counted(&dir) >= at
        });
        b.take(); // SIGKILL, at whatever batch it is in
        wait_for_every_record(&dir, n);
        drop((a, c));
        check_counts(&dir, n, p, || logs(&dir, &["a", "b", "c"]));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// Every batch's groups of `kafka-word-count --by-count` (`(count,CompactBuffer(words))`), by
/// batch time: `(count, word)` pairs.
fn by_count_batches(dir: &Path) -> BTreeMap<i64, Vec<(i64, String)>> {
    let mut found: BTreeMap<i64, Vec<(i64, String)>> = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir.join("out")) else {
        return found;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(ms) = name.strip_prefix("counts-").and_then(|n| n.parse().ok()) else {
            continue;
        };
        let pairs = found.entry(ms).or_default();
        for part in std::fs::read_dir(entry.path()).unwrap().flatten() {
            if !part.file_name().to_string_lossy().starts_with("part-") {
                continue;
            }
            for line in std::fs::read_to_string(part.path()).unwrap().lines() {
                let (count, words) = line[1..].split_once(",CompactBuffer(").expect("a group");
                let count: i64 = count.parse().expect("a count");
                for w in words.trim_end_matches("))").split(", ") {
                    pairs.push((count, w.to_string()));
                }
            }
        }
    }
    found
}

#[test]
fn a_keyed_operation_after_another_loses_and_doubles_nothing_when_a_process_is_killed() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = temp_dir("distributed", "by-count");
    let n = 6000;
    let p = 8;
    produce(&broker, &dir, n);
    let app = "by-count";
    let member = |name| member_with(&broker, &dir, name, app, p, &["--by-count"]);
    let records = || -> BTreeMap<usize, i64> {
        let mut batch_of = BTreeMap::new();
        for (t, pairs) in by_count_batches(&dir) {
            for (c, w) in pairs.iter().filter(|(_, w)| w.starts_with('r')) {
                assert_eq!(*c, 1, "{w} counted {c} times in batch {t}");
                let before = batch_of.insert(w[1..].parse().unwrap(), t);
                assert!(before.is_none(), "{w} in batches {before:?} and {t}");
            }
        }
        batch_of
    };
    let (a, mut b, c) = (member("a"), Some(member("b")), member("c"));
    wait_for("records to be counted before the kill", || {
        records().len() >= 1500
    });
    b.take(); // SIGKILL, at whatever batch it is in
    wait_for("every record to be counted", || records().len() >= n);
    let last = by_count_batches(&dir).keys().max().copied().unwrap();
    wait_for("later batches", || {
        by_count_batches(&dir)
            .keys()
            .max()
            .is_some_and(|&t| t >= last + 3 * INTERVAL_MS as i64)
    });
    drop((a, c));
    let batch_of = records();
    let context = || logs(&dir, &["a", "b", "c"]);
    assert_eq!(batch_of.len(), n, "{}", context());
    // Each batch: every m and n word under the count one process gives it from the batch's
    // records, once.
    for (t, pairs) in by_count_batches(&dir) {
        let mut expected: BTreeMap<String, i64> = BTreeMap::new();
        for (&i, _) in batch_of.iter().filter(|(_, bt)| **bt == t) {
            *expected.entry(format!("m{}", i % 5)).or_default() += 1;
            *expected.entry(format!("n{}", i % 7)).or_default() += 1;
        }
        let mut got: BTreeMap<String, i64> = BTreeMap::new();
        for (c, w) in pairs.into_iter().filter(|(_, w)| !w.starts_with('r')) {
            let before = got.insert(w.clone(), c);
            assert!(
                before.is_none(),
                "{w} under two counts in batch {t}\n{}",
                context()
            );
        }
        assert_eq!(got, expected, "batch {t}\n{}", context());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_fourth_process_joining_mid_run_takes_partitions_and_nothing_is_lost_or_counted_twice() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = temp_dir("distributed", "join");
    let n = 6000;
    let p = 8;
    produce(&broker, &dir, n);
    let mut members: Vec<Running> = ["a", "b", "c"]
        .iter()
        .map(|name| member(&broker, &dir, name, "join", p))
        .collect();
    wait_for("records to be counted before the fourth joins", || {
        records_counted(&dir) >= 1500
    });
    members.push(member(&broker, &dir, "d", "join", p));
    wait_for_every_record(&dir, n);
    drop(members);
    let names = ["a", "b", "c", "d"];
    check_counts(&dir, n, p, || logs(&dir, &names));
    // The newcomer was given a share of the exchange partitions.
    let d = std::fs::read_to_string(dir.join("d.log")).unwrap();
    assert!(
        d.lines()
            .any(|l| l.contains("exchange: assigned partitions [") && !l.contains("[]")),
        "{}",
        logs(&dir, &names)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Three processes of job `app` counting 6000 records; `disrupt` runs once 1500 of them are
/// counted. Then every record must be counted once, and each batch as one process counts it.
fn three_processes_through(app: &str, disrupt: impl FnOnce(&Broker, &[Running])) {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = temp_dir("distributed", app);
    let n = 6000;
    let p = 8;
    produce(&broker, &dir, n);
    let members: Vec<Running> = ["a", "b", "c"]
        .iter()
        .map(|name| member(&broker, &dir, name, app, p))
        .collect();
    wait_for("records to be counted before the disruption", || {
        records_counted(&dir) >= 1500
    });
    disrupt(&broker, &members);
    wait_for_every_record(&dir, n);
    drop(members);
    check_counts(&dir, n, p, || logs(&dir, &["a", "b", "c"]));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_process_frozen_past_its_session_timeout_sends_nothing_its_partitions_next_owners_read_again() {
    // Longer than the session timeout (6 s): the group takes b's partitions away while it is
    // stopped, and b wakes up in the middle of whatever batch it was in, a member the group no
    // longer counts. Its commits fail, so what it read is not sent on.
    three_processes_through("frozen", |_, members| {
        members[1].pause_for(Duration::from_secs(9))
    });
}

#[test]
fn a_range_its_previous_owner_committed_and_did_not_send_is_sent_again_under_its_batch() {
    use dstreams::rdkafka::config::ClientConfig;
    use dstreams::rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
    use dstreams::rdkafka::{Offset, TopicPartitionList};
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = temp_dir("distributed", "handover");
    let n = 1200;
    let p = 4;
    produce(&broker, &dir, n);
    // What a member that died between committing a batch and sending it leaves: offsets 0..40
    // of source partition 2 committed as batch `dead` (a minute ago, on the 300 ms grid), the
    // range's start and batch time committed beside them, nothing in the exchange.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let dead = (now - 60_000) / INTERVAL_MS as i64 * INTERVAL_MS as i64;
    for companion in ["handover-handover-from", "handover-handover-batch"] {
        broker.create_topic(companion, SOURCES as i32);
    }
    let group: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.addr())
        .set("group.id", "handover")
        .create()
        .unwrap();
    let mut committed = TopicPartitionList::new();
    for (topic, offset) in [
        ("lines", 40),
        ("handover-handover-from", 0),
        ("handover-handover-batch", dead),
    ] {
        committed
            .add_partition_offset(topic, 2, Offset::Offset(offset))
            .unwrap();
    }
    group.commit(&committed, CommitMode::Sync).unwrap();
    drop(group);
    let members: Vec<Running> = ["a", "b"]
        .iter()
        .map(|name| member(&broker, &dir, name, "handover", p))
        .collect();
    wait_for_every_record(&dir, n);
    drop(members);
    check_counts(&dir, n, p, || logs(&dir, &["a", "b"]));
    // Exactly those 40 records (record i is in partition i % 6) were counted as batch `dead`.
    let mut counted: Vec<usize> = batches(&dir)
        .get(&dead)
        .map(|counts| {
            counts
                .iter()
                .filter_map(|(w, _, _)| w.strip_prefix('r')?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    counted.sort_unstable();
    let expected: Vec<usize> = (0..40).map(|k| 2 + 6 * k).collect();
    assert_eq!(counted, expected, "{}", logs(&dir, &["a", "b"]));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_broker_unavailable_for_seconds_loses_and_doubles_nothing() {
    // Shorter than the session timeout (6 s): no member is taken for dead.
    three_processes_through("outage", |broker, _| {
        broker.pause_for(Duration::from_secs(3))
    });
}

/// Waits for `child` to exit on its own; its exit status and standard error.
fn finish(mut child: std::process::Child, stderr: PathBuf) -> (std::process::ExitStatus, String) {
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > LIMIT {
            let _ = child.kill();
            panic!("dstreams did not exit within {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (status, std::fs::read_to_string(stderr).unwrap_or_default())
}

#[test]
fn a_changed_number_of_exchange_partitions_is_refused_naming_both() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = temp_dir("distributed", "changed-p");
    produce(&broker, &dir, 60);
    // The job's first start chooses P = 4 (its exchange topic is created then).
    let first = member(&broker, &dir, "first", "px", 4);
    wait_for("the first start to join", || {
        std::fs::read_to_string(dir.join("first.log")).is_ok_and(|l| l.contains("joined its group"))
    });
    drop(first);
    let stderr = dir.join("second.log");
    let child = Command::new(env!("CARGO_BIN_EXE_dstreams"))
        .args(["run", "kafka-word-count", broker.addr(), "lines"])
        .args(["--group", "px", "--exchange-partitions", "8"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    let (status, err) = finish(child, stderr);
    assert!(!status.success());
    assert!(
        err.contains("exchange topic px-0-exchange has 4 partitions")
            && err.contains("asks for 8")
            && err.contains("--exchange-partitions 4"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_distributed_program_refuses_what_it_cannot_run_yet() {
    use dstreams::prelude::*;
    use dstreams::source::KafkaConfig;
    use dstreams::{Error, ExchangeConfig};
    let ssc = StreamingContext::new(Seconds(1));
    ssc.distribute(ExchangeConfig::new("127.0.0.1:1", "app"));
    let lines = ssc.kafka_stream(KafkaConfig::new("127.0.0.1:1", ["lines"]).group("app"));
    let pairs = lines.map(|l| (l, 1));
    pairs
        .update_state_by_key(|values: &[i64], state: Option<i64>| {
            Some(state.unwrap_or(0) + values.iter().sum::<i64>())
        })
        .print();
    pairs.window(Seconds(2), Seconds(1)).print();
    let counts = pairs.reduce_by_key(|a, b| a + b); // supported
    counts.print();
    // State and keyed windows after a keyed operation: supported.
    counts
        .update_state_by_key(|values: &[i64], state: Option<i64>| {
            Some(state.unwrap_or(0) + values.iter().sum::<i64>())
        })
        .print();
    counts
        .reduce_by_key_and_window(|a, b| a + b, Seconds(4), Seconds(2))
        .print();
    pairs.group_by_key().print(); // supported
    pairs.join(&pairs).print(); // supported
    let err = ssc.start().unwrap_err();
    let Error::Unsupported(message) = &err else {
        panic!("expected Unsupported, got {err:?}");
    };
    // The state on source partitions first.
    assert!(
        message.contains("StateDStream") && message.contains("batches cut by source partition"),
        "{message}"
    );
    // Then the whole-element window.
    let ssc = StreamingContext::new(Seconds(1));
    ssc.distribute(ExchangeConfig::new("127.0.0.1:1", "app"));
    let lines = ssc.kafka_stream(KafkaConfig::new("127.0.0.1:1", ["lines"]).group("app"));
    let pairs = lines.map(|l| (l, 1));
    pairs.window(Seconds(2), Seconds(1)).print();
    pairs.reduce_by_key(|a, b| a + b).print();
    let err = ssc.start().unwrap_err();
    let Error::Unsupported(message) = &err else {
        panic!("expected Unsupported, got {err:?}");
    };
    assert!(message.contains("WindowedDStream"), "{message}");
    for supported in ["ShuffledDStream", "StateDStream", "ReducedWindowedDStream"] {
        assert!(!message.contains(supported), "{message}");
    }
}

/// One in-process member of job `app` (a context of its own, as another process would have):
/// the records' `m` words grouped (`group_by_key`) and joined with every tenth record's mark
/// (`join`, `left_outer_join`), saved under `<dir>/out/`.
fn grouping_member(broker: &Broker, dir: &Path, app: &str, p: u32) -> dstreams::StreamingContext {
    let (ssc, lines) = in_process_member(broker, app, p);
    let records = lines.map(|line| {
        let i: i64 = line.as_str().split(' ').next().unwrap()[1..]
            .parse()
            .unwrap();
        (format!("m{}", i % 5), i)
    });
    let marks = records
        .filter(|(_, i)| i % 10 == 0)
        .map(|(m, i)| (m, format!("x{i}")));
    let out = |name: &str| format!("{}/out/{name}", dir.display());
    let groups = records.group_by_key();
    groups.save_as_text_files(&out("groups"), "");
    let mut kafka = dstreams::rdkafka::ClientConfig::new();
    kafka.set("bootstrap.servers", broker.addr());
    groups.save_to_kafka(&kafka, "groups");
    records.join(&marks).save_as_text_files(&out("joins"), "");
    records
        .left_outer_join(&marks)
        .save_as_text_files(&out("left"), "");
    ssc.start().unwrap();
    ssc
}

/// The lines of every part file of output `name`, by batch time.
fn saved_lines(dir: &Path, name: &str) -> BTreeMap<i64, Vec<String>> {
    saved_batches(dir, name)
        .into_iter()
        .map(|(t, lines)| (t, lines.into_iter().map(|(line, _)| line).collect()))
        .collect()
}

/// Output `name`'s lines, each with its part file's number, by batch time and line.
fn saved_parts(dir: &Path, name: &str) -> BTreeMap<(i64, String), u32> {
    saved_batches(dir, name)
        .into_iter()
        .flat_map(|(t, lines)| lines.into_iter().map(move |(line, p)| ((t, line), p)))
        .collect()
}

/// Every batch directory of output `name` (empty ones too): its lines with their part
/// file's number.
fn saved_batches(dir: &Path, name: &str) -> BTreeMap<i64, Vec<(String, u32)>> {
    let mut found: BTreeMap<i64, Vec<(String, u32)>> = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir.join("out")) else {
        return found;
    };
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let Some(ms) = file
            .strip_prefix(&format!("{name}-"))
            .and_then(|n| n.parse::<i64>().ok())
        else {
            continue;
        };
        let lines = found.entry(ms).or_default();
        for part in std::fs::read_dir(entry.path()).unwrap().flatten() {
            let file = part.file_name().to_string_lossy().into_owned();
            let Some(p) = file.strip_prefix("part-").and_then(|p| p.parse().ok()) else {
                continue; // a part being written
            };
            let text = std::fs::read_to_string(part.path()).unwrap();
            lines.extend(text.lines().map(|line| (line.to_string(), p)));
        }
    }
    found
}

#[test]
fn group_by_key_and_joins_run_distributed_and_equal_one_process_per_batch() {
    let Some(broker) = Broker::start() else {
        return;
    };
    // The members' logs, shown if the test fails.
    log_to_test_output();
    let dir = temp_dir("distributed", "grouping");
    let n = 3000;
    produce(&broker, &dir, n);
    let p = 4;
    broker.create_topic("groups", 1);
    let members: Vec<_> = (0..2)
        .map(|_| grouping_member(&broker, &dir, "grouping", p))
        .collect();
    // Every record is in exactly one batch's groups.
    let grouped = || -> BTreeMap<i64, i64> {
        let mut batch_of = BTreeMap::new();
        for (t, lines) in saved_lines(&dir, "groups") {
            for line in lines {
                let (_, list) = line.split_once(",CompactBuffer(").expect("a group");
                for i in list.trim_end_matches("))").split(", ") {
                    let i: i64 = i.parse().unwrap();
                    let before = batch_of.insert(i, t);
                    assert!(before.is_none(), "record {i} in batches {before:?} and {t}");
                }
            }
        }
        batch_of
    };
    wait_for("every record to be grouped", || grouped().len() >= n);
    let last = saved_lines(&dir, "groups").keys().max().copied().unwrap();
    wait_for("later batches", || {
        ["groups", "joins", "left"]
            .iter()
            .all(|o| saved_lines(&dir, o).keys().max() >= Some(&(last + 3 * INTERVAL_MS as i64)))
    });
    for ssc in &members {
        ssc.stop(false).unwrap();
    }
    let batch_of = grouped();
    assert_eq!(batch_of.len(), n);
    // Each batch's groups, joins and left outer joins, as one process computes them from the
    // batch's records.
    let mut by_batch: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for (&i, &t) in &batch_of {
        by_batch.entry(t).or_default().push(i);
    }
    let (joins, left, groups) = (
        saved_lines(&dir, "joins"),
        saved_lines(&dir, "left"),
        saved_lines(&dir, "groups"),
    );
    // The groups saved to Kafka are the text output's, each record headed with its batch time
    // and the exchange partition whose part file holds it (a batch run again after a
    // rebalance writes its records again, with the same headers).
    let parts = saved_parts(&dir, "groups");
    let topic = read_topic(
        broker.addr(),
        "groups",
        1,
        parts.len(),
        Duration::from_millis(500),
    );
    let mut from_kafka = BTreeMap::new();
    for r in &topic.partitions[0] {
        let header = |name: &str| -> i64 {
            let (_, v) = r.headers.iter().find(|(k, _)| k == name).expect("a header");
            v.parse().unwrap()
        };
        let key = (header(dstreams::BATCH_TIME_HEADER), r.text().to_string());
        let p = header(dstreams::PARTITION_HEADER) as u32;
        let before = from_kafka.insert(key.clone(), p);
        assert!(
            before.is_none_or(|b| b == p),
            "{key:?} under partitions {before:?} and {p}"
        );
    }
    assert_eq!(from_kafka, parts);
    for (t, records) in &by_batch {
        let mut expected_groups: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        for &i in records {
            expected_groups
                .entry(format!("m{}", i % 5))
                .or_default()
                .push(i);
        }
        let mut got_groups: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        for line in &groups[t] {
            let (k, list) = line[1..].split_once(",CompactBuffer(").unwrap();
            let mut ids: Vec<i64> = list
                .trim_end_matches("))")
                .split(", ")
                .map(|i| i.parse().unwrap())
                .collect();
            ids.sort();
            assert!(
                got_groups.insert(k.to_string(), ids).is_none(),
                "{k} twice in {t}"
            );
        }
        assert_eq!(got_groups, expected_groups, "groups of batch {t}");
        let (mut expected_joins, mut expected_left) = (Vec::new(), Vec::new());
        for &i in records {
            let m = format!("m{}", i % 5);
            let matching: Vec<i64> = records
                .iter()
                .copied()
                .filter(|j| j % 10 == 0 && j % 5 == i % 5)
                .collect();
            for j in &matching {
                expected_joins.push(format!("({m},({i},x{j}))"));
                expected_left.push(format!("({m},({i},Some(x{j})))"));
            }
            if matching.is_empty() {
                expected_left.push(format!("({m},({i},None))"));
            }
        }
        let sorted = |mut v: Vec<String>| {
            v.sort();
            v
        };
        let got =
            |saved: &BTreeMap<i64, Vec<String>>| sorted(saved.get(t).cloned().unwrap_or_default());
        assert_eq!(got(&joins), sorted(expected_joins), "joins of batch {t}");
        assert_eq!(
            got(&left),
            sorted(expected_left),
            "left outer joins of batch {t}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
