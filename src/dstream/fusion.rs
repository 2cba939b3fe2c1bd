//! Fused narrow chains: consecutive per-element operators (`map`, `flat_map`, `flat_map_emit`,
//! `filter`, `map_values`, `flat_map_values`) run as one pass over each partition of the batch
//! the chain starts from, every element's outputs handed straight to the next operator and the
//! last operator's to a sink, as Flink chains operators. The sink is a builder when the chain's
//! batch is materialised, or the hash aggregation when a keyed consumer (`reduce_by_key`,
//! `count_by_value`) reads the chain directly (`kernel_paths.rs`); no column is built in between.
//!
//! Each narrow operator is a [`Stage`]: a function of one element that pushes zero or more
//! outputs to a sink. A node reads its parent as a chain when the parent is a narrow operator
//! that nothing else reads ([`Node::fused`]); otherwise the chain starts from the parent's
//! batch, computed and memoised once for all its readers. A chain keeps string views as views of
//! the batch it starts from, and each partition's [`Origin`](crate::data::Origin) label.

use super::DStream;
use super::node::{Node, Plan};
use crate::context::BatchContext;
use crate::data::view::CallScope;
use crate::data::{Batch, Column, ColumnBuilder, Data, Origin, ScopeId, Sink, Sources, Value};
use crate::error::Result;
use crate::time::Time;
use arrow_buffer::Buffer;
use rayon::prelude::*;
use std::sync::Arc;

/// Where an element is processed: the call scope its closure views belong to, and the buffers
/// of the partition it comes from (which builders may point into).
pub(crate) struct At<'a> {
    pub(crate) scope: ScopeId,
    pub(crate) sources: &'a Sources,
}

/// One narrow operator as a function of one element: it pushes the element's outputs to the
/// sink.
pub(crate) type Stage<I, O> =
    Arc<dyn Fn(<I as Data>::Ref<'_>, &At<'_>, &mut Sink<'_, O>) + Send + Sync>;

/// A batch's elements as a chain of narrow operators over the batch of a node upstream, run
/// partition by partition.
pub(crate) trait Chain<O: Data>: Send + Sync {
    /// The number of partitions of the batch the chain starts from (and of its result).
    fn partitions(&self) -> usize;
    /// The number of elements of the starting batch's partition `part` (a capacity hint).
    fn source_len(&self, part: usize) -> usize;
    /// Appends the buffers that the string views of the starting partition `part` point into.
    fn data_buffers(&self, part: usize, out: &mut Vec<Buffer>);
    /// The starting batch's origin (distributed mode), which the result keeps.
    fn origin(&self) -> Option<Arc<Origin>>;
    /// Pushes the outputs of partition `part`'s elements, in order, to `sink`.
    fn each(&self, part: usize, at: &At<'_>, sink: &mut Sink<'_, O>);
}

/// A computed batch: where a chain starts.
struct Start<T: Data>(Batch<T>);

impl<T: Data> Chain<T> for Start<T> {
    fn partitions(&self) -> usize {
        self.0.num_partitions()
    }
    fn source_len(&self, part: usize) -> usize {
        self.0.partitions()[part].len()
    }
    fn data_buffers(&self, part: usize, out: &mut Vec<Buffer>) {
        self.0.partitions()[part].data_buffers(out);
    }
    fn origin(&self) -> Option<Arc<Origin>> {
        self.0.shared_origin()
    }
    fn each(&self, part: usize, _at: &At<'_>, sink: &mut Sink<'_, T>) {
        let col = &self.0.partitions()[part];
        for i in 0..col.len() {
            sink(col.value(i));
        }
    }
}

/// A chain followed by one more operator.
struct Then<I: Data, O: Data> {
    upstream: Box<dyn Chain<I>>,
    stage: Stage<I, O>,
}

impl<I: Data, O: Data> Chain<O> for Then<I, O> {
    fn partitions(&self) -> usize {
        self.upstream.partitions()
    }
    fn source_len(&self, part: usize) -> usize {
        self.upstream.source_len(part)
    }
    fn data_buffers(&self, part: usize, out: &mut Vec<Buffer>) {
        self.upstream.data_buffers(part, out);
    }
    fn origin(&self) -> Option<Arc<Origin>> {
        self.upstream.origin()
    }
    #[inline]
    fn each(&self, part: usize, at: &At<'_>, sink: &mut Sink<'_, O>) {
        self.upstream
            .each(part, at, &mut |x| (self.stage)(x, at, &mut *sink));
    }
}

/// A keyed consumer (`reduce_by_key`, `count_by_value`) reading a chain directly, given the
/// number of output partitions; `None` when it cannot take the chain (types the aggregation
/// kernel does not take, a long key that is not a view of the chain's input), which is then
/// materialised for the consumer's batch path.
pub(crate) type ChainConsumer<T, O> =
    Arc<dyn Fn(&dyn Chain<T>, usize) -> Option<Batch<O>> + Send + Sync>;

/// A narrow operator's node as its consumers see it: its elements at a time as a chain.
pub(crate) trait Narrow<O: Data>: Send + Sync {
    /// The node's elements at `time`: its operator after its parent's chain when the parent
    /// fuses into it, else after the parent's batch; `None` when the parent has no batch.
    fn chain_at(&self, time: Time, ctx: &BatchContext) -> Result<Option<Box<dyn Chain<O>>>>;
}

/// A narrow operator and the node it reads.
struct Operator<I: Data, O: Data> {
    parent: Arc<Node<I>>,
    stage: Stage<I, O>,
}

impl<I: Data, O: Data> Narrow<O> for Operator<I, O> {
    fn chain_at(&self, time: Time, ctx: &BatchContext) -> Result<Option<Box<dyn Chain<O>>>> {
        let upstream: Box<dyn Chain<I>> = match self.parent.fused(time, ctx)? {
            Some(chain) => chain,
            None => match self.parent.get_or_compute(time, ctx)? {
                Some(batch) => Box::new(Start(batch)),
                None => return Ok(None),
            },
        };
        Ok(Some(Box::new(Then {
            upstream,
            stage: self.stage.clone(),
        })))
    }
}

/// The buffers that the string views of every starting partition of `chain` point into.
pub(crate) fn chain_sources<O: Data>(
    chain: &dyn Chain<O>,
    parts: std::ops::Range<usize>,
) -> Sources {
    let mut buffers = Vec::new();
    for part in parts {
        chain.data_buffers(part, &mut buffers);
    }
    Sources::new(buffers)
}

/// Runs partition `part` of `chain` in one call scope, its outputs to `sink`; `sources` holds
/// (at least) the partition's buffers.
pub(crate) fn run_partition<O: Data>(
    chain: &dyn Chain<O>,
    part: usize,
    sources: &Sources,
    sink: &mut Sink<'_, O>,
) {
    let scope = CallScope::open();
    let at = At {
        scope: scope.id(),
        sources,
    };
    chain.each(part, &at, sink);
}

/// The chain's batch: every partition run into a builder, partitions in parallel.
pub(crate) fn materialise<O: Data>(chain: &dyn Chain<O>) -> Batch<O> {
    let parts = (0..chain.partitions())
        .into_par_iter()
        .map(|part| {
            let sources = chain_sources(chain, part..part + 1);
            let mut b = O::Builder::new(chain.source_len(part), &sources);
            run_partition(chain, part, &sources, &mut |r| b.push_ref(r));
            b.finish()
        })
        .collect();
    let batch = Batch::from_partitions(parts);
    match chain.origin() {
        Some(origin) => batch.with_origin(origin),
        None => batch,
    }
}

/// A key's view as a [`Value`], to push a pair of an element's key and a new value
/// (`map_values`, `flat_map_values`).
pub(crate) struct KeyView<'a, K: Data>(pub(crate) K::Ref<'a>);

impl<K: Data> Value for KeyView<'_, K> {
    type Data = K;
    fn append_to(self, b: &mut K::Builder) {
        b.push_ref(self.0);
    }
    #[inline]
    fn view(&self) -> Option<K::Ref<'_>> {
        Some(K::shorten(self.0))
    }
}

impl<T: Data> DStream<T> {
    /// The stream of the narrow operator `stage` over this stream, named `name`: computed as a
    /// fused chain with the narrow operators before it that nothing else reads, and itself
    /// fused into its consumer when that consumer is its only reader.
    #[track_caller]
    pub(crate) fn narrow<O: Data>(
        &self,
        name: &str,
        stage: impl Fn(T::Ref<'_>, &At<'_>, &mut Sink<'_, O>) + Send + Sync + 'static,
    ) -> DStream<O> {
        let op: Arc<dyn Narrow<O>> = Arc::new(Operator {
            parent: self.node.clone(),
            stage: Arc::new(stage),
        });
        let compute = op.clone();
        let stream = self.child(
            name,
            Plan::default(),
            Box::new(move |t, ctx| Ok(compute.chain_at(t, ctx)?.map(|c| materialise(&*c)))),
        );
        stream.node.set_narrow(op);
        stream
    }
}
