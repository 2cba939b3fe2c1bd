//! The range log: each batch's ranges written durably to `<t ms>.ranges` before the batch reads
//! them, and read back when the context starts after a restart.

use super::plan::OffsetRange;
use super::stream::KafkaSource;
use crate::durable;
use crate::error::{Error, Result};
use crate::lock::lock;
use crate::time::Time;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

impl OffsetRange {
    fn encode(&self) -> String {
        format!(
            "{}\t{}\t{}\t{}",
            self.topic, self.partition, self.from, self.until
        )
    }
    fn decode(line: &str) -> Option<OffsetRange> {
        let mut f = line.split('\t');
        let r = OffsetRange {
            topic: f.next()?.to_string(),
            partition: f.next()?.parse().ok()?,
            from: f.next()?.parse().ok()?,
            until: f.next()?.parse().ok()?,
        };
        f.next().is_none().then_some(r)
    }
}

/// Range files in `dir`, by batch time.
pub(super) fn logged(dir: &Path) -> Result<Vec<(Time, PathBuf)>> {
    let entries =
        fs::read_dir(dir).map_err(|e| Error::io(format!("listing {}", dir.display()), e))?;
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if durable::is_temporary(&name) {
            let _ = fs::remove_file(entry.path()); // an interrupted write
            continue;
        }
        if let Some(t) = logged_time(&name) {
            found.push((t, entry.path()));
        }
    }
    found.sort();
    Ok(found)
}

/// The name of the range file of the batch at `t`: `<t ms>.ranges`.
pub(crate) fn file_name(t: Time) -> String {
    format!("{}.ranges", t.as_millis())
}

/// The batch time a range file's name stands for (see [`file_name`]).
pub(crate) fn logged_time(name: &str) -> Option<Time> {
    let ms = name.strip_suffix(".ranges")?.parse::<i64>().ok()?;
    Some(Time::from_millis(ms))
}

/// A range file's text: one tab-separated range a line.
pub(crate) fn encode_ranges(ranges: &[OffsetRange]) -> String {
    ranges.iter().map(|r| r.encode() + "\n").collect()
}

/// The ranges a range file holds (`path` names it in errors): every line must be a range.
pub(crate) fn decode_ranges(path: &Path, bytes: Vec<u8>) -> Result<Vec<OffsetRange>> {
    let text = String::from_utf8(bytes).map_err(|_| {
        Error::corrupt_checkpoint(format!("range file {} is not UTF-8", path.display()))
    })?;
    text.lines()
        .map(|l| {
            OffsetRange::decode(l).ok_or_else(|| {
                Error::corrupt_checkpoint(format!("{}: malformed range {l:?}", path.display()))
            })
        })
        .collect()
}

/// Writes a batch's ranges durably before the batch reads them.
pub(super) fn write_ranges(dir: &Path, t: Time, ranges: &[OffsetRange]) -> Result<()> {
    let path = dir.join(file_name(t));
    durable::write_file(&path, |f| f.write_all(encode_ranges(ranges).as_bytes()))
        .map_err(Error::from)
}

impl KafkaSource {
    /// Opens the range log when the context starts: with a checkpoint directory, under it;
    /// logged ranges are known again, and new batches start after the last one.
    pub(super) fn open_log(&self) -> Result<()> {
        let Some(core) = self.core.upgrade() else {
            return Ok(());
        };
        let (dir, restored) = {
            let c = lock(&core.checkpointing);
            (c.dir.clone(), c.restored.is_some())
        };
        let Some(dir) = dir else { return Ok(()) };
        if self.config.group_mode {
            return Err(Error::Unsupported(
                "a Kafka stream in group mode takes its positions from the group's committed \
                 offsets and cannot be recovered from a checkpoint directory yet"
                    .into(),
            ));
        }
        let id = self.input_id.get().expect("registered when built");
        let log = dir.join("kafka").join(id);
        fs::create_dir_all(&log)
            .map_err(|e| Error::io(format!("creating {}", log.display()), e))?;
        let mut st = lock(&self.state);
        for (t, path) in logged(&log)? {
            if !restored {
                // A fresh start: nothing will ask for an earlier run's batches.
                let _ = fs::remove_file(&path);
                continue;
            }
            let bytes = crate::durable::read_regular(&path)
                .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
            let ranges = decode_ranges(&path, bytes)?;
            for r in &ranges {
                let s = st
                    .partitions
                    .entry((r.topic.clone(), r.partition))
                    .or_default();
                s.next = s.next.max(r.until);
            }
            st.ranges.insert(t, ranges);
        }
        st.log = Some(log);
        st.assigned = false;
        Ok(())
    }
}
