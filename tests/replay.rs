//! `dstreams replay`: word counts saved per batch equal an independent count of the same batches
//! of the bundled corpus; the replay source's cuts, file boundaries and errors.

mod common;

use common::process::{TestDir, run_dstreams};
use dstreams::prelude::*;
use dstreams::source::{ReplayCut, ReplayData};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

const KJV: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/kjv.txt");

/// Counts words of each batch of `lines_per_batch` lines, independently of dstreams.
fn independent_counts(text: &str, lines_per_batch: usize) -> Vec<BTreeMap<String, i64>> {
    let lines: Vec<&str> = text.lines().collect();
    lines
        .chunks(lines_per_batch)
        .map(|chunk| {
            let mut counts = BTreeMap::new();
            for line in chunk {
                for w in line.split(' ') {
                    *counts.entry(w.to_string()).or_insert(0) += 1;
                }
            }
            counts
        })
        .collect()
}

/// Reads `prefix-<ms>/part-*` files back into per-batch maps.
fn saved_counts(prefix: &Path, batches: usize) -> Vec<BTreeMap<String, i64>> {
    (1..=batches).map(|k| saved_at(prefix, k)).collect()
}

/// Reads the `prefix-<ms>/part-*` files of batch `k` (time `k` seconds) back into a map.
fn saved_at(prefix: &Path, k: usize) -> BTreeMap<String, i64> {
    let dir = PathBuf::from(format!("{}-{}", prefix.display(), k * 1000));
    assert!(
        dir.join("_SUCCESS").exists(),
        "{} is not complete",
        dir.display()
    );
    let mut counts = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if !path
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("part-")
        {
            continue;
        }
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            let inner = line
                .strip_prefix('(')
                .and_then(|l| l.strip_suffix(')'))
                .expect(line);
            let (w, n) = inner.rsplit_once(',').expect(line);
            assert!(
                counts
                    .insert(w.to_string(), n.parse::<i64>().unwrap())
                    .is_none(),
                "{w} twice"
            );
        }
    }
    counts
}

#[test]
fn replayed_word_counts_equal_an_independent_count_of_the_same_batches() {
    let dir = TestDir::new("replay", "kjv");
    let prefix = dir.join("counts");
    let stats = dir.join("stats.json");
    replay(&[
        "--job".as_ref(),
        "word-count".as_ref(),
        "--batch-lines".as_ref(),
        "4000".as_ref(),
        "--output".as_ref(),
        prefix.as_os_str(),
        "--stats-json".as_ref(),
        stats.as_os_str(),
        KJV.as_ref(),
    ]);
    let text = std::fs::read_to_string(KJV).unwrap();
    let expected = independent_counts(&text, 4000);
    assert_eq!(expected.len(), 8, "31,102 verses in batches of 4,000");
    assert_eq!(saved_counts(&prefix, expected.len()), expected);
    assert!(
        !PathBuf::from(format!("{}-9000", prefix.display())).exists(),
        "no batch after the data"
    );

    let json = std::fs::read_to_string(&stats).unwrap();
    for key in [
        "\"batches\":8",
        "\"records\":31102",
        "\"input_bytes\":4013873",
        "\"words\":789684",
        "\"seconds\":",
        "\"mb_per_s\":",
        "\"records_per_s\":",
        "\"batch_ms_p50\":",
        "\"batch_ms_p99\":",
        "\"batch_ms_max\":",
        "\"peak_rss_bytes\":",
    ] {
        assert!(json.contains(key), "{key} missing from {json}");
    }
    // Batches back to back: no delays (they would only say how far behind a clock that does
    // not pace them the run is).
    assert!(!json.contains("delay"), "{json}");
    // The first batch ended after the statistics started, and after the launch a little later
    // still (the time from the launch includes setting the job up).
    let (first, from_launch) = (
        json_number(&json, "first_batch_ms"),
        json_number(&json, "launch_to_first_batch_ms"),
    );
    assert!(first > 0.0 && from_launch >= first, "{json}");
}

/// Runs `dstreams replay` with `args`; its output, once it succeeded.
fn replay(args: &[&std::ffi::OsStr]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_dstreams"))
        .arg("replay")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The value of `key` in the stats JSON `json` (a number).
fn json_number(json: &str, key: &str) -> f64 {
    let at = json
        .find(&format!("\"{key}\":"))
        .unwrap_or_else(|| panic!("{key} missing from {json}"));
    let rest = &json[at + key.len() + 3..];
    let end = rest.find([',', '}']).unwrap();
    rest[..end].parse().unwrap()
}

#[test]
fn a_paced_replay_reports_sparks_scheduling_and_total_delays() {
    let dir = TestDir::new("replay", "paced");
    let stats = dir.join("stats.json");
    // 2,000 verses in batches of 100 at 50,000 records/s: 20 batches of 2 ms.
    let text: String = std::fs::read_to_string(KJV)
        .unwrap()
        .lines()
        .take(2000)
        .map(|l| format!("{l}\n"))
        .collect();
    let input = dir.join("verses.txt");
    std::fs::write(&input, text).unwrap();
    let out = replay(&[
        "--batch-lines".as_ref(),
        "100".as_ref(),
        "--rate".as_ref(),
        "50000".as_ref(),
        "--stats-json".as_ref(),
        stats.as_os_str(),
        input.as_os_str(),
    ]);
    let json = std::fs::read_to_string(&stats).unwrap();
    assert_eq!(json_number(&json, "batches"), 20.0, "{json}");
    let delay = |key| json_number(&json, key);
    let (s50, s99) = (
        delay("scheduling_delay_ms_p50"),
        delay("scheduling_delay_ms_p99"),
    );
    let (t50, t99, tmax) = (
        delay("total_delay_ms_p50"),
        delay("total_delay_ms_p99"),
        delay("total_delay_ms_max"),
    );
    // Percentiles in order, and a total delay never shorter than the scheduling delay part of
    // it (the processing time is not negative).
    assert!(0.0 <= s50 && s50 <= s99, "{json}");
    assert!(0.0 <= t50 && t50 <= t99 && t99 <= tmax, "{json}");
    assert!(s50 <= t50 && s99 <= tmax, "{json}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("scheduling delay ms p50"), "{text}");
}

#[test]
fn replayed_windowed_word_counts_equal_an_independent_count_of_each_window() {
    let dir = TestDir::new("replay", "kjv-windowed");
    let prefix = dir.join("counts");
    for closures in [false, true] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_dstreams"));
        cmd.args([
            "replay",
            "--job",
            "windowed-word-count",
            "--window",
            "3",
            "--slide",
            "2",
            "--batch-lines",
            "4000",
            "--output",
        ])
        .arg(&prefix)
        .arg(KJV);
        if closures {
            cmd.arg("--closures");
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = std::fs::read_to_string(KJV).unwrap();
        let batches = independent_counts(&text, 4000);
        // Windows of 3 batches every 2 batches: at batches 2, 4, 6 and 8.
        for t in [2usize, 4, 6, 8] {
            let mut expected: BTreeMap<String, i64> = BTreeMap::new();
            for b in &batches[t.saturating_sub(3)..t] {
                for (w, n) in b {
                    *expected.entry(w.clone()).or_insert(0) += n;
                }
            }
            let got = saved_at(&prefix, t);
            assert_eq!(got, expected, "window at batch {t} (closures: {closures})");
            assert!(
                !PathBuf::from(format!("{}-{}", prefix.display(), t * 1000 - 1000)).exists(),
                "no output between slides"
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
        std::fs::create_dir_all(&dir).unwrap();
    }
}

#[test]
fn replayed_running_word_counts_equal_an_independent_running_count() {
    let dir = TestDir::new("replay", "kjv-stateful");
    let prefix = dir.join("counts");
    for closures in [false, true] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_dstreams"));
        cmd.args([
            "replay",
            "--job",
            "stateful-word-count",
            "--batch-lines",
            "4000",
            "--output",
        ])
        .arg(&prefix)
        .arg(KJV);
        if closures {
            cmd.arg("--closures");
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = std::fs::read_to_string(KJV).unwrap();
        let mut running: BTreeMap<String, i64> = BTreeMap::new();
        for (i, batch) in independent_counts(&text, 4000).iter().enumerate() {
            for (w, n) in batch {
                *running.entry(w.clone()).or_insert(0) += n;
            }
            let got = saved_at(&prefix, i + 1);
            assert_eq!(
                got,
                running,
                "state after batch {} (closures: {closures})",
                i + 1
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
        std::fs::create_dir_all(&dir).unwrap();
    }
}

fn replay_batches(files: &[&Path], cut: ReplayCut, read: bool) -> Result<Vec<Vec<String>>> {
    let ssc = StreamingContext::builder(Duration::seconds(1))
        .clock(Arc::new(FastClock::new(Time::from_millis(0))))
        .stop_when_exhausted(true)
        .parallelism(3)
        .build();
    let data = if read {
        ReplayData::read(files)?
    } else {
        // SAFETY: the test's files are written before the replay and left unmodified until it
        // has finished and its batches are dropped.
        unsafe { ReplayData::map(files)? }
    };
    let lines = ssc.replay_stream(data, cut);
    let out = common::collect(&lines);
    ssc.start()?;
    ssc.await_termination()?;
    let got = out.lock().unwrap().iter().map(|(_, v)| v.clone()).collect();
    Ok(got)
}

#[test]
fn cuts_by_lines_and_bytes_across_file_boundaries() {
    let dir = TestDir::new("replay", "cuts");
    let a = dir.join("a.txt");
    let b = dir.join("b.txt");
    std::fs::write(&a, "one\ntwo\nthree").unwrap(); // no final newline: still a line
    std::fs::write(&b, "four\nfive\n").unwrap();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    for read in [true, false] {
        assert_eq!(
            replay_batches(&[&a, &b], ReplayCut::Lines(2), read).unwrap(),
            vec![s(&["one", "two"]), s(&["three", "four"]), s(&["five"])]
        );
        // A batch ends at the first line end at or after 5 bytes; a file's end is a line end.
        assert_eq!(
            replay_batches(&[&a, &b], ReplayCut::Bytes(5), read).unwrap(),
            vec![
                s(&["one", "two"]),
                s(&["three"]),
                s(&["four"]),
                s(&["five"])
            ]
        );
    }
}

#[test]
fn invalid_utf8_fails_the_batch_naming_file_offset_and_line() {
    let dir = TestDir::new("replay", "utf8");
    let bad = dir.join("bad.txt");
    std::fs::write(&bad, b"fine\nalso fine\nbro\xffken\n").unwrap();
    let err = replay_batches(&[&bad], ReplayCut::Lines(10), true).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("bad.txt") && text.contains("invalid UTF-8 at byte 18 (line 3)"),
        "{text}"
    );
}

#[test]
fn a_missing_file_is_a_clear_error() {
    let err = ReplayData::read(&["/nonexistent/dstreams/file.txt"])
        .err()
        .unwrap();
    assert!(
        err.to_string()
            .contains("reading /nonexistent/dstreams/file.txt"),
        "{err}"
    );
}

/// Runs `dstreams replay` with `args`, which must fail; its standard error.
fn replay_refused(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_dstreams"))
        .arg("replay")
        .args(args)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
    err
}

#[test]
fn windows_and_slides_too_large_are_refused_not_wrapped_around() {
    // Batches of 1 s times these counts overflowed i64 milliseconds: they ran as a window of
    // 3 batches, a slide of 1, or "must be positive, got -1000 ms".
    for (flag, n) in [
        ("--window", "9223372036854775807"),
        ("--window", "2305843009213693955"),
        ("--slide", "2305843009213693953"),
    ] {
        let err = replay_refused(&[
            "--job",
            "windowed-word-count",
            "--window",
            if flag == "--window" { n } else { "4" },
            "--slide",
            if flag == "--slide" { n } else { "1" },
            KJV,
        ]);
        let what = if flag == "--window" {
            "window"
        } else {
            "slide"
        };
        assert!(
            err.contains(&format!("{what} duration is too large")),
            "{flag} {n}: {err}"
        );
    }
}

#[test]
fn a_rate_so_slow_that_a_batch_interval_overflows_is_refused() {
    let err = replay_refused(&["--batch-bytes", "1000000", "--rate", "1e-300MB/s", KJV]);
    assert!(
        err.contains("it must be at most 3155760000000 ms (100 years)"),
        "{err}"
    );
}

#[test]
fn a_directory_a_device_and_a_fifo_are_refused_naming_what_they_are() {
    let dir = TestDir::new("replay", "not-regular");
    let fifo = dir.join("fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    for (path, what) in [
        (dir.to_str().unwrap(), "is a directory"),
        ("/dev/zero", "is not a regular file"),
        (fifo.to_str().unwrap(), "is not a regular file"),
    ] {
        let (ok, _, err) = run_dstreams(&["replay", path]);
        assert!(!ok && err.contains(what), "{path}: {err}");
    }
}

#[test]
fn a_proc_file_whose_size_says_0_is_read_whole() {
    // Linux's /proc files report a size of 0 and have content: not "0 records, success".
    let out = replay(&["/proc/self/status".as_ref()]);
    let text = String::from_utf8_lossy(&out.stdout);
    let records: u64 = text
        .split_whitespace()
        .skip_while(|w| *w != "records")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{text}"));
    assert!(records > 10, "{text}");
}

#[test]
fn a_stats_file_that_cannot_be_written_is_refused_before_the_first_batch() {
    let dir = TestDir::new("replay", "stats-unwritable");
    let path = dir.join("no-such-directory").join("stats.json");
    let out = Command::new(env!("CARGO_BIN_EXE_dstreams"))
        .args(["replay", "--stats-json", path.to_str().unwrap(), KJV])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("creating {}", path.display())),
        "{err}"
    );
    // Refused at once: no batch ran, so no summary was printed.
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn a_mapped_file_truncated_during_the_replay_fails_its_next_batch_naming_it() {
    // It used to kill the process with SIGBUS, without a word.
    let dir = TestDir::new("replay", "truncated");
    let path = dir.join("lines.txt");
    std::fs::write(&path, "a b\n".repeat(30_000)).unwrap();
    let clock = Arc::new(ManualClock::new(Time::from_millis(0)));
    let ssc = StreamingContext::builder(Duration::seconds(1))
        .clock(clock.clone())
        .build();
    // SAFETY: this test breaks `map`'s contract on purpose: it truncates the file between two
    // batches, to show the replay refuses to read the mapping past the file's new end (the
    // truncated pages are never read; the buffers are dropped without being read again).
    let data = unsafe { ReplayData::map(&[&path]) }.unwrap();
    let lines = ssc.replay_stream(data, ReplayCut::Lines(10_000));
    let out = common::collect(&lines);
    ssc.start().unwrap();
    clock.set(Time::from_millis(1000));
    assert!(
        ssc.await_batch(Time::from_millis(1000), Duration::seconds(30))
            .unwrap()
    );
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(100)
        .unwrap();
    clock.set(Time::from_millis(2000));
    assert!(
        ssc.await_batch(Time::from_millis(2000), Duration::seconds(30))
            .unwrap()
    );
    let err = ssc
        .await_termination_or_timeout(Milliseconds(1))
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("shrank from 120000 to 100 bytes during the replay"),
        "{err}"
    );
    assert_eq!(
        out.lock().unwrap().len(),
        1,
        "only the batch before the truncation"
    );
    ssc.stop(false).unwrap();
}

/// A single line of 32 MiB (the corpus with its newlines made spaces) is counted with memory
/// bounded by the line, not by its tokens: the peak resident set (the mapped file included)
/// stays under twice the line plus 16 MiB, where holding every token's 16-byte view at once
/// took about 5x the line. The counts equal the corpus's.
#[test]
fn a_single_line_of_32_mib_is_counted_in_memory_bounded_by_the_line() {
    const LINE: usize = 32 << 20;
    let dir = TestDir::new("replay", "one-huge-line");
    let corpus = std::fs::read_to_string(KJV).unwrap().replace('\n', " ");
    let mut line = corpus.repeat(LINE / corpus.len() + 1);
    line.truncate(line[..LINE].rfind(' ').unwrap());
    let input = dir.join("line.txt");
    std::fs::write(&input, format!("{line}\n")).unwrap();
    let (stats, prefix) = (dir.join("stats.json"), dir.join("counts"));
    replay(&[
        "--stats-json".as_ref(),
        stats.as_os_str(),
        "--output".as_ref(),
        prefix.as_os_str(),
        input.as_os_str(),
    ]);
    let json = std::fs::read_to_string(&stats).unwrap();
    let peak = json_number(&json, "peak_rss_bytes") as usize;
    assert!(
        peak < 2 * LINE + (16 << 20),
        "peak RSS {} MiB for a line of {} MiB",
        peak >> 20,
        LINE >> 20
    );
    assert_eq!(saved_counts(&prefix, 1), independent_counts(&line, 1));
}
