//! The web UI against what the context reported: Spark's REST API (fields, values equal to the
//! listener's `BatchInfo`s, errors), `/metrics` parsed strictly as Prometheus text with counters
//! equal to the same batches, the CLI's options and address line, a port in use, and the live
//! page loaded by headless Chromium (skipped loudly without it) showing the REST API's values.

mod common;

use common::process::TestDir;
use dstreams::prelude::*;
use dstreams::source::{ReplayCut, ReplayData};
use dstreams::{BatchInfo, UiConfig};
use serde_json::Value as Json;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Instant;

const KJV: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/kjv.txt");
const DEADLINE: std::time::Duration = std::time::Duration::from_secs(60);

/// `method path` on `address`: the status and the body.
fn request(address: SocketAddr, method: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(address).expect("connecting to the UI");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("a whole response");
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, body.to_string())
}

fn get_json(address: SocketAddr, path: &str) -> Json {
    let (status, body) = request(address, "GET", path);
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
}

/// Asserts `value` is an object with exactly the `required` keys plus some of `optional`.
fn assert_fields(value: &Json, required: &[&str], optional: &[&str]) {
    let keys: BTreeSet<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    for k in required {
        assert!(keys.contains(k), "{k} missing from {value}");
    }
    for k in &keys {
        assert!(
            required.contains(k) || optional.contains(k),
            "{k} is not one of Spark's fields: {value}"
        );
    }
}

/// Spark's date format: `2026-12-04T18:33:00.000GMT`.
fn assert_spark_date(value: &Json) {
    let s = value.as_str().unwrap();
    let b = s.as_bytes();
    assert_eq!(s.len(), 26, "{s}");
    assert!(
        s.ends_with("GMT") && b[4] == b'-' && b[10] == b'T' && b[19] == b'.',
        "{s}"
    );
}

const BATCH_FIELDS: [&str; 11] = [
    "batchId",
    "batchTime",
    "status",
    "batchDuration",
    "inputSize",
    "numActiveOutputOps",
    "numCompletedOutputOps",
    "numFailedOutputOps",
    "numTotalOutputOps",
    "schedulingDelay",
    "processingTime",
];

/// Checks a completed batch's JSON against the listener's `BatchInfo`.
fn assert_batch_equals(json: &Json, info: &BatchInfo, batch_ms: i64) {
    assert_fields(json, &BATCH_FIELDS, &["totalDelay", "firstFailureReason"]);
    assert_eq!(json["batchId"], info.batch_time.as_millis());
    assert_spark_date(&json["batchTime"]);
    assert_eq!(json["status"], "COMPLETED");
    assert_eq!(json["batchDuration"], batch_ms);
    assert_eq!(json["inputSize"], info.num_records());
    assert_eq!(json["schedulingDelay"], info.scheduling_delay().unwrap());
    assert_eq!(json["processingTime"], info.processing_delay().unwrap());
    assert_eq!(json["totalDelay"], info.total_delay().unwrap());
    let ops = info.output_operation_infos.len();
    assert_eq!(json["numTotalOutputOps"], ops);
    assert_eq!(json["numCompletedOutputOps"], ops);
    assert_eq!(json["numFailedOutputOps"], 0);
    assert_eq!(json["numActiveOutputOps"], 0);
}

/// One sample of Prometheus text: name, labels, value.
type Sample = (String, BTreeMap<String, String>, f64);

/// Parses Prometheus' text format strictly: every sample belongs to the family of the `# TYPE`
/// line before it (histograms: `_bucket` with `le`, `_sum`, `_count`), names and labels are
/// well-formed, values are floats, histogram buckets are cumulative and end in `+Inf` = count.
fn parse_prometheus(text: &str) -> Vec<Sample> {
    let name_ok = |n: &str| {
        !n.is_empty()
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
            && !n.starts_with(|c: char| c.is_ascii_digit())
    };
    let mut samples = Vec::new();
    let mut family: Option<(String, String)> = None;
    let mut helped = BTreeSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap();
            assert!(name_ok(name) && helped.insert(name.to_string()), "{line}");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect(line);
            assert!(
                name_ok(name) && helped.contains(name),
                "TYPE without HELP: {line}"
            );
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            family = Some((name.to_string(), kind.to_string()));
            continue;
        }
        assert!(
            !line.starts_with('#') && !line.is_empty(),
            "stray line: {line:?}"
        );
        let (series, value) = line.rsplit_once(' ').expect(line);
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("value of {line}")),
        };
        let (name, labels) = match series.split_once('{') {
            None => (series, BTreeMap::new()),
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').expect(line);
                let mut labels = BTreeMap::new();
                let mut chars = body.chars().peekable();
                while chars.peek().is_some() {
                    let key: String = chars.by_ref().take_while(|&c| c != '=').collect();
                    assert!(name_ok(&key), "label name in {line}");
                    assert_eq!(chars.next(), Some('"'), "{line}");
                    let mut v = String::new();
                    loop {
                        match chars.next().expect(line) {
                            '\\' => match chars.next().expect(line) {
                                'n' => v.push('\n'),
                                c @ ('\\' | '"') => v.push(c),
                                c => panic!("bad escape \\{c} in {line}"),
                            },
                            '"' => break,
                            c => v.push(c),
                        }
                    }
                    labels.insert(key, v);
                    match chars.next() {
                        None | Some(',') => {}
                        Some(c) => panic!("{c:?} after a label value in {line}"),
                    }
                }
                (name, labels)
            }
        };
        let (family_name, kind) = family.as_ref().expect("a sample before any TYPE");
        let belongs = match kind.as_str() {
            "histogram" => ["_bucket", "_sum", "_count"]
                .iter()
                .any(|s| name == format!("{family_name}{s}")),
            _ => name == family_name,
        };
        assert!(belongs, "{name} outside its family {family_name}");
        samples.push((name.to_string(), labels, value));
    }
    // Histograms: cumulative buckets ending in +Inf, equal to the count.
    for (name, _, count) in samples.iter().filter(|s| s.0.ends_with("_count")) {
        let base = name.strip_suffix("_count").unwrap();
        let buckets: Vec<(f64, f64)> = samples
            .iter()
            .filter(|s| s.0 == format!("{base}_bucket"))
            .map(|s| {
                let le = &s.1["le"];
                let bound = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().unwrap()
                };
                (bound, s.2)
            })
            .collect();
        assert!(
            buckets
                .windows(2)
                .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1),
            "{base}"
        );
        assert_eq!(
            buckets.last().map(|b| (b.0, b.1)),
            Some((f64::INFINITY, *count)),
            "{base}"
        );
    }
    samples
}

fn metric<'a>(samples: &'a [Sample], name: &str) -> Vec<&'a Sample> {
    samples.iter().filter(|s| s.0 == name).collect()
}

/// Collects the `BatchInfo` of every completed batch.
#[derive(Default)]
struct Completed(Mutex<Vec<BatchInfo>>);

impl StreamingListener for Completed {
    fn on_batch_completed(&self, info: &BatchInfo) {
        self.0.lock().unwrap().push(info.clone());
    }
}

#[test]
fn rest_api_and_metrics_agree_with_the_listener() {
    let dir = TestDir::new("ui", "rest");
    let batch_ms = 20;
    let lines_per_batch = 500;
    let ssc = StreamingContext::builder(Milliseconds(batch_ms))
        .ui(UiConfig::new("127.0.0.1:0").app_name("rest test"))
        .stop_when_exhausted(true)
        .build();
    ssc.checkpoint(&*dir);
    let completed = Arc::new(Completed::default());
    ssc.add_streaming_listener(completed.clone());
    let data = ReplayData::read(&[KJV]).unwrap();
    let lines = ssc.replay_stream(data, ReplayCut::Lines(lines_per_batch));
    let counts = lines.split(Separators::Space).count_by_value();
    counts.foreach_rdd(|_| ());
    let totals = counts
        .update_state_by_key(|new: &[i64], old: Option<i64>| {
            Some(old.unwrap_or(0) + new.iter().sum::<i64>())
        })
        .checkpoint_name("totals");
    let distinct = Arc::new(Mutex::new(0usize));
    let last = distinct.clone();
    totals.foreach_rdd(move |b| *last.lock().unwrap() = b.len());
    ssc.start().unwrap();
    let address = ssc.ui_address().expect("the UI listens");
    assert!(address.ip().is_loopback());
    ssc.await_termination().unwrap();

    // The run ended; the server answers until `stop`.
    let infos = completed.0.lock().unwrap().clone();
    let n = infos.len();
    let records: u64 = infos.iter().map(BatchInfo::num_records).sum();
    let kjv_lines = std::fs::read_to_string(KJV).unwrap().lines().count();
    assert_eq!(records, kjv_lines as u64);
    assert!(n >= 2);

    let apps = get_json(address, "/api/v1/applications");
    let apps = apps.as_array().unwrap();
    assert_eq!(apps.len(), 1);
    assert_fields(&apps[0], &["id", "name", "attempts"], &[]);
    assert_eq!(apps[0]["name"], "rest test");
    let app = apps[0]["id"].as_str().unwrap().to_string();
    let base = format!("/api/v1/applications/{app}/streaming");

    let stats = get_json(address, &format!("{base}/statistics"));
    assert_fields(
        &stats,
        &[
            "startTime",
            "batchDuration",
            "numReceivers",
            "numActiveReceivers",
            "numInactiveReceivers",
            "numTotalCompletedBatches",
            "numRetainedCompletedBatches",
            "numActiveBatches",
            "numProcessedRecords",
            "numReceivedRecords",
            "avgInputRate",
            "avgSchedulingDelay",
            "avgProcessingTime",
            "avgTotalDelay",
        ],
        &[],
    );
    assert_spark_date(&stats["startTime"]);
    assert_eq!(stats["batchDuration"], batch_ms);
    assert_eq!(stats["numReceivers"], 0);
    assert_eq!(stats["numTotalCompletedBatches"], n);
    assert_eq!(stats["numRetainedCompletedBatches"], n);
    assert_eq!(stats["numActiveBatches"], 0);
    assert_eq!(stats["numProcessedRecords"], records);
    let mean = |f: fn(&BatchInfo) -> Option<i64>| {
        infos.iter().map(|i| f(i).unwrap()).sum::<i64>() / n as i64
    };
    assert_eq!(
        stats["avgSchedulingDelay"],
        mean(BatchInfo::scheduling_delay)
    );
    assert_eq!(
        stats["avgProcessingTime"],
        mean(BatchInfo::processing_delay)
    );
    assert_eq!(stats["avgTotalDelay"], mean(BatchInfo::total_delay));
    let rate = records as f64 * 1000.0 / batch_ms as f64 / n as f64;
    assert!((stats["avgInputRate"].as_f64().unwrap() - rate).abs() < 1e-6 * rate);

    let batches = get_json(address, &format!("{base}/batches"));
    let batches = batches.as_array().unwrap();
    assert_eq!(batches.len(), n);
    for (json, info) in batches.iter().zip(infos.iter().rev()) {
        assert_batch_equals(json, info, batch_ms);
        let id = info.batch_time.as_millis();
        assert_eq!(&get_json(address, &format!("{base}/batches/{id}")), json);
        let ops = get_json(address, &format!("{base}/batches/{id}/operations"));
        let ops = ops.as_array().unwrap();
        assert_eq!(ops.len(), info.output_operation_infos.len());
        for (op, o) in ops.iter().zip(info.output_operation_infos.values()) {
            assert_fields(
                op,
                &[
                    "outputOpId",
                    "name",
                    "description",
                    "startTime",
                    "endTime",
                    "duration",
                    "jobIds",
                ],
                &["failureReason"],
            );
            assert_eq!(op["outputOpId"], o.id);
            assert_eq!(op["name"], o.name.as_str());
            assert_eq!(op["duration"], o.duration().unwrap());
            assert_spark_date(&op["startTime"]);
        }
    }
    let only = |status: &str| get_json(address, &format!("{base}/batches?status={status}"));
    assert_eq!(only("COMPLETED").as_array().unwrap().len(), n);
    assert!(only("QUEUED").as_array().unwrap().is_empty());
    assert!(only("PROCESSING").as_array().unwrap().is_empty());

    let receivers = get_json(address, &format!("{base}/receivers"));
    let receivers = receivers.as_array().unwrap();
    assert_eq!(receivers.len(), 1, "one input stream");
    let stream = &receivers[0];
    assert_fields(
        stream,
        &["streamId", "streamName", "eventRates", "avgEventRate"],
        &[],
    );
    assert_eq!(stream["streamName"], "ReplayInputDStream");
    let rates = stream["eventRates"].as_array().unwrap();
    assert_eq!(rates.len(), n);
    for (pair, info) in rates.iter().zip(&infos) {
        assert_eq!(pair[0], info.batch_time.as_millis());
        assert_eq!(
            pair[1].as_f64().unwrap(),
            info.num_records() as f64 * 1000.0 / batch_ms as f64
        );
    }
    let id = stream["streamId"].as_u64().unwrap();
    assert_eq!(
        &get_json(address, &format!("{base}/receivers/{id}")),
        stream
    );

    // Errors: JSON with a message, Spark's wording.
    for (path, message) in [
        (
            "/api/v1/applications/app-0/streaming/statistics".to_string(),
            "no such app: app-0",
        ),
        (format!("{base}/batches/12345"), "unknown batch: 12345"),
        (
            format!("{base}/batches/12345/operations"),
            "unknown batch: 12345",
        ),
        (format!("{base}/receivers/99"), "unknown receiver: 99"),
        (format!("{base}/nothing"), "unknown path"),
        ("/nothing".to_string(), "unknown path"),
    ] {
        let (status, body) = request(address, "GET", &path);
        assert_eq!(status, 404, "{path}");
        let error: Json = serde_json::from_str(&body).unwrap();
        assert_eq!(error["code"], 404);
        assert!(
            error["message"].as_str().unwrap().starts_with(message),
            "{body}"
        );
    }
    let (status, _) = request(address, "GET", &format!("{base}/batches?status=DONE"));
    assert_eq!(status, 400);
    let (status, _) = request(address, "POST", &format!("{base}/batches"));
    assert_eq!(status, 405, "read-only");

    // Metrics: strict Prometheus text, counters equal to the listener's.
    let (status, text) = request(address, "GET", "/metrics");
    assert_eq!(status, 200);
    let samples = parse_prometheus(&text);
    let single = |name: &str| {
        let found = metric(&samples, name);
        assert_eq!(found.len(), 1, "{name}");
        found[0].2
    };
    assert_eq!(single("dstreams_batches_completed_total"), n as f64);
    assert_eq!(single("dstreams_batches_failed_total"), 0.0);
    assert_eq!(single("dstreams_batch_processing_seconds_count"), n as f64);
    assert_eq!(single("dstreams_batch_total_delay_seconds_count"), n as f64);
    let processing_s: i64 = infos.iter().map(|i| i.processing_delay().unwrap()).sum();
    assert!(
        (single("dstreams_batch_processing_seconds_sum") - processing_s as f64 / 1000.0).abs()
            < 1e-6
    );
    let input = metric(&samples, "dstreams_input_records_total");
    assert_eq!(input.len(), 1);
    assert_eq!(input[0].1["stream"], "ReplayInputDStream");
    assert_eq!(input[0].2, records as f64);
    let kjv_bytes = std::fs::metadata(KJV).unwrap().len() as f64;
    let bytes = metric(&samples, "dstreams_input_bytes_total")[0].2;
    assert!(bytes > 0.0 && bytes <= kjv_bytes, "{bytes}");
    let keys = metric(&samples, "dstreams_state_keys");
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].1["operator"], "totals");
    assert_eq!(keys[0].2, *distinct.lock().unwrap() as f64);
    let last_ms = infos.last().unwrap().batch_time.as_millis();
    assert_eq!(
        single("dstreams_last_completed_batch_time_seconds"),
        last_ms as f64 / 1000.0
    );
    assert!(single("dstreams_checkpoint_write_seconds_count") >= 1.0);
    assert!(single("dstreams_checkpoint_written_bytes_total") > 0.0);

    ssc.stop(false).unwrap();
    assert_eq!(ssc.ui_address(), None);
}

#[test]
fn a_port_in_use_is_named_or_skipped_with_retries() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let build = |config: UiConfig| {
        let ssc = StreamingContext::builder(Seconds(1)).ui(config).build();
        ssc.queue_stream(Vec::<Batch<i64>>::new(), true, None)
            .foreach_rdd(|_| ());
        ssc
    };
    let exact = build(UiConfig::new(format!("127.0.0.1:{port}")));
    let error = exact.start().unwrap_err();
    assert!(matches!(error, Error::UiBind { .. }), "{error:?}");
    assert!(
        error.to_string().contains(&format!("127.0.0.1:{port}")),
        "{error}"
    );
    let retried = build(UiConfig::new(format!("127.0.0.1:{port}")).port_retries(16));
    retried.start().unwrap();
    let got = retried.ui_address().unwrap().port();
    assert!(got > port && got <= port + 16, "{got}");
    retried.stop(false).unwrap();
}

/// `dstreams replay` at a rate over the corpus repeated `repeat` times, with `ui_args`; stderr
/// piped (its first line names the UI when it is on).
fn replay_with_ui(ui_args: &[&str], repeat: u32) -> Child {
    let repeat = repeat.to_string();
    let mut args = vec![
        "replay",
        "--batch-lines",
        "2000",
        "--rate",
        "20000",
        "--repeat",
        &repeat,
    ];
    args.extend_from_slice(ui_args);
    args.push(KJV);
    Command::new(env!("CARGO_BIN_EXE_dstreams"))
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting dstreams")
}

/// Kills the child when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The address the CLI printed on its standard error.
fn printed_address(child: &mut Child) -> SocketAddr {
    let mut line = String::new();
    BufReader::new(child.stderr.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let address = line
        .trim()
        .strip_prefix("dstreams: web UI at http://")
        .and_then(|a| a.strip_suffix('/'))
        .unwrap_or_else(|| panic!("no UI address in {line:?}"));
    address.parse().unwrap()
}

/// Polls the REST API until `app` has at least `n` completed batches (bounded).
fn wait_for_batches(address: SocketAddr, n: u64) -> String {
    let start = Instant::now();
    loop {
        let apps = get_json(address, "/api/v1/applications");
        if let Some(app) = apps[0]["id"].as_str() {
            let stats = get_json(
                address,
                &format!("/api/v1/applications/{app}/streaming/statistics"),
            );
            if stats["numTotalCompletedBatches"].as_u64().unwrap() >= n {
                return app.to_string();
            }
        }
        assert!(
            start.elapsed() < DEADLINE,
            "no {n} completed batches in time"
        );
        // The poll's interval, not a wait for a batch.
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[test]
fn the_cli_prints_the_ui_address_and_takes_ui_options() {
    let mut run = Killed(replay_with_ui(&["--ui", "127.0.0.1:0"], 50));
    let address = printed_address(&mut run.0);
    let app = wait_for_batches(address, 1);
    let apps = get_json(address, "/api/v1/applications");
    assert_eq!(apps[0]["name"], "dstreams replay word-count");
    assert!(app.starts_with("local-"));
    let (status, page) = request(address, "GET", "/");
    assert_eq!(status, 200);
    assert!(page.contains("Streaming Statistics") && page.contains("/static/streaming.js"));
    for asset in ["/static/streaming.js", "/static/streaming.css"] {
        assert_eq!(request(address, "GET", asset).0, 200, "{asset}");
    }

    // The same address again, exactly: a clear error naming it.
    let taken = address.to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_dstreams"))
        .args([
            "replay",
            "--batch-lines",
            "2000",
            "--rate",
            "20000",
            "--ui",
            &taken,
            KJV,
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("the web UI cannot listen on {taken}")),
        "{err}"
    );

    // --no-ui: no address line, and the run completes.
    let out = Command::new(env!("CARGO_BIN_EXE_dstreams"))
        .args([
            "replay",
            "--batch-lines",
            "10000",
            "--rate",
            "1000000",
            "--no-ui",
            KJV,
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stderr).contains("web UI"));
}

/// Chromium, or `None` (the test then skips loudly).
fn chromium() -> Option<String> {
    let binary = std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let found = Command::new(&binary)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    found.then_some(binary)
}

/// Runs headless Chromium on `url` with `args`, killed after a bounded time; its stdout.
fn run_chromium(binary: &str, args: &[String], url: &str) -> String {
    let profile = TestDir::new("ui", "chromium-profile");
    let mut child = Killed(
        Command::new(binary)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--hide-scrollbars",
                "--window-size=1280,1700",
                "--virtual-time-budget=4000",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(args)
            .arg(url)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting chromium"),
    );
    let mut stdout = child.0.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        let _ = stdout.read_to_string(&mut out);
        out
    });
    let start = Instant::now();
    while child.0.try_wait().unwrap().is_none() {
        assert!(
            start.elapsed() < DEADLINE,
            "chromium did not finish in time"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    reader.join().unwrap()
}

/// The text of each `<td class="...">` of the table row whose `data-batch-id` is `id`.
fn row_cells(dom: &str, table: &str, id: &str) -> Option<BTreeMap<String, String>> {
    let table_at = dom.find(&format!("id=\"{table}\""))?;
    let table_html = &dom[table_at..dom[table_at..].find("</table>")? + table_at];
    let row_at = table_html.find(&format!("data-batch-id=\"{id}\""))?;
    let row = &table_html[row_at..row_at + table_html[row_at..].find("</tr>")?];
    let mut cells = BTreeMap::new();
    for cell in row.split("<td class=\"").skip(1) {
        let (class, rest) = cell.split_once("\">")?;
        let text = rest.split("</td>").next()?;
        cells.insert(class.to_string(), text.to_string());
    }
    Some(cells)
}

#[test]
fn the_page_in_a_browser_shows_the_rest_apis_batches() {
    let Some(chromium) = chromium() else {
        eprintln!(
            "SKIPPED the_page_in_a_browser_shows_the_rest_apis_batches: chromium is not installed (scripts/browser install)"
        );
        return;
    };
    let mut run = Killed(replay_with_ui(&["--ui", "127.0.0.1:0"], 200));
    let address = printed_address(&mut run.0);
    let app = wait_for_batches(address, 5);
    let url = format!("http://{address}/");
    let dom = run_chromium(&chromium, &["--dump-dom".to_string()], &url);
    assert!(dom.contains("Streaming Statistics"), "{dom}");

    // Every chart has a point per completed batch it shows, and a histogram.
    for metric in [
        "input-rate",
        "scheduling-delay",
        "processing-time",
        "total-delay",
    ] {
        let at = dom.find(&format!("data-metric=\"{metric}\"")).unwrap();
        let row = &dom[at..at + dom[at..].find("</tr>").unwrap()];
        let points = row.matches("class=\"point\"").count();
        assert!(points >= 5, "{metric}: {points} points");
        assert!(row.contains("class=\"bar\""), "{metric}: no histogram");
    }

    // Completed rows equal the REST API's batches (completed batches no longer change).
    let base = format!("/api/v1/applications/{app}/streaming");
    let batches = get_json(address, &format!("{base}/batches?status=COMPLETED"));
    let mut compared = 0;
    for batch in batches.as_array().unwrap() {
        let id = batch["batchId"].to_string();
        let Some(cells) = row_cells(&dom, "completed-batches", &id) else {
            continue;
        };
        let number = |field: &str| batch[field].to_string();
        assert_eq!(cells["input-size"], number("inputSize"), "batch {id}");
        assert_eq!(
            cells["scheduling-delay"],
            number("schedulingDelay"),
            "batch {id}"
        );
        assert_eq!(
            cells["processing-time"],
            number("processingTime"),
            "batch {id}"
        );
        assert_eq!(cells["total-delay"], number("totalDelay"), "batch {id}");
        assert_eq!(
            cells["output-ops"],
            format!(
                "{}/{}",
                batch["numCompletedOutputOps"], batch["numTotalOutputOps"]
            )
        );
        compared += 1;
    }
    assert!(
        compared >= 5,
        "only {compared} rows of the page are among the REST API's batches"
    );
    assert!(
        dom.contains("ReplayInputDStream"),
        "the input stream is listed"
    );

    let shots = TestDir::new("ui", "screenshot");
    let png = shots.join("ui.png");
    run_chromium(
        &chromium,
        &[format!("--screenshot={}", png.display())],
        &url,
    );
    let bytes = std::fs::read(&png).expect("a screenshot");
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 10_000);
}

#[test]
fn a_receiver_is_listed_with_its_state() {
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    let clock = Arc::new(ManualClock::new(Time::from_millis(0)));
    let ssc = StreamingContext::builder(Seconds(1))
        .clock(clock)
        .ui("127.0.0.1:0")
        .build();
    ssc.socket_text_stream("127.0.0.1", port)
        .foreach_rdd(|_| ());
    ssc.start().unwrap();
    let address = ssc.ui_address().unwrap();
    let app = get_json(address, "/api/v1/applications")[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let base = format!("/api/v1/applications/{app}/streaming");
    let stats = get_json(address, &format!("{base}/statistics"));
    assert_eq!(stats["numReceivers"], 1);
    assert_eq!(stats["numActiveReceivers"], 1);
    assert_eq!(stats["numInactiveReceivers"], 0);
    assert!(
        stats.get("avgInputRate").is_none(),
        "absent without a completed batch: {stats}"
    );
    let receivers = get_json(address, &format!("{base}/receivers"));
    let receiver = &receivers[0];
    assert_fields(
        receiver,
        &[
            "streamId",
            "streamName",
            "isActive",
            "executorId",
            "executorHost",
            "eventRates",
        ],
        &[],
    );
    assert_eq!(receiver["isActive"], true);
    assert_eq!(receiver["eventRates"].as_array().unwrap().len(), 0);
    let samples = parse_prometheus(&request(address, "GET", "/metrics").1);
    let active = metric(&samples, "dstreams_receiver_active");
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].2, 1.0);
    assert_eq!(metric(&samples, "dstreams_receiver_errors_total")[0].2, 0.0);
    ssc.stop(false).unwrap();
}
