//! Where operators take the kernels instead of the general closure path: string keys with integer
//! values (`reduce_by_key`, `count_by_value`), and word counting fused with the tokenizer.
//!
//! Rust closures are opaque, so the engine cannot see that `|line, out| line.split(' ')...` splits;
//! what it can see is the element types. Keyed aggregations over `String` keys and integer values
//! always run on the hash-aggregation kernel (user closures become its reduce function), and
//! `split(..).count_by_value()` runs as one fused tokenize-and-count pass.

use crate::data::{Data, PairColumn};
use crate::error::{Error, Result};
use crate::kernels::accumulate::Agg;
use crate::kernels::aggregate::{Aggregation, Partition, aggregate};
use crate::kernels::tokenize::Separators;
use arrow_array::StringViewArray;

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
