//! Fault injection on whole `dstreams` processes: a disk that fills up under the outputs, a
//! checkpoint directory that turns read-only part way. Each fault must end in a clear error or
//! the documented policy (RELIABILITY.md), never a panic or a hang, and a restart must leave
//! outputs equal to a run without the fault: nothing lost, nothing counted twice.
//!
//! The faulty directory is a small tmpfs mounted over it in a mount namespace of the job's own
//! (`unshare --user --map-root-user --mount`, util-linux): the job sees a real `ENOSPC` or
//! `EROFS` there and the test's file system everywhere else. The tmpfs goes away with the
//! namespace, so its content is copied out when the job has ended.
#![cfg(target_os = "linux")]

mod common;

use arrow_cast::display::{ArrayFormatter, FormatOptions};
use common::kafka::{Broker, produce_lines};
use common::process::{TestDir, dstreams, wait_for, wait_for_later_batches, word_totals};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

const KJV: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/kjv.txt");

/// The shell half of [`faulty`]: mounts the tmpfs, runs the job, optionally turns the directory
/// read-only once `marker` appears in it (the job stopped meanwhile, so that the change falls
/// between two of its writes), waits for the job, copies the tmpfs's content out.
const FAULTY: &str = r#"
set -u
dir=$1 kib=$2 marker=$3 kept=$4
shift 4
mount -t tmpfs -o "size=${kib}k" tmpfs "$dir" || exit 90
# Bounded: a job the fault did not stop is killed (exit 137) rather than hanging the test.
timeout -s KILL 120 "$@" &
job=$!
if [ -n "$marker" ]; then
    until ls "$dir" | grep -q "$marker" || ! kill -0 "$job" 2>/dev/null; do sleep 0.002; done
    kill -STOP "$job"
    # A read-only bind mount on top: files the job holds open stay writable (as after a
    # remount that failed them), every path opened from now on is read-only.
    mount --bind "$dir" "$dir" && mount -o remount,bind,ro "$dir" || exit 91
    kill -CONT "$job"
fi
wait "$job"
status=$?
cp -a "$dir/." "$kept/" || exit 92
exit "$status"
"#;

/// Runs `dstreams args` with a tmpfs of `kib` KiB over `dir`, turned read-only once an entry
/// whose name contains `read_only_after` appears in it (if given); what the tmpfs held at the end
/// is copied into `kept`.
fn faulty(
    dir: &Path,
    kib: u64,
    read_only_after: Option<&str>,
    kept: &Path,
    args: &[String],
) -> Output {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::create_dir_all(kept).unwrap();
    let out = Command::new("unshare")
        .args([
            "--user",
            "--map-root-user",
            "--mount",
            "sh",
            "-c",
            FAULTY,
            "sh",
        ])
        .arg(dir)
        .arg(kib.to_string())
        .arg(read_only_after.unwrap_or(""))
        .arg(kept)
        .arg(env!("CARGO_BIN_EXE_dstreams"))
        .args(args)
        .output()
        .expect("running unshare (util-linux)");
    let code = out.status.code();
    assert!(
        !matches!(code, Some(90..=92)),
        "the fault could not be set up (exit {code:?}): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `replay --checkpoint CP --output OUT/counts JOB...`: the job of a test, saving under `out`.
fn replay(cp: &Path, out: &Path, job: &[&str]) -> Vec<String> {
    let prefix = out.join("counts");
    let mut args = vec!["replay", "--checkpoint", cp.to_str().unwrap()];
    args.extend(["--output", prefix.to_str().unwrap()]);
    args.extend(job);
    args.into_iter().map(String::from).collect()
}

/// Runs `dstreams args` to its end; its output.
fn run(args: &[String]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dstreams"))
        .args(args)
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Names of the entries of `dir`.
fn names(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// The rows of one part file as Spark's text lines `(word,count)`: a text part as it is, a
/// Parquet part (`--output-format parquet`) decoded.
fn part_lines(path: &Path) -> Vec<String> {
    if path.extension().is_some_and(|e| e == "parquet") {
        let file = std::fs::File::open(path).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
        let mut lines = Vec::new();
        for batch in reader.build().unwrap() {
            let batch = batch.unwrap();
            let options = FormatOptions::default();
            let columns: Vec<ArrayFormatter> = batch
                .columns()
                .iter()
                .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap())
                .collect();
            for row in 0..batch.num_rows() {
                let cells: Vec<String> = columns.iter().map(|c| c.value(row).to_string()).collect();
                lines.push(format!("({})", cells.join(",")));
            }
        }
        return lines;
    }
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

/// Every completed output directory under `dir` (`counts-<ms>`, `counts-<ms>.state`,
/// `counts-<ms>.window`, with `_SUCCESS`), by suffix and batch time: its rows, sorted.
fn saved(dir: &Path) -> BTreeMap<(&'static str, i64), Vec<String>> {
    let mut found = BTreeMap::new();
    for name in names(dir) {
        let Some(rest) = name.strip_prefix("counts-") else {
            continue;
        };
        let (ms, suffix) = match rest.split_once('.') {
            Some((ms, "state")) => (ms, ".state"),
            Some((ms, "window")) => (ms, ".window"),
            Some(_) => continue,
            None => (rest, ""),
        };
        let batch = dir.join(&name);
        if !batch.join("_SUCCESS").exists() {
            continue;
        }
        let mut lines: Vec<String> = names(&batch)
            .into_iter()
            .filter(|n| n.starts_with("part-"))
            .flat_map(|n| part_lines(&batch.join(n)))
            .collect();
        lines.sort();
        found.insert((suffix, ms.parse().unwrap()), lines);
    }
    found
}

/// The outputs of a replay of the corpus without any fault: what every faulty run must end with.
fn uninterrupted(dir: &Path, args: &[&str]) -> BTreeMap<(&'static str, i64), Vec<String>> {
    let (cp, out) = (dir.join("clean-cp"), dir.join("clean-out"));
    let done = run(&replay(&cp, &out, args));
    assert!(done.status.success(), "{}", stderr(&done));
    saved(&out)
}

#[test]
fn a_full_disk_under_the_outputs_fails_the_job_naming_the_file_and_a_restart_resumes_exactly() {
    full_disk_under_the_outputs("text", 300);
}

#[test]
fn a_full_disk_under_parquet_outputs_fails_the_job_naming_the_file_and_a_restart_resumes_exactly() {
    full_disk_under_the_outputs("parquet", 200);
}

/// Replays the corpus's running counts saved in `format` into a tmpfs of `kib` KiB, which fills
/// up after a few batches (the running counts of a batch take 40-150 KB as text).
fn full_disk_under_the_outputs(format: &str, kib: u64) {
    let dir = TestDir::new("faults", &format!("full-{format}-outputs"));
    let job = [
        "--job",
        "stateful-word-count",
        "--batch-lines",
        "2000",
        "--checkpoint-every",
        "1",
        "--output-format",
        format,
        KJV,
    ];
    let expected = uninterrupted(&dir, &job);
    assert_eq!(expected.len(), 16, "{:?}", expected.keys());

    let (cp, out, kept) = (dir.join("cp"), dir.join("out"), dir.join("kept"));
    let args = replay(&cp, &out, &job);
    let failed = faulty(&out, kib, None, &kept, &args);
    let text = stderr(&failed);
    assert_eq!(failed.status.code(), Some(1), "{text}");
    assert!(
        text.contains("No space left on device") && text.contains(&*out.to_string_lossy()),
        "the error names the full disk and the file: {text}"
    );
    assert!(!text.contains("panicked"), "{text}");
    // Whole batches only, no temporaries: each saved batch is what the clean run saved.
    assert!(
        names(&kept).iter().all(|n| n.starts_with("counts-")),
        "{:?}",
        names(&kept)
    );
    let before = saved(&kept);
    assert!(!before.is_empty() && before.len() < 16, "{before:?}");
    for (t, lines) in &before {
        assert!(Some(lines) == expected.get(t), "batch {t:?} differs");
    }

    // Given room again, the same command resumes from its checkpoint and ends with the outputs
    // of the run that never failed.
    std::fs::rename(&kept, &out).unwrap();
    let resumed = run(&args);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert_same(&saved(&out), &expected);
}

/// `saved` with batch times made relative to `origin`: a paced replay's batch times are
/// wall-clock times, different in every run.
fn relative(
    saved: BTreeMap<(&'static str, i64), Vec<String>>,
    origin: i64,
) -> BTreeMap<(&'static str, i64), Vec<String>> {
    saved
        .into_iter()
        .map(|((suffix, t), lines)| ((suffix, t - origin), lines))
        .collect()
}

/// The earliest batch time in `saved`.
fn first_time(saved: &BTreeMap<(&'static str, i64), Vec<String>>) -> i64 {
    saved.keys().map(|k| k.1).min().expect("some outputs")
}

/// Fails naming the batches that differ, not printing whole outputs.
fn assert_same(
    got: &BTreeMap<(&'static str, i64), Vec<String>>,
    expected: &BTreeMap<(&'static str, i64), Vec<String>>,
) {
    let differ: Vec<_> = got
        .keys()
        .chain(expected.keys())
        .filter(|k| got.get(k) != expected.get(k))
        .collect();
    assert!(differ.is_empty(), "batches that differ: {differ:?}");
}

#[test]
fn a_checkpoint_directory_turned_read_only_mid_run_fails_its_checkpoints_not_the_job() {
    let dir = TestDir::new("faults", "read-only-checkpoints");
    // 63 batches of 500 lines, paced at 25,000 lines a second (20 ms a batch, 1.3 s): the
    // directory turns read-only after the first checkpoint, with most of the run still to go.
    let job = [
        "--job",
        "stateful-windowed-word-count",
        "--window",
        "4",
        "--batch-lines",
        "500",
        "--checkpoint-every",
        "2",
        "--rate",
        "25000",
        "--no-ui",
        KJV,
    ];
    let clean = uninterrupted(&dir, &job);
    let expected = relative(clean.clone(), first_time(&clean));
    let (cp, out, kept) = (dir.join("cp"), dir.join("out"), dir.join("kept-cp"));
    let args = replay(&cp, &out, &job);
    let done = faulty(&cp, 64 << 10, Some("checkpoint-"), &kept, &args);
    let text = stderr(&done);
    // The job goes on: every batch's outputs are written, and each checkpoint that could not be
    // written is a warning naming the directory.
    assert!(done.status.success(), "{text}");
    assert!(text.contains("Read-only file system"), "{text}");
    assert!(!text.contains("panicked"), "{text}");
    let faulty_run = saved(&out);
    let origin = first_time(&faulty_run);
    assert_same(&relative(faulty_run, origin), &expected);
    // The checkpoints written before are intact: a restart from them ends with the same outputs.
    let written: Vec<String> = names(&kept)
        .into_iter()
        .filter(|n| n.starts_with("checkpoint-"))
        .collect();
    assert!(!written.is_empty() && written.len() < 31, "{written:?}");
    std::fs::remove_dir_all(&out).unwrap();
    let resumed = run(&replay(&kept, &out, &job));
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    let redone = relative(saved(&out), origin);
    assert!(!redone.is_empty());
    let redone_expected: BTreeMap<_, _> = expected
        .iter()
        .filter(|(k, _)| redone.contains_key(k))
        .map(|(k, v)| (*k, v.clone()))
        .collect();
    assert_same(&redone, &redone_expected);
    let last = |m: &BTreeMap<(&str, i64), Vec<String>>| m.keys().map(|k| k.1).max();
    assert_eq!(last(&redone), last(&expected));
}

#[test]
fn a_full_disk_under_the_kafka_range_log_fails_the_batch_and_a_restart_counts_every_record_once() {
    let Some(broker) = Broker::start() else {
        return;
    };
    let dir = TestDir::new("faults", "full-range-log");
    let lines: Vec<String> = (0..3000)
        .map(|i| format!("w{} w{}", i % 7, i % 11))
        .collect();
    let mut expected: BTreeMap<String, i64> = BTreeMap::new();
    for word in lines.iter().flat_map(|l| l.split(' ')) {
        *expected.entry(word.to_string()).or_default() += 1;
    }
    produce_lines(&broker, &dir, &lines, 2, 100);
    let (cp, out, kept) = (dir.join("cp"), dir.join("out"), dir.join("kept-cp"));
    let prefix = format!("{}/counts", out.display());
    // 2 partitions x 200 records a second, a batch every 100 ms: 40 records a batch, 75 batches.
    let job = |cp: &Path| -> Vec<String> {
        [
            "run",
            "--no-ui",
            "kafka-word-count",
            broker.addr(),
            "lines",
            "--from-beginning",
            "--interval",
            "100ms",
            "--max-rate-per-partition",
            "200",
            "--checkpoint",
            cp.to_str().unwrap(),
            "--output",
            &prefix,
        ]
        .map(String::from)
        .to_vec()
    };
    // 16 KiB: a few files' pages. Checkpoints that do not fit are warnings (nothing prunes the
    // range files then); the first range file that does not fit fails its batch and the job.
    let failed = faulty(&cp, 16, None, &kept, &job(&cp));
    let text = stderr(&failed);
    assert_eq!(failed.status.code(), Some(1), "{text}");
    assert!(
        text.contains("No space left on device") && text.contains(".ranges"),
        "the error names the full disk and the range file: {text}"
    );
    assert!(!text.contains("panicked"), "{text}");
    let counted_before = word_totals(&out).values().sum::<i64>();
    assert!(
        counted_before < 6000,
        "the fault came too late: {counted_before}"
    );

    // Given room, the job resumes from what the full directory held: every word counted once.
    let args = job(&kept);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let resumed = dstreams(&args);
    let all = expected.values().sum::<i64>();
    wait_for("every word to be counted", || {
        word_totals(&out).values().sum::<i64>() >= all
    });
    wait_for_later_batches(&out, 300);
    drop(resumed);
    assert_eq!(word_totals(&out), expected);
}
