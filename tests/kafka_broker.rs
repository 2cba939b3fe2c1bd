//! The direct Kafka stream against a real broker process (tansu on 127.0.0.1, skipped loudly when
//! it is not installed): the last records of a finite input are read although tansu's
//! ListOffsets answer falls short of the log end; `kafka-word-count` SIGKILLed at random points
//! and started again from its checkpoint counts every word of the topic once across the saved
//! outputs.
#![cfg(unix)]

mod common;

use common::kafka::{Broker, produce_lines};
use common::process::{dstreams, temp_dir, wait_for, wait_for_later_batches, word_totals};
use common::rng::Rng;
use std::collections::BTreeMap;
use std::path::Path;

#[test]
fn kafka_word_count_survives_sigkill_with_every_record_counted_once() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = temp_dir("kafka", "crash");
    let mut rng = Rng(0x6b61_666b_6101);
    let mut expected: BTreeMap<String, i64> = BTreeMap::new();
    let lines: Vec<String> = (0..6000)
        .map(|_| {
            let words: Vec<String> = (0..1 + rng.below(5))
                .map(|_| format!("k{}", rng.below(40)))
                .collect();
            for w in &words {
                *expected.entry(w.clone()).or_default() += 1;
            }
            words.join(" ")
        })
        .collect();
    produce_lines(&broker, &dir, &lines, 3, 1000);
    let out = dir.join("out");
    let cp = dir.join("cp");
    // 3 partitions x 300 records per second per partition, a batch every 50 ms: 45 records a
    // batch, about 130 batches; a checkpoint every 4 batches.
    let run = || {
        dstreams(&[
            "run",
            "kafka-word-count",
            broker.addr(),
            "lines",
            "--from-beginning",
            "--interval",
            "50ms",
            "--max-rate-per-partition",
            "300",
            "--checkpoint-every",
            "4",
            "--checkpoint",
            cp.to_str().unwrap(),
            "--output",
            &format!("{}/counts", out.display()),
        ])
    };
    let total = |out: &Path| word_totals(out).values().sum::<i64>();
    let all = expected.values().sum::<i64>();
    let mut kills = Vec::new();
    for _ in 0..4 {
        let child = run();
        let target = total(&out) + 100 + rng.below(all as u64 / 6) as i64;
        wait_for("words to be counted", || total(&out) >= target.min(all - 1));
        drop(child); // SIGKILL
        kills.push(target);
    }
    let child = run();
    wait_for("every word to be counted", || total(&out) >= all);
    wait_for_later_batches(&out, 300);
    drop(child);
    assert_eq!(word_totals(&out), expected, "kills after {kills:?} words");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_last_records_are_read_although_list_offsets_falls_short() {
    use dstreams::prelude::*;
    use dstreams::source::{KafkaConfig, StartingOffsets};
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = temp_dir("kafka", "tail");
    let input = dir.join("lines.txt");
    let lines: Vec<String> = (0..25_000).map(|i| format!("line {i}")).collect();
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let produced = std::process::Command::new(env!("CARGO_BIN_EXE_dstreams"))
        .args([
            "kafka-produce",
            broker.addr(),
            "tail",
            input.to_str().unwrap(),
        ])
        .args(["--partitions", "1", "--create"])
        .output()
        .unwrap();
    assert!(produced.status.success());
    // Every record, then the stream ends: with ListOffsets alone (24,252 here, the start of the
    // last record batch + 1) the last ones would never be read and this would time out.
    let ssc = StreamingContext::builder(Duration::millis(100))
        .clock(std::sync::Arc::new(FastClock::new(Time::from_millis(0))))
        .stop_when_exhausted(true)
        .build();
    let config = KafkaConfig::new(broker.addr(), ["tail"])
        .starting_offsets(StartingOffsets::Earliest)
        .max_records(25_000)
        .timeouts(
            std::time::Duration::from_secs(20),
            std::time::Duration::from_secs(5),
        );
    let seen = common::collect(&ssc.kafka_stream(config));
    ssc.start().unwrap();
    assert!(
        ssc.await_termination_or_timeout(std::time::Duration::from_secs(60))
            .unwrap(),
        "the last records were never read"
    );
    let read: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .flat_map(|(_, b)| b.clone())
        .collect();
    assert_eq!(read, lines);
    std::fs::remove_dir_all(&dir).unwrap();
}
