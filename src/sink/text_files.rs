//! `save_as_text_files`: Spark's directory-per-batch layout (`<prefix>-<ms>[.<suffix>]/part-NNNNN`
//! plus `_SUCCESS`), one line per element as Scala's `toString` writes it.

use crate::data::{Batch, Data, SparkDisplay, column_iter};
use crate::error::{Error, Result};
use crate::time::Time;
use rayon::prelude::*;
use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

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

/// Writes one batch as a directory of part files. Each part is written to a hidden temporary file
/// and renamed into place; `_SUCCESS` is written last. Re-running a batch (after recovery)
/// replaces its files, including part files of an earlier run with more partitions.
pub(crate) fn save_batch<T: Data>(batch: &Batch<T>, dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    let success = dir.join("_SUCCESS");
    remove_if_present(&success)?;
    batch
        .partitions()
        .par_iter()
        .enumerate()
        .try_for_each(|(i, part)| write_part::<T>(part, dir, i))?;
    remove_stale_parts(dir, batch.num_partitions())?;
    fs::File::create(&success)
        .map_err(|e| Error::io(format!("writing {}", success.display()), e))?;
    Ok(())
}

fn part_name(i: usize) -> String {
    format!("part-{i:05}")
}

fn write_part<T: Data>(part: &T::Column, dir: &Path, i: usize) -> Result<()> {
    let name = part_name(i);
    let tmp: PathBuf = dir.join(format!(".{name}.tmp"));
    let fin = dir.join(&name);
    let err = |what: &str, path: &Path, e| Error::io(format!("{what} {}", path.display()), e);
    let file = fs::File::create(&tmp).map_err(|e| err("creating", &tmp, e))?;
    let mut w = BufWriter::with_capacity(1 << 16, file);
    let mut line = String::new();
    for v in column_iter(part) {
        line.clear();
        use std::fmt::Write as _;
        let _ = writeln!(line, "{}", SparkDisplay::<T>(v));
        w.write_all(line.as_bytes())
            .map_err(|e| err("writing", &tmp, e))?;
    }
    let file = w
        .into_inner()
        .map_err(|e| err("writing", &tmp, e.into_error()))?;
    file.sync_data().map_err(|e| err("syncing", &tmp, e))?;
    fs::rename(&tmp, &fin).map_err(|e| err("renaming into", &fin, e))?;
    Ok(())
}

fn remove_if_present(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(format!("removing {}", path.display()), e)),
    }
}

fn remove_stale_parts(dir: &Path, keep: usize) -> Result<()> {
    let entries =
        fs::read_dir(dir).map_err(|e| Error::io(format!("listing {}", dir.display()), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(format!("listing {}", dir.display()), e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let index = name
            .strip_prefix("part-")
            .and_then(|n| n.parse::<usize>().ok());
        if index.is_some_and(|i| i >= keep) {
            remove_if_present(&entry.path())?;
        }
    }
    Ok(())
}
