//! Window operations on any stream (Spark's `window`, `countByWindow`, `reduceByWindow`).
//!
//! Windows fire on Spark's grid: a window of length `W` sliding by `S` is computed at
//! `zero + k * S` and covers the parent's batches in `(t - W, t]`; early windows are partial.

use super::DStream;
use super::node::{AnyNode, Node, Plan, ShufflePartitions};
use super::pair_window::{ReduceFn, check_reduced_window, merge_with};
use super::window_options::Window;
use crate::context::BatchContext;
use crate::data::{Batch, ColumnBuilder, Data, PairColumn};
use crate::error::{Error, Result};
use crate::time::{Duration, Time};
use std::sync::Arc;

/// The partitions of `parent`'s batches (of slide `parent_slide`) in the window of length
/// `window` ending at `t`, side by side, nothing copied.
pub(crate) fn window_parts<T: Data>(
    parent: &Node<T>,
    parent_slide: Duration,
    window: Duration,
    t: Time,
    ctx: &BatchContext,
) -> Result<Vec<T::Column>> {
    let mut parts = Vec::new();
    let mut at = t - window + parent_slide;
    while at <= t {
        if let Some(b) = parent.get_or_compute(at, ctx)? {
            parts.extend(b.partitions().iter().cloned());
        }
        at = at + parent_slide;
    }
    Ok(parts)
}

impl<T: Data> DStream<T> {
    /// Spark's `WindowedDStream` checks: `window` and `slide` positive multiples of this
    /// stream's slide.
    pub(crate) fn check_window(&self, window: Duration, slide: Duration) -> Result<()> {
        window.usable("window duration")?;
        slide.usable("slide duration")?;
        let parent = self.slide_duration();
        for (what, d) in [("window", window), ("slide", slide)] {
            if !d.is_multiple_of(parent) {
                return Err(Error::WindowNotMultiple {
                    what,
                    duration: d,
                    parent_slide: parent,
                });
            }
        }
        Ok(())
    }

    /// Spark's `window(W, S)`: every `slide`, all elements of the batches of the last `window`
    /// (their partitions side by side, nothing copied). Pass
    /// [`slide_duration`](Self::slide_duration) as `slide` for Spark's `window(W)`.
    ///
    /// ```
    /// # use dstreams::prelude::*;
    /// # let ssc = StreamingContext::new(Seconds(1));
    /// # let lines = ssc.queue_stream(Vec::<Batch<String>>::new(), true, None);
    /// let last_minute = lines.window(Seconds(60), Seconds(10));
    /// # let _ = last_minute;
    /// ```
    #[track_caller]
    pub fn window(&self, window: impl Into<Duration>, slide: impl Into<Duration>) -> DStream<T> {
        let (window, slide) = (window.into(), slide.into());
        if let Err(e) = self.check_window(window, slide) {
            self.refuse("window", e);
        }
        let parent = self.node.clone();
        let parent_slide = self.slide_duration();
        DStream::create(
            &self.ctx,
            "WindowedDStream",
            slide,
            vec![self.node.clone() as Arc<dyn AnyNode>],
            window,
            Plan::default(),
            Box::new(move |t, ctx| {
                let parts = window_parts(&parent, parent_slide, window, t, ctx)?;
                Ok(Some(Batch::from_partitions(parts)))
            }),
        )
    }

    /// Each batch's elements keyed by one constant key (0 or 1 element: the batch reduced),
    /// the shape the window engine takes.
    #[track_caller]
    fn keyed_by_unit(&self) -> DStream<(i64, T)> {
        self.derive("MappedDStream", |batch, _, _| {
            let mut b = <(i64, T) as Data>::Builder::new(batch.len(), &batch.sources());
            for v in batch.iter() {
                b.push_ref((1, v));
            }
            Ok(Batch::from_partitions(vec![b.finish()]))
        })
    }

    /// The values of a stream keyed by the unit key (zero-copy).
    #[track_caller]
    fn unkeyed(keyed: &DStream<(i64, T)>) -> DStream<T> {
        keyed.derive("MappedDStream", |batch, _, _| {
            Ok(Batch::from_partitions(
                batch
                    .partitions()
                    .iter()
                    .map(|p: &PairColumn<i64, T>| p.b.clone())
                    .collect(),
            ))
        })
    }
}

impl<T: Data + Clone> DStream<T> {
    /// Spark's `reduceByWindow(f, W, S)`: the elements of the window reduced to one (nothing
    /// for an empty window). Each batch is reduced once; the window merges those results on the
    /// two-stacks path.
    #[track_caller]
    pub fn reduce_by_window<F>(
        &self,
        f: F,
        window: impl Into<Duration>,
        slide: impl Into<Duration>,
    ) -> DStream<T>
    where
        F: Fn(T, T) -> T + Send + Sync + 'static,
    {
        self.reduce_by_window_with(f, Window::new(window, slide))
    }

    /// Spark's `reduceByWindow(f, invF, W, S)` with [`Window::inverse`]: as
    /// [`reduce_by_window`](Self::reduce_by_window) on the inverse path (the inverse takes an
    /// expiring batch's reduction out). As in Spark, once data was seen the result stays (at
    /// the value the inverse leaves) when the window empties.
    ///
    /// ```
    /// # use dstreams::prelude::*;
    /// # let ssc = StreamingContext::new(Seconds(1));
    /// # let nums = ssc.queue_stream(Vec::<Batch<i64>>::new(), true, None);
    /// let sums = nums.reduce_by_window_with(
    ///     |a, b| a + b,
    ///     Window::new(Seconds(30), Seconds(10)).inverse(|a, b| a - b),
    /// );
    /// # let _ = sums;
    /// ```
    #[track_caller]
    pub fn reduce_by_window_with<F>(&self, f: F, window: Window<T>) -> DStream<T>
    where
        F: Fn(T, T) -> T + Send + Sync + 'static,
    {
        let checked = match window.inverse {
            Some(_) => check_reduced_window(window.length, window.slide, self.slide_duration()),
            None => self.check_window(window.length, window.slide),
        };
        if let Err(e) = checked {
            self.refuse("reduce_by_window", e);
        }
        let f: ReduceFn<T> = Arc::new(f);
        let g = f.clone();
        let keyed = self.reduce(move |a, b| g(a, b)).keyed_by_unit();
        let one = Arc::new(ShufflePartitions::default());
        one.set(1);
        let windowed = match window.inverse.clone() {
            Some(inv) => keyed.inverse_window(f, inv, &window, &one),
            None => keyed.stacked_window(merge_with(f), &window, &one),
        };
        Self::unkeyed(&windowed)
    }

    /// Spark's `countByWindow(W, S)`: the number of elements in the window, on the inverse path
    /// (`0` once data has left the window; nothing before any data arrived, as in Spark).
    #[track_caller]
    pub fn count_by_window(
        &self,
        window: impl Into<Duration>,
        slide: impl Into<Duration>,
    ) -> DStream<i64> {
        let window = Window::new(window, slide).inverse(|a, b| a - b);
        if let Err(e) = check_reduced_window(window.length, window.slide, self.slide_duration()) {
            self.refuse("count_by_window", e);
        }
        let counts = self.derive("MappedDStream", |batch, _, _| {
            let rows: Vec<(i64, i64)> = match batch.len() {
                0 => Vec::new(),
                n => vec![(1, n as i64)],
            };
            Ok(Batch::from_vec(rows, 1))
        });
        let one = Arc::new(ShufflePartitions::default());
        one.set(1);
        let windowed = counts.inverse_window(
            Arc::new(|a, b| a + b),
            Arc::new(|a, b| a - b),
            &window,
            &one,
        );
        DStream::<i64>::unkeyed(&windowed)
    }
}
