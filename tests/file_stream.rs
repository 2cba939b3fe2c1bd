//! `text_file_stream` follows Spark's FileInputDStream rules (reference §2.1), on a manual clock
//! set near real time, with file modification times set explicitly.

mod common;

use common::BATCH;
use common::process::TestDir;
use dstreams::prelude::*;
use dstreams::source::{FileStreamConfig, Utf8Policy};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration as StdDuration, UNIX_EPOCH};

/// A batch-aligned epoch time: the clock starts here.
const T0: i64 = 1_800_000_000_000;

/// Writes `text` outside the watched directory, sets its mtime, then renames it in (atomically,
/// as Spark requires).
fn move_in(staging: &Path, dir: &Path, name: &str, text: &[u8], mtime_ms: i64) {
    let tmp = staging.join(name);
    std::fs::write(&tmp, text).unwrap();
    set_mtime(&tmp, mtime_ms);
    std::fs::rename(&tmp, dir.join(name)).unwrap();
}

fn set_mtime(path: &Path, mtime_ms: i64) {
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(UNIX_EPOCH + StdDuration::from_millis(mtime_ms as u64))
        .unwrap();
}

struct Harness {
    ssc: StreamingContext,
    clock: Arc<ManualClock>,
    out: Arc<Mutex<Vec<(Time, Vec<String>)>>>,
    batches: i64,
}

impl Harness {
    fn new(dir: &Path, config: FileStreamConfig) -> Harness {
        let clock = Arc::new(ManualClock::new(Time::from_millis(T0)));
        let ssc = StreamingContext::builder(BATCH)
            .clock(clock.clone())
            .parallelism(2)
            .build();
        let lines = ssc.text_file_stream_with(dir, config);
        let out = common::collect(&lines);
        ssc.start().unwrap();
        Harness {
            ssc,
            clock,
            out,
            batches: 0,
        }
    }

    /// Runs the next batch.
    fn run_batch(&mut self) -> Time {
        self.batches += 1;
        self.clock.advance(BATCH);
        let t = Time::from_millis(T0 + self.batches * 1000);
        assert!(self.ssc.await_batch(t, StdDuration::from_secs(30)).unwrap());
        t
    }

    /// Runs the next batch and returns its lines, sorted.
    fn next_batch(&mut self) -> Vec<String> {
        let t = self.run_batch();
        let out = self.out.lock().unwrap();
        let (time, lines) = out.last().unwrap().clone();
        assert_eq!(time, t);
        let mut lines = lines;
        lines.sort();
        lines
    }

    fn now(&self) -> i64 {
        T0 + self.batches * 1000
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = self.ssc.stop(false);
    }
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

#[test]
fn a_moved_in_file_is_read_once_and_appends_are_not_reread() {
    let root = TestDir::new("files", "once");
    let (dir, staging) = (root.join("in"), root.join("staging"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(&staging).unwrap();
    let mut h = Harness::new(&dir, FileStreamConfig::default());
    move_in(
        &staging,
        &dir,
        "a.txt",
        b"hello world\nsecond line\n",
        T0 + 500,
    );
    assert_eq!(h.next_batch(), s(&["hello world", "second line"]));
    // Appending to a picked-up file (its mtime moves on) does not make it read again.
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("a.txt"))
        .unwrap();
    std::io::Write::write_all(&mut file, b"more\n").unwrap();
    drop(file);
    set_mtime(&dir.join("a.txt"), h.now() + 500);
    assert_eq!(h.next_batch(), Vec::<String>::new());
    assert_eq!(h.next_batch(), Vec::<String>::new());
}

#[test]
fn old_files_dot_files_subdirectories_and_rejected_names_are_skipped() {
    let root = TestDir::new("files", "skips");
    let (dir, staging) = (root.join("in"), root.join("staging"));
    std::fs::create_dir_all(dir.join("nested")).unwrap();
    std::fs::create_dir_all(&staging).unwrap();
    let config = FileStreamConfig {
        filter: Some(Arc::new(|p: &Path| {
            p.extension().is_none_or(|e| e != "tmp")
        })),
        ..FileStreamConfig::default()
    };
    let mut h = Harness::new(&dir, config);
    move_in(&staging, &dir, "old.txt", b"old\n", T0 - 10_000); // before the stream existed
    move_in(&staging, &dir, ".hidden.txt", b"hidden\n", T0 + 100);
    move_in(&staging, &dir, "partial.tmp", b"filtered\n", T0 + 100);
    move_in(
        &staging,
        &dir.join("nested"),
        "deep.txt",
        b"deep\n",
        T0 + 100,
    );
    move_in(&staging, &dir, "new.txt", b"new\n", T0 + 100);
    assert_eq!(h.next_batch(), s(&["new"]));
    assert_eq!(h.next_batch(), Vec::<String>::new());
}

#[test]
fn files_from_the_future_wait_for_their_batch() {
    let root = TestDir::new("files", "future");
    let (dir, staging) = (root.join("in"), root.join("staging"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(&staging).unwrap();
    let mut h = Harness::new(&dir, FileStreamConfig::default());
    move_in(&staging, &dir, "later.txt", b"later\n", T0 + 2500);
    assert_eq!(h.next_batch(), Vec::<String>::new()); // t = T0+1000
    assert_eq!(h.next_batch(), Vec::<String>::new()); // t = T0+2000
    assert_eq!(h.next_batch(), s(&["later"])); // t = T0+3000
}

#[test]
fn new_files_only_false_reaches_back_only_as_far_as_the_remember_window() {
    let root = TestDir::new("files", "oldok");
    let (dir, staging) = (root.join("in"), root.join("staging"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(&staging).unwrap();
    move_in(&staging, &dir, "recent.txt", b"recent\n", T0 - 30_000);
    move_in(&staging, &dir, "ancient.txt", b"ancient\n", T0 - 120_000);
    let config = FileStreamConfig {
        new_files_only: false,
        ..FileStreamConfig::default()
    };
    let mut h = Harness::new(&dir, config);
    assert_eq!(h.next_batch(), s(&["recent"]));
    assert_eq!(h.next_batch(), Vec::<String>::new());
}

#[test]
fn invalid_utf8_fails_the_batch_or_is_replaced_by_policy() {
    let root = TestDir::new("files", "utf8");
    let (dir, staging) = (root.join("in"), root.join("staging"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(&staging).unwrap();
    let mut h = Harness::new(&dir, FileStreamConfig::default());
    move_in(&staging, &dir, "bad.txt", b"ok\nbr\xffoken\n", T0 + 100);
    h.run_batch();
    assert!(
        h.out.lock().unwrap().is_empty(),
        "the failed batch has no output"
    );
    let err = h
        .ssc
        .await_termination_or_timeout(StdDuration::from_secs(5))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("bad.txt") && err.contains("invalid UTF-8 at byte 5 (line 2)"),
        "{err}"
    );
    drop(h);

    let root = TestDir::new("files", "utf8-replace");
    let (dir, staging) = (root.join("in"), root.join("staging"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(&staging).unwrap();
    let mut h = Harness::new(
        &dir,
        FileStreamConfig {
            utf8: Utf8Policy::Replace,
            ..FileStreamConfig::default()
        },
    );
    move_in(&staging, &dir, "bad.txt", b"ok\nbr\xffoken\n", T0 + 100);
    assert_eq!(h.next_batch(), s(&["br\u{fffd}oken", "ok"]));
}

#[test]
fn a_missing_directory_gives_empty_batches() {
    let root = TestDir::new("files", "missing");
    let mut h = Harness::new(&root.join("does-not-exist"), FileStreamConfig::default());
    assert_eq!(h.next_batch(), Vec::<String>::new());
    assert!(
        !h.ssc
            .await_termination_or_timeout(StdDuration::ZERO)
            .unwrap()
    );
}
