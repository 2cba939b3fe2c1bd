//! Keyed operations in distributed mode ([`StreamingContext::distribute`](crate::StreamingContext::distribute)):
//! each source partition's batch combined on its own into `P` exchange partitions, sent through
//! the operator's exchange, and the partials of the exchange partitions this process owns merged
//! once their batch is complete (`crate::exchange`).

use crate::context::BatchContext;
use crate::data::{Batch, Data, Origin};
use crate::error::{Error, Result};
use crate::exchange::{Partials, Stage, decode, encode};
use crate::time::Time;
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A shuffle: a batch cut into `n` hash partitions by key, each key's values combined.
pub(crate) type Shuffle<T, O> = Arc<dyn Fn(&Batch<T>, usize) -> Result<Batch<O>> + Send + Sync>;
/// Merges partials of one partition (a batch of their partitions) into one partition.
pub(crate) type Merge<O> = Arc<dyn Fn(&Batch<O>) -> Result<Batch<O>> + Send + Sync>;
/// What an exchange sends at a time: its parent's batch, cut by source partition (`None` when
/// the parent has no batch then).
pub(crate) type Input<'a, T> = &'a dyn Fn(Time, &BatchContext) -> Result<Option<Batch<T>>>;

/// A keyed operator's exchange: its id and its two halves.
pub(crate) struct Exchange<T: Data, O: Data> {
    pub(crate) id: usize,
    pub(crate) shuffle: Shuffle<T, O>,
    pub(crate) merge: Merge<O>,
}

impl<T: Data, O: Data> Exchange<T, O> {
    pub(crate) fn new(id: usize, shuffle: Shuffle<T, O>, merge: Merge<O>) -> Self {
        Exchange { id, shuffle, merge }
    }

    /// The operator's batch at `t` in distributed mode: `input`'s batch at `t` sent (unless it
    /// was already, while an earlier batch waited), then the owned exchange partitions' partials
    /// merged. While the batch waits, the partials of later batches whose time has come are
    /// sent, so that every process keeps feeding the exchange whatever it waits for.
    pub(crate) fn run(
        &self,
        input: Input<'_, T>,
        t: Time,
        ctx: &BatchContext,
    ) -> Result<Option<Batch<O>>> {
        let distributed = ctx.distributed().expect("called in distributed mode");
        let stage = distributed.exchanges.stage(self.id)?;
        if let Some(replayed) = ctx.replayed(self.id) {
            return (!replayed.is_empty())
                .then(|| self.merged(replayed, stage.partitions()))
                .transpose();
        }
        if ctx.is_late() {
            let late = if ctx.is_forwarding() {
                stage.peek_late(t)
            } else {
                stage.take_late(t)
            };
            return (!late.is_empty())
                .then(|| self.merged(late, stage.partitions()))
                .transpose();
        }
        let Some(sources) = self.send(input, t, ctx)? else {
            return Ok(None);
        };
        let mut next = t + ctx.batch_interval;
        let mut pump = || -> Result<()> {
            if distributed.stopping() {
                return Err(Error::IllegalState(format!(
                    "exchange {}: the context stopped while batch {t} waited for its partials \
                     (the exchange partitions' next owners run it)",
                    self.id
                )));
            }
            while distributed.clock.now() >= next {
                self.send(input, next, ctx)?;
                next = next + ctx.batch_interval;
            }
            Ok(())
        };
        let received = stage.receive(t, sources, &mut pump)?;
        self.merged(received, stage.partitions()).map(Some)
    }

    /// The batch of exchange partitions `received` (of `of`), each one's partials merged. A
    /// partition no source partition delivered anything to at this time is left out, so that
    /// no output part is written for it: either every source partition was between owners
    /// then, or (for a member that took the partition over behind its previous owner) its
    /// previous owner took the batch and wrote that part already.
    fn merged(&self, received: Partials, of: u32) -> Result<Batch<O>> {
        let (ids, parts): (Vec<u32>, Vec<_>) = received
            .into_par_iter()
            .filter(|(_, values)| !values.is_empty())
            .map(|(p, values)| {
                let partials = values
                    .iter()
                    .map(|v| decode::<O>(v))
                    .collect::<Result<Vec<_>>>()?;
                let merged = (self.merge)(&Batch::from_partitions(partials))?;
                let [part] = <[_; 1]>::try_from(merged.partitions().to_vec()).map_err(|_| {
                    Error::Internal("an exchange's merge made more than one partition".into())
                })?;
                Ok((p, part))
            })
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .unzip();
        Ok(Batch::from_partitions(parts).with_origin(Arc::new(Origin {
            of,
            ids,
            resent: Default::default(),
        })))
    }

    /// Sends `input`'s batch at `t` unless it was sent already: the number of source partitions
    /// (`None` when there is no batch at `t`).
    fn send(&self, input: Input<'_, T>, t: Time, ctx: &BatchContext) -> Result<Option<u32>> {
        let Some(batch) = input(t, ctx)? else {
            return Ok(None);
        };
        let origin = batch.origin().cloned().ok_or_else(|| {
            Error::Unsupported(
                "in distributed mode a keyed operation needs batches cut by source partition: \
                 a Kafka stream in group mode on one existing topic, through narrow operations \
                 only"
                    .into(),
            )
        })?;
        let distributed = ctx.distributed().expect("called in distributed mode");
        if !distributed.claim_send(self.id, t) {
            return Ok(Some(origin.of));
        }
        let stage = distributed.exchanges.stage(self.id)?;
        self.forward_late(input, t, ctx, &stage)?;
        let parts = self.partials(&batch, &origin, stage.partitions())?;
        if !distributed.may_send(t) {
            tracing::info!(
                "exchange {}: batch {t} is not sent (its source ranges could not be committed)",
                self.id
            );
        } else if let Err(e) = send_by_batch(&stage, t, &origin, parts) {
            distributed.release_send(self.id, t);
            distributed.not_sent(t);
            return Err(e);
        }
        Ok(Some(origin.of))
    }
}

impl<T: Data, O: Data> Exchange<T, O> {
    /// `batch`'s partials, by source partition (`origin`'s labels): each source partition's
    /// part combined on its own into the `p` exchange partitions, encoded.
    fn partials(
        &self,
        batch: &Batch<T>,
        origin: &Origin,
        p: u32,
    ) -> Result<Vec<(u32, Vec<Vec<u8>>)>> {
        batch
            .partitions()
            .par_iter()
            .zip(&origin.ids)
            .map(|(part, &source)| {
                let single = Batch::<T>::from_partitions(vec![part.clone()]);
                let partials = (self.shuffle)(&single, p as usize)?;
                let values = partials
                    .partitions()
                    .iter()
                    .map(encode::<O>)
                    .collect::<Result<Vec<_>>>()?;
                Ok((source, values))
            })
            .collect()
    }

    /// Before this exchange sends batch `t`: an exchange partition of an earlier exchange that
    /// this process took over unfinished holds late batches (see `Stage::receive`), whose
    /// share of this exchange's input its previous owner may never have sent. They run after
    /// the current batch, but their share must reach this exchange first, in batch order:
    /// anything later of that partition would tell this exchange's partitions the earlier
    /// batches are complete without it. So each late batch before `t` is computed once, in a
    /// forwarding late context (the earlier exchange's late partials read, not taken), and its
    /// partials sent under its time; a share that had been sent after all is applied once.
    fn forward_late(
        &self,
        input: Input<'_, T>,
        t: Time,
        ctx: &BatchContext,
        stage: &Stage,
    ) -> Result<()> {
        let distributed = ctx.distributed().expect("called in distributed mode");
        for late in distributed.exchanges.late_times() {
            if late >= t {
                continue;
            }
            let Some(batch) = input(late, &ctx.forwarding_late(late))? else {
                continue;
            };
            let Some(origin) = batch.origin().cloned() else {
                continue;
            };
            if origin.ids.is_empty() || !stage.forwards(late, &origin.ids) {
                continue;
            }
            tracing::info!(
                "exchange {}: forwarding late batch {late} of exchange partitions {:?} before \
                 batch {t}",
                self.id,
                origin.ids
            );
            let parts = self.partials(&batch, &origin, stage.partitions())?;
            stage.send(late, origin.of, &parts)?;
        }
        Ok(())
    }
}

/// Sends a batch's partials (by source partition) under batch `t`, but those of source
/// partitions whose records belong to an earlier batch ([`Origin::resent`]) under that one, and
/// first: a receiving partition must have them before a later batch of their source partition
/// tells it the earlier one is complete.
fn send_by_batch(
    stage: &Stage,
    t: Time,
    origin: &Origin,
    parts: Vec<(u32, Vec<Vec<u8>>)>,
) -> Result<()> {
    let mut by_batch: BTreeMap<Time, Vec<(u32, Vec<Vec<u8>>)>> = BTreeMap::new();
    by_batch.entry(t).or_default();
    for (source, values) in parts {
        let at = origin.resent.get(&source).copied().unwrap_or(t);
        by_batch.entry(at).or_default().push((source, values));
    }
    for (at, parts) in &by_batch {
        stage.send(*at, origin.of, parts)?;
    }
    Ok(())
}
