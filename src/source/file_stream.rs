//! `text_file_stream`: new files in a directory become each batch's lines, with Spark's selection
//! rules (`FileInputDStream`, reference §2.1):
//!
//! - the directory is listed non-recursively; names starting with `.` are ignored (and so is
//!   anything a user filter rejects);
//! - a file is selected at batch time `t` iff its modification time is `> threshold` and `<= t`
//!   and it was not selected in a remembered batch, where
//!   `threshold = max(initial, t - remember)`, `initial` is the clock's time when the stream was
//!   created (`new_files_only`, the default) or 0, and `remember` is the minimum remember duration
//!   (60 s by default) rounded up to a multiple of the batch interval;
//! - files must be moved (renamed) into the directory complete: appends after a file was picked
//!   up are not read, and a file is never read twice.
//!
//! Files are **read, not mapped**: one copy from the page cache into an Arrow buffer, whose lines
//! are then views. A mapped file that another process truncates would kill the whole engine with
//! `SIGBUS`; Spark's rule says files must not change once moved in, but a crash is a worse
//! failure than a copy. Invalid UTF-8 fails the batch with [`Error::InvalidUtf8`] naming the file,
//! byte and line (or, with [`Utf8Policy::Replace`], is replaced by U+FFFD with a warning, as the
//! JVM's decoder does). A file that vanishes between listing and reading is skipped with a
//! warning and listed in the batch's input metadata under `"vanished"`.

use crate::context::{BatchContext, Input, StreamingContext};
use crate::data::Batch;
use crate::dstream::DStream;
use crate::error::{Error, Result};
use crate::lock::lock;
use crate::source::input::{described, input_stream};
use crate::source::lines::{LinesError, split_lines_partitioned};
use crate::time::{Duration, Time};
use arrow_buffer::Buffer;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::UNIX_EPOCH;

/// What to do with bytes that are not UTF-8.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Utf8Policy {
    /// Fail the batch with [`Error::InvalidUtf8`] (the default).
    #[default]
    Fail,
    /// Replace invalid sequences with U+FFFD and log a warning (what Spark's JVM decoder does
    /// silently).
    Replace,
}

/// Which files a file stream picks up.
#[derive(Clone)]
pub struct FileStreamConfig {
    /// Only files modified after the stream was created (Spark's `newFilesOnly`, default true).
    pub new_files_only: bool,
    /// How far back files are considered and remembered (Spark's
    /// `spark.streaming.fileStream.minRememberDuration`, 60 s).
    pub min_remember: Duration,
    /// Extra filter on paths (Spark's `filter`); dot-files are always ignored.
    pub filter: Option<Arc<dyn Fn(&Path) -> bool + Send + Sync>>,
    /// Invalid UTF-8 handling.
    pub utf8: Utf8Policy,
}

impl Default for FileStreamConfig {
    fn default() -> Self {
        FileStreamConfig {
            new_files_only: true,
            min_remember: Duration::seconds(60),
            filter: None,
            utf8: Utf8Policy::Fail,
        }
    }
}

struct FileStream {
    dir: PathBuf,
    config: FileStreamConfig,
    /// Files modified at or before this time (epoch ms) are ignored; restored from a checkpoint,
    /// so files that arrived while the program was down are still picked up.
    initial_threshold: AtomicI64,
    remember: Duration,
    /// Files selected per batch time, kept for the remember window.
    selected: Mutex<BTreeMap<Time, Vec<PathBuf>>>,
}

/// A file's modification time in epoch milliseconds.
fn modified_millis(meta: &std::fs::Metadata) -> Option<i64> {
    let t = meta.modified().ok()?;
    Some(match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i64,
        Err(e) => -(e.duration().as_millis() as i64),
    })
}

impl FileStream {
    /// The files to read at batch time `t`, sorted by name: the new ones, or, for a batch time
    /// already selected (a batch re-created after recovery), the same files again.
    fn select(&self, t: Time) -> Vec<PathBuf> {
        let threshold = self
            .initial_threshold
            .load(Ordering::SeqCst)
            .max((t - self.remember).as_millis());
        let mut selected = lock(&self.selected);
        if let Some(files) = selected.get(&t) {
            return files.clone();
        }
        selected.retain(|time, _| *time > t - self.remember);
        let recent: HashSet<&PathBuf> = selected.values().flatten().collect();
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                tracing::warn!("No directory to scan: {}", self.dir.display());
                return Vec::new();
            }
            Err(e) => {
                tracing::warn!("Error finding new files under {}: {e}", self.dir.display());
                return Vec::new();
            }
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok())
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
            .filter_map(|e| {
                let meta = e.metadata().ok()?;
                if !meta.is_file() {
                    return None;
                }
                let m = modified_millis(&meta)?;
                let path = e.path();
                (m > threshold && m <= t.as_millis() && !recent.contains(&path)).then_some(path)
            })
            .filter(|p| self.config.filter.as_ref().is_none_or(|f| f(p)))
            .collect();
        files.sort();
        drop(recent);
        selected.insert(t, files.clone());
        files
    }

    fn read(&self, path: &Path) -> Result<Option<Buffer>> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(format!("reading {}", path.display()), e)),
        };
        if bytes.is_empty() {
            tracing::warn!(
                "File {} has no data in it. Spark Streaming can only ingest files that have been \"moved\" to the directory assigned to the file stream. Refer to the streaming programming guide for more details.",
                path.display()
            );
        }
        let bytes = match (std::str::from_utf8(&bytes), self.config.utf8) {
            (Ok(_), _) => bytes,
            (Err(e), Utf8Policy::Fail) => {
                let offset = e.valid_up_to();
                return Err(Error::InvalidUtf8 {
                    source_name: path.display().to_string(),
                    offset,
                    line: bytes[..offset].iter().filter(|&&b| b == b'\n').count() + 1,
                });
            }
            (Err(_), Utf8Policy::Replace) => {
                tracing::warn!("{}: invalid UTF-8 replaced by U+FFFD", path.display());
                String::from_utf8_lossy(&bytes).into_owned().into_bytes()
            }
        };
        Ok(Some(Buffer::from_vec(bytes)))
    }

    fn batch(
        &self,
        t: Time,
        bctx: &BatchContext,
    ) -> Result<(Batch<String>, Vec<PathBuf>, Vec<PathBuf>)> {
        let files = self.select(t);
        let mut parts = Vec::new();
        let mut read = Vec::new();
        let mut vanished = Vec::new();
        let per_file = (bctx.parallelism() / files.len().max(1)).max(1);
        for path in files {
            match self.read(&path)? {
                None => {
                    tracing::warn!(
                        "{} vanished before it could be read; skipped",
                        path.display()
                    );
                    vanished.push(path);
                }
                Some(buffer) => {
                    let split =
                        split_lines_partitioned(&buffer, per_file).map_err(|e| match e {
                            LinesError::InvalidUtf8 { offset, line, .. } => Error::InvalidUtf8 {
                                source_name: path.display().to_string(),
                                offset,
                                line,
                            },
                            other => Error::Ingest {
                                source_name: path.display().to_string(),
                                message: other.to_string(),
                            },
                        })?;
                    parts.extend(split);
                    read.push(path);
                }
            }
        }
        let batch = if parts.is_empty() {
            Batch::empty()
        } else {
            Batch::from_partitions(parts)
        };
        Ok((batch, read, vanished))
    }
}

fn list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl StreamingContext {
    /// The lines of new text files moved into `dir` (Spark's `textFileStream`); see the module
    /// documentation for the selection rules.
    #[track_caller]
    pub fn text_file_stream(&self, dir: impl AsRef<Path>) -> DStream<String> {
        self.text_file_stream_with(dir, FileStreamConfig::default())
    }

    /// [`text_file_stream`](Self::text_file_stream) with Spark's `newFilesOnly`, remember window
    /// and filter, and a UTF-8 policy.
    #[track_caller]
    pub fn text_file_stream_with(
        &self,
        dir: impl AsRef<Path>,
        config: FileStreamConfig,
    ) -> DStream<String> {
        let b = self.batch_interval().as_millis();
        let min = match config.min_remember.usable("minimum remember duration") {
            Ok(d) => d.as_millis(),
            Err(e) => {
                self.refuse("text_file_stream_with", e);
                b
            }
        };
        let remember = Duration::millis(b * ((min + b - 1) / b));
        let initial_threshold = if config.new_files_only {
            self.clock().now().as_millis()
        } else {
            0
        };
        let stream = Arc::new(FileStream {
            dir: dir.as_ref().to_path_buf(),
            config,
            initial_threshold: AtomicI64::new(initial_threshold),
            remember,
            selected: Mutex::new(BTreeMap::new()),
        });
        let input = Arc::new(FileStreamInput(stream.clone()));
        input_stream(self, "FileInputDStream", input, move |t, bctx| {
            let (batch, read, vanished) = stream.batch(t, bctx)?;
            let mut metadata = described(format!("text files in {}", stream.dir.display()));
            metadata.insert("files".to_string(), list(&read));
            if !vanished.is_empty() {
                metadata.insert("vanished".to_string(), list(&vanished));
            }
            Ok((batch, metadata))
        })
    }
}

struct FileStreamInput(Arc<FileStream>);

/// A file stream never ends: it is never exhausted, so `stop_when_exhausted` leaves a context
/// with a file stream running. Its checkpoint (Spark's `FileInputDStreamCheckpointData`):
/// `threshold MS`, then `at T` for each remembered batch time followed by `file PATH` for each
/// file it selected.
impl Input for FileStreamInput {
    fn kind(&self) -> &'static str {
        "files"
    }

    fn save(&self, _since: Time, _upto: Time) -> Vec<String> {
        let threshold = self.0.initial_threshold.load(Ordering::SeqCst);
        let mut entries = vec![format!("threshold {threshold}")];
        for (t, files) in lock(&self.0.selected).iter() {
            entries.push(format!("at {}", t.as_millis()));
            entries.extend(files.iter().map(|f| format!("file {}", f.display())));
        }
        entries
    }

    fn restore(&self, entries: &[String]) -> Result<()> {
        let bad =
            |e: &str| Error::corrupt_checkpoint(format!("file stream entry {e:?} is malformed"));
        let mut selected: BTreeMap<Time, Vec<PathBuf>> = BTreeMap::new();
        let mut current = None;
        for e in entries {
            if let Some(ms) = e.strip_prefix("threshold ") {
                let ms = ms.parse().map_err(|_| bad(e))?;
                self.0.initial_threshold.store(ms, Ordering::SeqCst);
            } else if let Some(ms) = e.strip_prefix("at ") {
                let t = Time::from_millis(ms.parse().map_err(|_| bad(e))?);
                selected.insert(t, Vec::new());
                current = Some(t);
            } else if let Some(path) = e.strip_prefix("file ") {
                let t = current.ok_or_else(|| bad(e))?;
                selected.entry(t).or_default().push(PathBuf::from(path));
            } else {
                return Err(bad(e));
            }
        }
        *lock(&self.0.selected) = selected;
        Ok(())
    }
}
