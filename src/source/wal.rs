//! The receiver write-ahead log (Spark's `spark.streaming.receiver.writeAheadLog.enable`), turned
//! on per receiver stream by [`ReceiverConfig::write_ahead_log`](super::ReceiverConfig).
//!
//! When a receiver's batch at time `t` is sealed, its bytes are written to
//! `<checkpoint dir>/received/<input id>/<t ms>.log` before any of its lines reach the graph, with
//! [`durable::write_file`] (a hidden temporary file, synced, renamed into place, the directory
//! synced). A
//! batch that received nothing writes an empty file, so "nothing arrived for `t`" is recorded
//! too. The in-memory batch still consists of views into the sealed segments; the log is one
//! extra sequential write per batch.
//!
//! After a restart from a checkpoint ([`StreamingContext::get_or_create`]), every batch time with
//! a log file is re-created from its file instead of sealing live data: the batches after the
//! checkpoint, which run again, and the older ones a window rebuilding its panes asks for. The
//! first batch time after the newest of the checkpoint and the log files takes the live data,
//! including whatever the restarted receiver stored while those batches were being re-created.
//! A batch time at or before that point without a log file (written before the log was turned
//! on, or removed) is re-created empty, with a warning. Once a checkpoint is written, log files
//! of batches no kept checkpoint needs any more are removed (Spark cleans its log after each
//! checkpoint too).
//!
//! What is covered, and what is not:
//!
//! - **Covered**: every line that was sealed into a batch, across a crash of the process
//!   (`SIGKILL`, a panic that aborts) and of the machine (power loss): the file and its name are
//!   synced before the batch's lines are handed to the graph. With a checkpoint to restart from,
//!   every such batch is either done (at or before the checkpoint) or re-created with the same
//!   lines, so outputs that replace their results per batch (`save_as_text_files`) hold every
//!   sealed line exactly once.
//! - **Not covered**: lines a receiver stored but that were not yet sealed (they arrived after
//!   the last batch time) when the process died, as Spark loses the block it is building; data
//!   the source sent that the receiver had not read; and everything received before the first
//!   checkpoint of a run that died without one (a restart without a checkpoint is a fresh start
//!   on a new timeline, and its log files are removed). A source that can resend (a reliable
//!   receiver acknowledging only sealed data) is not modelled here.
//! - A log file that cannot be written fails its batch with [`Error::WriteAheadLog`] naming the
//!   file; the batch's lines are kept and go to the next batch whose log file is written.
//!
//! [`StreamingContext::get_or_create`]: crate::StreamingContext::get_or_create

use crate::durable::{self, DurableWriteError};
use crate::error::{Error, Result};
use crate::source::lines::MAX_BLOCK_LEN;
use crate::time::Time;
use arrow_buffer::Buffer;
use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The directory under the checkpoint directory that holds the receivers' logs.
pub(crate) const RECEIVED: &str = "received";

/// Where the lines of a batch time come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// From its log file.
    Logged,
    /// From nowhere: the time was handed out already (or lies before the checkpoint the context
    /// resumed from) and has no log file; live data must not go into it.
    Missing,
    /// From the live data: a new batch.
    New,
}

/// One receiver's write-ahead log.
#[derive(Debug)]
pub(crate) struct WriteAheadLog {
    dir: PathBuf,
    /// Batch times with a log file in `dir`.
    logged: BTreeSet<Time>,
    /// The newest batch time handed out (or resumed from): times at or before it never take live
    /// data.
    newest: Option<Time>,
    /// Sealed bytes whose log file could not be written; they go to the next batch.
    unlogged: Vec<Buffer>,
}

fn error(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Error + use<> {
    let path = path.to_path_buf();
    move |source| Error::WriteAheadLog {
        action,
        path,
        source,
    }
}

fn durable_error(e: DurableWriteError) -> Error {
    Error::WriteAheadLog {
        action: e.action,
        path: e.path,
        source: e.source,
    }
}

/// The name of the log file of the batch at `t`: `<t ms>.log`.
pub(crate) fn file_name(t: Time) -> String {
    format!("{}.log", t.as_millis())
}

/// The batch time a log file's name stands for (see [`file_name`]).
pub(crate) fn logged_time(name: &str) -> Option<Time> {
    let ms = name.strip_suffix(".log")?.parse::<i64>().ok()?;
    Some(Time::from_millis(ms))
}

impl WriteAheadLog {
    /// Opens the log in `dir`, creating it (and syncing its parents, so it survives a machine
    /// crash). `restored` is the time of the checkpoint the context resumes from: then every log
    /// file is kept to re-create its batch, and no batch up to the newest of the checkpoint and
    /// the files takes live data. Without a checkpoint (a fresh start on a new timeline) the
    /// files an earlier run left behind can re-create nothing and are removed.
    pub(crate) fn open(dir: &Path, restored: Option<Time>) -> Result<Self> {
        fs::create_dir_all(dir).map_err(error("creating", dir))?;
        let mut parent = dir.parent();
        for _ in 0..2 {
            if let Some(p) = parent.filter(|p| !p.as_os_str().is_empty()) {
                durable::sync_dir(p).map_err(durable_error)?;
                parent = p.parent();
            }
        }
        let mut logged = BTreeSet::new();
        for entry in fs::read_dir(dir).map_err(error("listing", dir))? {
            let entry = entry.map_err(error("listing", dir))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if durable::is_temporary(&name) {
                // A write interrupted before its rename: its batch was never handed out.
                fs::remove_file(entry.path()).map_err(error("removing", &entry.path()))?;
            } else if let Some(t) = logged_time(&name) {
                logged.insert(t);
            }
        }
        let mut log = WriteAheadLog {
            dir: dir.to_path_buf(),
            logged,
            newest: restored,
            unlogged: Vec::new(),
        };
        match restored {
            Some(_) => log.newest = log.newest.max(log.logged.last().copied()),
            None if !log.logged.is_empty() => {
                tracing::warn!(
                    "removing {} receiver write-ahead log file(s) in {}: no checkpoint to resume from, so nothing can re-create their batches",
                    log.logged.len(),
                    dir.display()
                );
                if let Some(&last) = log.logged.last() {
                    log.remove_through(last);
                }
            }
            None => {}
        }
        Ok(log)
    }

    fn file(&self, t: Time) -> PathBuf {
        self.dir.join(file_name(t))
    }

    /// Where the lines of the batch at `t` come from.
    pub(crate) fn lookup(&self, t: Time) -> Lookup {
        if self.logged.contains(&t) {
            Lookup::Logged
        } else if self.newest.is_some_and(|n| t <= n) {
            Lookup::Missing
        } else {
            Lookup::New
        }
    }

    /// The logged bytes of the batch at `t`, cut at line ends into pieces that line views can
    /// address.
    pub(crate) fn read(&self, t: Time) -> Result<Vec<Buffer>> {
        let path = self.file(t);
        let bytes = crate::durable::read_regular(&path).map_err(error("reading", &path))?;
        Ok(logged_batch(bytes))
    }

    /// Logs the batch at `t`: the bytes a failed write left, then `sealed`. Returns the batch's
    /// buffers once the file is durable; on failure keeps them for the next batch.
    pub(crate) fn write(&mut self, t: Time, sealed: Vec<Buffer>) -> Result<Vec<Buffer>> {
        let mut buffers = std::mem::take(&mut self.unlogged);
        buffers.extend(sealed);
        let written = durable::write_file(&self.file(t), |file| {
            for (i, b) in buffers.iter().enumerate() {
                file.write_all(b.as_slice())?;
                // Only a stream's very last line may lack its `\n`; keep lines apart anyway.
                if i + 1 < buffers.len() && !b.is_empty() && !b.as_slice().ends_with(b"\n") {
                    file.write_all(b"\n")?;
                }
            }
            Ok(())
        });
        match written {
            Ok(()) => {
                self.logged.insert(t);
                self.newest = self.newest.max(Some(t));
                Ok(buffers)
            }
            Err(e) => {
                self.unlogged = buffers;
                Err(durable_error(e))
            }
        }
    }

    /// Whether sealed bytes wait for a log file that could not be written yet.
    pub(crate) fn has_unlogged(&self) -> bool {
        self.unlogged.iter().any(|b| !b.is_empty())
    }

    /// Removes the log files of batches at or before `t` (a failure is logged: the file is
    /// removed again after the next checkpoint).
    pub(crate) fn remove_through(&mut self, t: Time) {
        let old: Vec<Time> = self.logged.range(..=t).copied().collect();
        for time in old {
            let path = self.file(time);
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(
                        "could not remove receiver write-ahead log file {}: {e}",
                        path.display()
                    );
                    continue;
                }
            }
            self.logged.remove(&time);
        }
    }
}

/// A log file's bytes as its batch's buffers: cut at line ends into pieces that line views can
/// address.
pub(crate) fn logged_batch(bytes: Vec<u8>) -> Vec<Buffer> {
    cut_at_lines(Buffer::from_vec(bytes), MAX_BLOCK_LEN)
}

/// `buffer` cut after line ends into pieces of at most `max` bytes; none if it is empty. (A line
/// longer than `max` would be cut at `max`; receivers' lines are shorter than a segment.)
pub(crate) fn cut_at_lines(buffer: Buffer, max: usize) -> Vec<Buffer> {
    let bytes = buffer.as_slice();
    let mut pieces = Vec::new();
    let mut start = 0;
    while bytes.len() - start > max {
        let end = bytes[start..start + max]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(start + max, |i| start + i + 1);
        pieces.push(buffer.slice_with_length(start, end - start));
        start = end;
    }
    if start < bytes.len() {
        pieces.push(buffer.slice_with_length(start, bytes.len() - start));
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("dstreams-wal-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    fn text(buffers: &[Buffer]) -> String {
        buffers
            .iter()
            .map(|b| std::str::from_utf8(b.as_slice()).unwrap())
            .collect()
    }

    fn at(ms: i64) -> Time {
        Time::from_millis(ms)
    }

    fn buffers(parts: &[&str]) -> Vec<Buffer> {
        parts
            .iter()
            .map(|p| Buffer::from_vec(p.as_bytes().to_vec()))
            .collect()
    }

    fn names(dir: &Path) -> BTreeSet<String> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn batches_are_written_and_read_back_with_empty_ones_recorded() {
        let dir = temp_dir("roundtrip").join(RECEIVED).join("input-0");
        let mut log = WriteAheadLog::open(&dir, None).unwrap();
        assert_eq!(log.lookup(at(1000)), Lookup::New);
        let out = log
            .write(at(1000), buffers(&["a b\nc\n", "d\n", "last"]))
            .unwrap();
        assert_eq!(text(&out), "a b\nc\nd\nlast");
        log.write(at(2000), Vec::new()).unwrap();
        assert_eq!(
            names(&dir),
            BTreeSet::from(["1000.log".to_string(), "2000.log".to_string()])
        );
        assert_eq!(log.lookup(at(1000)), Lookup::Logged);
        assert_eq!(log.lookup(at(1500)), Lookup::Missing);
        assert_eq!(log.lookup(at(3000)), Lookup::New);
        assert_eq!(text(&log.read(at(1000)).unwrap()), "a b\nc\nd\nlast");
        assert!(log.read(at(2000)).unwrap().is_empty());

        // A restart from the checkpoint of batch 1000: both files re-create their batches and
        // nothing up to 2000 takes live data; an interrupted write is cleaned up.
        fs::write(dir.join(".3000.log.tmp"), "torn").unwrap();
        let log = WriteAheadLog::open(&dir, Some(at(1000))).unwrap();
        assert_eq!(log.lookup(at(1000)), Lookup::Logged);
        assert_eq!(log.lookup(at(2000)), Lookup::Logged);
        assert_eq!(log.lookup(at(500)), Lookup::Missing);
        assert_eq!(log.lookup(at(3000)), Lookup::New);
        assert_eq!(text(&log.read(at(1000)).unwrap()), "a b\nc\nd\nlast");
        assert!(!names(&dir).contains(".3000.log.tmp"));

        // A fresh start: the files can re-create nothing and are removed.
        let log = WriteAheadLog::open(&dir, None).unwrap();
        assert_eq!(log.lookup(at(1000)), Lookup::New);
        assert!(names(&dir).is_empty());
        fs::remove_dir_all(dir.parent().unwrap().parent().unwrap()).unwrap();
    }

    #[test]
    fn a_restart_without_log_files_keeps_old_times_out_of_live_data() {
        let dir = temp_dir("no-files");
        let log = WriteAheadLog::open(&dir, Some(at(5000))).unwrap();
        assert_eq!(log.lookup(at(4000)), Lookup::Missing);
        assert_eq!(log.lookup(at(5000)), Lookup::Missing);
        assert_eq!(log.lookup(at(6000)), Lookup::New);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn files_at_or_before_a_time_are_removed() {
        let dir = temp_dir("clean");
        let mut log = WriteAheadLog::open(&dir, None).unwrap();
        for t in 1..=5 {
            log.write(at(t * 1000), buffers(&[&format!("line {t}\n")]))
                .unwrap();
        }
        log.remove_through(at(3000));
        assert_eq!(
            names(&dir),
            BTreeSet::from(["4000.log".to_string(), "5000.log".to_string()])
        );
        // Removed batches are not taken from live data either.
        assert_eq!(log.lookup(at(2000)), Lookup::Missing);
        assert_eq!(log.lookup(at(4000)), Lookup::Logged);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_write_names_the_file_and_keeps_the_lines_for_the_next_batch() {
        let dir = temp_dir("fail");
        let mut log = WriteAheadLog::open(&dir, None).unwrap();
        // The directory vanishes and a file takes its name: every write fails.
        fs::remove_dir_all(&dir).unwrap();
        fs::write(&dir, "not a directory").unwrap();
        let err = log.write(at(1000), buffers(&["kept\n"])).unwrap_err();
        match &err {
            Error::WriteAheadLog { path, .. } => assert_eq!(path, &dir.join("1000.log")),
            other => panic!("unexpected error {other}"),
        }
        assert!(err.to_string().contains("1000.log"), "{err}");
        assert!(log.has_unlogged());
        assert_eq!(log.lookup(at(1000)), Lookup::New);
        fs::remove_file(&dir).unwrap();
        fs::create_dir(&dir).unwrap();
        let out = log.write(at(2000), buffers(&["next\n"])).unwrap();
        assert_eq!(text(&out), "kept\nnext\n");
        assert!(!log.has_unlogged());
        assert_eq!(text(&log.read(at(2000)).unwrap()), "kept\nnext\n");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn big_files_are_cut_after_line_ends() {
        let b = Buffer::from_vec(b"aaa\nbb\ncccc\nd".to_vec());
        let pieces: Vec<String> = cut_at_lines(b.clone(), 8)
            .iter()
            .map(|p| String::from_utf8(p.as_slice().to_vec()).unwrap())
            .collect();
        assert_eq!(pieces, ["aaa\nbb\n", "cccc\nd"]);
        assert_eq!(cut_at_lines(b, 100).len(), 1);
        assert!(cut_at_lines(Buffer::from_vec(Vec::<u8>::new()), 8).is_empty());
    }
}
