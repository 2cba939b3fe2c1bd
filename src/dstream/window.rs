//! Window operations on any stream (Spark's `window`, `countByWindow`, `reduceByWindow`).
//!
//! Windows fire on Spark's grid: a window of length `W` sliding by `S` is computed at
//! `zero + k * S` and covers the parent's batches in `(t - W, t]`; early windows are partial.

use super::DStream;
use super::node::AnyNode;
use super::pair_window::{InverseWindowOptions, check_reduced_window, merge_with};
use crate::data::{Batch, ColumnBuilder, Data, PairColumn};
use crate::error::{Error, Result};
use crate::time::Duration;
use std::sync::Arc;

impl<T: Data> DStream<T> {
    /// Spark's `WindowedDStream` checks: `window` and `slide` positive multiples of this
    /// stream's slide.
    pub(crate) fn check_window(&self, window: Duration, slide: Duration) -> Result<()> {
        window.positive("window duration")?;
        slide.positive("slide duration")?;
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
    /// # let ssc = StreamingContext::new(Duration::seconds(1)).unwrap();
    /// # let lines = ssc.queue_stream(Vec::<Batch<String>>::new(), true, None).unwrap();
    /// let last_minute = lines.window(Duration::seconds(60), Duration::seconds(10))?;
    /// # Ok::<(), dstreams::Error>(())
    /// ```
    pub fn window(&self, window: Duration, slide: Duration) -> Result<DStream<T>> {
        self.check_window(window, slide)?;
        let parent = self.node.clone();
        let parent_slide = self.slide_duration();
        DStream::create(
            &self.ctx,
            "WindowedDStream",
            slide,
            vec![self.node.clone() as Arc<dyn AnyNode>],
            window,
            Box::new(move |t, ctx| {
                let mut parts = Vec::new();
                let mut at = t - window + parent_slide;
                while at <= t {
                    if let Some(b) = parent.get_or_compute(at, ctx)? {
                        parts.extend(b.partitions().iter().cloned());
                    }
                    at = at + parent_slide;
                }
                Ok(Some(Batch::from_partitions(parts)))
            }),
        )
    }

    /// Each batch's elements keyed by one constant key (0 or 1 element: the batch reduced),
    /// the shape the window engine takes.
    fn keyed_by_unit(&self, name: &str) -> Result<DStream<(i64, T)>> {
        self.derive(name, |batch, _, _| {
            let mut b = <(i64, T) as Data>::Builder::new(batch.len(), &batch.sources());
            for v in batch.iter() {
                b.push_ref((1, v));
            }
            Ok(Batch::from_partitions(vec![b.finish()]))
        })
    }

    /// The values of a stream keyed by the unit key (zero-copy).
    fn unkeyed(keyed: &DStream<(i64, T)>) -> Result<DStream<T>> {
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
    pub fn reduce_by_window<F>(&self, f: F, window: Duration, slide: Duration) -> Result<DStream<T>>
    where
        F: Fn(T, T) -> T + Send + Sync + 'static,
    {
        self.check_window(window, slide)?;
        let f: Arc<dyn Fn(T, T) -> T + Send + Sync> = Arc::new(f);
        let g = f.clone();
        let keyed = self
            .reduce(move |a, b| g(a, b))?
            .keyed_by_unit("MappedDStream")?;
        Self::unkeyed(&keyed.stacked_window(merge_with(f), window, slide, 1)?)
    }

    /// Spark's `reduceByWindow(f, invF, W, S)`: as [`reduce_by_window`](Self::reduce_by_window)
    /// on the inverse path (`inv` takes an expiring batch's reduction out). As in Spark, once
    /// data was seen the result stays (at the value `inv` leaves) when the window empties.
    pub fn reduce_by_window_inverse<F, G>(
        &self,
        f: F,
        inv: G,
        window: Duration,
        slide: Duration,
    ) -> Result<DStream<T>>
    where
        F: Fn(T, T) -> T + Send + Sync + 'static,
        G: Fn(T, T) -> T + Send + Sync + 'static,
    {
        check_reduced_window(window, slide, self.slide_duration())?;
        let f: Arc<dyn Fn(T, T) -> T + Send + Sync> = Arc::new(f);
        let g = f.clone();
        let keyed = self
            .reduce(move |a, b| g(a, b))?
            .keyed_by_unit("MappedDStream")?;
        let windowed = keyed.inverse_window(
            f,
            Arc::new(inv),
            window,
            slide,
            1,
            InverseWindowOptions::new(),
        )?;
        Self::unkeyed(&windowed)
    }

    /// Spark's `countByWindow(W, S)`: the number of elements in the window, on the inverse path
    /// (`0` once data has left the window; nothing before any data arrived, as in Spark).
    pub fn count_by_window(&self, window: Duration, slide: Duration) -> Result<DStream<i64>> {
        check_reduced_window(window, slide, self.slide_duration())?;
        let counts = self.derive("MappedDStream", |batch, _, _| {
            let rows: Vec<(i64, i64)> = match batch.len() {
                0 => Vec::new(),
                n => vec![(1, n as i64)],
            };
            Ok(Batch::from_vec(rows, 1))
        })?;
        let windowed = counts.inverse_window(
            Arc::new(|a, b| a + b),
            Arc::new(|a, b| a - b),
            window,
            slide,
            1,
            InverseWindowOptions::new(),
        )?;
        DStream::<i64>::unkeyed(&windowed)
    }
}
