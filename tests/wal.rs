//! The receiver write-ahead log (`ReceiverConfig::write_ahead_log`, Spark's
//! `spark.streaming.receiver.writeAheadLog.enable`).
//!
//! In-process, on a manual clock: a receiver program stopped after its checkpoint and restarted
//! with `get_or_create` re-creates the batches after the checkpoint (and the window panes before
//! it) from the log, while lines stored after the restart go to the first new batch; without the
//! log those lines go into the re-run batch instead. Also: Spark's error for a log without a
//! checkpoint directory, a log file that cannot be written, and the removal of old log files.
//!
//! As processes: `dstreams run network-word-count --wal` killed with SIGKILL while batches after
//! its newest checkpoint have saved their output, and restarted, several times, against a test
//! server sending unique words: every word sealed into a logged batch is counted exactly once
//! and every saved output survives unchanged; without `--wal` saved outputs are lost.

mod common;

use dstreams::ContextState;
use dstreams::prelude::*;
use dstreams::source::{Receiver, ReceiverConfig, ReceiverHandle, Utf8Policy};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver as Rx, Sender, channel};
use std::sync::{Arc, Mutex};

const BATCH: Duration = Duration::seconds(1);
const WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// A receiver that hands its handle to the test on every start, so the test stores lines itself.
struct Handover(Sender<ReceiverHandle>);

impl Receiver for Handover {
    fn on_start(&mut self, handle: ReceiverHandle) -> Result<()> {
        self.0
            .send(handle)
            .map_err(|_| Error::Unsupported("test is gone".into()))
    }
    fn on_stop(&mut self) {}
}

/// Every output batch, by (output name, batch ms), as sorted lines.
type Outputs = Arc<Mutex<BTreeMap<(&'static str, i64), Vec<String>>>>;

fn record(stream: &DStream<String>, name: &'static str, out: &Outputs) {
    let out = out.clone();
    stream.foreach_rdd(move |batch| {
        let mut lines = batch.to_vec();
        lines.sort();
        out.lock()
            .unwrap()
            .insert((name, batch.time().as_millis()), lines);
    })
}

fn config(wal: bool) -> ReceiverConfig {
    ReceiverConfig {
        write_ahead_log: wal,
        ..ReceiverConfig::default()
    }
}

/// [`config`] with the write-ahead log, and invalid UTF-8 replaced or not.
fn logged(utf8: Utf8Policy) -> ReceiverConfig {
    ReceiverConfig {
        utf8,
        ..config(true)
    }
}

/// The received lines and a 3 s window over them, checkpointed every 3 batches.
fn program(
    clock: Arc<ManualClock>,
    receiver: ReceiverConfig,
    handles: Sender<ReceiverHandle>,
    out: &Outputs,
) -> StreamingContext {
    let ssc = StreamingContext::builder(BATCH)
        .clock(clock)
        .parallelism(2)
        .build();
    let lines = ssc.receiver_stream_with(Handover(handles), receiver);
    lines.checkpoint(BATCH * 3);
    record(&lines, "lines", out);
    record(&lines.window(BATCH * 3, BATCH), "window", out);
    ssc
}

/// A run of [`program`] through `get_or_create`, on a manual clock at `at` seconds.
struct Run {
    ssc: StreamingContext,
    clock: Arc<ManualClock>,
    handle: ReceiverHandle,
    out: Outputs,
}

impl Run {
    fn start(cp: &Path, wal: bool, at: i64) -> Run {
        Run::start_with(cp, config(wal), at)
    }

    fn start_with(cp: &Path, receiver: ReceiverConfig, at: i64) -> Run {
        let clock = Arc::new(ManualClock::new(Time::from_millis(at * 1000)));
        let out = Outputs::default();
        let (tx, rx): (Sender<ReceiverHandle>, Rx<ReceiverHandle>) = channel();
        let ssc =
            StreamingContext::get_or_create(cp, || program(clock.clone(), receiver, tx, &out))
                .unwrap();
        ssc.start().unwrap();
        let handle = rx.recv_timeout(WAIT).unwrap();
        Run {
            ssc,
            clock,
            handle,
            out,
        }
    }

    fn store(&self, lines: &[String]) {
        for l in lines {
            self.handle.store(l).unwrap();
        }
    }

    /// Runs the batch at `k` seconds and waits for it.
    fn batch(&self, k: i64) {
        self.clock.set(Time::from_millis(k * 1000));
        assert!(
            self.ssc
                .await_batch(Time::from_millis(k * 1000), WAIT)
                .unwrap(),
            "batch {k} did not complete"
        );
    }

    fn get(&self, name: &'static str, k: i64) -> Vec<String> {
        self.out.lock().unwrap()[&(name, k * 1000)].clone()
    }
}

fn lines(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix} line {i}")).collect()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dstreams-wal-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The batch times (ms) with a log file.
fn log_files(cp: &Path) -> BTreeSet<i64> {
    std::fs::read_dir(cp.join("received").join("input-0"))
        .map(|d| {
            d.flatten()
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    name.strip_suffix(".log")?.parse().ok()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Runs batches 1..=5 (checkpoint after 3), storing `first-<k>` lines before batch `k`, then
/// stores a line that no batch seals and stops. Returns the run's outputs.
fn first_run(cp: &Path, wal: bool) -> Run {
    let run = Run::start(cp, wal, 0);
    for k in 1..=5 {
        run.store(&lines(&format!("first-{k}"), 3));
        run.batch(k);
    }
    run.store(&["stored but never sealed".to_string()]);
    run.ssc.stop(false).unwrap();
    run
}

#[test]
fn rerun_batches_come_from_the_log_and_new_lines_go_to_the_first_new_batch() {
    let cp = temp_dir("recreate");
    let first = first_run(&cp, true);
    assert_eq!(
        log_files(&cp),
        BTreeSet::from([1000, 2000, 3000, 4000, 5000])
    );
    // Restarted from the checkpoint of batch 3: lines stored before the re-run batches 4 and 5
    // are computed must not go into them.
    let second = Run::start(&cp, true, 3);
    let new = lines("second", 4);
    second.store(&new);
    for k in 4..=6 {
        second.batch(k);
    }
    for k in [4, 5] {
        assert_eq!(second.get("lines", k), first.get("lines", k), "batch {k}");
        // The window's panes of batches 2 and 3 (before the checkpoint) come from the log too.
        assert_eq!(
            second.get("window", k),
            first.get("window", k),
            "window {k}"
        );
    }
    let mut expected = new.clone();
    expected.sort();
    // The line stored but not sealed when the first run stopped is lost, as documented.
    assert_eq!(second.get("lines", 6), expected);

    // Checkpoints at 6, 9 and 12 (three kept): log files no kept checkpoint needs go.
    for k in 7..=12 {
        second.batch(k);
    }
    second.ssc.stop(false).unwrap();
    let left = log_files(&cp);
    assert!(!left.contains(&1000) && !left.contains(&2000), "{left:?}");
    assert!((6..=12).all(|k| left.contains(&(k * 1000))), "{left:?}");
    std::fs::remove_dir_all(&cp).unwrap();
}

#[test]
fn without_the_log_a_rerun_batch_takes_the_lines_stored_after_the_restart() {
    let cp = temp_dir("no-log");
    let first = first_run(&cp, false);
    assert!(!cp.join("received").exists());
    let second = Run::start(&cp, false, 3);
    let new = lines("second", 4);
    second.store(&new);
    second.batch(4);
    let mut expected = new.clone();
    expected.sort();
    // Batch 4 ran again with other lines: its first lines are lost.
    assert_eq!(second.get("lines", 4), expected);
    assert_ne!(second.get("lines", 4), first.get("lines", 4));
    second.ssc.stop(false).unwrap();
    std::fs::remove_dir_all(&cp).unwrap();
}

#[test]
fn the_log_needs_a_checkpoint_directory_as_in_spark() {
    let (tx, _rx) = channel();
    let ssc = StreamingContext::builder(BATCH)
        .clock(Arc::new(ManualClock::new(Time::from_millis(0))))
        .build();
    let lines = ssc.receiver_stream_with(Handover(tx), config(true));
    lines.foreach_rdd(|_| ());
    let err = ssc.start().unwrap_err();
    assert!(
        matches!(err, Error::WriteAheadLogWithoutCheckpointDirectory),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "Cannot enable receiver write-ahead log without checkpoint directory set. Please use streamingContext.checkpoint() to set the checkpoint directory. See documentation for more details."
    );
    // Nothing started: with a directory set, the same context starts.
    assert_eq!(ssc.get_state(), ContextState::Initialized);
    let dir = temp_dir("needs-dir");
    ssc.checkpoint(&dir);
    ssc.start().unwrap();
    ssc.stop(false).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_log_file_that_cannot_be_written_fails_its_batch_and_the_lines_go_to_the_next() {
    let cp = temp_dir("unwritable");
    let run = Run::start(&cp, true, 0);
    let log_dir = cp.join("received").join("input-0");
    // A file where the log directory was: every write fails.
    std::fs::remove_dir_all(&log_dir).unwrap();
    std::fs::write(&log_dir, "in the way").unwrap();
    run.store(&lines("kept", 2));
    run.batch(1);
    let err = run.ssc.await_termination_or_timeout(WAIT).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("write-ahead log")
            && text.contains(&log_dir.join("1000.log").display().to_string()),
        "{text}"
    );
    assert!(!run.out.lock().unwrap().contains_key(&("lines", 1000)));
    std::fs::remove_file(&log_dir).unwrap();
    std::fs::create_dir(&log_dir).unwrap();
    run.store(&lines("next", 1));
    run.batch(2);
    assert_eq!(
        run.get("lines", 2),
        ["kept line 0", "kept line 1", "next line 0"]
    );
    assert!(log_files(&cp).contains(&2000));
    run.ssc.stop(false).unwrap();
    std::fs::remove_dir_all(&cp).unwrap();
}

#[test]
fn a_logged_batch_with_invalid_utf8_fails_at_every_restart_until_restarted_replacing_it() {
    let cp = temp_dir("poison");
    let run = Run::start_with(&cp, logged(Utf8Policy::Fail), 0);
    for k in 1..=3 {
        run.store(&lines("before", 1));
        run.batch(k); // checkpointed at 3
    }
    run.handle.store_bytes(b"good\n\xff bad\n").unwrap();
    run.batch(4);
    let err = run
        .ssc
        .await_termination_or_timeout(WAIT)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("UTF-8") && err.contains("Utf8Policy::Replace"),
        "{err}"
    );
    run.ssc.stop(false).unwrap();
    drop(run);
    // The batch is in the log: a restart reads it again and it fails again.
    let again = Run::start_with(&cp, logged(Utf8Policy::Fail), 3);
    again.batch(4);
    let err = again
        .ssc
        .await_termination_or_timeout(WAIT)
        .unwrap_err()
        .to_string();
    assert!(err.contains("UTF-8"), "{err}");
    again.ssc.stop(false).unwrap();
    drop(again);
    // Restarted replacing invalid bytes, the batch runs with U+FFFD in their place.
    let past = Run::start_with(&cp, logged(Utf8Policy::Replace), 3);
    past.batch(4);
    assert_eq!(past.get("lines", 4), ["good", "\u{FFFD} bad"]);
    assert!(matches!(
        past.ssc.await_termination_or_timeout(Milliseconds(1)),
        Ok(false)
    ));
    past.ssc.stop(false).unwrap();
    std::fs::remove_dir_all(&cp).unwrap();
}

#[cfg(unix)]
mod process {
    //! `dstreams run network-word-count` killed and restarted against a real TCP server.

    use super::common::process::{Running, dstreams, outputs, temp_dir, wait_for};
    use super::common::rng::Rng;
    use super::*;
    use std::io::Write;
    use std::net::TcpListener;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::thread::JoinHandle;

    /// Batch interval of the processes, in ms; they checkpoint every `EVERY` batches, so a
    /// kill usually finds batches after the newest checkpoint.
    const INTERVAL_MS: i64 = 100;
    const EVERY: i64 = 5;

    /// A TCP server on 127.0.0.1 that sends lines of unique words (`w<n>`) to one connection
    /// at a time, paced, until paused; a new connection takes over when the old one fails.
    struct Server {
        port: u16,
        stop: Arc<AtomicBool>,
        paused: Arc<AtomicBool>,
        thread: Option<JoinHandle<()>>,
    }

    impl Server {
        fn start(seed: u64) -> Server {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            listener.set_nonblocking(true).unwrap();
            let port = listener.local_addr().unwrap().port();
            let stop = Arc::new(AtomicBool::new(false));
            let paused = Arc::new(AtomicBool::new(false));
            let (s, p) = (stop.clone(), paused.clone());
            let thread = std::thread::spawn(move || serve(listener, seed, &s, &p));
            Server {
                port,
                stop,
                paused,
                thread: Some(thread),
            }
        }

        fn pause(&self) {
            self.paused.store(true, Ordering::SeqCst);
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::SeqCst);
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }

    fn serve(listener: TcpListener, seed: u64, stop: &AtomicBool, paused: &AtomicBool) {
        let pace = std::time::Duration::from_millis(1);
        let mut rng = Rng(seed);
        let mut next = 0u64;
        while !stop.load(Ordering::SeqCst) {
            let mut conn = match listener.accept() {
                Ok((conn, _)) => conn,
                Err(_) => {
                    std::thread::sleep(pace);
                    continue;
                }
            };
            conn.set_nonblocking(false).unwrap();
            // A killed peer fails writes at once; the timeout only bounds a stalled one.
            conn.set_write_timeout(Some(std::time::Duration::from_secs(10)))
                .unwrap();
            while !stop.load(Ordering::SeqCst) {
                if !paused.load(Ordering::SeqCst) {
                    let words: Vec<String> = (0..1 + rng.below(8))
                        .map(|_| {
                            next += 1;
                            format!("w{next}")
                        })
                        .collect();
                    if conn.write_all((words.join(" ") + "\n").as_bytes()).is_err() {
                        break; // the process was killed: wait for the next one
                    }
                }
                std::thread::sleep(pace);
            }
        }
    }

    /// The newest checkpoint's batch time (ms), if any.
    fn newest_checkpoint(cp: &Path) -> Option<i64> {
        std::fs::read_dir(cp)
            .ok()?
            .flatten()
            .filter_map(|e| {
                e.file_name()
                    .to_string_lossy()
                    .strip_prefix("checkpoint-")?
                    .parse()
                    .ok()
            })
            .max()
    }

    /// The words of each log file, by batch time (ms); files vanishing meanwhile are skipped.
    fn logged_words(cp: &Path) -> BTreeMap<i64, Vec<String>> {
        let dir = cp.join("received").join("input-0");
        let mut found = BTreeMap::new();
        for t in log_files(cp) {
            if let Ok(text) = std::fs::read_to_string(dir.join(format!("{t}.log"))) {
                let mut words: Vec<String> = text.split_whitespace().map(str::to_string).collect();
                words.sort();
                found.insert(t, words);
            }
        }
        found
    }

    /// The words of saved counts (`(w12,1)` lines), sorted, with their counts.
    fn counted(lines: &[String]) -> Vec<(String, i64)> {
        let mut words: Vec<(String, i64)> = lines
            .iter()
            .map(|l| {
                let (w, n) = l
                    .trim_matches(|c| c == '(' || c == ')')
                    .rsplit_once(',')
                    .unwrap();
                (w.to_string(), n.parse().unwrap())
            })
            .collect();
        words.sort();
        words
    }

    fn words(lines: &[String]) -> Vec<String> {
        counted(lines).into_iter().map(|(w, _)| w).collect()
    }

    /// Saved batches after the newest checkpoint holding words: what a restart runs again.
    fn saved_after_checkpoint(cp: &Path, out: &Path) -> usize {
        let Some(newest) = newest_checkpoint(cp) else {
            return 0;
        };
        outputs(out, "")
            .iter()
            .filter(|(t, lines)| **t > newest && !lines.is_empty())
            .count()
    }

    /// What a scenario leaves behind.
    struct Scenario {
        cp: PathBuf,
        /// The saved outputs just after each kill.
        snapshots: Vec<BTreeMap<i64, Vec<String>>>,
        /// Every log file seen after a kill or at the end, by batch time.
        logged: BTreeMap<i64, Vec<String>>,
        /// The saved outputs at the end.
        last: BTreeMap<i64, Vec<String>>,
        /// Kills that found saved batches after the newest checkpoint.
        caught: usize,
        dir: PathBuf,
    }

    fn merge_logged(into: &mut BTreeMap<i64, Vec<String>>, seen: BTreeMap<i64, Vec<String>>) {
        for (t, words) in seen {
            if let Some(before) = into.get(&t) {
                assert_eq!(before, &words, "log file {t} changed");
            }
            into.insert(t, words);
        }
    }

    /// Runs network-word-count, killing it `kills` times at random points while saved batches
    /// lie after its newest checkpoint, restarting it each time; then lets it finish what it
    /// received and kills it a last time.
    fn scenario(name: &str, wal: bool, kills: usize, seed: u64) -> Scenario {
        let dir = temp_dir("wal", name);
        let (cp, out) = (dir.join("cp"), dir.join("out"));
        let server = Server::start(seed);
        let mut rng = Rng(seed ^ 0x5eed);
        let port = server.port.to_string();
        let (cp_arg, out_arg) = (
            cp.display().to_string(),
            format!("{}/counts", out.display()),
        );
        let every = EVERY.to_string();
        let interval = format!("{INTERVAL_MS}ms");
        let mut args = vec![
            "run",
            "network-word-count",
            "127.0.0.1",
            &port,
            "--interval",
            &interval,
            "--checkpoint",
            &cp_arg,
            "--checkpoint-every",
            &every,
            "--output",
            &out_arg,
        ];
        if wal {
            args.push("--wal");
        }
        let mut scenario = Scenario {
            cp: cp.clone(),
            snapshots: Vec::new(),
            logged: BTreeMap::new(),
            last: BTreeMap::new(),
            caught: 0,
            dir: dir.clone(),
        };
        // Progress so far: a kill waits for a checkpoint past it, so the batches the previous
        // restart ran again are done.
        let mut past = i64::MIN;
        let mut child: Running = dstreams(&args);
        for _ in 0..kills {
            let target = 1 + rng.below(3) as usize;
            wait_for("saved batches after a new checkpoint", || {
                newest_checkpoint(&cp).is_some_and(|c| c > past)
                    && saved_after_checkpoint(&cp, &out) >= target
            });
            drop(child); // SIGKILL, and waited for
            if saved_after_checkpoint(&cp, &out) > 0 {
                scenario.caught += 1;
            }
            merge_logged(&mut scenario.logged, logged_words(&cp));
            let saved = outputs(&out, "");
            past = saved.keys().max().copied().unwrap_or(past);
            scenario.snapshots.push(saved);
            child = dstreams(&args);
        }
        wait_for("the batches run again to be done", || {
            newest_checkpoint(&cp).is_some_and(|c| c > past)
        });
        server.pause();
        // Everything sent before the pause arrives within a few batches; then every batch
        // holding words has saved its output.
        let paused_at = outputs(&out, "").keys().max().copied().unwrap_or(past);
        wait_for("the received words to be saved", || {
            let saved = outputs(&out, "");
            saved
                .keys()
                .max()
                .is_some_and(|&t| t > paused_at + 3 * INTERVAL_MS)
                && logged_words(&cp)
                    .iter()
                    .all(|(t, words)| words.is_empty() || saved.contains_key(t))
        });
        drop(child);
        drop(server);
        merge_logged(&mut scenario.logged, logged_words(&cp));
        scenario.last = outputs(&out, "");
        scenario
    }

    #[test]
    fn with_the_log_every_sealed_word_is_counted_exactly_once_across_sigkills() {
        let s = scenario("on", true, 4, 0x00c0_ffee_0001);
        assert!(
            s.caught > 0,
            "no kill found saved batches after the newest checkpoint"
        );
        // Each word once, in one batch, with count 1.
        let mut seen = BTreeSet::new();
        for (t, lines) in &s.last {
            for (w, n) in counted(lines) {
                assert_eq!(n, 1, "{w} counted {n} times in batch {t}");
                assert!(seen.insert(w.clone()), "{w} counted again in batch {t}");
            }
        }
        // Every batch in the log holds exactly its logged words (re-run batches took nothing
        // else), and none with words is missing.
        let logged_words: usize = s.logged.values().map(Vec::len).sum();
        assert!(logged_words > 0);
        for (t, logged) in &s.logged {
            match s.last.get(t) {
                Some(lines) => assert_eq!(&words(lines), logged, "batch {t}"),
                None => assert!(logged.is_empty(), "logged batch {t} has no saved output"),
            }
        }
        // Whatever had been saved when a kill came is still there, unchanged.
        for (i, snapshot) in s.snapshots.iter().enumerate() {
            for (t, lines) in snapshot {
                assert_eq!(
                    s.last.get(t),
                    Some(lines),
                    "batch {t}, saved before kill {i}, changed"
                );
            }
        }
        assert!(s.cp.join("received").join("input-0").is_dir());
        std::fs::remove_dir_all(&s.dir).unwrap();
    }

    #[test]
    fn without_the_log_saved_batches_are_lost_across_sigkills() {
        let s = scenario("off", false, 3, 0x00c0_ffee_0002);
        assert!(
            s.caught > 0,
            "no kill found saved batches after the newest checkpoint"
        );
        assert!(s.logged.is_empty() && !s.cp.join("received").exists());
        // A batch saved after the newest checkpoint ran again with other lines: its words are
        // gone from the outputs.
        let last: BTreeSet<String> = s.last.values().flat_map(|l| words(l)).collect();
        let lost: BTreeSet<String> = s
            .snapshots
            .iter()
            .flat_map(|snapshot| snapshot.values().flat_map(|l| words(l)))
            .filter(|w| !last.contains(w))
            .collect();
        assert!(!lost.is_empty(), "nothing was lost without the log");
        std::fs::remove_dir_all(&s.dir).unwrap();
    }
}
