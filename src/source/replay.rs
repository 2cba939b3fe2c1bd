//! Replay of recorded text: one or more files cut into batches by lines or by bytes (at line
//! ends), each batch a set of views into the files' bytes. Finite: the stream is exhausted after
//! its last batch, so a context built with `stop_when_exhausted` ends by itself.

use crate::context::{Input, StreamingContext};
use crate::data::Batch;
use crate::dstream::DStream;
use crate::error::{Error, Result};
use crate::lock::lock;
use crate::source::input::{described, input_stream};
use crate::source::lines::{LinesError, split_lines_partitioned};
use crate::source::mapped_file::map_file;
use crate::time::Time;
use arrow_buffer::Buffer;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// How a replay cuts its input into batches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplayCut {
    /// Batch `k` holds lines `[k*n, (k+1)*n)` of the concatenated files.
    Lines(usize),
    /// Batch `k` holds about `n` bytes: it ends at the first line end at or after `n` bytes.
    Bytes(usize),
    /// Batch `k` is file `k`, whole (one file = one batch, as benchmark inputs are laid out).
    PerFile,
}

/// The bytes of the files to replay, in order.
pub struct ReplayData {
    files: Vec<ReplayFile>,
}

/// One file to replay.
#[derive(Clone)]
struct ReplayFile {
    path: PathBuf,
    bytes: Buffer,
    /// Whether `bytes` maps the file: a batch then first checks that the file has not shrunk
    /// (reading a mapped page past a file's new end raises SIGBUS).
    mapped: bool,
}

impl ReplayData {
    /// Reads the files into memory (one copy, safe whatever happens to the files later).
    pub fn read(paths: &[impl AsRef<Path>]) -> Result<Self> {
        let files = paths
            .iter()
            .map(|p| {
                let p = p.as_ref();
                let bytes = std::fs::read(p)
                    .map_err(|e| Error::io(format!("reading {}", p.display()), e))?;
                Ok(ReplayFile {
                    path: p.to_path_buf(),
                    bytes: Buffer::from_vec(bytes),
                    mapped: false,
                })
            })
            .collect::<Result<_>>()?;
        Ok(ReplayData { files })
    }

    /// Maps the files read-only: batches are views into the page cache, no byte is copied.
    ///
    /// # Safety
    ///
    /// The files must not be modified or truncated while any batch of the replay is alive:
    /// a mapped file that changes breaks the immutability Arrow buffers promise, and reading a
    /// truncated page raises `SIGBUS`.
    pub unsafe fn map(paths: &[impl AsRef<Path>]) -> Result<Self> {
        let files = paths
            .iter()
            .map(|p| {
                let p = p.as_ref();
                // `map_file` reads a file whose size says 0 (a `/proc` file) instead of mapping it.
                let mapped = std::fs::metadata(p).is_ok_and(|m| m.len() > 0);
                // SAFETY: the caller guarantees the files stay unchanged (this function's contract).
                let buffer = unsafe { map_file(p) }.map_err(|e| Error::Ingest {
                    source_name: p.display().to_string(),
                    message: e.to_string(),
                })?;
                Ok(ReplayFile {
                    path: p.to_path_buf(),
                    bytes: buffer,
                    mapped,
                })
            })
            .collect::<Result<_>>()?;
        Ok(ReplayData { files })
    }

    /// The files `times` times over, one after the other (their bytes shared, not copied):
    /// a small corpus replayed long enough for steady-state figures.
    ///
    /// ```
    /// use dstreams::source::ReplayData;
    /// # let path = std::env::temp_dir().join(format!("repeat-doc-{}", std::process::id()));
    /// std::fs::write(&path, "a b\nc\n").unwrap();
    /// let data = ReplayData::read(&[&path])?.repeat(3);
    /// assert_eq!(data.len(), 18);
    /// # std::fs::remove_file(&path).unwrap();
    /// # Ok::<(), dstreams::Error>(())
    /// ```
    pub fn repeat(self, times: usize) -> Self {
        let files = self.files;
        ReplayData {
            files: (0..times).flat_map(|_| files.iter().cloned()).collect(),
        }
    }

    /// Total bytes.
    pub fn len(&self) -> usize {
        self.files.iter().map(|f| f.bytes.len()).sum()
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Where the replay stands: the file, the byte offset in it, and lines before that offset.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Position {
    file: usize,
    offset: usize,
    line: usize,
}

struct Replay {
    data: ReplayData,
    cut: ReplayCut,
    /// Where the next batch starts.
    position: Mutex<Position>,
    /// Where each recent batch started, so it can be re-created after recovery.
    started: Mutex<BTreeMap<Time, Position>>,
}

/// Offset just past the `n`-th `\n` of `bytes` (or the end, if there are fewer), and how many
/// lines that is (an unterminated last line counts as one).
fn after_lines(bytes: &[u8], n: usize) -> (usize, usize) {
    let mut left = n;
    let mut base = 0;
    for chunk in bytes.chunks(4096) {
        let count = chunk.iter().filter(|&&b| b == b'\n').count();
        if count < left {
            left -= count;
            base += chunk.len();
            continue;
        }
        for (i, &b) in chunk.iter().enumerate() {
            if b == b'\n' {
                left -= 1;
                if left == 0 {
                    return (base + i + 1, n);
                }
            }
        }
    }
    let tail_line = usize::from(bytes.last().is_some_and(|&b| b != b'\n'));
    (bytes.len(), n - left + tail_line)
}

/// Offset just past the first `\n` at or after `at` (or the end).
fn line_end_from(bytes: &[u8], at: usize) -> usize {
    if at >= bytes.len() {
        return bytes.len();
    }
    match bytes[at..].iter().position(|&b| b == b'\n') {
        Some(i) => at + i + 1,
        None => bytes.len(),
    }
}

impl Replay {
    fn exhausted(&self) -> bool {
        let p = *lock(&self.position);
        p.file >= self.data.files.len()
    }

    /// The slices of the batch at `t`: the next ones (advancing the position), or, for a batch
    /// already taken, the same ones again.
    fn slices_at(&self, t: Time) -> Result<Vec<(usize, usize, usize, usize)>> {
        let mut started = lock(&self.started);
        if let Some(&start) = started.get(&t) {
            let mut pos = start;
            return self.slices_from(&mut pos);
        }
        if let Some((&last, _)) = started.last_key_value()
            && t < last
        {
            // Taking new data for an old time would shift every later batch.
            return Err(Error::IllegalState(format!(
                "the replay cannot re-create its batch at {t}: it no longer knows where that batch started (it keeps batches back to {})",
                started.first_key_value().map_or(last, |(t, _)| *t)
            )));
        }
        let mut pos = lock(&self.position);
        started.insert(t, *pos);
        self.slices_from(&mut pos)
    }

    /// File `i`'s bytes; a mapped file is first checked not to have shrunk since it was mapped.
    fn bytes_of(&self, i: usize) -> Result<&[u8]> {
        let file = &self.data.files[i];
        if file.mapped {
            check_not_shrunk(&file.path, file.bytes.len())?;
        }
        Ok(file.bytes.as_slice())
    }

    /// One batch's slices of the files from `pos`, moving `pos` past them.
    fn slices_from(&self, pos: &mut Position) -> Result<Vec<(usize, usize, usize, usize)>> {
        let mut slices = Vec::new();
        let (mut lines_left, mut bytes_left) = match self.cut {
            ReplayCut::Lines(n) => (n, usize::MAX),
            ReplayCut::Bytes(n) => (usize::MAX, n),
            ReplayCut::PerFile => (usize::MAX, usize::MAX),
        };
        while pos.file < self.data.files.len() && lines_left > 0 && bytes_left > 0 {
            let bytes = self.bytes_of(pos.file)?;
            let rest = &bytes[pos.offset..];
            let (end, lines) = match self.cut {
                ReplayCut::Lines(_) => after_lines(rest, lines_left),
                ReplayCut::Bytes(_) => {
                    let end = line_end_from(rest, bytes_left.saturating_sub(1));
                    (end, 0)
                }
                ReplayCut::PerFile => (rest.len(), 0),
            };
            if end > 0 {
                slices.push((pos.file, pos.offset, end, pos.line));
            }
            match self.cut {
                ReplayCut::Lines(_) => lines_left -= lines,
                ReplayCut::Bytes(_) => bytes_left = bytes_left.saturating_sub(end),
                ReplayCut::PerFile => bytes_left = 0,
            }
            pos.offset += end;
            if pos.offset >= bytes.len() {
                *pos = Position {
                    file: pos.file + 1,
                    offset: 0,
                    line: 0,
                };
            }
        }
        Ok(slices)
    }

    fn batch(&self, t: Time, parallelism: usize) -> Result<(Batch<String>, u64, String)> {
        let slices = self.slices_at(t)?;
        let per_slice = (parallelism / slices.len().max(1)).max(1);
        let mut parts = Vec::new();
        let mut bytes = 0u64;
        let mut described = Vec::new();
        for &(file, start, len, _) in &slices {
            let ReplayFile {
                path,
                bytes: buffer,
                ..
            } = &self.data.files[file];
            let slice = buffer.slice_with_length(start, len);
            bytes += len as u64;
            described.push(format!("{}:{}-{}", path.display(), start, start + len));
            let split = split_lines_partitioned(&slice, per_slice).map_err(|e| match e {
                LinesError::InvalidUtf8 { offset, .. } => {
                    let before = &buffer.as_slice()[..start + offset];
                    Error::InvalidUtf8 {
                        source_name: path.display().to_string(),
                        offset: start + offset,
                        line: before.iter().filter(|&&b| b == b'\n').count() + 1,
                    }
                }
                other => Error::Ingest {
                    source_name: path.display().to_string(),
                    message: other.to_string(),
                },
            })?;
            parts.extend(split);
        }
        let batch = if parts.is_empty() {
            Batch::empty()
        } else {
            Batch::from_partitions(parts)
        };
        Ok((batch, bytes, described.join(", ")))
    }
}

/// Fails with [`Error::Ingest`] if mapped file `path`, `mapped_len` bytes when it was mapped, is
/// shorter now: reading its mapping past the new end would kill the process with SIGBUS.
fn check_not_shrunk(path: &Path, mapped_len: usize) -> Result<()> {
    let now = std::fs::metadata(path)
        .map_err(|e| Error::io(format!("checking {}", path.display()), e))?
        .len();
    if now < mapped_len as u64 {
        return Err(Error::Ingest {
            source_name: path.display().to_string(),
            message: format!(
                "the file shrank from {mapped_len} to {now} bytes during the replay; a mapped input must not change (read it instead: ReplayData::read, `dstreams replay --no-mmap`)"
            ),
        });
    }
    Ok(())
}

struct ReplayInput(Arc<Replay>);

impl StreamingContext {
    /// A stream that replays text, one batch per batch interval (on the fast clock: back to back),
    /// cut as `cut` says. Lines are views into `data`'s bytes. The stream reports each batch's
    /// bytes (metadata `"bytes"`) and file ranges (`"offsets"`); invalid UTF-8 fails the batch
    /// with [`Error::InvalidUtf8`] naming the file, byte offset and line.
    ///
    /// ```
    /// use dstreams::prelude::*;
    /// use dstreams::source::{ReplayCut, ReplayData};
    /// # let dir = std::env::temp_dir().join(format!("replay-doc-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir).unwrap();
    /// let path = dir.join("lines.txt");
    /// std::fs::write(&path, "a b\nc\nd e f\n").unwrap();
    /// let ssc = StreamingContext::builder(Seconds(1))
    ///     .clock(std::sync::Arc::new(FastClock::new(Time::from_millis(0))))
    ///     .stop_when_exhausted(true)
    ///     .build();
    /// let lines = ssc.replay_stream(ReplayData::read(&[&path])?, ReplayCut::Lines(2));
    /// lines.count().foreach_rdd(|b| println!("{}: {:?}", b.time(), b.collect()));
    /// ssc.start()?;
    /// ssc.await_termination()?; // batches of 2 and 1 lines, then it stops
    /// # Ok::<(), dstreams::Error>(())
    /// ```
    #[track_caller]
    pub fn replay_stream(&self, data: ReplayData, cut: ReplayCut) -> DStream<String> {
        if let ReplayCut::Lines(0) | ReplayCut::Bytes(0) = cut {
            self.refuse(
                "replay_stream",
                Error::InvalidArgument("a replay batch must hold at least one line or byte".into()),
            );
        }
        let replay = Arc::new(Replay {
            data,
            cut,
            position: Mutex::new(Position::default()),
            started: Mutex::new(BTreeMap::new()),
        });
        let input = Arc::new(ReplayInput(replay.clone()));
        input_stream(self, "ReplayInputDStream", input, move |t, bctx| {
            let (batch, bytes, offsets) = replay.batch(t, bctx.parallelism())?;
            let mut metadata = described("replay");
            metadata.insert("bytes".to_string(), bytes.to_string());
            metadata.insert("offsets".to_string(), offsets);
            Ok((batch, metadata))
        })
    }
}

impl Position {
    fn encode(&self) -> String {
        format!("{} {} {}", self.file, self.offset, self.line)
    }

    fn decode(s: &str) -> Option<Position> {
        let mut it = s.split(' ').map(|v| v.parse::<usize>().ok());
        let p = Position {
            file: it.next()??,
            offset: it.next()??,
            line: it.next()??,
        };
        it.next().is_none().then_some(p)
    }
}

/// A replay's checkpoint: `next F O L` (where the next batch starts) and `at T F O L` for each
/// batch still needed (where it started).
impl Input for ReplayInput {
    fn kind(&self) -> &'static str {
        "replay"
    }

    fn is_exhausted(&self) -> bool {
        self.0.exhausted()
    }

    fn save(&self, since: Time, _upto: Time) -> Vec<String> {
        let mut started = lock(&self.0.started);
        started.retain(|t, _| *t > since);
        let mut entries = vec![format!("next {}", lock(&self.0.position).encode())];
        entries.extend(
            started
                .iter()
                .map(|(t, p)| format!("at {} {}", t.as_millis(), p.encode())),
        );
        entries
    }

    fn restore(&self, entries: &[String]) -> Result<()> {
        let bad = |e: &str| Error::corrupt_checkpoint(format!("replay entry {e:?} is malformed"));
        let mut next = None;
        let mut started = BTreeMap::new();
        for e in entries {
            if let Some(p) = e.strip_prefix("next ") {
                next = Some(Position::decode(p).ok_or_else(|| bad(e))?);
            } else if let Some(rest) = e.strip_prefix("at ") {
                let (t, p) = rest.split_once(' ').ok_or_else(|| bad(e))?;
                let t = Time::from_millis(t.parse().map_err(|_| bad(e))?);
                started.insert(t, Position::decode(p).ok_or_else(|| bad(e))?);
            } else {
                return Err(bad(e));
            }
        }
        let next = next.ok_or_else(|| bad("next"))?;
        let files = &self.0.data.files;
        let in_range = |p: &Position| {
            p.file < files.len() && p.offset <= files[p.file].bytes.len()
                || (p.file == files.len() && p.offset == 0)
        };
        if !in_range(&next) || !started.values().all(in_range) {
            return Err(Error::corrupt_checkpoint(
                "the checkpointed replay position lies beyond the replayed files (were they changed?)",
            ));
        }
        *lock(&self.0.position) = next;
        *lock(&self.0.started) = started;
        Ok(())
    }

    fn forget_before(&self, t: Time) {
        lock(&self.0.started).retain(|at, _| *at > t);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_lines_counts_across_chunks() {
        let text: Vec<u8> = (0..10_000)
            .flat_map(|i| format!("line {i}\n").into_bytes())
            .collect();
        let (end, n) = after_lines(&text, 5000);
        assert_eq!(n, 5000);
        assert_eq!(&text[end..end + 9], b"line 5000");
        assert_eq!(after_lines(&text, 20_000), (text.len(), 10_000));
        assert_eq!(after_lines(b"a\nb", 5), (3, 2));
        assert_eq!(after_lines(b"", 5), (0, 0));
    }

    #[test]
    fn byte_cuts_end_at_line_ends() {
        assert_eq!(line_end_from(b"abc\ndef\n", 0), 4);
        assert_eq!(line_end_from(b"abc\ndef\n", 4), 8);
        assert_eq!(line_end_from(b"abc\ndef", 5), 7);
    }
}
