//! Narrow operations: each partition is transformed on its own, partitions in parallel.

use crate::data::{Batch, ColumnBuilder, Data, Sources};
use crate::error::Result;
use rayon::prelude::*;

/// Applies `f` to every partition in parallel; `f` fills a builder whose string views may point
/// into that partition's buffers.
pub(crate) fn per_partition<T: Data, O: Data>(
    batch: &Batch<T>,
    f: impl Fn(usize, &T::Column, &mut O::Builder) -> Result<()> + Sync,
) -> Result<Batch<O>> {
    let parts = batch
        .partitions()
        .par_iter()
        .enumerate()
        .map(|(i, p)| {
            let sources = Sources::of_columns([p]);
            let mut b = O::Builder::new(crate::data::Column::len(p), &sources);
            f(i, p, &mut b)?;
            Ok(b.finish())
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Batch::from_partitions(parts))
}
