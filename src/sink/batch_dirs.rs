//! Spark's directory per batch, shared by the file outputs (`save_as_text_files`,
//! `save_as_parquet_files`, `save_as_arrow_files`): `<prefix>-<ms>[.<suffix>]/` holding one part
//! file per partition, `part-NNNNN[.<extension>]`, and an empty `_SUCCESS`, written durably and
//! atomically (a reader sees a batch's directory whole or not at all; a batch that runs again
//! after recovery replaces it).

use crate::data::Origin;
use crate::durable;
use crate::error::{Error, Result};
use crate::time::Time;
use rayon::prelude::*;
use std::fs;
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

/// Writes the directory `dir` with [`durable::write_dir`]: `write_part(part, path)` writes each of
/// `parts` (in parallel) to `part-NNNNN` plus `.<extension>` when one is given, then `_SUCCESS`.
///
/// In distributed mode (`origin` set) a process holds only some of a batch's partitions, and
/// the processes share the directory: each part is written to `part-<its exchange partition>`
/// atomically on its own (a hidden temporary file synced and renamed into place, replacing the
/// part a re-run batch wrote before), and no process writes `_SUCCESS`, which none can know.
pub(crate) fn save_parts<P: Sync>(
    dir: &Path,
    parts: &[P],
    origin: Option<&Origin>,
    extension: &str,
    write_part: impl Fn(&P, &Path) -> Result<()> + Sync,
) -> Result<()> {
    let name = |i: u32| {
        let name = format!("part-{i:05}");
        if extension.is_empty() {
            name
        } else {
            format!("{name}.{extension}")
        }
    };
    if let Some(origin) = origin {
        fs::create_dir_all(dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        parts
            .par_iter()
            .zip(&origin.ids)
            .try_for_each(|(part, &id)| {
                let path = dir.join(name(id));
                let tmp = dir.join(format!(".{}.tmp", name(id)));
                write_part(part, &tmp)?;
                fs::File::open(&tmp)
                    .and_then(|f| f.sync_all())
                    .and_then(|()| fs::rename(&tmp, &path))
                    .map_err(|e| Error::io(format!("writing {}", path.display()), e))
            })?;
        durable::sync_dir(dir)?;
        return Ok(());
    }
    durable::write_dir(dir, |tmp| {
        parts
            .par_iter()
            .enumerate()
            .try_for_each(|(i, part)| write_part(part, &tmp.join(name(i as u32))))?;
        let success = tmp.join("_SUCCESS");
        fs::File::create(&success)
            .map_err(|e| Error::io(format!("writing {}", success.display()), e))?;
        Ok(())
    })
}
