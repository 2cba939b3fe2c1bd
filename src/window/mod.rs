//! The window engine: panes and the two ways a keyed window is kept up to date.
//!
//! A window of length `W` sliding by `S` is cut into panes of `gcd(W, S)`: every window is a whole
//! number of panes, and a slide adds and removes whole panes. A pane is the per-key reduction of
//! the parent batches it spans, computed once when it is sealed and compacted (its keys copied out
//! of the input buffers, so a window never pins the batches it has seen). Then:
//!
//! - with an inverse function, [`running`] keeps the window's result as a table and each slide
//!   adds the entering panes and subtracts the expiring ones;
//! - without one, [`two_stacks`] keeps suffix aggregates of the older panes and a running
//!   aggregate of the newer ones, so a slide merges a constant number of pane tables on average
//!   instead of re-reducing the whole window.

pub(crate) mod running;
pub(crate) mod two_stacks;

pub(crate) use running::EmptyKeys;

use crate::context::BatchContext;
use crate::data::{Batch, Column, ColumnBuilder, Data, Key, PairColumn, Sources};
use crate::dstream::DStream;
use crate::dstream::node::{Node, ShufflePartitions};
use crate::error::{Error, Result};
use crate::lock::lock;
use crate::time::{Duration, Time};
use std::sync::Arc;

/// Merges partition columns holding keys of one output partition into one column with each key
/// once (`f` folds the values of a key).
pub(crate) type MergeFn<K, V> =
    Arc<dyn Fn(&[&PairColumn<K, V>]) -> Result<PairColumn<K, V>> + Send + Sync>;

/// The greatest common divisor of `a` and `b`.
pub(crate) fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// The pane grid of a window: pane ends are `zero + k * pane`, `k >= 1`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Grid {
    pub(crate) window: Duration,
    pub(crate) pane: Duration,
}

impl Grid {
    pub(crate) fn new(window: Duration, slide: Duration) -> Self {
        Grid {
            window,
            pane: Duration::millis(gcd(window.as_millis(), slide.as_millis())),
        }
    }

    /// Ends of the panes in `(from, to]` that lie after the zero time, oldest first.
    pub(crate) fn pane_ends(&self, from: Time, to: Time, zero: Time) -> Vec<Time> {
        let mut ends = Vec::new();
        let mut e = to;
        while e > from && e > zero {
            ends.push(e);
            e = e - self.pane;
        }
        ends.reverse();
        ends
    }

    /// The window ending at `t` starts after this time.
    pub(crate) fn start_of(&self, t: Time) -> Time {
        t - self.window
    }
}

/// Computes sealed panes from the parent stream (already reduced per batch, hash-partitioned
/// into the window's partitions, each key once per partition).
pub(crate) struct PaneSource<K: Data, V: Data> {
    parent: Arc<Node<(K, V)>>,
    parent_slide: Duration,
    pane: Duration,
    partitions: Arc<ShufflePartitions>,
    merge: MergeFn<K, V>,
}

impl<K: Key, V: Data> PaneSource<K, V> {
    /// Panes of `grid` over `parent` (reduced per batch into `partitions` partitions), merging a
    /// pane's batches with `merge`.
    pub(crate) fn new(
        parent: &DStream<(K, V)>,
        grid: Grid,
        partitions: Arc<ShufflePartitions>,
        merge: MergeFn<K, V>,
    ) -> Self {
        // After recovery the window rebuilds its panes from the parent's batches of the last
        // window, re-created by the inputs (one window back from the checkpoint, plus the next).
        lock(&parent.ctx.core.checkpointing).keep_input_history(grid.window * 2);
        PaneSource {
            parent: parent.node.clone(),
            parent_slide: parent.slide_duration(),
            pane: grid.pane,
            partitions,
            merge,
        }
    }

    /// The pane ending at `end`: its parent batches merged partition by partition, compacted.
    pub(crate) fn pane(&self, end: Time, ctx: &BatchContext) -> Result<Batch<(K, V)>> {
        let partitions = self.partitions.get(ctx.parallelism);
        let mut batches = Vec::new();
        let mut t = end - self.pane + self.parent_slide;
        while t <= end {
            if let Some(b) = self.parent.get_or_compute(t, ctx)? {
                if b.num_partitions() != partitions {
                    return Err(Error::Internal(format!(
                        "a window's parent batch at {t} has {} partitions, expected {partitions}",
                        b.num_partitions(),
                    )));
                }
                batches.push(b);
            }
            t = t + self.parent_slide;
        }
        let parts: Vec<PairColumn<K, V>> = (0..partitions)
            .map(|j| {
                let cols: Vec<&PairColumn<K, V>> =
                    batches.iter().map(|b| &b.partitions()[j]).collect();
                match cols.as_slice() {
                    [] => Ok(PairColumn::empty()),
                    [one] => Ok(compact(one)),
                    many => (self.merge)(many).map(|c| compact(&c)),
                }
            })
            .collect::<Result<_>>()?;
        Ok(Batch::from_partitions(parts))
    }
}

/// A copy of `col` that owns its bytes: keys and values no longer point into input buffers.
/// String keys are compacted by the kernel (inline keys are their views; only long keys are
/// copied), and a value column that points into no buffer is shared as it is.
pub(crate) fn compact<K: Data, V: Data>(col: &PairColumn<K, V>) -> PairColumn<K, V> {
    let a = K::string_views(&col.a)
        .and_then(|keys| K::column_from_string_views(crate::kernels::compact::compact(keys)))
        .unwrap_or_else(|| copy::<K>(&col.a));
    let mut buffers = Vec::new();
    col.b.data_buffers(&mut buffers);
    let b = if buffers.is_empty() {
        col.b.clone()
    } else {
        copy::<V>(&col.b)
    };
    PairColumn { a, b }
}

/// A copy of `col` built value by value, every string copied.
fn copy<T: Data>(col: &T::Column) -> T::Column {
    let mut b = T::Builder::new(col.len(), &Sources::none());
    for i in 0..col.len() {
        b.push_ref(col.value(i));
    }
    b.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panes_are_the_gcd_of_window_and_slide() {
        assert_eq!(
            Grid::new(Duration::seconds(4), Duration::seconds(2)).pane,
            Duration::seconds(2)
        );
        assert_eq!(
            Grid::new(Duration::seconds(2), Duration::seconds(3)).pane,
            Duration::seconds(1)
        );
        assert_eq!(
            Grid::new(Duration::seconds(10), Duration::seconds(10)).pane,
            Duration::seconds(10)
        );
    }

    #[test]
    fn pane_ends_stop_at_the_zero_time() {
        let g = Grid::new(Duration::seconds(4), Duration::seconds(2));
        let ms = |v: &[Time]| v.iter().map(|t| t.as_millis()).collect::<Vec<_>>();
        let zero = Time::from_millis(0);
        assert_eq!(
            ms(&g.pane_ends(Time::from_millis(-4000), Time::from_millis(2000), zero)),
            [2000]
        );
        assert_eq!(
            ms(&g.pane_ends(Time::from_millis(2000), Time::from_millis(8000), zero)),
            [4000, 6000, 8000]
        );
    }
}
