//! Crash recovery of whole processes: `dstreams` jobs killed with SIGKILL at random points and
//! started again with the same arguments must leave saved outputs with no batch lost and none
//! counted twice; a checkpoint write that hits a full disk must leave the previous checkpoint
//! usable.
//!
//! Kill points are random (seeded) in progress, not in time: the test waits until a chosen number
//! of batches have saved their output, then kills, wherever the process has got to by then (in
//! a batch, between batches, in a checkpoint write).
#![cfg(unix)]

mod common;

use common::process::{Running, dstreams, outputs, wait_for, wait_for_later_batches, word_totals};
use common::rng::Rng;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn temp_dir(name: &str) -> PathBuf {
    common::process::temp_dir("crash", name)
}

/// Outputs keyed by batch index (time relative to the first batch) instead of wall-clock time.
fn by_index(out: BTreeMap<i64, Vec<String>>, interval_ms: i64) -> BTreeMap<i64, Vec<String>> {
    let first = out.keys().next().copied().unwrap_or(0);
    out.into_iter()
        .map(|(t, v)| ((t - first) / interval_ms, v))
        .collect()
}

#[test]
fn a_replay_job_with_state_and_windows_survives_sigkill() {
    let dir = temp_dir("replay");
    let mut rng = Rng(0xdead_beef_0001);
    let vocab: Vec<String> = (0..60).map(|i| format!("w{i}")).collect();
    let lines: Vec<String> = (0..480)
        .map(|_| {
            (0..1 + rng.below(6))
                .map(|_| vocab[rng.below(60) as usize].as_str())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    let input = dir.join("input.txt");
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    // 4 lines per batch at 100 lines/s: a batch every 40 ms, 120 batches. A batch saves its
    // outputs as durable directories (files and directory synced, renamed, parent synced: two
    // rounds of fsync each, some 30 ms in all at worst here), which must fit in the interval: a
    // run that falls behind generates an extra batch time after its input ran dry.
    let run = |out: &Path, cp: &Path| {
        let out = format!("{}/counts", out.display());
        let cp = cp.display().to_string();
        let input = input.display().to_string();
        dstreams(&[
            "replay",
            "--job",
            "stateful-windowed-word-count",
            "--batch-lines",
            "4",
            "--rate",
            "100",
            "--window",
            "6",
            "--slide",
            "2",
            "--checkpoint",
            &cp,
            "--checkpoint-every",
            "4",
            "--output",
            &out,
            &input,
        ])
    };
    let finish = |mut child: Running| {
        let status = child.0.wait().unwrap();
        assert!(status.success(), "dstreams failed: {status}");
    };
    let reference = dir.join("reference");
    finish(run(&reference, &dir.join("reference-cp")));
    let crashed = dir.join("crashed");
    let cp = dir.join("crashed-cp");
    // Kill after a random number of saved batches (past the first checkpoint: a run killed before
    // it has nothing to resume from and starts over on a new timeline, as in Spark).
    let mut kills = Vec::new();
    for _ in 0..4 {
        let child = run(&crashed, &cp);
        let target = outputs(&crashed, ".state").len() + 5 + rng.below(25) as usize;
        wait_for("batches to complete", || {
            outputs(&crashed, ".state").len() >= target.min(119)
        });
        drop(child); // SIGKILL
        kills.push(target);
    }
    finish(run(&crashed, &cp));
    for suffix in [".state", ".window"] {
        let expected = by_index(outputs(&reference, suffix), 40);
        let got = by_index(outputs(&crashed, suffix), 40);
        assert_eq!(expected.len(), if suffix == ".state" { 120 } else { 60 });
        let lost: Vec<_> = expected.keys().filter(|k| !got.contains_key(*k)).collect();
        let added: Vec<_> = got.keys().filter(|k| !expected.contains_key(*k)).collect();
        assert!(
            lost.is_empty() && added.is_empty(),
            "{suffix}: batches lost {lost:?}, added {added:?} (kills after {kills:?})"
        );
        for (k, v) in &expected {
            assert_eq!(
                &got[k], v,
                "{suffix}: batch {k} differs (kills after {kills:?})"
            );
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_text_file_stream_job_survives_sigkill() {
    let dir = temp_dir("files");
    let watched = dir.join("in");
    std::fs::create_dir_all(&watched).unwrap();
    let out = dir.join("out");
    let cp = dir.join("cp");
    let run = || {
        dstreams(&[
            "run",
            "text-file-word-count",
            &watched.display().to_string(),
            "--interval",
            "100ms",
            "--checkpoint",
            &cp.display().to_string(),
            "--output",
            &format!("{}/counts", out.display()),
        ])
    };
    let mut rng = Rng(0xdead_beef_0002);
    let mut expected: BTreeMap<String, i64> = BTreeMap::new();
    let mut child = run();
    wait_for("the first checkpoint", || {
        std::fs::read_dir(&cp).is_ok_and(|d| {
            d.flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("checkpoint-"))
        })
    });
    for file in 0..40 {
        // Moved in whole, as Spark requires.
        let words: Vec<String> = (0..1 + rng.below(20))
            .map(|_| format!("f{}", rng.below(15)))
            .collect();
        for w in &words {
            *expected.entry(w.clone()).or_default() += 1;
        }
        let tmp = dir.join(format!(".file-{file}"));
        std::fs::write(&tmp, words.join(" ") + "\n").unwrap();
        std::fs::rename(&tmp, watched.join(format!("file-{file}.txt"))).unwrap();
        std::thread::sleep(Duration::from_millis(15));
        if rng.below(8) == 0 {
            drop(child); // SIGKILL
            child = run();
        }
    }
    let totals = || word_totals(&out);
    wait_for("every file to be counted", || {
        totals().values().sum::<i64>() >= expected.values().sum::<i64>()
    });
    wait_for_later_batches(&out, 300);
    drop(child);
    assert_eq!(totals(), expected);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_full_disk_during_a_checkpoint_leaves_the_previous_one_intact() {
    let dir = temp_dir("full-disk");
    // 4 batches of 5 words, then 100 batches of 100 new words each: the state outgrows the limit.
    let mut text = String::new();
    for _ in 0..40 {
        text += "w0 w1 w2 w3 w4\n";
    }
    for j in 0..1000 {
        let words: Vec<String> = (0..10)
            .map(|i| format!("unique-word-{:06}", j * 10 + i))
            .collect();
        text += &(words.join(" ") + "\n");
    }
    let input = dir.join("in.txt");
    std::fs::write(&input, text).unwrap();
    let cp = dir.join("cp");
    let args = |output: Option<&Path>| {
        let mut a = format!(
            "replay --job stateful-word-count --batch-lines 10 --checkpoint-every 2 --checkpoint '{}' '{}'",
            cp.display(),
            input.display()
        );
        if let Some(out) = output {
            a += &format!(" --output '{}/counts'", out.display());
        }
        a
    };
    // Files may not grow past 64 KiB (`ulimit -f` counts 512-byte blocks): writes beyond fail with
    // EFBIG, as they would with ENOSPC on a full disk. SIGXFSZ is ignored so the write fails
    // instead of the process being killed.
    let limited = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "trap '' XFSZ; ulimit -f 128; exec '{}' {}",
            env!("CARGO_BIN_EXE_dstreams"),
            args(None)
        ))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&limited.stderr);
    assert!(limited.status.success(), "{stderr}");
    assert!(stderr.contains("File too large"), "{stderr}");
    let left: Vec<String> = std::fs::read_dir(&cp)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    // Checkpoints and the directory's lock file, no temporaries.
    assert!(
        left.iter()
            .all(|n| n.starts_with("checkpoint-") || n == ".lock"),
        "{left:?}"
    );
    let newest = left
        .iter()
        .filter_map(|n| n.strip_prefix("checkpoint-")?.parse::<i64>().ok())
        .max()
        .expect("the early checkpoints were written");
    assert!(
        newest < 104_000,
        "a checkpoint past the limit was written: {newest}"
    );
    // Resumed without the limit from the last good checkpoint, the run ends with every word
    // counted once.
    let out = dir.join("out");
    let resumed = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "exec '{}' {}",
            env!("CARGO_BIN_EXE_dstreams"),
            args(Some(&out))
        ))
        .output()
        .unwrap();
    assert!(resumed.status.success());
    let saved = outputs(&out, "");
    assert_eq!(
        *saved.keys().next().unwrap(),
        newest + 1000,
        "resumed after {newest}"
    );
    let last = &saved[&104_000];
    assert_eq!(last.len(), 5 + 10_000);
    for line in last {
        let expected = if line.starts_with("(w") {
            ",40)"
        } else {
            ",1)"
        };
        assert!(line.ends_with(expected), "{line}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_finished_run_checkpoints_its_last_batch_and_a_restart_has_nothing_left() {
    let dir = temp_dir("finished");
    let cp = dir.join("cp").display().to_string();
    let run = || {
        let out = Command::new(env!("CARGO_BIN_EXE_dstreams"))
            .args([
                "replay",
                "--job",
                "stateful-word-count",
                "--checkpoint",
                &cp,
            ])
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/kjv.txt"))
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    // 4 batches of 10,000 lines: fewer than the default interval (10 batches), so only the
    // final checkpoint is written.
    assert!(run().starts_with("batches 4 "));
    assert!(
        run().starts_with("batches 0 "),
        "the restart resumed after the last batch"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Starts a stateful replay of the KJV repeated many times (checkpoint directory `cp`, or a
/// scratch one under `tmp` without it), sends `signal` once the first checkpoint (or scratch
/// directory) appears, and returns the exit status and standard output once it ended.
fn replay_stopped_by(signal: &str, cp: Option<&Path>, tmp: &Path) -> (Option<i32>, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dstreams"));
    command
        .args([
            "replay",
            "--job",
            "stateful-word-count",
            "--repeat",
            "10000",
        ])
        .env("TMPDIR", tmp)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    if let Some(cp) = cp {
        command.arg("--checkpoint").arg(cp);
    }
    let mut running = Running(
        command
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/kjv.txt"))
            .spawn()
            .unwrap(),
    );
    let holds = |dir: &Path, prefix: &str| {
        std::fs::read_dir(dir).is_ok_and(|d| {
            d.flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with(prefix))
        })
    };
    wait_for("the first checkpoint", || match cp {
        Some(cp) => holds(cp, "checkpoint-"),
        None => holds(tmp, "dstreams-replay-"),
    });
    let sent = Command::new("kill")
        .args([signal, &running.0.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let mut stdout = running.0.stdout.take().unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut text).unwrap();
    let mut status = None;
    wait_for("the replay to end", || {
        status = running.0.try_wait().unwrap();
        status.is_some()
    });
    (status.and_then(|s| s.code()), text)
}

#[test]
fn sigint_and_sigterm_stop_a_replay_after_its_batch_with_a_final_checkpoint_and_the_summary() {
    for (signal, code) in [("-INT", 130), ("-TERM", 143)] {
        let dir = temp_dir(&format!("signal{signal}"));
        let cp = dir.join("cp");
        let (status, out) = replay_stopped_by(signal, Some(&cp), &dir);
        assert_eq!(status, Some(code), "{out}");
        // The summary, and a final checkpoint of the last batch (1 s batches from 1000 ms).
        let batches: i64 = out
            .strip_prefix("batches ")
            .and_then(|r| r.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no summary: {out}"));
        assert!(
            cp.join(format!("checkpoint-{}", batches * 1000)).is_dir(),
            "no checkpoint of batch {batches}: {:?}",
            std::fs::read_dir(&cp)
                .unwrap()
                .flatten()
                .map(|e| e.file_name())
                .collect::<Vec<_>>()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn sigint_on_a_stateful_replay_without_a_checkpoint_directory_removes_its_scratch_one() {
    let dir = temp_dir("signal-scratch");
    let (status, out) = replay_stopped_by("-INT", None, &dir);
    assert_eq!(status, Some(130), "{out}");
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "{left:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_second_job_on_a_checkpoint_directory_in_use_is_refused_naming_the_holder() {
    let dir = temp_dir("locked");
    let cp = dir.join("cp");
    let kjv = concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/kjv.txt");
    let cp_arg = cp.to_str().unwrap();
    let out_a = dir.join("a").display().to_string();
    let long_job = [
        "replay",
        "--job",
        "stateful-word-count",
        "--repeat",
        "10000",
        "--checkpoint",
        cp_arg,
        "--output",
        &out_a,
        kjv,
    ];
    let newest_checkpoint = || {
        std::fs::read_dir(&cp)
            .map(|d| {
                d.flatten()
                    .filter_map(|e| {
                        let name = e.file_name().to_string_lossy().into_owned();
                        name.strip_prefix("checkpoint-")?.parse::<i64>().ok()
                    })
                    .max()
            })
            .ok()
            .flatten()
    };
    let first = dstreams(&long_job);
    // Its first checkpoint: by then it holds the lock, with its pid in the lock file.
    wait_for("the first job's first checkpoint", || {
        newest_checkpoint().is_some()
    });
    let second = Command::new(env!("CARGO_BIN_EXE_dstreams"))
        .args([
            "replay",
            "--job",
            "stateful-word-count",
            "--checkpoint",
            cp_arg,
        ])
        .args(["--output", dir.join("b").to_str().unwrap(), kjv])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "in use by another running job (process {})",
            first.0.id()
        )),
        "{err}"
    );
    let second_outputs = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("b-"))
        .count();
    assert_eq!(second_outputs, 0, "the refused job wrote outputs");
    // Once the holder is gone (killed: the lock goes with it), the same job resumes there and
    // checkpoints again.
    drop(first);
    let before = newest_checkpoint();
    let third = dstreams(&long_job);
    wait_for("the resumed job's next checkpoint", || {
        newest_checkpoint() > before
    });
    drop(third);
    std::fs::remove_dir_all(&dir).unwrap();
}
