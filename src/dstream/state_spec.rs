//! `StateSpec` and `State` of `map_with_state` (Spark's `StateSpec`, `State`).

use crate::data::{Batch, Data};
use crate::error::{Error, Result};
use crate::time::{Duration, Time};
use std::sync::Arc;

/// The mapping function: batch time, key, the record's value (`None` when the key is timing
/// out) and the key's state, to an optional mapped record.
pub(crate) type MappingFn<K, V, S, M> = dyn Fn(Time, <K as Data>::Ref<'_>, Option<<V as Data>::Ref<'_>>, &mut State<S>) -> Result<Option<M>>
    + Send
    + Sync;

/// The state of one key inside a `map_with_state` function (Spark's `State`): read it, update
/// it, remove it. Misuse is an error, with Spark's messages.
///
/// ```
/// use dstreams::State;
/// let mut s: State<i64> = State::default();
/// assert!(!s.exists());
/// s.update(3).unwrap();
/// assert_eq!(*s.get().unwrap(), 3);
/// s.remove().unwrap();
/// assert_eq!(s.update(4).unwrap_err().to_string(), "requirement failed: Cannot update the state after it has been removed");
/// ```
#[derive(Debug, Clone)]
pub struct State<S> {
    value: Option<S>,
    updated: bool,
    removed: bool,
    timing_out: bool,
}

impl<S> Default for State<S> {
    fn default() -> Self {
        State {
            value: None,
            updated: false,
            removed: false,
            timing_out: false,
        }
    }
}

impl<S> State<S> {
    pub(crate) fn new(value: Option<S>, timing_out: bool) -> Self {
        State {
            value,
            updated: false,
            removed: false,
            timing_out,
        }
    }

    /// Whether the key has a state.
    pub fn exists(&self) -> bool {
        self.value.is_some()
    }

    /// The state; an error ("State is not set") if there is none.
    pub fn get(&self) -> Result<&S> {
        self.value.as_ref().ok_or(Error::StateNotSet)
    }

    /// The state, if any.
    pub fn get_option(&self) -> Option<&S> {
        self.value.as_ref()
    }

    /// Sets the state.
    pub fn update(&mut self, value: S) -> Result<()> {
        if self.removed {
            return Err(Error::StateMisuse(
                "Cannot update the state after it has been removed",
            ));
        }
        if self.timing_out {
            return Err(Error::StateMisuse(
                "Cannot update the state that is timing out",
            ));
        }
        self.value = Some(value);
        self.updated = true;
        Ok(())
    }

    /// Removes the state.
    pub fn remove(&mut self) -> Result<()> {
        if self.timing_out {
            return Err(Error::StateMisuse(
                "Cannot remove the state that is timing out",
            ));
        }
        if self.removed {
            return Err(Error::StateMisuse(
                "Cannot remove the state that has already been removed",
            ));
        }
        self.value = None;
        self.removed = true;
        Ok(())
    }

    /// Whether this call is the key's last, because it has been idle longer than the timeout.
    pub fn is_timing_out(&self) -> bool {
        self.timing_out
    }

    pub(crate) fn is_updated(&self) -> bool {
        self.updated
    }

    pub(crate) fn is_removed(&self) -> bool {
        self.removed
    }

    pub(crate) fn into_value(self) -> Option<S> {
        self.value
    }
}

/// What `map_with_state` does (Spark's `StateSpec`): the mapping function, and optionally an
/// initial state, the number of partitions and an idle timeout.
pub struct StateSpec<K: Data, V: Data, S: Data, M: Data> {
    pub(crate) function: Arc<MappingFn<K, V, S, M>>,
    pub(crate) initial: Option<Batch<(K, S)>>,
    pub(crate) partitions: Option<usize>,
    pub(crate) timeout: Option<Duration>,
}

impl<K: Data, V: Data, S: Data, M: Data> StateSpec<K, V, S, M> {
    /// Spark's `StateSpec.function((key, value, state) => mapped)`: called once per record,
    /// its result is the mapped record. Timing-out keys (see [`timeout`](Self::timeout)) are
    /// called with `None` as the value.
    ///
    /// ```
    /// use dstreams::{State, StateSpec};
    /// let spec = StateSpec::function(|word: &str, one: Option<i64>, state: &mut State<i64>| {
    ///     let sum = one.unwrap_or(0) + state.get_option().copied().unwrap_or(0);
    ///     state.update(sum)?;
    ///     Ok((word.to_string(), sum))
    /// });
    /// # let _: StateSpec<String, i64, i64, (String, i64)> = spec;
    /// ```
    pub fn function<F>(f: F) -> Self
    where
        F: Fn(K::Ref<'_>, Option<V::Ref<'_>>, &mut State<S>) -> Result<M> + Send + Sync + 'static,
    {
        Self::function_with_time(move |_, k, v, s| f(k, v, s).map(Some))
    }

    /// Spark's `StateSpec.function((time, key, value, state) => Option[mapped])`.
    pub fn function_with_time<F>(f: F) -> Self
    where
        F: Fn(Time, K::Ref<'_>, Option<V::Ref<'_>>, &mut State<S>) -> Result<Option<M>>
            + Send
            + Sync
            + 'static,
    {
        StateSpec {
            function: Arc::new(f),
            initial: None,
            partitions: None,
            timeout: None,
        }
    }

    /// The state before the first batch (Spark's `initialState`).
    pub fn initial_state(mut self, initial: Batch<(K, S)>) -> Self {
        self.initial = Some(initial);
        self
    }

    /// The number of state partitions (Spark's `numPartitions`).
    pub fn num_partitions(mut self, n: usize) -> Self {
        self.partitions = Some(n.max(1));
        self
    }

    /// Keys idle (no record) for longer than `idle` are called once more with no value and
    /// [`State::is_timing_out`], then removed. Checked every batch, at a cost proportional to
    /// the keys that time out (Spark checks only in checkpointing batches, so its timeouts can
    /// be late by a checkpoint interval).
    pub fn timeout(mut self, idle: Duration) -> Self {
        self.timeout = Some(idle);
        self
    }
}
