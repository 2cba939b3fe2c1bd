//! `save_as_text_files`: Spark's directory-per-batch layout (`<prefix>-<ms>[.<suffix>]/part-NNNNN`
//! plus `_SUCCESS`), one line per element as Scala's `toString` writes it, each batch's directory
//! written durably and atomically.

use crate::data::{Batch, Data, SparkDisplay, column_iter};
use crate::durable;
use crate::error::{Error, Result};
use crate::time::Time;
use rayon::prelude::*;
use std::fs;
use std::io::{BufWriter, Write};
use std::path::Path;

/// Spark's `rddToFileName`: `<prefix>-<ms>`, plus `.<suffix>` when a suffix is given; an empty
/// prefix gives just `<ms>`.
///
/// ```
/// use dstreams::{Time, batch_file_name};
/// assert_eq!(batch_file_name("out/counts", "txt", Time::from_millis(1000)), "out/counts-1000.txt");
/// assert_eq!(batch_file_name("", "", Time::from_millis(1000)), "1000");
/// ```
pub fn batch_file_name(prefix: &str, suffix: &str, time: Time) -> String {
    let mut name = time.as_millis().to_string();
    if !prefix.is_empty() {
        name = format!("{prefix}-{name}");
    }
    if !suffix.is_empty() {
        name = format!("{name}.{suffix}");
    }
    name
}

/// Writes one batch as a directory of part files, one per partition (empty ones too), plus
/// `_SUCCESS`, with [`durable::write_dir`]: readers see the whole directory or none of it, and
/// re-running a batch (after recovery) replaces the directory of the earlier run.
pub(crate) fn save_batch<T: Data>(batch: &Batch<T>, dir: &Path) -> Result<()> {
    durable::write_dir(dir, |tmp| {
        batch
            .partitions()
            .par_iter()
            .enumerate()
            .try_for_each(|(i, part)| write_part::<T>(part, &tmp.join(format!("part-{i:05}"))))?;
        let success = tmp.join("_SUCCESS");
        fs::File::create(&success)
            .map_err(|e| Error::io(format!("writing {}", success.display()), e))?;
        Ok(())
    })
}

/// Writes one partition's elements to `path`, one line each.
fn write_part<T: Data>(part: &T::Column, path: &Path) -> Result<()> {
    let err = |e| Error::io(format!("writing {}", path.display()), e);
    let file = fs::File::create(path).map_err(err)?;
    let mut w = BufWriter::with_capacity(1 << 16, file);
    let mut line = String::new();
    for v in column_iter(part) {
        line.clear();
        use std::fmt::Write as _;
        let _ = writeln!(line, "{}", SparkDisplay::<T>(v));
        w.write_all(line.as_bytes()).map_err(err)?;
    }
    w.flush().map_err(err)
}
