"""DStream: ``pyspark.streaming.DStream``'s operations on the dstreams engine.

Each operation picks, when it is applied, a native implementation (the function is recognised,
see ``dstreams._recognise``, and the stream holds what the native code handles) or a call into
Python once per batch over all its partitions. ``explain()`` says which was chosen.
Compositions follow PySpark's own definitions (``countByValue`` is ``map((x, 1))`` then
``reduceByKey(add)``, windows of keyed streams are ``reduceByKeyAndWindow``, ...), so results
are PySpark's.
"""

import operator
from datetime import datetime

from dstreams._recognise import recognise
from dstreams.rdd import RDD, ResultIterable, fresh, merge_partials

__all__ = ["DStream"]


# The pair and filter functions of PySpark's compositions, written as the recognised references
# are, so that a composition of recognised operations stays native.
_pair_one = lambda x: (x, 1)  # noqa: E731
_positive_value = lambda kv: kv[1] > 0  # noqa: E731


def _ms(ssc, seconds, what):
    from dstreams.streaming.context import _millis

    return ssc._batch_ms if seconds is None else _millis(seconds, what)


def _batch_time(time_ms):
    """A batch time as PySpark gives it to functions: a local ``datetime``."""
    return datetime.fromtimestamp(time_ms / 1000.0)


def _arg_count(f):
    code = getattr(f, "__code__", None)
    return code.co_argcount if code is not None else 2


def _rdd_function(f):
    """``f(rdd)`` or ``f(time, rdd)`` (PySpark tells them apart by the argument count) as
    ``g(time_ms, ...)``."""
    if _arg_count(f) == 1:
        return lambda t, *rdds: f(*rdds)
    return lambda t, *rdds: f(_batch_time(t), *rdds)


class DStream:
    """A discretized stream: one batch of Python objects per batch interval."""

    def __init__(self, ssc, stream=None, lineage=(), pending=None):
        self._ssc = ssc
        self._stream = stream
        self._lineage = lineage
        # An unrecognised map of strings, kept unbuilt while the next operation may fuse with
        # it: (parent, f, build).
        self._pending = pending
        # For the Kafka direct stream: its values alone, natively (`map(lambda x: x[1])`).
        self._values = None
        # For `(w, 1)` pairs made natively from a stream of strings: that stream. Its word
        # counts (`countByValue`, the engine's fused kernel) are what reducing the pairs by `+`
        # gives, so the keyed operations start from them.
        self._pairs_of = None

    @property
    def _s(self):
        if self._stream is None:
            self._stream = self._pending[2]()
        return self._stream

    def _native(self, f, *names):
        """The recognised name of ``f`` if it is one of ``names`` and recognition is on."""
        if not self._ssc._recognise:
            return None
        name = recognise(f)
        return name if name in names else None

    def _kind(self):
        return self._s.kind

    def _child(self, stream, step):
        return DStream(self._ssc, stream, self._lineage + (step,))

    def _per_batch(self, name, f):
        """``f(time_ms, rdd) -> rdd`` once per batch, in Python."""
        sc = self._ssc._sc

        def run(time_ms, partitions):
            return f(time_ms, RDD(partitions, sc)).partitions

        return self._child(self._s.per_batch(run, name), name + " python")

    def _with(self, other, name, f):
        """``f(time_ms, rdd, other_rdd) -> rdd`` once per batch, in Python."""
        sc = self._ssc._sc

        def run(time_ms, a, b):
            return f(time_ms, RDD(a, sc), RDD(b, sc)).partitions

        return DStream(self._ssc, self._s.per_batch_with(other._s, run, name),
                       self._lineage + other._lineage + (name + " python",))

    def _partitions(self, numPartitions):
        return numPartitions or self._ssc._sc.defaultParallelism

    def explain(self):
        """The operations of this stream's lineage, one per line, each ``native`` (run by the
        engine) or ``python`` (a call into Python per batch)."""
        return "\n".join(self._lineage)

    def context(self):
        return self._ssc

    # ---- per-batch transformations ---------------------------------------------------------

    def map(self, f, preservesPartitioning=False):
        if self._values is not None and self._native(f, "second"):
            return self._child(self._values, "map native")
        if self._kind() == "str":
            if self._native(f, "pair_one"):
                pairs = self._child(self._s.pair_one(), "map native")
                pairs._pairs_of = self
                return pairs
            return DStream(self._ssc, None, self._lineage + ("map python",), pending=(
                self, f, lambda: self._per_batch("map", lambda t, rdd: rdd.map(f))._s))
        return self._per_batch("map", lambda t, rdd: rdd.map(f))

    def flatMap(self, f, preservesPartitioning=False):
        if self._kind() == "str" and self._native(f, "split_space"):
            return self._child(self._s.split_space(), "flatMap native")
        return self._per_batch("flatMap", lambda t, rdd: rdd.flatMap(f))

    def filter(self, f):
        if self._kind() == "counts" and self._native(f, "nonzero_value"):
            return self._child(self._s.drop_zero_counts(), "filter native")
        return self._per_batch("filter", lambda t, rdd: rdd.filter(f))

    def mapPartitions(self, f, preservesPartitioning=False):
        return self._per_batch("mapPartitions", lambda t, rdd: rdd.mapPartitions(f))

    def mapPartitionsWithIndex(self, f, preservesPartitioning=False):
        return self._per_batch("mapPartitionsWithIndex",
                               lambda t, rdd: rdd.mapPartitionsWithIndex(f))

    def glom(self):
        return self._per_batch("glom", lambda t, rdd: rdd.glom())

    def mapValues(self, f):
        return self._per_batch("mapValues", lambda t, rdd: rdd.mapValues(f))

    def flatMapValues(self, f):
        return self._per_batch("flatMapValues", lambda t, rdd: rdd.flatMapValues(f))

    def repartition(self, numPartitions):
        return self._child(self._s.repartition(numPartitions), "repartition native")

    def union(self, other):
        return DStream(self._ssc, self._s.union(other._s),
                       self._lineage + other._lineage + ("union native",))

    def count(self):
        """Per batch, one element: the number of elements."""
        return self._child(self._s.count(), "count native")

    def reduce(self, f):
        """Per batch, the elements reduced with ``f`` (no element for an empty batch)."""
        def run(t, rdd):
            return RDD([[rdd.reduce(f)]] if rdd.count() else [[]], rdd.ctx)

        return self._per_batch("reduce", run)

    def countByValue(self):
        """``(value, count)`` per distinct value of each batch."""
        return self.map(_pair_one).reduceByKey(operator.add)

    def transform(self, func):
        """``func(rdd)`` or ``func(time, rdd)`` per batch, returning an RDD."""
        f = _rdd_function(func)
        return self._per_batch("transform", lambda t, rdd: f(t, rdd))

    def transformWith(self, func, other, keepSerializer=False):
        """``func(rdd, other_rdd)`` or ``func(time, rdd, other_rdd)`` per batch."""
        f = _rdd_function(func)
        return self._with(other, "transformWith", lambda t, a, b: f(t, a, b))

    def cache(self):
        """Batches are kept in memory as long as an operation needs them: nothing to do."""
        return self

    persist = cache

    def checkpoint(self, interval):
        """Accepted; the engine checkpoints every stream that needs it at the context's
        checkpoint interval."""
        return self

    # ---- keyed transformations -------------------------------------------------------------

    def reduceByKey(self, func, numPartitions=None):
        n = self._partitions(numPartitions)
        if self._native(func, "add"):
            if self._pairs_of is not None:
                return self._child(self._pairs_of._s.count_by_value(numPartitions),
                                   "reduceByKey native")
            if self._pending is None and self._kind() == "counts":
                return self._child(self._s.reduce_add(numPartitions), "reduceByKey native")
            if self._pending is not None:
                parent, f, _ = self._pending

                def merge(t, partials):
                    return merge_partials(partials, operator.add, n)

                return DStream(self._ssc, parent._s.map_then_add(f, merge),
                               self._lineage + ("reduceByKey native",))
        return self._per_batch("reduceByKey", lambda t, rdd: rdd.reduceByKey(func, n))

    def combineByKey(self, createCombiner, mergeValue, mergeCombiners, numPartitions=None):
        n = self._partitions(numPartitions)
        return self._per_batch("combineByKey", lambda t, rdd: rdd.combineByKey(
            createCombiner, mergeValue, mergeCombiners, n))

    def groupByKey(self, numPartitions=None):
        n = self._partitions(numPartitions)
        return self._per_batch("groupByKey", lambda t, rdd: rdd.groupByKey(n))

    def partitionBy(self, numPartitions, partitionFunc=None):
        from dstreams.rdd import portable_hash

        pf = partitionFunc or portable_hash
        return self._per_batch("partitionBy", lambda t, rdd: rdd.partitionBy(numPartitions, pf))

    def _join(self, other, name, numPartitions):
        n = self._partitions(numPartitions)
        return self._with(other, name, lambda t, a, b: getattr(a, name)(b, n))

    def join(self, other, numPartitions=None):
        return self._join(other, "join", numPartitions)

    def leftOuterJoin(self, other, numPartitions=None):
        return self._join(other, "leftOuterJoin", numPartitions)

    def rightOuterJoin(self, other, numPartitions=None):
        return self._join(other, "rightOuterJoin", numPartitions)

    def fullOuterJoin(self, other, numPartitions=None):
        return self._join(other, "fullOuterJoin", numPartitions)

    def cogroup(self, other, numPartitions=None):
        return self._join(other, "cogroup", numPartitions)

    # ---- windows ---------------------------------------------------------------------------

    def window(self, windowDuration, slideDuration=None):
        """The union of the batches of the last ``windowDuration`` seconds, every
        ``slideDuration`` seconds (both multiples of the batch duration)."""
        w = _ms(self._ssc, windowDuration, "the window duration")
        s = _ms(self._ssc, slideDuration, "the slide duration")
        return self._child(self._s.window(w, s), "window native")

    def reduceByWindow(self, reduceFunc, invReduceFunc, windowDuration, slideDuration):
        keyed = self.map(lambda x: (1, x))
        reduced = keyed.reduceByKeyAndWindow(reduceFunc, invReduceFunc, windowDuration,
                                             slideDuration, 1)
        return reduced.map(lambda kv: kv[1])

    def countByWindow(self, windowDuration, slideDuration):
        return self.map(lambda x: 1).reduceByWindow(operator.add, operator.sub, windowDuration,
                                                    slideDuration)

    def countByValueAndWindow(self, windowDuration, slideDuration, numPartitions=None):
        keyed = self.map(_pair_one)
        counted = keyed.reduceByKeyAndWindow(operator.add, operator.sub, windowDuration,
                                             slideDuration, numPartitions)
        return counted.filter(_positive_value)

    def groupByKeyAndWindow(self, windowDuration, slideDuration, numPartitions=None):
        lists = self.mapValues(lambda x: [x])
        grouped = lists.reduceByKeyAndWindow(_extend, _drop_front, windowDuration, slideDuration,
                                             numPartitions)
        return grouped.mapValues(ResultIterable)

    def reduceByKeyAndWindow(self, func, invFunc, windowDuration, slideDuration=None,
                             numPartitions=None, filterFunc=None):
        """``func`` over each key's values in the window. As in PySpark, ``invFunc`` (which
        takes expiring batches out) is used when the window is at least 5 slides long, and then
        a key whose batches all left the window stays at the value ``invFunc`` left (0) unless
        ``filterFunc`` drops it; shorter windows are reduced whole."""
        w = _ms(self._ssc, windowDuration, "the window duration")
        s = _ms(self._ssc, slideDuration, "the slide duration")
        n = self._partitions(numPartitions)
        inverse = invFunc is not None and w >= 5 * s
        if (self._pending is None and self._kind() == "counts" and self._native(func, "add")
                and (invFunc is None or self._native(invFunc, "sub"))
                and (filterFunc is None or self._native(filterFunc, "nonzero_value"))):
            drop_zero = invFunc is not None and filterFunc is not None
            positive = self._pairs_of is not None
            keyed = self._pairs_of._s.count_by_value(n) if positive else self._s
            return self._child(keyed.window_add(w, s, inverse, drop_zero, positive, n),
                               "reduceByKeyAndWindow native")
        if inverse:
            # As PySpark: each batch reduced first, then the window of the reduced batches. The
            # engine keeps the window's values: the functions get copies they may change.
            reduced = self.reduceByKey(func, n)
            native_add = bool(self._native(func, "add"))
            native_sub = bool(self._native(invFunc, "sub"))
            windowed = reduced._child(reduced._s.reduce_window(
                lambda a, b: func(fresh(a), b), lambda a, b: invFunc(fresh(a), b),
                native_add, native_sub, w, s, n), "reduceByKeyAndWindow python")
        else:
            reduced = self.reduceByKey(func, n)
            windowed = reduced.window(w / 1000, s / 1000).reduceByKey(func, n)
        if invFunc is not None and filterFunc is not None:
            return windowed.filter(filterFunc)
        return windowed

    # ---- state -----------------------------------------------------------------------------

    def updateStateByKey(self, updateFunc, numPartitions=None, initialRDD=None):
        """Per key, ``updateFunc(new_values, last_state)`` every batch (``last_state`` is
        ``None`` for a new key, a ``None`` result removes the key); needs a checkpoint
        directory. ``initialRDD`` (an RDD or a list of pairs) is the state before the first
        batch."""
        n = self._partitions(numPartitions)
        initial = []
        if initialRDD is not None:
            initial = initialRDD.collect() if isinstance(initialRDD, RDD) else list(initialRDD)
        if (self._pending is None and self._kind() == "counts"
                and self._native(updateFunc, "update_sum") and all(map(_word_count, initial))):
            keyed = self._pairs_of._s.count_by_value(n) if self._pairs_of is not None else self._s
            return self._child(keyed.update_sum(initial, n), "updateStateByKey native")
        # The engine keeps the state: the function gets a copy it may change.
        native_sum = bool(self._native(updateFunc, "update_sum"))
        return self._child(self._s.update_state(lambda vs, s: updateFunc(vs, fresh(s)), initial,
                                                native_sum, n),
                           "updateStateByKey python")

    # ---- outputs ---------------------------------------------------------------------------

    def foreachRDD(self, func):
        """``func(rdd)`` or ``func(time, rdd)`` for every batch."""
        f = _rdd_function(func)
        sc = self._ssc._sc

        def run(time_ms, batch):
            f(time_ms, RDD(ctx=sc, native=batch))

        self._s.foreach(run, "foreachRDD")

    def pprint(self, num=10):
        """Prints the first ``num`` elements of every batch, as PySpark does."""
        def take_and_print(time, rdd):
            taken = rdd.take(num + 1)
            print("-------------------------------------------")
            print("Time: %s" % time)
            print("-------------------------------------------")
            for record in taken[:num]:
                print(record)
            if len(taken) > num:
                print("...")
            print("")

        self.foreachRDD(take_and_print)

    def saveAsTextFiles(self, prefix, suffix=None):
        """Per batch the directory ``prefix-<batch time in ms>[.suffix]`` of part files, one
        ``str()`` of an element per line (PySpark's layout and text)."""
        from dstreams import _local_path

        self._s.save_as_text_files(_local_path(prefix), suffix or "")


def _extend(a, b):
    a.extend(b)
    return a


def _drop_front(a, b):
    return a[len(b):]


def _word_count(kv):
    """Whether ``kv`` is a word count the native state holds: ``(str, int within i64)``."""
    return (type(kv) is tuple and len(kv) == 2 and type(kv[0]) is str and type(kv[1]) is int
            and -2 ** 63 <= kv[1] < 2 ** 63)
