//! `StateSpec` and `State` of `map_with_state` (Spark's `StateSpec`, `State`).

use crate::data::{Batch, Data, Value};
use crate::error::Error;
use crate::time::{Duration, Time};
use std::sync::Arc;

/// The mapping function: batch time, key, the record's value (`None` when the key is timing
/// out) and the key's state; it appends its mapped record, if any, to the builder.
pub(crate) type MappingFn<K, V, S, M> = dyn Fn(Time, <K as Data>::Arg, Option<<V as Data>::Arg>, &mut State<S>, &mut <M as Data>::Builder)
    + Send
    + Sync;

/// The state of one key inside a `map_with_state` function (Spark's `State`): read it, update
/// it, remove it. Misusing it (updating after removing, updating or removing a key that is
/// timing out, removing twice) fails the batch with Spark's message once the function returns,
/// as Spark's `IllegalArgumentException` does; the misusing call changes nothing.
///
/// ```
/// use dstreams::State;
/// let mut s: State<i64> = State::default();
/// assert!(!s.exists());
/// s.update(3);
/// assert_eq!(*s.get(), 3);
/// s.remove();
/// s.update(4); // misuse: ignored, and reported when the function returns
/// assert!(!s.exists());
/// ```
#[derive(Debug, Clone)]
pub struct State<S> {
    value: Option<S>,
    updated: bool,
    removed: bool,
    timing_out: bool,
    misuse: Option<&'static str>,
}

impl<S> Default for State<S> {
    fn default() -> Self {
        State {
            value: None,
            updated: false,
            removed: false,
            timing_out: false,
            misuse: None,
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
            misuse: None,
        }
    }

    /// Whether the key has a state.
    pub fn exists(&self) -> bool {
        self.value.is_some()
    }

    /// The state.
    ///
    /// # Panics
    /// With [`Error::StateNotSet`] ("State is not set") when the key has none, as Spark throws
    /// `NoSuchElementException`: the batch fails with that error.
    /// [`get_option`](Self::get_option) does not.
    pub fn get(&self) -> &S {
        match &self.value {
            Some(v) => v,
            None => std::panic::panic_any(Error::StateNotSet),
        }
    }

    /// The state, if any.
    pub fn get_option(&self) -> Option<&S> {
        self.value.as_ref()
    }

    /// Sets the state.
    pub fn update(&mut self, value: S) {
        if self.removed {
            self.misused("Cannot update the state after it has been removed");
        } else if self.timing_out {
            self.misused("Cannot update the state that is timing out");
        } else {
            self.value = Some(value);
            self.updated = true;
        }
    }

    /// Removes the state.
    pub fn remove(&mut self) {
        if self.timing_out {
            self.misused("Cannot remove the state that is timing out");
        } else if self.removed {
            self.misused("Cannot remove the state that has already been removed");
        } else {
            self.value = None;
            self.removed = true;
        }
    }

    fn misused(&mut self, message: &'static str) {
        self.misuse.get_or_insert(message);
    }

    /// The first misuse since the function was called, as Spark's error.
    pub(crate) fn take_misuse(&mut self) -> Option<Error> {
        self.misuse.take().map(Error::StateMisuse)
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
/// initial state and an idle timeout. Spark's `numPartitions` is the result's
/// [`with_partitions`](crate::DStream::with_partitions).
pub struct StateSpec<K: Data, V: Data, S: Data, M: Data> {
    pub(crate) function: Arc<MappingFn<K, V, S, M>>,
    pub(crate) initial: Option<Batch<(K, S)>>,
    pub(crate) timeout: Option<Duration>,
}

impl<K: Data, V: Data, S: Data, M: Data> StateSpec<K, V, S, M> {
    /// Spark's `StateSpec.function((key, value, state) => mapped)`: called once per record,
    /// its result is the mapped record (a key returned in it stays a view). Timing-out keys
    /// (see [`timeout`](Self::timeout)) are called with `None` as the value.
    ///
    /// ```
    /// use dstreams::{State, StateSpec, Str};
    /// let spec = StateSpec::function(|word: Str, one: Option<i64>, state: &mut State<i64>| {
    ///     let sum = one.unwrap_or(0) + state.get_option().copied().unwrap_or(0);
    ///     state.update(sum);
    ///     (word, sum)
    /// });
    /// # let _: StateSpec<String, i64, i64, (String, i64)> = spec;
    /// ```
    pub fn function<R, F>(f: F) -> Self
    where
        R: Value<Data = M>,
        F: Fn(K::Arg, Option<V::Arg>, &mut State<S>) -> R + Send + Sync + 'static,
    {
        Self::of(Arc::new(move |_, k, v, s, out| f(k, v, s).append_to(out)))
    }

    /// Spark's `StateSpec.function((time, key, value, state) => Option[mapped])`.
    pub fn function_with_time<R, F>(f: F) -> Self
    where
        R: Value<Data = M>,
        F: Fn(Time, K::Arg, Option<V::Arg>, &mut State<S>) -> Option<R> + Send + Sync + 'static,
    {
        Self::of(Arc::new(move |t, k, v, s, out| {
            if let Some(m) = f(t, k, v, s) {
                m.append_to(out);
            }
        }))
    }

    fn of(function: Arc<MappingFn<K, V, S, M>>) -> Self {
        StateSpec {
            function,
            initial: None,
            timeout: None,
        }
    }

    /// The state before the first batch (Spark's `initialState`).
    pub fn initial_state(mut self, initial: Batch<(K, S)>) -> Self {
        self.initial = Some(initial);
        self
    }

    /// Keys idle (no record) for longer than `idle` are called once more with no value and
    /// [`State::is_timing_out`], then removed. Checked every batch, at a cost proportional to
    /// the keys that time out (Spark checks only in checkpointing batches, so its timeouts can
    /// be late by a checkpoint interval).
    pub fn timeout(mut self, idle: impl Into<Duration>) -> Self {
        self.timeout = Some(idle.into());
        self
    }
}
