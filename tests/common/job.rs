//! The job of the distributed tests: `kafka-word-count --group APP --exchange-partitions P`
//! over a topic whose record i is `r<i> m<i % 5> n<i % 7>`: the `r` words say exactly which
//! records a batch counted, and the `m` and `n` words, which every source partition holds, must be
//! counted across the processes within each batch exactly as one process counting that batch's
//! records would.

use super::kafka::{Broker, group_member, member_logs, produce_lines};
use super::process::{Running, wait_for};
use std::collections::BTreeMap;
use std::path::Path;

/// Records per second per source partition.
pub const RATE: u64 = 150;
/// The batch interval, in milliseconds.
pub const INTERVAL_MS: u64 = 300;
/// Source partitions.
pub const SOURCES: u32 = 6;

/// A topic `lines` of [`SOURCES`] partitions holding `n` records (record i in partition i % 6).
pub fn produce(broker: &Broker, dir: &Path, n: usize) {
    let lines: Vec<String> = (0..n)
        .map(|i| format!("r{i} m{} n{}", i % 5, i % 7))
        .collect();
    produce_lines(broker, dir, &lines, SOURCES, 1);
}

/// One process of the job `app` with `p` exchange partitions, saving under `<dir>/out/` (shared
/// by all processes, as a shared file system would be).
pub fn member(broker: &Broker, dir: &Path, name: &str, app: &str, p: u32) -> Running {
    member_with(broker, dir, name, app, p, &[])
}

/// [`member`] with more arguments.
pub fn member_with(
    broker: &Broker,
    dir: &Path,
    name: &str,
    app: &str,
    p: u32,
    more: &[&str],
) -> Running {
    let mut args = vec![
        "--exchange-partitions".to_string(),
        p.to_string(),
        "--interval".to_string(),
        format!("{INTERVAL_MS}ms"),
        "--max-rate-per-partition".to_string(),
        RATE.to_string(),
        "--output".to_string(),
        format!("{}/out/counts", dir.display()),
    ];
    args.extend(more.iter().map(|a| a.to_string()));
    group_member(broker, dir, name, app, &args)
}

/// Every batch's counts, by batch time: `(word, count, exchange partition)` from the part files
/// of every process.
pub fn batches(dir: &Path) -> BTreeMap<i64, Vec<(String, i64, u32)>> {
    saved(dir, "")
}

/// What output `counts` with Spark's suffix `suffix` (`counts-<t>.<suffix>`) saved, by batch
/// time: `(word, count, exchange partition)` from the part files of every process.
pub fn saved(dir: &Path, suffix: &str) -> BTreeMap<i64, Vec<(String, i64, u32)>> {
    let mut found = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir.join("out")) else {
        return found;
    };
    let ending = if suffix.is_empty() {
        String::new()
    } else {
        format!(".{suffix}")
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(ms) = name
            .strip_prefix("counts-")
            .and_then(|n| n.strip_suffix(ending.as_str()))
            .and_then(|n| n.parse::<i64>().ok())
        else {
            continue;
        };
        let counts: &mut Vec<_> = found.entry(ms).or_default();
        for part in std::fs::read_dir(entry.path()).unwrap().flatten() {
            let file = part.file_name().to_string_lossy().into_owned();
            let Some(p) = file
                .strip_prefix("part-")
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue; // a part being written
            };
            for line in std::fs::read_to_string(part.path()).unwrap().lines() {
                let (w, n) = line
                    .trim_matches(|c| c == '(' || c == ')')
                    .rsplit_once(',')
                    .expect("a (word,count) line");
                counts.push((w.to_string(), n.parse().expect("a count"), p));
            }
        }
    }
    found
}

/// How many `r` words (records) the batches counted.
pub fn records_counted(dir: &Path) -> usize {
    batches(dir)
        .values()
        .flatten()
        .filter(|(w, _, _)| w.starts_with('r'))
        .count()
}

pub fn logs(dir: &Path, names: &[&str]) -> String {
    member_logs(dir, names, &["group", "exchange", "ERROR"])
}

/// Waits until every one of the `n` records was counted, then for a few more batches (in which
/// anything counted twice would show up).
pub fn wait_for_every_record(dir: &Path, n: usize) {
    wait_for("every record to be counted", || records_counted(dir) >= n);
    let last = batches(dir).keys().max().copied().unwrap();
    wait_for("later batches", || {
        batches(dir)
            .keys()
            .max()
            .is_some_and(|&t| t >= last + 3 * INTERVAL_MS as i64)
    });
}

/// Checks the saved counts of a job over `n` records with `p` exchange partitions: every record
/// counted once, in one batch; within each batch every word in one exchange partition, and the
/// words every source partition holds counted over all of them as one process counts that
/// batch's records.
pub fn check_counts(dir: &Path, n: usize, p: u32, context: impl Fn() -> String) {
    let all = batches(dir);
    let mut seen: BTreeMap<usize, i64> = BTreeMap::new();
    for (&t, counts) in &all {
        for (w, c, _) in counts.iter().filter(|(w, _, _)| w.starts_with('r')) {
            assert_eq!(*c, 1, "{w} counted {c} times in batch {t}\n{}", context());
            let i: usize = w[1..].parse().unwrap();
            let before = seen.insert(i, t);
            assert!(
                before.is_none(),
                "record {i} counted in batches {before:?} and {t}\n{}",
                context()
            );
        }
    }
    let missing: Vec<usize> = (0..n).filter(|i| !seen.contains_key(i)).collect();
    assert!(
        missing.is_empty(),
        "{} records never counted: {:?}\n{}",
        missing.len(),
        &missing[..missing.len().min(20)],
        context()
    );
    for (&t, counts) in &all {
        let mut by_word: BTreeMap<&str, (i64, u32)> = BTreeMap::new();
        for (w, c, part) in counts {
            assert!(*part < p, "part file {part} of batch {t}: P is {p}");
            let before = by_word.insert(w, (*c, *part));
            assert!(
                before.is_none(),
                "{w} twice in batch {t}: {before:?} and ({c}, {part})"
            );
        }
        let mut expected: BTreeMap<String, i64> = BTreeMap::new();
        for (&i, _) in seen.iter().filter(|(_, bt)| **bt == t) {
            *expected.entry(format!("m{}", i % 5)).or_default() += 1;
            *expected.entry(format!("n{}", i % 7)).or_default() += 1;
        }
        let got: BTreeMap<String, i64> = by_word
            .iter()
            .filter(|(w, _)| !w.starts_with('r'))
            .map(|(w, (c, _))| (w.to_string(), *c))
            .collect();
        assert_eq!(got, expected, "batch {t}\n{}", context());
    }
}

/// An in-process member of job `app` with `p` exchange partitions (a context of its own, as
/// another process would have): its context, distributed, and its Kafka stream of `lines` in
/// group mode, rate-limited and with the session timeouts of the processes. Not started.
pub fn in_process_member(
    broker: &Broker,
    app: &str,
    p: u32,
) -> (dstreams::StreamingContext, dstreams::DStream<String>) {
    use dstreams::prelude::*;
    use dstreams::source::{KafkaConfig, StartingOffsets};
    let ssc = StreamingContext::new(Milliseconds(INTERVAL_MS as i64));
    let mut exchange = dstreams::ExchangeConfig::new(broker.addr(), app).partitions(p);
    let mut source = KafkaConfig::new(broker.addr(), ["lines"])
        .group(app)
        .starting_offsets(StartingOffsets::Earliest)
        .max_rate_per_partition(RATE);
    for (k, v) in [
        ("session.timeout.ms", "6000"),
        ("heartbeat.interval.ms", "500"),
    ] {
        exchange = exchange.set(k, v);
        source = source.set(k, v);
    }
    ssc.distribute(exchange);
    let lines = ssc.kafka_stream(source);
    (ssc, lines)
}

/// Shows the in-process members' logs (dstreams at info level) in a failed test's output.
pub fn log_to_test_output() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("dstreams=info")
        .with_test_writer()
        .try_init();
}
