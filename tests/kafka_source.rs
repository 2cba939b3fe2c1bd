//! The direct Kafka stream against librdkafka's in-process mock cluster (the real protocol, no
//! broker to install): a batch's records are exactly the offset ranges it reports, the rate limit
//! caps each partition, a broker outage loses and repeats nothing,
//! and a restart from a checkpoint re-reads exactly the ranges of the batches that ran after it.

mod common;

use dstreams::prelude::*;
use dstreams::source::{KafkaConfig, KafkaRecord, StartingOffsets};
use dstreams::{BatchInfo, StreamingListener};
use rdkafka::ClientConfig;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

const WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Records by partition: `(partition, offset) -> value`, and what each batch reported.
#[derive(Default)]
struct Seen {
    /// Per batch time: the values per output partition.
    batches: Mutex<BTreeMap<i64, Vec<Vec<String>>>>,
    /// Per batch time: the `"offsets"` metadata.
    offsets: Mutex<BTreeMap<i64, String>>,
    /// Per batch time: the `"lag"` and `"lag.partitions"` metadata, when reported.
    lags: Mutex<BTreeMap<i64, (String, String)>>,
}

impl StreamingListener for Seen {
    fn on_batch_completed(&self, info: &BatchInfo) {
        for i in info.stream_id_to_input_info.values() {
            if let Some(o) = i.metadata.get("offsets") {
                self.offsets
                    .lock()
                    .unwrap()
                    .insert(info.batch_time.as_millis(), o.clone());
            }
            if let (Some(total), Some(each)) =
                (i.metadata.get("lag"), i.metadata.get("lag.partitions"))
            {
                self.lags
                    .lock()
                    .unwrap()
                    .insert(info.batch_time.as_millis(), (total.clone(), each.clone()));
            }
        }
    }
}

fn producer(cluster: &MockCluster<'_, rdkafka::producer::DefaultProducerContext>) -> BaseProducer {
    ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap_servers())
        .set("linger.ms", "0")
        .create()
        .unwrap()
}

/// Produces `n` records `"p<p>-<i>"` (i from `start`) to each of `partitions`.
fn produce(p: &BaseProducer, topic: &str, partitions: i32, start: usize, n: usize) {
    for part in 0..partitions {
        for i in start..start + n {
            let value = format!("p{part}-{i}");
            p.send(
                BaseRecord::<(), str>::to(topic)
                    .partition(part)
                    .payload(&value),
            )
            .unwrap();
        }
    }
    p.flush(std::time::Duration::from_secs(10)).unwrap();
}

struct Run {
    ssc: StreamingContext,
    clock: Arc<ManualClock>,
    seen: Arc<Seen>,
    next: i64,
}

/// Starts a program reading `config` (checkpointing into `checkpoint` every 2 batches, through
/// `get_or_create`, if given) on a manual clock at `clock_at` seconds.
fn start(config: KafkaConfig, clock_at: i64, checkpoint: Option<&std::path::Path>) -> Run {
    let clock = Arc::new(ManualClock::new(Time::from_millis(clock_at * 1000)));
    let seen = Arc::new(Seen::default());
    let build = || -> StreamingContext {
        let ssc = StreamingContext::builder(Duration::seconds(1))
            .clock(clock.clone())
            .build();
        let sink = seen.clone();
        let lines = ssc.kafka_stream(config.clone());
        if checkpoint.is_some() {
            lines.checkpoint(Duration::seconds(2));
        }
        lines.foreach_rdd(move |b| {
            let parts = b.partitions().iter().map(|p| {
                p.iter()
                    .map(|v| v.unwrap_or_default().to_string())
                    .collect()
            });
            sink.batches
                .lock()
                .unwrap()
                .insert(b.time().as_millis(), parts.collect());
        });
        ssc
    };
    let ssc = match checkpoint {
        Some(dir) => StreamingContext::get_or_create(dir, build).unwrap(),
        None => build(),
    };
    ssc.add_streaming_listener(seen.clone());
    ssc.start().unwrap();
    Run {
        ssc,
        clock,
        seen,
        next: clock_at + 1,
    }
}

impl Run {
    fn batch(&mut self) {
        let t = Time::from_millis(self.next * 1000);
        self.clock.set(t);
        assert!(
            self.ssc.await_batch(t, WAIT).unwrap(),
            "batch {t} did not complete"
        );
        self.next += 1;
    }
}

/// Parses `"t-0:3-10, t-1:0-4"` into `(partition, from, until)`.
fn ranges(offsets: &str) -> Vec<(i32, i64, i64)> {
    offsets
        .split(", ")
        .filter(|s| !s.is_empty())
        .map(|r| {
            let (tp, span) = r.rsplit_once(':').unwrap();
            let p = tp.rsplit_once('-').unwrap().1.parse().unwrap();
            let (a, b) = span.split_once('-').unwrap();
            (p, a.parse().unwrap(), b.parse().unwrap())
        })
        .collect()
}

fn config(
    cluster: &MockCluster<'_, rdkafka::producer::DefaultProducerContext>,
    topic: &str,
) -> KafkaConfig {
    for_tests(KafkaConfig::new(cluster.bootstrap_servers(), [topic]))
}

/// From the earliest offsets, with short timeouts.
fn for_tests(config: KafkaConfig) -> KafkaConfig {
    config.starting_offsets(StartingOffsets::Earliest).timeouts(
        std::time::Duration::from_secs(20),
        std::time::Duration::from_millis(500),
    )
}

#[test]
fn each_batch_holds_exactly_the_offset_ranges_it_reports() {
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("lines", 3, 1).unwrap();
    let p = producer(&cluster);
    produce(&p, "lines", 3, 0, 40);
    let mut run = start(config(&cluster, "lines"), 0, None);
    run.batch();
    produce(&p, "lines", 3, 40, 25);
    run.batch();
    run.batch(); // nothing new
    produce(&p, "lines", 3, 65, 5);
    run.batch();
    run.ssc.stop(false).unwrap();
    let batches = run.seen.batches.lock().unwrap().clone();
    let offsets = run.seen.offsets.lock().unwrap().clone();
    let mut next = [0i64; 3];
    for (t, parts) in &batches {
        let rs = ranges(&offsets[t]);
        assert_eq!(rs.len(), 3, "one range per partition at {t}");
        for (k, (part, from, until)) in rs.iter().enumerate() {
            assert_eq!(*from, next[*part as usize], "contiguous ranges");
            let expected: Vec<String> = (*from..*until).map(|i| format!("p{part}-{i}")).collect();
            assert_eq!(parts[k], expected, "batch {t} partition {part}");
            next[*part as usize] = *until;
        }
    }
    assert_eq!(next, [70, 70, 70], "every record read once");
    assert_eq!(
        ranges(&offsets[&3000]),
        [(0, 65, 65), (1, 65, 65), (2, 65, 65)]
    );
}

#[test]
fn from_the_latest_offsets_records_produced_after_the_start_are_in_the_first_batch() {
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("lines", 2, 1).unwrap();
    let p = producer(&cluster);
    produce(&p, "lines", 2, 0, 7);
    let config = config(&cluster, "lines").starting_offsets(StartingOffsets::Latest);
    let mut run = start(config, 0, None);
    // After the start, before the first batch: Spark's direct stream took its positions at
    // the start, so these are the first batch's.
    produce(&p, "lines", 2, 7, 3);
    run.batch();
    run.ssc.stop(false).unwrap();
    let batches = run.seen.batches.lock().unwrap().clone();
    let expected: Vec<Vec<String>> = (0..2)
        .map(|part| (7..10).map(|i| format!("p{part}-{i}")).collect())
        .collect();
    assert_eq!(batches[&1000], expected);
}

#[test]
fn the_rate_limit_caps_every_partition_and_nothing_is_skipped() {
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("lines", 2, 1).unwrap();
    let p = producer(&cluster);
    produce(&p, "lines", 2, 0, 25);
    let mut run = start(
        config(&cluster, "lines").max_rate_per_partition(10),
        0,
        None,
    );
    for _ in 0..4 {
        run.batch();
    }
    run.ssc.stop(false).unwrap();
    let offsets = run.seen.offsets.lock().unwrap().clone();
    let sizes: Vec<Vec<i64>> = offsets
        .values()
        .map(|o| ranges(o).iter().map(|(_, a, b)| b - a).collect())
        .collect();
    assert_eq!(sizes, [[10, 10], [10, 10], [5, 5], [0, 0]]);
}

#[test]
fn each_batch_reports_how_far_behind_the_partitions_ends_it_is() {
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("lines", 2, 1).unwrap();
    let p = producer(&cluster);
    produce(&p, "lines", 2, 0, 100);
    let config = config(&cluster, "lines")
        .max_rate_per_partition(10)
        .set("statistics.interval.ms", "50");
    let mut run = start(config, 0, None);
    // The first batches may run before librdkafka's first statistics report: the lag is then
    // not known and not reported. Ten records a batch leave 80 or more to go for two batches.
    let deadline = std::time::Instant::now() + WAIT;
    while run.seen.lags.lock().unwrap().is_empty() && run.next < 8 {
        run.batch();
        if run.seen.lags.lock().unwrap().is_empty() {
            assert!(std::time::Instant::now() < deadline, "no lag reported");
            // librdkafka's statistics timer, not a batch, is what this waits for.
            std::thread::sleep(std::time::Duration::from_millis(60));
        }
    }
    for _ in 0..2 {
        run.batch();
    }
    run.ssc.stop(false).unwrap();
    let offsets = run.seen.offsets.lock().unwrap().clone();
    let lags = run.seen.lags.lock().unwrap().clone();
    assert!(lags.len() >= 2, "{lags:?}");
    for (t, (total, each)) in &lags {
        // Every partition's watermark is 100: a batch lags by what follows its ranges.
        let expected: Vec<String> = ranges(&offsets[t])
            .iter()
            .map(|(part, _, until)| format!("lines-{part}:{}", 100 - until))
            .collect();
        assert_eq!(each, &expected.join(", "), "batch {t}");
        let sum: i64 = ranges(&offsets[t]).iter().map(|(_, _, u)| 100 - u).sum();
        assert_eq!(total, &sum.to_string(), "batch {t}");
    }
}

#[test]
fn a_broker_outage_loses_and_repeats_nothing() {
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("lines", 2, 1).unwrap();
    let p = producer(&cluster);
    produce(&p, "lines", 2, 0, 20);
    let config = config(&cluster, "lines")
        .set("reconnect.backoff.ms", "10")
        .set("reconnect.backoff.max.ms", "100");
    let mut run = start(config, 0, None);
    run.batch();
    cluster.broker_down(1).unwrap();
    run.batch();
    run.batch();
    cluster.broker_up(1).unwrap();
    produce(&p, "lines", 2, 20, 20);
    // Batches go on while the client reconnects (real time passes between them; bounded).
    let read = |run: &Run| -> usize {
        run.seen
            .batches
            .lock()
            .unwrap()
            .values()
            .flatten()
            .map(Vec::len)
            .sum()
    };
    let deadline = std::time::Instant::now() + WAIT;
    while read(&run) < 80 && std::time::Instant::now() < deadline {
        run.batch();
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    run.ssc.stop(false).unwrap();
    let batches = run.seen.batches.lock().unwrap().clone();
    let mut all: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    for parts in batches.values() {
        for part in parts {
            if let Some(first) = part.first() {
                let p: i32 = first[1..first.find('-').unwrap()].parse().unwrap();
                all.entry(p).or_default().extend(part.iter().cloned());
            }
        }
    }
    for p in 0..2 {
        let expected: Vec<String> = (0..40).map(|i| format!("p{p}-{i}")).collect();
        assert_eq!(
            all[&p], expected,
            "partition {p}: in order, none lost, none twice"
        );
    }
}

#[test]
fn a_restart_re_reads_exactly_the_ranges_of_the_batches_after_the_checkpoint() {
    let dir = std::env::temp_dir().join(format!("dstreams-kafka-restart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("lines", 2, 1).unwrap();
    let p = producer(&cluster);
    let config = config(&cluster, "lines");
    let mut first = start(config.clone(), 0, Some(&dir));
    let mut produced = 0;
    for _ in 0..5 {
        produce(&p, "lines", 2, produced, 7);
        produced += 7;
        first.batch();
    }
    first.ssc.stop(false).unwrap();
    let before = first.seen.batches.lock().unwrap().clone();
    // More data arrives while the program is down; the batches after the checkpoint must not
    // take it.
    produce(&p, "lines", 2, produced, 30);
    produced += 30;
    let mut second = start(config, 5, Some(&dir));
    second.batch();
    second.batch();
    second.ssc.stop(false).unwrap();
    let after = second.seen.batches.lock().unwrap().clone();
    let rerun: Vec<&i64> = after.keys().filter(|t| before.contains_key(*t)).collect();
    assert!(
        !rerun.is_empty(),
        "some batches ran again after the restart"
    );
    for t in &rerun {
        assert_eq!(after[*t], before[*t], "batch {t} re-read with its ranges");
    }
    let mut all: BTreeMap<i64, Vec<Vec<String>>> = before;
    all.extend(after);
    let total: usize = all.values().flatten().map(Vec::len).sum();
    assert_eq!(total, produced * 2, "every record once");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn backpressure_shares_its_rate_among_partitions_by_lag() {
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("lines", 2, 1).unwrap();
    let p = producer(&cluster);
    produce(&p, "lines", 1, 0, 30); // partition 0: 30 records
    p.send(
        BaseRecord::<(), str>::to("lines")
            .partition(1)
            .payload("p1-0"),
    )
    .unwrap();
    for i in 1..10 {
        let v = format!("p1-{i}");
        p.send(BaseRecord::<(), str>::to("lines").partition(1).payload(&v))
            .unwrap();
    }
    p.flush(std::time::Duration::from_secs(10)).unwrap();
    // 20 records per second before any estimate, capped at 12 per partition: lags 30 and 10
    // share 20 as 15 and 5, and the cap makes it 12 and 5.
    let config = config(&cluster, "lines")
        .backpressure(Some(20))
        .max_rate_per_partition(12);
    let mut run = start(config, 0, None);
    run.batch();
    run.ssc.stop(false).unwrap();
    let offsets = run.seen.offsets.lock().unwrap().clone();
    assert_eq!(ranges(&offsets[&1000]), [(0, 0, 12), (1, 0, 5)]);
}

#[test]
fn committed_offsets_follow_completed_batches() {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("lines", 2, 1).unwrap();
    let p = producer(&cluster);
    produce(&p, "lines", 2, 0, 12);
    let config = config(&cluster, "lines")
        .group_id("committing")
        .commit_offsets(true);
    let mut run = start(config, 0, None);
    run.batch();
    produce(&p, "lines", 2, 12, 3);
    run.batch();
    run.ssc.stop(false).unwrap();
    let reader: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap_servers())
        .set("group.id", "committing")
        .create()
        .unwrap();
    let mut tpl = rdkafka::TopicPartitionList::new();
    tpl.add_partition("lines", 0);
    tpl.add_partition("lines", 1);
    // Commits are asynchronous: poll until both partitions show the second batch's end.
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let committed = reader
            .committed_offsets(tpl.clone(), std::time::Duration::from_secs(5))
            .unwrap();
        let offsets: Vec<_> = committed.elements().iter().map(|e| e.offset()).collect();
        if offsets == [rdkafka::Offset::Offset(15), rdkafka::Offset::Offset(15)] {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "committed: {offsets:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn a_record_stream_carries_keys_timestamps_and_headers() {
    use rdkafka::message::{Header, OwnedHeaders};
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("events", 1, 1).unwrap();
    let p = producer(&cluster);
    for i in 0..4i64 {
        let (value, key) = (format!("v{i}"), format!("k{i}"));
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "n",
                value: Some(&format!("{i}")),
            })
            .insert(Header {
                key: "empty",
                value: None::<&str>,
            });
        let record = BaseRecord::<str, str>::to("events")
            .partition(0)
            .payload(&value)
            .timestamp(1_700_000_000_000 + i)
            .headers(headers);
        let record = if i % 2 == 0 { record.key(&key) } else { record };
        p.send(record).unwrap();
    }
    p.flush(std::time::Duration::from_secs(10)).unwrap();
    let clock = Arc::new(ManualClock::new(Time::from_millis(0)));
    let ssc = StreamingContext::builder(Duration::seconds(1))
        .clock(clock.clone())
        .build();
    let seen = common::collect(&ssc.kafka_record_stream(config(&cluster, "events")));
    ssc.start().unwrap();
    clock.set(Time::from_millis(1000));
    assert!(ssc.await_batch(Time::from_millis(1000), WAIT).unwrap());
    ssc.stop(false).unwrap();
    let expected: Vec<KafkaRecord> = (0..4i64)
        .map(|i| {
            let key = (i % 2 == 0).then(|| format!("k{i}"));
            let headers = vec![
                ("n".to_string(), i.to_string()),
                ("empty".to_string(), String::new()),
            ];
            (key, format!("v{i}"), (1_700_000_000_000 + i, headers))
        })
        .collect();
    let read: Vec<KafkaRecord> = seen
        .lock()
        .unwrap()
        .iter()
        .flat_map(|(_, b)| b.clone())
        .collect();
    assert_eq!(read, expected);
}

#[test]
fn partitions_that_appear_later_are_picked_up() {
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("first", 1, 1).unwrap();
    let p = producer(&cluster);
    produce(&p, "first", 1, 0, 3);
    // The stream reads two topics; the second does not exist yet.
    let config = for_tests(KafkaConfig::new(
        cluster.bootstrap_servers(),
        ["first", "later"],
    ));
    let mut run = start(config, 0, None);
    run.batch();
    cluster.create_topic("later", 2, 1).unwrap();
    produce(&p, "later", 2, 0, 4);
    produce(&p, "first", 1, 3, 1);
    run.batch();
    run.ssc.stop(false).unwrap();
    let offsets = run.seen.offsets.lock().unwrap().clone();
    assert_eq!(offsets[&1000], "first-0:0-3");
    assert_eq!(offsets[&2000], "first-0:3-4, later-0:0-4, later-1:0-4");
    let batches = run.seen.batches.lock().unwrap().clone();
    assert_eq!(batches[&2000][1], ["p0-0", "p0-1", "p0-2", "p0-3"]);
}

#[test]
fn an_assignment_reads_exactly_its_partitions_from_its_offsets() {
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("lines", 3, 1).unwrap();
    let p = producer(&cluster);
    produce(&p, "lines", 3, 0, 10);
    let config = for_tests(KafkaConfig::assigned(
        cluster.bootstrap_servers(),
        [("lines", 0, Some(7)), ("lines", 2, None)],
    ));
    let mut run = start(config, 0, None);
    run.batch();
    run.ssc.stop(false).unwrap();
    let offsets = run.seen.offsets.lock().unwrap().clone();
    assert_eq!(offsets[&1000], "lines-0:7-10, lines-2:0-10");
}

/// A broker that no longer has the records at the stream's position (the topic deleted and
/// re-created, or truncated; here its fetch answers "offset out of range", as Kafka's do) fails
/// the batch naming the partitions, as Spark's "the Kafka topic has been damaged" does, instead
/// of resetting to the oldest records and reading nothing new: librdkafka's reset would have
/// fetched offsets the stream had passed, which it drops, so records would go missing silently.
#[test]
fn a_fetch_out_of_range_fails_the_batch_naming_the_partitions() {
    use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("lines", 1, 1).unwrap();
    let p = producer(&cluster);
    produce(&p, "lines", 1, 0, 10);
    let mut run = start(config(&cluster, "lines"), 0, None);
    run.batch();
    cluster.request_errors(
        RDKafkaApiKey::Fetch,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE; 4],
    );
    produce(&p, "lines", 1, 10, 10);
    run.clock.set(Time::from_millis(run.next * 1000));
    let error = match run.ssc.await_termination_or_timeout(WAIT) {
        Err(e) => e,
        Ok(stopped) => panic!("no error (stopped: {stopped})"),
    };
    let Error::Batch(failed) = &error else {
        panic!("not a batch's error: {error}");
    };
    let Error::JobFailed { source, .. } = &**failed else {
        panic!("not a failed job: {error}");
    };
    assert!(
        matches!(&**source, Error::KafkaOffsetsOutOfRange { positions }
            if positions.contains("lines-0 at 10")),
        "{error}"
    );
    assert!(
        error.to_string().contains("without the checkpoint"),
        "{error}"
    );
}
