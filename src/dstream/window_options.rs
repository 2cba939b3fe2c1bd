//! [`Window`]: a window's length and slide with the options of Spark's windowed-reduction
//! overloads.

use crate::time::Duration;
use crate::window::EmptyKeys;
use std::sync::Arc;

/// A reduction's inverse function: takes an expiring value out of a result.
pub(crate) type InverseFn<V> = Arc<dyn Fn(V, V) -> V + Send + Sync>;

/// A window for [`reduce_by_key_and_window_with`](crate::DStream::reduce_by_key_and_window_with)
/// and [`reduce_by_window_with`](crate::DStream::reduce_by_window_with): its length and slide,
/// and what Spark's longer overloads add: an inverse function, and two choices Spark does not
/// offer. The number of partitions (Spark's `numPartitions`) is the result's
/// [`with_partitions`](crate::DStream::with_partitions).
///
/// Spark's `filterFunc` is the result's [`filter`](crate::DStream::filter), with
/// [`drop_empty_keys`](Self::drop_empty_keys) to forget keys whose window emptied (Spark drops
/// the keys its filter rejects from the window's state, so their later windows miss values;
/// here the state stays exact).
///
/// ```
/// # use dstreams::prelude::*;
/// # let ssc = StreamingContext::new(Seconds(1));
/// # let pairs = ssc.queue_stream(Vec::<Batch<(String, i64)>>::new(), true, None);
/// // Spark: pairs.reduceByKeyAndWindow(_ + _, _ - _, Seconds(30), Seconds(10), 4, _._2 != 0)
/// let counts = pairs
///     .reduce_by_key_and_window_with(
///         |a, b| a + b,
///         Window::new(Seconds(30), Seconds(10)).inverse(|a, b| a - b).drop_empty_keys(),
///     )
///     .with_partitions(4);
/// # let _ = counts;
/// ```
pub struct Window<V> {
    pub(crate) length: Duration,
    pub(crate) slide: Duration,
    pub(crate) inverse: Option<InverseFn<V>>,
    pub(crate) empty_keys: EmptyKeys,
    pub(crate) exact_every: Option<usize>,
}

impl<V> Window<V> {
    /// A window of `length` sliding by `slide` (both multiples of the stream's slide).
    pub fn new(length: impl Into<Duration>, slide: impl Into<Duration>) -> Self {
        Window {
            length: length.into(),
            slide: slide.into(),
            inverse: None,
            empty_keys: EmptyKeys::Keep,
            exact_every: None,
        }
    }

    /// Spark's `invReduceFunc`: the window's result is kept up to date by folding in the
    /// entering batches and taking the expiring ones out with `inverse`, so a slide costs what
    /// changes, not what the window holds. As in Spark, a key stays in the result at the value
    /// `inverse` leaves it (usually zero) after it left the window, unless
    /// [`drop_empty_keys`](Self::drop_empty_keys). Without an inverse, windows are merged from
    /// pane aggregates in a two-stacks queue.
    pub fn inverse(mut self, inverse: impl Fn(V, V) -> V + Send + Sync + 'static) -> Self {
        self.inverse = Some(Arc::new(inverse));
        self
    }

    /// With an inverse: forgets a key as soon as no batch of its window holds it, instead of
    /// keeping it at the value the inverse function left (Spark's behaviour, which grows the
    /// state forever unless a filter removes such keys).
    pub fn drop_empty_keys(mut self) -> Self {
        self.empty_keys = EmptyKeys::Drop;
        self
    }

    /// With an inverse: every `slides` slides, recomputes each key's value from the window's
    /// panes with the reduce function alone, bounding the error that floating-point inverses
    /// accumulate. The default is once per window length (`length / slide` slides) for
    /// floating-point values and never for others.
    pub fn exact_recompute_every(mut self, slides: usize) -> Self {
        self.exact_every = Some(slides.max(1));
        self
    }
}
