//! Running the `dstreams` binary in tests: processes killed on drop, waiting on progress, and
//! reading the directories `save_as_text_files` writes.
#![cfg(unix)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long any wait may take before the test fails.
pub const LIMIT: Duration = Duration::from_secs(60);

/// A fresh, empty temporary directory `dstreams-<group>-<name>-<pid>`.
pub fn temp_dir(group: &str, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dstreams-{group}-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A test's scratch directory ([`temp_dir`]): removed when dropped, kept when the test failed
/// (what it holds tells why).
pub struct TestDir(PathBuf);

impl TestDir {
    pub fn new(group: &str, name: &str) -> TestDir {
        TestDir(temp_dir(group, name))
    }
}

impl std::ops::Deref for TestDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for TestDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Kills the child when dropped (a failed assertion must not leave processes behind).
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Running {
    /// Freezes the process for `pause` (SIGSTOP, then SIGCONT), as a machine that stalls does.
    pub fn pause_for(&self, pause: Duration) {
        pause_process(self.0.id(), pause);
    }
}

/// Freezes process `pid` for `pause` (SIGSTOP, then SIGCONT).
pub fn pause_process(pid: u32, pause: Duration) {
    let signal = |sig: &str| {
        let status = Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .expect("running kill");
        assert!(status.success(), "kill {sig} {pid}");
    };
    signal("-STOP");
    std::thread::sleep(pause);
    signal("-CONT");
}

/// Runs `dstreams` with `args` to completion (bounded), returning success, stdout and stderr.
pub fn run_dstreams(args: &[&str]) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dstreams"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting dstreams");
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let out = std::thread::spawn(move || std::io::read_to_string(&mut out).unwrap());
    let err = std::thread::spawn(move || std::io::read_to_string(&mut err).unwrap());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("dstreams {args:?} did not finish within {:?}", LIMIT);
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    (status.success(), out.join().unwrap(), err.join().unwrap())
}

/// Starts the `dstreams` binary with `args`, its output discarded.
pub fn dstreams(args: &[&str]) -> Running {
    Running(
        Command::new(env!("CARGO_BIN_EXE_dstreams"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting dstreams"),
    )
}

/// The completed output directories `counts-<ms><suffix>` under `dir` (those with `_SUCCESS`):
/// batch time to their lines, sorted.
pub fn outputs(dir: &Path, suffix: &str) -> BTreeMap<i64, Vec<String>> {
    let mut found = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(ms) = name
            .strip_prefix("counts-")
            .and_then(|n| n.strip_suffix(suffix))
            .and_then(|n| n.parse::<i64>().ok())
        else {
            continue;
        };
        if !entry.path().join("_SUCCESS").exists() {
            continue;
        }
        let mut lines = Vec::new();
        let Ok(parts) = std::fs::read_dir(entry.path()) else {
            continue;
        };
        for part in parts.flatten() {
            if part.file_name().to_string_lossy().starts_with("part-") {
                let text = std::fs::read_to_string(part.path()).unwrap_or_default();
                lines.extend(text.lines().map(str::to_string));
            }
        }
        lines.sort();
        found.insert(ms, lines);
    }
    found
}

/// Waits until `done` holds, or fails after [`LIMIT`].
pub fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < LIMIT, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Word totals over every completed output directory under `out` (lines `(word,count)`).
pub fn word_totals(out: &Path) -> BTreeMap<String, i64> {
    let mut totals = BTreeMap::new();
    for lines in outputs(out, "").values() {
        for line in lines {
            let (w, n) = line
                .trim_matches(|c| c == '(' || c == ')')
                .rsplit_once(',')
                .expect("a (word,count) line");
            *totals.entry(w.to_string()).or_default() += n.parse::<i64>().expect("a count");
        }
    }
    totals
}

/// Waits until output directories under `out` reach at least `ms` past the newest one now: a few
/// more batches, in which anything counted twice would show up.
pub fn wait_for_later_batches(out: &Path, ms: i64) {
    let last = outputs(out, "").keys().max().copied().unwrap_or(0);
    wait_for("more batches", || {
        outputs(out, "")
            .keys()
            .max()
            .is_some_and(|&t| t >= last + ms)
    });
}
