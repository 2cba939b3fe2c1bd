//! `DStream<T>`: a discretized stream, one [`Batch`] per batch time, and its operations, grouped as
//! Spark's documentation groups them.

mod checkpointing;
pub(crate) mod kernel_paths;
mod map_with_state;
pub(crate) mod node;
mod output;
mod pair;
mod pair_window;
mod per_batch;
mod state;
mod state_spec;
mod text;
mod window;

pub use map_with_state::MapWithStateDStream;
pub use pair::Reducer;
pub use pair_window::{InverseWindowOptions, WindowFilter};
pub use per_batch::PartitionIter;
pub use state_spec::{State, StateSpec};

use crate::context::{BatchContext, StreamingContext};
use crate::data::{Batch, Data};
use crate::error::{Error, Result};
use crate::kernels::tokenize::Separators;
use crate::time::{Duration, Time};
use node::{AnyNode, ComputeFn, Node};
use std::sync::Arc;

/// A discretized stream: a sequence of batches of `T`, one per slide interval.
///
/// Built from a [`StreamingContext`]'s sources and transformed with operations that mirror Spark's
/// DStream API. Closures receive views (`&str`, numbers, tuples of them) and push results into an
/// [`Emit`](crate::Emit); strings that come from input buffers stay views.
pub struct DStream<T: Data> {
    pub(crate) node: Arc<Node<T>>,
    pub(crate) ctx: StreamingContext,
    /// Set on the result of [`DStream::split`]: the lines and separators it splits, so that a
    /// `count_by_value` right after it can tokenize and count in one pass.
    pub(crate) split_of: Option<(Arc<Node<String>>, Separators)>,
    /// Set on the results of per-batch keyed reductions: every batch holds each key once, in
    /// partition `partition_of(hash, n)` of `n` partitions, so a window over it need not reduce
    /// the batches again.
    pub(crate) keys_unique_in: Option<usize>,
}

impl<T: Data> Clone for DStream<T> {
    fn clone(&self) -> Self {
        DStream {
            node: self.node.clone(),
            ctx: self.ctx.clone(),
            split_of: self.split_of.clone(),
            keys_unique_in: self.keys_unique_in,
        }
    }
}

impl<T: Data> DStream<T> {
    /// A new node in `ctx`'s graph.
    pub(crate) fn create(
        ctx: &StreamingContext,
        name: &str,
        slide: Duration,
        parents: Vec<Arc<dyn AnyNode>>,
        parent_extra_remember: Duration,
        compute: ComputeFn<T>,
    ) -> Result<Self> {
        let node = ctx
            .core
            .add_node(name, slide, parents, parent_extra_remember, compute)?;
        Ok(DStream {
            node,
            ctx: ctx.clone(),
            split_of: None,
            keys_unique_in: None,
        })
    }

    /// A stream with this one's slide whose batch at each time is `f` of this one's batch.
    pub(crate) fn derive<O: Data>(
        &self,
        name: &str,
        f: impl Fn(&Batch<T>, Time, &BatchContext) -> Result<Batch<O>> + Send + Sync + 'static,
    ) -> Result<DStream<O>> {
        let parent = self.node.clone();
        DStream::create(
            &self.ctx,
            name,
            self.slide_duration(),
            vec![self.node.clone() as Arc<dyn AnyNode>],
            Duration::default(),
            Box::new(move |t, ctx| match parent.get_or_compute(t, ctx)? {
                Some(b) => f(&b, t, ctx).map(Some),
                None => Ok(None),
            }),
        )
    }

    /// A stream whose batch at each time is `f` of this stream's and `other`'s batches (both must
    /// have the same slide; a missing parent batch is an error, as in Spark's `transformWith`).
    pub(crate) fn derive_with<U: Data, O: Data>(
        &self,
        other: &DStream<U>,
        name: &str,
        f: impl Fn(&Batch<T>, &Batch<U>, Time) -> Result<Batch<O>> + Send + Sync + 'static,
    ) -> Result<DStream<O>> {
        other.same_context(&self.ctx)?;
        self.same_slide(other.slide_duration())?;
        let (a, b) = (self.node.clone(), other.node.clone());
        DStream::create(
            &self.ctx,
            name,
            self.slide_duration(),
            vec![
                self.node.clone() as Arc<dyn AnyNode>,
                other.node.clone() as Arc<dyn AnyNode>,
            ],
            Duration::default(),
            Box::new(move |t, ctx| {
                let x = a
                    .get_or_compute(t, ctx)?
                    .ok_or(Error::TransformParentMissing(t))?;
                let y = b
                    .get_or_compute(t, ctx)?
                    .ok_or(Error::TransformParentMissing(t))?;
                f(&x, &y, t).map(Some)
            }),
        )
    }

    /// This stream, marked as holding each key once per batch in `n` hash partitions.
    pub(crate) fn with_unique_keys(mut self, n: usize) -> Self {
        self.keys_unique_in = Some(n);
        self
    }

    /// The context this stream belongs to.
    pub fn context(&self) -> &StreamingContext {
        &self.ctx
    }

    /// The interval between this stream's batches.
    pub fn slide_duration(&self) -> Duration {
        self.node.slide
    }

    /// The batch times this stream currently remembers (its batches kept for windows and `slice`).
    pub fn remembered_times(&self) -> Vec<Time> {
        self.node.remembered_times()
    }

    pub(crate) fn same_context(&self, other_ctx: &StreamingContext) -> Result<()> {
        if Arc::ptr_eq(&self.ctx.core, &other_ctx.core) {
            Ok(())
        } else {
            Err(Error::DifferentContexts)
        }
    }

    pub(crate) fn same_slide(&self, other: Duration) -> Result<()> {
        if self.slide_duration() == other {
            Ok(())
        } else {
            Err(Error::DifferentSlideDurations(self.slide_duration(), other))
        }
    }
}
