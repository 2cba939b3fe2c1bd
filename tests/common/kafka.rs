//! Kafka in tests: a real broker process ([`Broker`], tansu on a free 127.0.0.1 port, killed on
//! drop) and reading a topic back at explicit offsets ([`read_topic`]). Tests against librdkafka's
//! in-process `MockCluster` need no broker and use only [`read_topic`].
#![cfg(unix)]

use dstreams::rdkafka::client::ClientContext;
use dstreams::rdkafka::config::ClientConfig;
use dstreams::rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use dstreams::rdkafka::message::{Headers, Message};
use dstreams::rdkafka::statistics::Statistics;
use dstreams::rdkafka::{Offset, TopicPartitionList};
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Writes `lines` to `<dir>/lines.txt` and loads them into the new topic `lines` of `partitions`
/// partitions with `dstreams kafka-produce` (line n into partition n % partitions when
/// `chunk_lines` is 1; see `kafka-produce --chunk-lines`).
pub fn produce_lines(
    broker: &Broker,
    dir: &std::path::Path,
    lines: &[String],
    partitions: u32,
    chunk_lines: u64,
) {
    let input = dir.join("lines.txt");
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let produced = Command::new(env!("CARGO_BIN_EXE_dstreams"))
        .args(["kafka-produce", broker.addr(), "lines"])
        .arg(&input)
        .args(["--partitions", &partitions.to_string(), "--create"])
        .args(["--chunk-lines", &chunk_lines.to_string()])
        .output()
        .unwrap();
    assert!(
        produced.status.success(),
        "{}",
        String::from_utf8_lossy(&produced.stderr)
    );
}

/// A member of the consumer group `app` reading topic `lines`: `dstreams run kafka-word-count
/// BROKER lines --group APP --from-beginning` with `args`, short session timeouts (a dead
/// member's partitions move within seconds), logging at info level to `<dir>/<name>.log`,
/// in an empty working directory of its own (`<dir>/<name>.cwd`);
/// SIGKILLed when dropped.
pub fn group_member(
    broker: &Broker,
    dir: &std::path::Path,
    name: &str,
    app: &str,
    args: &[String],
) -> super::process::Running {
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
    // A working directory of its own, empty: nothing a member keeps reaches another.
    let cwd = dir.join(format!("{name}.cwd"));
    std::fs::create_dir_all(&cwd).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_dstreams"))
        .current_dir(&cwd)
        .args(["run", "kafka-word-count", broker.addr(), "lines"])
        .args(["--group", app, "--from-beginning"])
        .args(args)
        .args(["--config", "session.timeout.ms=6000"])
        .args(["--config", "heartbeat.interval.ms=500"])
        .env("RUST_LOG", "dstreams=info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("starting dstreams");
    super::process::Running(child)
}

/// The lines of the members' logs (`<dir>/<name>.log`) that mention `topics`, for a failed
/// assertion.
pub fn member_logs(dir: &std::path::Path, names: &[&str], topics: &[&str]) -> String {
    names
        .iter()
        .map(|n| {
            let text = std::fs::read_to_string(dir.join(format!("{n}.log"))).unwrap_or_default();
            let kept: Vec<&str> = text
                .lines()
                .filter(|l| topics.iter().any(|t| l.contains(t)))
                .collect();
            format!("--- {n} ---\n{}", kept.join("\n"))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// How long starting a broker, creating a topic or reading a topic back may take.
pub const KAFKA_LIMIT: Duration = Duration::from_secs(30);

/// The tansu binary `scripts/kafka-broker install` puts in place, or `$TANSU_BIN`.
pub fn tansu_bin() -> PathBuf {
    match std::env::var_os("TANSU_BIN") {
        Some(bin) => PathBuf::from(bin),
        None => PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/target/kafka/bin/tansu"
        )),
    }
}

/// A tansu broker (memory storage) on 127.0.0.1, killed and waited for on drop. Memory storage
/// starts empty: every broker is a fresh cluster.
pub struct Broker {
    child: Child,
    addr: String,
    log: PathBuf,
}

impl Broker {
    /// Starts a broker on a free port and waits until it accepts connections. `None`, after a
    /// loud message on standard error, when tansu is not installed: the calling test returns
    /// early (`let Some(broker) = Broker::start() else { return };`).
    pub fn start() -> Option<Broker> {
        let bin = tansu_bin();
        if !bin.is_file() {
            let test = std::thread::current()
                .name()
                .unwrap_or("a Kafka broker test")
                .to_string();
            // Straight to the process's standard error: the test harness captures `eprintln!`
            // and shows it only for failed tests, and a skip must be seen.
            let _ = writeln!(
                std::io::stderr(),
                "\n\
                 ************************************************************************\n\
                 SKIPPED {test}: no Kafka broker binary at {}.\n\
                 Run `scripts/kafka-broker install` (or `.ci/run`, which does) to run the\n\
                 tests against a real broker (tansu, from PyPI, about 3 s).\n\
                 ************************************************************************",
                bin.display()
            );
            return None;
        }
        static BROKERS: AtomicUsize = AtomicUsize::new(0);
        let n = BROKERS.fetch_add(1, Ordering::Relaxed);
        let log =
            std::env::temp_dir().join(format!("dstreams-tansu-{}-{n}.log", std::process::id()));
        // A port found free may be taken before tansu binds it: try a few.
        for _ in 0..3 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("finding a free port")
                .port();
            let addr = format!("127.0.0.1:{port}");
            let url = format!("tcp://{addr}");
            let log_file = std::fs::File::create(&log).expect("creating the broker log");
            let child = Command::new(&bin)
                .args([
                    "broker",
                    "--listener-url",
                    &url,
                    "--advertised-listener-url",
                    &url,
                ])
                .args([
                    "--storage-engine",
                    "memory://tansu/",
                    "--cluster-id",
                    "dstreams-test",
                ])
                .arg("--silent")
                // tansu reads these from the environment too; none must leak in.
                .env_remove("SCHEMA_REGISTRY")
                .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
                .stdin(Stdio::null())
                .stdout(log_file.try_clone().expect("cloning the log file"))
                .stderr(log_file)
                .spawn()
                .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
            let mut broker = Broker {
                child,
                addr,
                log: log.clone(),
            };
            if broker.wait_listening() {
                return Some(broker);
            }
        }
        panic!(
            "tansu did not start on a free port in three tries; its log ({}):\n{}",
            log.display(),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// Waits until the broker accepts a connection; `false` if it exited first (port taken).
    fn wait_listening(&mut self) -> bool {
        let addr: SocketAddr = self.addr.parse().unwrap();
        let start = Instant::now();
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
                return true;
            }
            if self.child.try_wait().expect("checking on tansu").is_some() {
                return false;
            }
            assert!(
                start.elapsed() < KAFKA_LIMIT,
                "tansu did not listen on {} within {KAFKA_LIMIT:?}",
                self.addr
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// `127.0.0.1:PORT`, for `bootstrap.servers`.
    /// Makes the broker unavailable for `pause` (SIGSTOP, then SIGCONT: its memory storage would
    /// not survive a restart).
    pub fn pause_for(&self, pause: Duration) {
        super::process::pause_process(self.child.id(), pause);
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The broker's output so far (empty unless it logged an error: it runs with `--silent`).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Creates `topic` with `partitions` partitions (`tansu topic create`).
    pub fn create_topic(&self, topic: &str, partitions: i32) {
        let mut child = Command::new(tansu_bin())
            .args([
                "topic",
                "create",
                "--broker",
                &format!("tcp://{}", self.addr),
            ])
            .args(["--partitions", &partitions.to_string(), topic])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting tansu topic create");
        let start = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("waiting for tansu topic create") {
                break status;
            }
            if start.elapsed() > KAFKA_LIMIT {
                let _ = child.kill();
                let _ = child.wait();
                panic!("tansu topic create {topic} did not finish within {KAFKA_LIMIT:?}");
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        assert!(status.success(), "tansu topic create {topic}: {status}");
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// One record read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Vec<u8>,
    /// Its headers, as text.
    pub headers: Vec<(String, String)>,
}

impl Record {
    /// The value as text.
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.value).expect("a UTF-8 value")
    }
}

/// A topic read back: per partition, its records in offset order and the high watermark the
/// last Fetch response reported (librdkafka's statistics `hi_offset`, the value
/// `rd_kafka_get_watermark_offsets` returns; not a ListOffsets request).
pub struct TopicData {
    pub partitions: Vec<Vec<Record>>,
    pub fetch_high_watermarks: Vec<i64>,
}

impl TopicData {
    /// How many records were read.
    pub fn len(&self) -> usize {
        self.partitions.iter().map(Vec::len).sum()
    }
}

/// Reads partitions `0..partitions` of `topic` from offset 0 (assigned at explicit offsets: no
/// group, no ListOffsets) until `expected` records arrived, then `idle` longer to catch records
/// beyond them. Panics after [`KAFKA_LIMIT`].
pub fn read_topic(
    brokers: &str,
    topic: &str,
    partitions: i32,
    expected: usize,
    idle: Duration,
) -> TopicData {
    let consumer: BaseConsumer<StatsContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "dstreams-test-reader")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "10")
        .set("statistics.interval.ms", "50")
        .create_with_context(StatsContext::default())
        .expect("creating a consumer");
    let mut assignment = TopicPartitionList::new();
    for p in 0..partitions {
        assignment
            .add_partition_offset(topic, p, Offset::Offset(0))
            .unwrap();
    }
    consumer.assign(&assignment).expect("assigning partitions");
    let mut data = TopicData {
        partitions: vec![Vec::new(); partitions as usize],
        fetch_high_watermarks: vec![0; partitions as usize],
    };
    let start = Instant::now();
    let mut complete_since = None;
    let mut stats_wanted = false;
    loop {
        // `None` is not "no more data": it also follows a served event. Only time decides.
        if let Some(message) = consumer.poll(Duration::from_millis(20)) {
            let message = message.expect("a message, not a consumer error");
            data.partitions[message.partition() as usize].push(Record {
                offset: message.offset(),
                key: message.key().map(<[u8]>::to_vec),
                value: message.payload().unwrap_or_default().to_vec(),
                headers: message.headers().map_or_else(Vec::new, |h| {
                    h.iter()
                        .map(|h| {
                            let value = h.value.map(String::from_utf8_lossy).unwrap_or_default();
                            (h.key.to_string(), value.into_owned())
                        })
                        .collect()
                }),
            });
        }
        if data.len() >= expected {
            let since = *complete_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= idle && !stats_wanted {
                // Then the high watermarks of the fetches so far, from statistics emitted now.
                *consumer.context().latest.lock().unwrap() = None;
                stats_wanted = true;
            }
        }
        let stats = stats_wanted
            .then(|| consumer.context().latest.lock().unwrap().take())
            .flatten();
        if let Some(stats) = stats {
            for p in 0..partitions {
                data.fetch_high_watermarks[p as usize] =
                    stats.topics[topic].partitions[&p].hi_offset;
            }
            return data;
        }
        assert!(
            start.elapsed() < KAFKA_LIMIT,
            "read {} of {expected} records of {topic} within {KAFKA_LIMIT:?}",
            data.len()
        );
    }
}

/// Keeps the consumer's latest statistics.
#[derive(Default)]
struct StatsContext {
    latest: Mutex<Option<Statistics>>,
}

impl ClientContext for StatsContext {
    fn stats(&self, statistics: Statistics) {
        *self.latest.lock().unwrap() = Some(statistics);
    }
}

impl ConsumerContext for StatsContext {}
