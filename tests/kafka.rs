//! Kafka: `save_to_kafka` / `save_pairs_to_kafka` against librdkafka's in-process mock cluster
//! (no broker needed), `dstreams kafka-produce` and the facts the Kafka source relies on against
//! a real broker (tansu on 127.0.0.1, `scripts/kafka-broker install`; skipped loudly without it).
#![cfg(unix)]

mod common;

use common::kafka::{Broker, read_topic};
use common::process::run_dstreams;
use common::{BATCH, batches, manual_context};
use dstreams::prelude::*;
use dstreams::rdkafka::ClientConfig;
use dstreams::rdkafka::consumer::{BaseConsumer, Consumer};
use dstreams::rdkafka::mocking::MockCluster;
use dstreams::rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use dstreams::{KafkaWriter, OutputOperationInfo, StreamingListener};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration as StdDuration, Instant};

fn producer_config(brokers: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "5")
        // Bounded tests: a record the broker does not take fails after 10 s, not 300.
        .set("message.timeout.ms", "10000");
    config
}

fn await_batch(ssc: &StreamingContext, n: i64) {
    let done = ssc
        .await_batch(Time::from_millis(n * 1000), StdDuration::from_secs(30))
        .unwrap();
    assert!(done, "batch {n} did not complete");
}

/// The sum of the partitions' high watermarks by ListOffsets (right on the mock cluster).
fn listed_records(brokers: &str, topic: &str, partitions: i32) -> i64 {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .unwrap();
    (0..partitions)
        .map(|p| {
            let (low, high) = consumer
                .fetch_watermarks(topic, p, StdDuration::from_secs(10))
                .unwrap();
            assert_eq!(low, 0);
            high
        })
        .sum()
}

#[test]
fn save_to_kafka_writes_exactly_each_completed_batch() {
    let mock = MockCluster::new(1).unwrap();
    mock.create_topic("values", 3, 1).unwrap();
    mock.create_topic("pairs", 3, 1).unwrap();
    let brokers = mock.bootstrap_servers();
    let config = producer_config(&brokers);

    let first: Vec<String> = (0..2000).map(|i| format!("first {i}")).collect();
    let third: Vec<String> = (0..700).map(|i| format!("third {i}")).collect();
    let input = vec![first.clone(), Vec::new(), third.clone()];
    let (ssc, clock) = manual_context(4);
    let lines = ssc.queue_stream(batches(input, 4), true, None);
    lines.save_to_kafka(&config, "values");
    // (first word, number): "first" and "third" are keys of several records each.
    let pairs = lines.map(|line| {
        let (word, n) = line.split_once(' ').unwrap();
        (word, n.parse::<i64>().unwrap())
    });
    pairs.save_pairs_to_kafka(&config, "pairs");

    ssc.start().unwrap();
    // Once a batch is complete its records are in Kafka: all of them, none more.
    let mut written = 0;
    for (n, batch) in [&first, &Vec::new(), &third].into_iter().enumerate() {
        clock.advance(BATCH);
        await_batch(&ssc, n as i64 + 1);
        written += batch.len() as i64;
        assert_eq!(
            listed_records(&brokers, "values", 3),
            written,
            "after batch {}",
            n + 1
        );
        assert_eq!(
            listed_records(&brokers, "pairs", 3),
            written,
            "after batch {}",
            n + 1
        );
    }
    ssc.await_termination_or_timeout(StdDuration::ZERO).unwrap();
    ssc.stop(false).unwrap();

    // Values: each line once, as its text, no key.
    let values = read_topic(&brokers, "values", 3, 2700, StdDuration::from_millis(200));
    let mut got: Vec<String> = values
        .partitions
        .iter()
        .flatten()
        .map(|r| r.text().to_string())
        .collect();
    assert!(values.partitions.iter().flatten().all(|r| r.key.is_none()));
    got.sort();
    let mut want = [first, third].concat();
    want.sort();
    assert_eq!(got, want);

    // Pairs: key and value as toString; equal keys in one partition.
    let pairs = read_topic(&brokers, "pairs", 3, 2700, StdDuration::from_millis(200));
    let mut by_key: BTreeMap<String, (Vec<i32>, Vec<i64>)> = BTreeMap::new();
    for (p, records) in pairs.partitions.iter().enumerate() {
        for r in records {
            let key = String::from_utf8(r.key.clone().expect("a key")).unwrap();
            let entry = by_key.entry(key).or_default();
            entry.0.push(p as i32);
            entry.1.push(r.text().parse().unwrap());
        }
    }
    assert_eq!(by_key.keys().collect::<Vec<_>>(), ["first", "third"]);
    for (key, (partitions, mut numbers)) in by_key {
        assert!(
            partitions.windows(2).all(|w| w[0] == w[1]),
            "{key} in several partitions"
        );
        numbers.sort();
        let count = if key == "first" { 2000 } else { 700 };
        assert_eq!(numbers, (0..count).collect::<Vec<i64>>(), "{key}");
    }
}

/// A produce error librdkafka treats as permanent for the records of the request.
const TOO_LARGE: RDKafkaRespErr = RDKafkaRespErr::RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE;

/// Records the failure reasons of output operations.
struct Failures(Mutex<Vec<(i64, Option<String>)>>);

impl StreamingListener for Failures {
    fn on_output_operation_completed(&self, info: &OutputOperationInfo) {
        let time = info.batch_time.as_millis();
        self.0
            .lock()
            .unwrap()
            .push((time, info.failure_reason.clone()));
    }
}

#[test]
fn a_failed_delivery_fails_the_batch_and_later_batches_go_on() {
    let mock = MockCluster::new(1).unwrap();
    mock.create_topic("out", 1, 1).unwrap();
    let brokers = mock.bootstrap_servers();
    let (ssc, clock) = manual_context(2);
    let failures = Arc::new(Failures(Mutex::new(Vec::new())));
    ssc.add_streaming_listener(failures.clone());
    let input = vec![vec![1i64, 2, 3], vec![4, 5]];
    let numbers = ssc.queue_stream(batches(input, 2), true, None);
    numbers.save_to_kafka(&producer_config(&brokers), "out");
    ssc.start().unwrap();

    // A permanent produce error: librdkafka does not retry it. (Not an authorization error:
    // librdkafka keeps that on the topic and refuses later records at send.)
    mock.request_errors(RDKafkaApiKey::Produce, &[TOO_LARGE; 8]);
    let started = Instant::now();
    clock.advance(BATCH);
    await_batch(&ssc, 1);
    assert!(
        started.elapsed() < StdDuration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let err = ssc
        .await_termination_or_timeout(StdDuration::ZERO)
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("save_to_kafka")
            && text.contains("delivering to topic out")
            && text.contains("3 of 3 records failed")
            && text.contains("Message size too large"),
        "{text}"
    );

    mock.clear_request_errors(RDKafkaApiKey::Produce);
    clock.advance(BATCH);
    await_batch(&ssc, 2);
    ssc.stop(false).unwrap();
    let reasons = failures.0.lock().unwrap().clone();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(reasons[0].0 == 1000 && reasons[0].1.as_ref().is_some_and(|r| r.contains("failed")));
    assert_eq!(reasons[1], (2000, None));
    // Only the second batch is in the topic.
    let data = read_topic(&brokers, "out", 1, 2, StdDuration::from_millis(200));
    let mut values: Vec<&str> = data.partitions[0].iter().map(|r| r.text()).collect();
    values.sort(); // the batch's partitions are sent in parallel
    assert_eq!(values, ["4", "5"]);
}

#[test]
fn the_writer_reports_a_failed_delivery_as_a_typed_error() {
    let mock = MockCluster::new(1).unwrap();
    mock.create_topic("typed", 2, 1).unwrap();
    let writer = KafkaWriter::new(&producer_config(&mock.bootstrap_servers()), "typed").unwrap();
    mock.request_errors(RDKafkaApiKey::Produce, &[TOO_LARGE; 8]);
    let pending = writer.records();
    for i in 0..10u32 {
        pending.send(Some((i % 2) as i32), None, b"x").unwrap();
    }
    match pending.wait() {
        Err(Error::Kafka {
            context, message, ..
        }) => {
            assert_eq!(context, "delivering to topic typed");
            assert!(message.starts_with("10 of 10 records failed"), "{message}");
        }
        other => panic!("expected Error::Kafka, got {other:?}"),
    }
    // The next round is on its own: delivered, counted.
    mock.clear_request_errors(RDKafkaApiKey::Produce);
    let pending = writer.records();
    pending.send(None, Some(b"k"), b"value").unwrap();
    let delivered = pending.wait().unwrap();
    assert_eq!((delivered.records, delivered.bytes), (1, 6));
}

#[test]
fn a_configuration_librdkafka_refuses_fails_at_registration() {
    let (ssc, _clock) = manual_context(1);
    let numbers = ssc.queue_stream(batches(vec![vec![1i64]], 1), true, None);
    let mut config = producer_config("127.0.0.1:1");
    config.set("linger.ms", "not a number");
    // Recorded where the output is registered, reported by `start`.
    numbers.save_to_kafka(&config, "t");
    let err = ssc.start().unwrap_err();
    let Error::InvalidProgram(ms) = &err else {
        panic!("expected InvalidProgram, got {err:?}");
    };
    assert_eq!(ms.len(), 1, "{err}");
    assert_eq!(ms[0].operator, "save_to_kafka");
    assert!(
        matches!(&ms[0].error, Error::Kafka { context, .. } if context == "creating a producer for topic t"),
        "{:?}",
        ms[0].error
    );
}

// ---- Against a real broker (tansu) ----

#[test]
fn kafka_produce_loads_every_line_once_in_order_per_partition() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = common::process::temp_dir("kafka", "produce");
    // Two files; line ends \n and \r\n, an empty line, a last line without a line end.
    let mut lines: Vec<String> = (0..30_000)
        .map(|i| format!("line {i} of the first file"))
        .collect();
    lines[7] = String::new();
    let mut first = lines.join("\n");
    first.push('\n');
    let second_lines: Vec<String> = (0..9_999).map(|i| format!("second {i}")).collect();
    let second = second_lines.join("\r\n");
    std::fs::write(dir.join("a.txt"), &first).unwrap();
    std::fs::write(dir.join("b.txt"), &second).unwrap();
    let (a, b) = (dir.join("a.txt"), dir.join("b.txt"));
    let all: Vec<String> = lines.into_iter().chain(second_lines).collect();
    let bytes: usize = all.iter().map(String::len).sum();
    let files = [a.to_str().unwrap(), b.to_str().unwrap()];
    // Chunks of 1000 lines (the default), and single lines round-robin.
    for (topic, chunk) in [("lines", None), ("single", Some("1"))] {
        let mut args = vec!["kafka-produce", broker.addr(), topic];
        args.extend(files);
        args.extend(["--partitions", "4", "--create"]);
        args.extend(chunk.iter().flat_map(|k| ["--chunk-lines", k]));
        let (ok, out, err) = run_dstreams(&args);
        assert!(ok, "stdout: {out}\nstderr: {err}\nbroker: {}", broker.log());
        let report = format!(
            "{} records, {bytes} bytes into topic {topic} (4 partitions)",
            all.len()
        );
        assert!(out.contains(&report), "{out}");

        let data = read_topic(
            broker.addr(),
            topic,
            4,
            all.len(),
            StdDuration::from_millis(300),
        );
        assert_eq!(data.len(), all.len());
        let chunk: usize = chunk.map_or(1000, |k| k.parse().unwrap());
        for (p, records) in data.partitions.iter().enumerate() {
            // Partition p holds the lines n with (n / chunk) % 4 == p, in order, at offsets
            // 0, 1, 2, ...
            let want: Vec<&str> = (0..all.len())
                .filter(|n| (n / chunk) % 4 == p)
                .map(|n| all[n].as_str())
                .collect();
            let got: Vec<&str> = records.iter().map(|r| r.text()).collect();
            assert_eq!(got, want, "partition {p} of {topic}");
            assert!(
                records
                    .iter()
                    .enumerate()
                    .all(|(i, r)| r.offset == i as i64 && r.key.is_none())
            );
            assert_eq!(data.fetch_high_watermarks[p], want.len() as i64);
        }
    }

    // Loading again appends: the topic exists with 4 partitions, --create accepts it.
    let (ok, out, err) = run_dstreams(&[
        "kafka-produce",
        broker.addr(),
        "lines",
        b.to_str().unwrap(),
        "--create",
        "--partitions",
        "4",
    ]);
    assert!(ok && out.contains("9999 records"), "{out}{err}");
    // ... and a partition count that does not match is refused.
    let (ok, _, err) = run_dstreams(&[
        "kafka-produce",
        broker.addr(),
        "lines",
        "--partitions",
        "2",
        b.to_str().unwrap(),
    ]);
    assert!(
        !ok && err.contains("the topic has 4 partitions, --partitions says 2"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn kafka_consume_reads_every_record_and_counts_the_bytes_of_its_lines() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = common::process::temp_dir("kafka", "consume");
    let lines: Vec<String> = (0..5_000).map(|i| format!("record {i}")).collect();
    let file = dir.join("lines.txt");
    std::fs::write(&file, lines.join("\n")).unwrap();
    let file = file.to_str().unwrap();
    let (ok, out, err) = run_dstreams(&[
        "kafka-produce",
        broker.addr(),
        "lines",
        file,
        "--partitions",
        "3",
        "--create",
        "--chunk-lines",
        "7",
    ]);
    assert!(ok, "{out}{err}");
    // The bytes of the lines as a text file holds them: values and a newline each.
    let bytes: usize = lines.iter().map(|l| l.len() + 1).sum();
    let (ok, out, err) =
        run_dstreams(&["kafka-consume", broker.addr(), "lines", "--records", "5000"]);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains(&format!(
            "5000 records, {bytes} bytes from topic lines (3 partitions)"
        )),
        "{out}"
    );
    // More records than the topic holds: a clear error after the timeout, not a hang.
    let (ok, out, err) = run_dstreams(&[
        "kafka-consume",
        broker.addr(),
        "lines",
        "--records",
        "5001",
        "--timeout",
        "1",
    ]);
    assert!(!ok, "{out}");
    assert!(
        err.contains("no record for 1 s after 5000 of 5001"),
        "{err}"
    );
    let (ok, _, err) = run_dstreams(&["kafka-consume", broker.addr(), "nope", "--records", "1"]);
    assert!(
        !ok && err.contains("nope") && err.contains("does not exist"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn kafka_produce_refuses_a_topic_that_does_not_exist() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = common::process::temp_dir("kafka", "missing-topic");
    let file = dir.join("x.txt");
    std::fs::write(&file, "a\n").unwrap();
    let (ok, out, err) = run_dstreams(&[
        "kafka-produce",
        broker.addr(),
        "nope",
        file.to_str().unwrap(),
    ]);
    assert!(!ok, "{out}");
    assert!(err.contains("nope") && err.contains("--create"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn kafka_word_count_without_a_broker_gives_up_after_its_timeout_with_one_error() {
    // A port nobody listens on: bound, then closed. It used to retry forever, a warning a batch.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let brokers = format!("127.0.0.1:{port}");
    let (ok, _, err) = run_dstreams(&[
        "run",
        "kafka-word-count",
        &brokers,
        "lines",
        "--records",
        "100",
        "--no-ui",
        "--broker-timeout",
        "2s",
    ]);
    assert!(!ok);
    assert!(
        err.contains("dstreams: job for batch")
            && err.contains(&format!(
                "reaching the Kafka brokers {brokers}: no answer for"
            )),
        "{err}"
    );
    let warnings = err.lines().filter(|l| l.contains("WARN")).count();
    assert!(warnings <= 2, "{warnings} warnings: {err}");
}

#[test]
fn kafka_produce_fails_clearly_without_a_broker() {
    // A port nobody listens on: bound, then closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = common::process::temp_dir("kafka", "no-broker");
    let file = dir.join("x.txt");
    std::fs::write(&file, "a\n").unwrap();
    let brokers = format!("127.0.0.1:{port}");
    let started = Instant::now();
    let (ok, _, err) = run_dstreams(&[
        "kafka-produce",
        &brokers,
        "t",
        file.to_str().unwrap(),
        "--timeout",
        "2",
    ]);
    assert!(!ok);
    assert!(
        err.contains(&format!("reading the metadata of topic t from {brokers}")),
        "{err}"
    );
    assert!(
        started.elapsed() < StdDuration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// tansu 0.6.0's memory storage answers ListOffsets LATEST with the base offset of the partition's
/// last record batch + 1, not the log end offset (tansu-storage `dynostore.rs`, `list_offsets`:
/// `ListOffset::Latest => offset + 1` on the batch's name). Fetch responses carry the right high
/// watermark. A Kafka source that takes a batch's end from ListOffsets (`fetch_watermarks`) leaves
/// the last records of a finite input unread on this broker; this test is the regression target of
/// its workaround. If it fails because the two agree, tansu fixed the bug: the workaround may go.
#[test]
fn tansu_memory_storage_list_offsets_latest_is_short_of_the_log_end() {
    let Some(broker) = Broker::start() else {
        return;
    };
    broker.create_topic("batched", 1);
    broker.create_topic("single", 1);
    const N: usize = 25_000;

    // Records in batches of many (linger.ms 5): ListOffsets is wrong.
    let writer = KafkaWriter::new(&producer_config(broker.addr()), "batched").unwrap();
    let pending = writer.records();
    for i in 0..N {
        pending
            .send(Some(0), None, format!("record {i}").as_bytes())
            .unwrap();
    }
    assert_eq!(pending.wait().unwrap().records, N as u64);
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.addr())
        .create()
        .unwrap();
    let timeout = StdDuration::from_secs(10);
    let (low, listed_high) = consumer.fetch_watermarks("batched", 0, timeout).unwrap();
    let data = read_topic(
        broker.addr(),
        "batched",
        1,
        N,
        StdDuration::from_millis(200),
    );
    let offsets: Vec<i64> = data.partitions[0].iter().map(|r| r.offset).collect();
    assert_eq!(
        offsets,
        (0..N as i64).collect::<Vec<_>>(),
        "every record once, in order"
    );
    assert_eq!(
        data.fetch_high_watermarks[0], N as i64,
        "Fetch's high watermark is the log end"
    );
    assert_eq!(low, 0);
    eprintln!("tansu ListOffsets LATEST after {N} batched records: {listed_high}");
    assert!(
        listed_high > 0 && listed_high < N as i64,
        "ListOffsets LATEST said {listed_high} for {N} records: has tansu fixed its bug?"
    );

    // One record per batch: then ListOffsets is right (base offset + 1 is the end).
    let mut single = producer_config(broker.addr());
    single.set("linger.ms", "0").set("batch.num.messages", "1");
    let writer = KafkaWriter::new(&single, "single").unwrap();
    let pending = writer.records();
    for i in 0..300 {
        pending
            .send(Some(0), None, format!("record {i}").as_bytes())
            .unwrap();
    }
    pending.wait().unwrap();
    let (_, high) = consumer.fetch_watermarks("single", 0, timeout).unwrap();
    assert_eq!(high, 300);
}
