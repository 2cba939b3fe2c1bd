//! `DStream<T>`: a discretized stream, one [`Batch`] per batch time, and its operations, grouped as
//! Spark's documentation groups them.

mod checkpointing;
pub(crate) mod exchange;
pub(crate) mod fusion;
pub(crate) mod kernel_paths;
mod map_with_state;
pub(crate) mod node;
mod output;
mod pair;
mod pair_window;
mod partitioned;
mod partitioned_window;
mod per_batch;
mod state;
mod state_spec;
mod text;
mod window;
mod window_options;

pub use map_with_state::MapWithStateDStream;
pub use output::OutputResult;
pub use per_batch::{Partition, TransformResult};
pub use state::UpdateStateSpec;
pub use state_spec::{State, StateSpec};
pub use window_options::Window;

use crate::context::{BatchContext, StreamingContext};
use crate::data::{Batch, Data};
use crate::error::{Error, Result};
use crate::time::{Duration, Time};
use fusion::{ChainConsumer, materialise};
use node::{AnyNode, ComputeFn, Node, Partitioning, Plan, ShufflePartitions};
use std::panic::Location;
use std::sync::Arc;

/// A discretized stream: a sequence of batches of `T`, one per slide interval.
///
/// Built from a [`StreamingContext`]'s sources and transformed with operations that mirror
/// Spark's DStream API, in Spark's shape: `lines.flat_map(|l| l.split(' '))`,
/// `words.map(|w| (w, 1))`, `pairs.reduce_by_key(|a, b| a + b)`. Closures receive each element
/// as a view ([`Data::Arg`]: [`Str`](crate::Str) for strings, numbers as they are, tuples of
/// them) and return plain values; a string of the input returned in a result stays a view of
/// the input's buffer.
///
/// Building a graph does not fail operation by operation: a misuse (a window that is not a
/// multiple of the slide, streams of two contexts combined, zero partitions, ...) is recorded
/// with the operation and the place in the program that made it, and
/// [`StreamingContext::start`] reports every one as [`Error::InvalidProgram`].
///
/// # Panics
/// Every operation panics when called after the context started or stopped, with Spark's
/// message ("Adding new inputs, transformations, and output operations after starting a
/// context is not supported"): the graph is fixed once it runs.
pub struct DStream<T: Data> {
    pub(crate) node: Arc<Node<T>>,
    pub(crate) ctx: StreamingContext,
}

impl<T: Data> Clone for DStream<T> {
    fn clone(&self) -> Self {
        DStream {
            node: self.node.clone(),
            ctx: self.ctx.clone(),
        }
    }
}

impl<T: Data> DStream<T> {
    /// A new node in `ctx`'s graph.
    #[track_caller]
    pub(crate) fn create(
        ctx: &StreamingContext,
        name: &str,
        slide: Duration,
        parents: Vec<Arc<dyn AnyNode>>,
        parent_extra_remember: Duration,
        plan: Plan,
        compute: ComputeFn<T>,
    ) -> Self {
        let node = ctx
            .core
            .add_node(name, slide, parents, parent_extra_remember, plan, compute);
        DStream {
            node,
            ctx: ctx.clone(),
        }
    }

    /// A stream with this one's slide and this one as its only parent, computed by `compute`.
    #[track_caller]
    pub(crate) fn child<O: Data>(
        &self,
        name: &str,
        plan: Plan,
        compute: ComputeFn<O>,
    ) -> DStream<O> {
        DStream::create(
            &self.ctx,
            name,
            self.slide_duration(),
            vec![self.node.clone() as Arc<dyn AnyNode>],
            Duration::default(),
            plan,
            compute,
        )
    }

    /// A stream with this one's slide whose batch at each time is `f` of this one's batch.
    #[track_caller]
    pub(crate) fn derive<O: Data>(
        &self,
        name: &str,
        f: impl Fn(&Batch<T>, Time, &BatchContext) -> Result<Batch<O>> + Send + Sync + 'static,
    ) -> DStream<O> {
        self.derive_planned(name, Plan::default(), f)
    }

    /// [`derive`](Self::derive) with the new node's plan properties.
    #[track_caller]
    pub(crate) fn derive_planned<O: Data>(
        &self,
        name: &str,
        plan: Plan,
        f: impl Fn(&Batch<T>, Time, &BatchContext) -> Result<Batch<O>> + Send + Sync + 'static,
    ) -> DStream<O> {
        let parent = self.node.clone();
        self.child(
            name,
            plan,
            Box::new(move |t, ctx| match parent.get_or_compute(t, ctx)? {
                Some(b) => f(&b, t, ctx).map(Some),
                None => Ok(None),
            }),
        )
    }

    /// A shuffle of each batch into hash partitions by key: `shuffle` gets the batch and the
    /// number of partitions ([`with_partitions`](Self::with_partitions), else the context's
    /// default); when this stream is a narrow chain only the shuffle reads, `direct` reads the
    /// chain instead if it can (else the chain's batch is built for `shuffle`). In distributed
    /// mode `shuffle` combines each source partition's batch into the exchange partitions and
    /// `merge` merges one exchange partition's partials (`exchange.rs`); an operator without
    /// `merge` cannot run distributed (`start` refuses it by its `name`).
    #[track_caller]
    pub(crate) fn derive_shuffle<O: Data>(
        &self,
        name: &str,
        unique_keys: bool,
        shuffle: impl Fn(&Batch<T>, usize) -> Result<Batch<O>> + Send + Sync + 'static,
        direct: Option<ChainConsumer<T, O>>,
        merge: Option<exchange::Merge<O>>,
    ) -> DStream<O> {
        let partitions = Arc::new(ShufflePartitions::default());
        let plan = Plan::partitioned(
            &partitions,
            Partitioning::ByKey {
                unique: unique_keys,
            },
        );
        self.derive_exchanged(name, plan, &partitions, Arc::new(shuffle), direct, merge)
    }

    /// [`derive_shuffle`](Self::derive_shuffle) with the node's plan and partition count given.
    #[track_caller]
    pub(crate) fn derive_exchanged<O: Data>(
        &self,
        name: &str,
        plan: Plan,
        partitions: &Arc<ShufflePartitions>,
        shuffle: exchange::Shuffle<T, O>,
        direct: Option<ChainConsumer<T, O>>,
        merge: Option<exchange::Merge<O>>,
    ) -> DStream<O> {
        let n = partitions.clone();
        let parent = self.node.clone();
        let id = self.ctx.core.next_exchange_id();
        let exchange = merge.map(|m| exchange::Exchange::new(id, shuffle.clone(), m));
        let operator = name.to_string();
        let stream = self.child(
            name,
            plan,
            Box::new(move |t, ctx| {
                if ctx.distributed().is_some() {
                    return match &exchange {
                        Some(exchange) => {
                            exchange.run(&|t, ctx| parent.get_or_compute(t, ctx), t, ctx)
                        }
                        None => Err(Error::Unsupported(format!(
                            "{operator} cannot run in distributed mode yet"
                        ))),
                    };
                }
                let partitions = n.get(ctx.parallelism);
                if let Some(chain) = parent.fused(t, ctx)? {
                    if let Some(out) = direct.as_ref().and_then(|d| d(&*chain, partitions)) {
                        return Ok(Some(out));
                    }
                    return shuffle(&materialise(&*chain), partitions).map(Some);
                }
                match parent.get_or_compute(t, ctx)? {
                    Some(b) => shuffle(&b, partitions).map(Some),
                    None => Ok(None),
                }
            }),
        );
        self.ctx.core.note_exchange(stream.node.id, id);
        stream
    }

    /// A stream whose batch at each time is `f` of this stream's and `other`'s batches (both must
    /// have the same slide and context; a missing parent batch is an error, as in Spark's
    /// `transformWith`). `operator` names the caller in misuse reports.
    #[track_caller]
    pub(crate) fn derive_with<U: Data, O: Data>(
        &self,
        other: &DStream<U>,
        operator: &'static str,
        name: &str,
        plan: Plan,
        f: impl Fn(&Batch<T>, &Batch<U>, Time, &BatchContext) -> Result<Batch<O>>
        + Send
        + Sync
        + 'static,
    ) -> DStream<O> {
        self.derive_with_parents(other, operator, name, plan, move |a, b, t, ctx| {
            let (x, y) = both_at(a, b, t, ctx)?;
            f(&x, &y, t, ctx).map(Some)
        })
    }

    /// A stream whose batch at each time `compute` makes from this stream's and `other`'s nodes
    /// (same checks as [`derive_with`](Self::derive_with)).
    #[track_caller]
    pub(crate) fn derive_with_parents<U: Data, O: Data>(
        &self,
        other: &DStream<U>,
        operator: &'static str,
        name: &str,
        plan: Plan,
        compute: impl Fn(&Node<T>, &Node<U>, Time, &BatchContext) -> Result<Option<Batch<O>>>
        + Send
        + Sync
        + 'static,
    ) -> DStream<O> {
        if let Err(e) = self
            .same_context(&other.ctx)
            .and_then(|_| self.same_slide(other.slide_duration()))
        {
            self.refuse(operator, e);
        }
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
            plan,
            Box::new(move |t, ctx| compute(&a, &b, t, ctx)),
        )
    }

    /// Records a misuse of `operator`, made where the program called it; `start` reports it.
    #[track_caller]
    pub(crate) fn refuse(&self, operator: &'static str, error: Error) {
        self.ctx.core.refuse(operator, Location::caller(), error);
    }

    /// Sets the number of partitions this stream's shuffle produces (Spark's `numPartitions`
    /// argument of `reduceByKey`, `groupByKey`, `join`, `countByValue`, the keyed windows,
    /// `updateStateByKey`, ...). Without it, a shuffle uses the context's default parallelism.
    /// A stream that is not the result of a shuffle has no partition count to set (a misuse,
    /// reported by `start`; [`repartition`](Self::repartition) spreads any stream over `n`
    /// partitions).
    ///
    /// ```
    /// # use dstreams::prelude::*;
    /// # let ssc = StreamingContext::new(Seconds(1));
    /// # let words = ssc.queue_stream(Vec::<Batch<String>>::new(), true, None);
    /// let counts = words.map(|w| (w, 1)).reduce_by_key(|a, b| a + b).with_partitions(8);
    /// # let _ = counts;
    /// ```
    #[track_caller]
    pub fn with_partitions(&self, num_partitions: usize) -> DStream<T> {
        self.ctx.core.check_building();
        match &self.node.plan.partitions {
            Some(p) if num_partitions > 0 => p.set(num_partitions),
            Some(_) => self.refuse(
                "with_partitions",
                Error::InvalidArgument(format!(
                    "{} needs at least one partition, got 0",
                    self.node.name
                )),
            ),
            None => self.refuse(
                "with_partitions",
                Error::InvalidArgument(format!(
                    "{} does not shuffle, so it has no partition count to set; \
                     repartition(n) spreads a stream over n partitions",
                    self.node.name
                )),
            ),
        }
        self.clone()
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

/// Both parents' batches at `t`; a missing one is an error, as in Spark's `transformWith`.
pub(crate) fn both_at<T: Data, U: Data>(
    a: &Node<T>,
    b: &Node<U>,
    t: Time,
    ctx: &BatchContext,
) -> Result<(Batch<T>, Batch<U>)> {
    let x = a
        .get_or_compute(t, ctx)?
        .ok_or(Error::TransformParentMissing(t))?;
    let y = b
        .get_or_compute(t, ctx)?
        .ok_or(Error::TransformParentMissing(t))?;
    Ok((x, y))
}
