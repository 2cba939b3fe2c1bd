//! Dense accumulators: one `i64` state per group id, updated in a tight loop after the hash
//! table has turned a key into its group.
//!
//! Every accumulator starts a group from its first value ([`Accumulator::init`]), folds further
//! values in ([`Accumulator::update`]) and merges the states of two partial aggregations of the
//! same group ([`Accumulator::merge`], the second phase). Sums and counts wrap on overflow, like
//! the JVM's `Long` arithmetic in Spark's `reduceByKey(_ + _)`.

/// How to aggregate the values of a group (the public choice; see the accumulator types).
#[derive(Clone, Copy)]
pub enum Agg<'f> {
    /// [`Sum`].
    Sum,
    /// [`Count`].
    Count,
    /// [`Min`].
    Min,
    /// [`Max`].
    Max,
    /// [`Reduce`] with this function, which must be associative (Spark's `reduceByKey`
    /// contract) since partial results are merged in an unspecified grouping.
    Reduce(&'f (dyn Fn(i64, i64) -> i64 + Sync)),
}

impl std::fmt::Debug for Agg<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Agg::Sum => "Sum",
            Agg::Count => "Count",
            Agg::Min => "Min",
            Agg::Max => "Max",
            Agg::Reduce(_) => "Reduce(..)",
        })
    }
}

/// A per-group state of one `i64`.
pub trait Accumulator: Sync {
    /// The state of a new group whose first value is `v`.
    fn init(&self, v: i64) -> i64;
    /// Folds value `v` into `acc`.
    fn update(&self, acc: &mut i64, v: i64);
    /// Merges the state `other` of another partial aggregation into `acc`.
    fn merge(&self, acc: &mut i64, other: i64);
}

/// The sum of the values (wrapping).
#[derive(Clone, Copy, Debug, Default)]
pub struct Sum;

impl Accumulator for Sum {
    #[inline(always)]
    fn init(&self, v: i64) -> i64 {
        v
    }
    #[inline(always)]
    fn update(&self, acc: &mut i64, v: i64) {
        *acc = acc.wrapping_add(v);
    }
    #[inline(always)]
    fn merge(&self, acc: &mut i64, other: i64) {
        *acc = acc.wrapping_add(other);
    }
}

/// The number of rows (values are ignored).
#[derive(Clone, Copy, Debug, Default)]
pub struct Count;

impl Accumulator for Count {
    #[inline(always)]
    fn init(&self, _v: i64) -> i64 {
        1
    }
    #[inline(always)]
    fn update(&self, acc: &mut i64, _v: i64) {
        *acc = acc.wrapping_add(1);
    }
    #[inline(always)]
    fn merge(&self, acc: &mut i64, other: i64) {
        *acc = acc.wrapping_add(other);
    }
}

/// The smallest value.
#[derive(Clone, Copy, Debug, Default)]
pub struct Min;

impl Accumulator for Min {
    #[inline(always)]
    fn init(&self, v: i64) -> i64 {
        v
    }
    #[inline(always)]
    fn update(&self, acc: &mut i64, v: i64) {
        *acc = (*acc).min(v);
    }
    #[inline(always)]
    fn merge(&self, acc: &mut i64, other: i64) {
        *acc = (*acc).min(other);
    }
}

/// The largest value.
#[derive(Clone, Copy, Debug, Default)]
pub struct Max;

impl Accumulator for Max {
    #[inline(always)]
    fn init(&self, v: i64) -> i64 {
        v
    }
    #[inline(always)]
    fn update(&self, acc: &mut i64, v: i64) {
        *acc = (*acc).max(v);
    }
    #[inline(always)]
    fn merge(&self, acc: &mut i64, other: i64) {
        *acc = (*acc).max(other);
    }
}

/// The fallback: any associative function, folded left from the first value.
#[derive(Clone, Copy, Debug, Default)]
pub struct Reduce<F>(pub F);

impl<F: Fn(i64, i64) -> i64 + Sync> Accumulator for Reduce<F> {
    #[inline(always)]
    fn init(&self, v: i64) -> i64 {
        v
    }
    #[inline(always)]
    fn update(&self, acc: &mut i64, v: i64) {
        *acc = (self.0)(*acc, v);
    }
    #[inline(always)]
    fn merge(&self, acc: &mut i64, other: i64) {
        *acc = (self.0)(*acc, other);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fold<A: Accumulator>(a: &A, values: &[i64]) -> i64 {
        let (first, rest) = values.split_first().unwrap();
        let mut acc = a.init(*first);
        for &v in rest {
            a.update(&mut acc, v);
        }
        acc
    }

    #[test]
    fn accumulators_fold_and_merge() {
        let v = [5, -3, 9, 9, i64::MAX];
        assert_eq!(fold(&Sum, &v), 20i64.wrapping_add(i64::MAX));
        assert_eq!(fold(&Count, &v), 5);
        assert_eq!(fold(&Min, &v), -3);
        assert_eq!(fold(&Max, &v), i64::MAX);
        assert_eq!(fold(&Reduce(|a: i64, b: i64| a * 10 + b), &[1, 2, 3]), 123);
        for (a, b) in [(&v[..2], &v[2..]), (&v[..1], &v[1..])] {
            let mut acc = fold(&Sum, a);
            Sum.merge(&mut acc, fold(&Sum, b));
            assert_eq!(acc, fold(&Sum, &v));
            let mut acc = fold(&Count, a);
            Count.merge(&mut acc, fold(&Count, b));
            assert_eq!(acc, 5);
            let mut acc = fold(&Min, a);
            Min.merge(&mut acc, fold(&Min, b));
            assert_eq!(acc, -3);
            let mut acc = fold(&Max, a);
            Max.merge(&mut acc, fold(&Max, b));
            assert_eq!(acc, i64::MAX);
        }
        assert_eq!(format!("{:?}", Agg::Reduce(&|a, _| a)), "Reduce(..)");
    }
}
