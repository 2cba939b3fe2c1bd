//! Narrow operations: each partition is transformed on its own, partitions in parallel (and a
//! distributed batch's [`Origin`](crate::data::Origin) kept).
//!
//! The lifetime `'a` of the batch reaches the per-partition function, so a closure called with
//! the partition's views may return values that borrow them (`|w| (w, 1)`).

use crate::data::{Batch, Column, ColumnBuilder, Data, Sources};
use rayon::prelude::*;
use std::convert::Infallible;

/// Maps every partition of `batch` to a partition of the result, in parallel; the first error
/// (in partition order) is returned.
pub(crate) fn try_map_columns<'a, T: Data, O: Data, E: Send>(
    batch: &'a Batch<T>,
    f: impl Fn(usize, &'a T::Column) -> Result<O::Column, E> + Sync,
) -> Result<Batch<O>, E> {
    let parts = batch
        .partitions()
        .par_iter()
        .enumerate()
        .map(|(i, p)| f(i, p))
        .collect::<Result<Vec<_>, E>>()?;
    Ok(Batch::from_partitions(parts).with_origin_of(batch))
}

/// [`try_map_columns`] for a function that cannot fail.
pub(crate) fn map_columns<'a, T: Data, O: Data>(
    batch: &'a Batch<T>,
    f: impl Fn(usize, &'a T::Column) -> O::Column + Sync,
) -> Batch<O> {
    let Ok(out) = try_map_columns::<T, O, Infallible>(batch, |i, p| Ok(f(i, p)));
    out
}

/// Applies `f` to every partition in parallel; `f` fills a builder whose string views may point
/// into that partition's buffers.
pub(crate) fn try_per_partition<'a, T: Data, O: Data, E: Send>(
    batch: &'a Batch<T>,
    f: impl Fn(usize, &'a T::Column, &mut O::Builder) -> Result<(), E> + Sync,
) -> Result<Batch<O>, E> {
    try_map_columns(batch, |i, p| {
        let mut b = O::Builder::new(p.len(), &Sources::of_columns([p]));
        f(i, p, &mut b)?;
        Ok(b.finish())
    })
}

/// [`try_per_partition`] for a function that cannot fail.
pub(crate) fn per_partition<'a, T: Data, O: Data>(
    batch: &'a Batch<T>,
    f: impl Fn(usize, &'a T::Column, &mut O::Builder) + Sync,
) -> Batch<O> {
    let Ok(out) = try_per_partition::<T, O, Infallible>(batch, |i, p, b| {
        f(i, p, b);
        Ok(())
    });
    out
}
