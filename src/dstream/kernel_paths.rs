//! Where operators take the kernels instead of the general closure path: string keys with integer
//! values (`reduce_by_key`, `count_by_value`), fed by columns or straight from a fused narrow
//! chain, and word counting fused with the tokenizer.
//!
//! Rust closures are opaque, so the engine cannot see that `|line, out| line.split(' ')...` splits;
//! what it can see is the element types. Keyed aggregations over `String` keys and integer values
//! always run on the hash-aggregation kernel (user closures become its reduce function), and
//! `split(..).count_by_value()` runs as one fused tokenize-and-count pass.

use super::fusion::{Chain, chain_sources, run_partition};
use crate::data::{Column, Data, PairColumn, Sources};
use crate::error::{Error, Result};
use crate::kernels::accumulate::Agg;
use crate::kernels::aggregate::{Aggregation, Partition, ROWS_PER_BATCH, aggregate};
use crate::kernels::tokenize::Separators;
use crate::kernels::view::{MAX_INLINE, small_view, token_view};
use arrow_array::StringViewArray;
use arrow_buffer::Buffer;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The kernel's result, or `None` when the types do not take the kernel or it refused the
/// input (a condition it reports rather than panicking on), so that the caller takes the
/// general path, which has the same result.
pub(crate) fn kernel_result<X>(kernel: Option<Result<X>>) -> Option<X> {
    match kernel? {
        Ok(out) => Some(out),
        Err(e) => {
            tracing::warn!(
                "the aggregation kernel refused a batch ({e}); using the general shuffle"
            );
            None
        }
    }
}

fn internal(what: &str) -> Error {
    Error::Internal(format!(
        "kernel result does not fit its column type ({what})"
    ))
}

/// The kernel's partitions as pair columns of `(K, V)`.
fn pair_columns<K: Data, V: Data>(parts: Vec<Partition>) -> Result<Vec<PairColumn<K, V>>> {
    parts
        .into_iter()
        .map(|(keys, values)| {
            let a = K::column_from_string_views(keys).ok_or_else(|| internal("keys"))?;
            let b = V::column_from_i64(values).ok_or_else(|| internal("values"))?;
            Ok(PairColumn { a, b })
        })
        .collect()
}

/// `reduce_by_key` of `(String, integer)` pairs on the aggregation kernel, or `None` when the
/// types are not those.
pub(crate) fn reduce_strings<K: Data, V: Data>(
    parts: &[&PairColumn<K, V>],
    agg: Agg<'_>,
    partitions: usize,
) -> Option<Result<Vec<PairColumn<K, V>>>> {
    let keys: Vec<StringViewArray> = parts
        .iter()
        .map(|p| K::string_views(&p.a).cloned())
        .collect::<Option<_>>()?;
    let values: Vec<_> = parts
        .iter()
        .map(|p| V::i64_values(&p.b))
        .collect::<Option<_>>()?;
    let slices: Vec<&[i64]> = values.iter().map(|v| v.as_ref()).collect();
    Some(
        aggregate(&keys, Some(&slices), agg, partitions)
            .map_err(Error::from)
            .and_then(pair_columns::<K, V>),
    )
}

/// A user's reduce function over integers as the kernel's `i64` function.
pub(crate) fn as_i64_reducer<V: Data>(
    f: &(impl Fn(V, V) -> V + Sync),
) -> impl Fn(i64, i64) -> i64 + Sync + '_ {
    move |a, b| match (V::from_i64(a), V::from_i64(b)) {
        // Values come from V and from f's results, so they always convert back.
        (Some(x), Some(y)) => V::to_i64(f(x, y)).unwrap_or_default(),
        _ => a,
    }
}

/// `count_by_value` of strings on the aggregation kernel, or `None` for other types.
pub(crate) fn count_strings<T: Data>(
    parts: &[T::Column],
    partitions: usize,
) -> Option<Result<Vec<PairColumn<T, i64>>>> {
    let keys: Vec<StringViewArray> = parts
        .iter()
        .map(|p| T::string_views(p).cloned())
        .collect::<Option<_>>()?;
    Some(
        aggregate(&keys, None, Agg::Count, partitions)
            .map_err(Error::from)
            .and_then(pair_columns::<T, i64>),
    )
}

/// `reduce_by_key` of a chain of `(String, integer)` pairs on the aggregation kernel, each pair
/// fed to it as the chain produces it; `None` when the types are not those, when a long key is
/// not a view of the chain's input, or when the kernel refused the rows.
pub(crate) fn reduce_chain_strings<K: Data, V: Data>(
    aggregation: &Aggregation,
    chain: &dyn Chain<(K, V)>,
    agg: Agg<'_>,
    partitions: usize,
) -> Option<Vec<PairColumn<K, V>>> {
    K::string_views(&K::Column::empty())?;
    V::i64_values(&V::Column::empty())?;
    let parts = aggregate_chain(aggregation, chain, agg, partitions, Pairs);
    kernel_result(parts.map(|p| p.and_then(pair_columns::<K, V>)))
}

/// `count_by_value` of a chain of strings on the aggregation kernel, each string fed to it as
/// the chain produces it; `None` as for [`reduce_chain_strings`].
pub(crate) fn count_chain_strings<T: Data>(
    aggregation: &Aggregation,
    chain: &dyn Chain<T>,
    partitions: usize,
) -> Option<Vec<PairColumn<T, i64>>> {
    T::string_views(&T::Column::empty())?;
    let parts = aggregate_chain(aggregation, chain, Agg::Count, partitions, Keys);
    kernel_result(parts.map(|p| p.and_then(pair_columns::<T, i64>)))
}

/// How a chain's outputs are the aggregation kernel's rows.
trait KernelRows<T: Data>: Sync {
    /// Whether rows carry values (else every value is 1).
    const WITH_VALUES: bool;
    /// An output's key and value, `None` when it has no string key or integer value.
    fn row<'a>(&self, r: T::Ref<'a>) -> Option<(&'a str, i64)>;
}

/// `(key, value)` pairs.
struct Pairs;

impl<K: Data, V: Data> KernelRows<(K, V)> for Pairs {
    const WITH_VALUES: bool = true;
    #[inline]
    fn row<'a>(&self, (k, v): (K::Ref<'a>, V::Ref<'a>)) -> Option<(&'a str, i64)> {
        Some((K::as_str(k)?, V::to_i64(V::to_owned_value(v))?))
    }
}

/// Keys, each counted once.
struct Keys;

impl<T: Data> KernelRows<T> for Keys {
    const WITH_VALUES: bool = false;
    #[inline]
    fn row<'a>(&self, k: T::Ref<'a>) -> Option<(&'a str, i64)> {
        Some((T::as_str(k)?, 1))
    }
}

/// Runs `chain` into `aggregation` with `agg`, each task over a contiguous run of the chain's
/// partitions, `rows` making the kernel's rows of its outputs; `None` when an output has no
/// row or a long key is not a view of the chain's input (the kernel's keys must point into the
/// input's buffers).
fn aggregate_chain<T: Data, R: KernelRows<T>>(
    aggregation: &Aggregation,
    chain: &dyn Chain<T>,
    agg: Agg<'_>,
    partitions: usize,
    rows: R,
) -> Option<Result<Vec<Partition>>> {
    let with_values = R::WITH_VALUES;
    let n = chain.partitions();
    let sources = chain_sources(chain, 0..n);
    let buffers: Arc<[Buffer]> = sources.buffers().into();
    let tasks = rayon::current_num_threads().min(n).max(1);
    let runs: Vec<Range<usize>> = (0..tasks)
        .map(|i| i * n / tasks..(i + 1) * n / tasks)
        .collect();
    let foreign = AtomicBool::new(false);
    let out = aggregation.aggregate_pushed(runs, &buffers, agg, partitions, |run, add| {
        // A batch of rows: `held` of them so far.
        let mut views = vec![0u128; ROWS_PER_BATCH];
        let mut values = vec![0i64; if with_values { ROWS_PER_BATCH } else { 0 }];
        let mut held = 0;
        // Set at the first row the kernel cannot take or the first refused batch of rows;
        // the rows after it are dropped.
        let mut stopped = false;
        let mut added = Ok(());
        let mut keys = KeyViews::new(&sources);
        for part in run {
            run_partition(chain, part, &sources, &mut |r| {
                if stopped {
                    return;
                }
                let Some((view, value)) = rows
                    .row(r)
                    .and_then(|(key, value)| Some((keys.of(key)?, value)))
                else {
                    foreign.store(true, Ordering::Relaxed);
                    stopped = true;
                    return;
                };
                views[held] = view;
                if with_values {
                    values[held] = value;
                }
                held += 1;
                if held == ROWS_PER_BATCH {
                    added = add(&views, with_values.then_some(&values[..]));
                    stopped = added.is_err();
                    held = 0;
                }
            });
        }
        added?;
        if held == 0 {
            return Ok(());
        }
        add(&views[..held], with_values.then(|| &values[..held]))
    });
    if foreign.into_inner() {
        return None;
    }
    Some(out.map_err(Error::from))
}

/// The kernel's views of keys: inline when at most [`MAX_INLINE`] bytes, else naming the buffer
/// of `sources` that holds their bytes. The buffer the last key lay in is kept: the keys of a
/// chain nearly always lie in the same buffer as the one before, and a key found there has its
/// view read from the buffer without a branch on its length.
struct KeyViews<'s> {
    sources: &'s Sources,
    /// The index and bytes of the buffer the last key lay in.
    last: Option<(u32, &'s [u8])>,
}

impl<'s> KeyViews<'s> {
    fn new(sources: &'s Sources) -> Self {
        KeyViews {
            sources,
            last: None,
        }
    }

    /// The view of `key`; `None` when it is long and no buffer holds it.
    #[inline(always)]
    fn of(&mut self, key: &str) -> Option<u128> {
        let bytes = key.as_bytes();
        if let Some((block, data)) = self.last {
            let offset = (bytes.as_ptr() as usize).wrapping_sub(data.as_ptr() as usize);
            if offset <= data.len()
                && bytes.len() <= data.len() - offset
                && offset <= u32::MAX as usize
            {
                return Some(token_view(data, offset, offset + bytes.len(), block));
            }
        }
        match self.sources.locate(bytes) {
            Some((index, offset)) if offset <= u32::MAX as usize => {
                let block = u32::try_from(index).ok()?;
                let data = self.sources.buffer(index).as_slice();
                self.last = Some((block, data));
                Some(token_view(data, offset, offset + bytes.len(), block))
            }
            _ if bytes.len() <= MAX_INLINE => Some(small_view(bytes)),
            _ => None,
        }
    }
}

/// Tokenizes and counts the words of every partition of lines in one pass (the fused
/// `split(sep).count_by_value()`), on `counts`' tables kept from the previous batch.
pub(crate) fn count_words_of<T: Data>(
    counts: &Aggregation,
    lines: &[StringViewArray],
    sep: Separators,
    partitions: usize,
) -> Result<Vec<PairColumn<T, i64>>> {
    pair_columns::<T, i64>(counts.count_words(lines, sep, partitions)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Column;

    #[test]
    fn multi_partition_word_counts_merge_per_output_partition() {
        let a = StringViewArray::from(vec!["to be or", "not to be"]);
        let b = StringViewArray::from(vec!["be quick"]);
        let parts =
            count_words_of::<String>(&Aggregation::new(), &[a, b], Separators::Space, 3).unwrap();
        assert_eq!(parts.len(), 3);
        let mut got: Vec<(String, i64)> = parts
            .iter()
            .flat_map(|p| {
                (0..p.len())
                    .map(|i| (p.a.value(i).to_string(), p.b[i]))
                    .collect::<Vec<_>>()
            })
            .collect();
        got.sort();
        let expected = [("be", 3), ("not", 1), ("or", 1), ("quick", 1), ("to", 2)];
        assert_eq!(got, expected.map(|(w, n)| (w.to_string(), n)));
    }
}
