//! `save_as_text_files`: Spark's directory per batch (`<prefix>-<ms>[.<suffix>]/part-NNNNN` plus
//! `_SUCCESS`, see [`batch_dirs`](super::batch_dirs)), one line per element as Scala's
//! `toString` writes it.

use super::batch_dirs::save_parts;
use crate::data::{Batch, Data, SparkDisplay, column_iter};
use crate::error::{Error, Result};
use std::fs;
use std::io::{BufWriter, Write};
use std::path::Path;

/// Writes one batch as a directory of text part files, one per partition (empty ones too),
/// plus `_SUCCESS` (see [`save_parts`]).
pub(crate) fn save_batch<T: Data>(batch: &Batch<T>, dir: &Path) -> Result<()> {
    save_parts(dir, batch.partitions(), batch.origin(), "", write_part::<T>)
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
