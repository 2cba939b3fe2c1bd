"""RDD: one batch of a stream, with the operations of PySpark's RDD that DStream programs use.

A batch is a list of partitions, each a list of Python objects, in one process. The keyed
operations follow PySpark's own definitions, so results, and the order records come in, are
PySpark's: ``reduceByKey`` combines each partition's values in a dict in the order keys first
appear, places keys in output partitions by ``portable_hash(key) % numPartitions`` and merges
the partitions' combiners in partition order; ``groupByKey`` gives a ``ResultIterable``; joins
and ``cogroup`` tag values by side and group them.
"""

import itertools
import operator
import pickle
import sys
from collections import defaultdict

__all__ = ["RDD", "ResultIterable", "portable_hash"]

_IMMUTABLE = {int, float, complex, str, bytes, bool, type(None), frozenset}


def fresh(value):
    """``value``, or a copy of it that a function may change in place. PySpark's functions get
    values unpickled for them, so ``lambda a, b: a.extend(b) or a`` changes nothing else; here
    batches share their objects (a window holds its batches' objects, state its last values),
    so a mutable value is copied, through pickle as PySpark's would be, before a combining
    function gets it as the value it may change."""
    t = type(value)
    if t in _IMMUTABLE or (t is tuple and all(type(x) in _IMMUTABLE for x in value)):
        return value
    return pickle.loads(pickle.dumps(value, pickle.HIGHEST_PROTOCOL))


def portable_hash(x):
    """PySpark's partitioning hash: ``hash`` but for ``None`` (0) and tuples (an item-wise
    hash that does not depend on ``id``)."""
    if x is None:
        return 0
    if isinstance(x, tuple):
        h = 0x345678
        for i in x:
            h ^= portable_hash(i)
            h *= 1000003
            h &= sys.maxsize
        h ^= len(x)
        if h == -1:
            h = -2
        return int(h)
    return hash(x)


class ResultIterable:
    """The values of one key (``groupByKey``, ``cogroup``): iterable, sized, as in PySpark."""

    def __init__(self, data):
        self.data = data
        self.index = 0
        self.maxindex = len(data)

    def __iter__(self):
        return iter(self.data)

    def __len__(self):
        return len(self.data)

    def __repr__(self):
        return "<%s.%s object at 0x%x>" % (type(self).__module__, type(self).__name__, id(self))


def combine_partition(items, create, merge_value):
    """One partition's ``(key, combiner)`` pairs, keys in first-appearance order."""
    combiners = {}
    for k, v in items:
        combiners[k] = merge_value(combiners[k], v) if k in combiners else create(fresh(v))
    return list(combiners.items())


def merge_partials(partials, merge_combiners, num_partitions):
    """The partitions' ``(key, combiner)`` pairs shuffled into ``num_partitions`` partitions by
    ``portable_hash`` and merged in partition order."""
    buckets = [{} for _ in range(num_partitions)]
    for partial in partials:
        for k, c in partial:
            bucket = buckets[portable_hash(k) % num_partitions]
            bucket[k] = merge_combiners(bucket[k], c) if k in bucket else c
    return [list(b.items()) for b in buckets]


def _identity(x):
    return x


class RDD:
    """A batch: ``partitions`` is a list of lists. ``native`` is the engine's handle of a batch
    not yet turned into Python objects (``count`` and ``take`` then box nothing or little)."""

    def __init__(self, partitions=None, ctx=None, native=None, path=None):
        self._partitions = partitions
        self._native = native
        self._path = path
        self.ctx = ctx

    # ---- the partitions --------------------------------------------------------------------

    @property
    def partitions(self):
        if self._partitions is None:
            if self._native is not None:
                self._partitions = self._native.partitions()
            else:
                self._partitions = [_read_lines(self._path)]
        return self._partitions

    def _derive(self, partitions):
        return RDD(partitions, self.ctx)

    def _parallelism(self):
        return self.ctx.defaultParallelism if self.ctx is not None else self.getNumPartitions()

    def getNumPartitions(self):
        if self._partitions is None and self._native is not None:
            return self._native.num_partitions()
        return len(self.partitions)

    # ---- actions ---------------------------------------------------------------------------

    def collect(self):
        return [x for p in self.partitions for x in p]

    def count(self):
        if self._partitions is None and self._native is not None:
            return self._native.count()
        return sum(len(p) for p in self.partitions)

    def take(self, num):
        if self._partitions is None and self._native is not None:
            return self._native.take(num)
        return list(itertools.islice(itertools.chain.from_iterable(self.partitions), num))

    def first(self):
        taken = self.take(1)
        if not taken:
            raise ValueError("RDD is empty")
        return taken[0]

    def isEmpty(self):
        return self.count() == 0

    def reduce(self, f):
        partials = [_fold(p, f) for p in self.partitions if p]
        if not partials:
            raise ValueError("Can not reduce() empty RDD")
        return _fold(partials, f)

    def countByValue(self):
        counts = defaultdict(int)
        for x in self.collect():
            counts[x] += 1
        return counts

    def collectAsMap(self):
        return dict(self.collect())

    def foreach(self, f):
        for x in self.collect():
            f(x)

    def foreachPartition(self, f):
        for p in self.partitions:
            f(iter(p))

    def toArrow(self):
        """The batch as a ``pyarrow.Table`` (pyarrow needed): a column ``value`` of the
        elements, or ``key`` and ``value`` when every element is a pair."""
        import pyarrow as pa

        items = self.collect()
        if items and all(isinstance(x, tuple) and len(x) == 2 for x in items):
            return pa.table({"key": [k for k, _ in items], "value": [v for _, v in items]})
        return pa.table({"value": items})

    # ---- narrow transformations ------------------------------------------------------------

    def mapPartitionsWithIndex(self, f, preservesPartitioning=False):
        return self._derive([list(f(i, iter(p))) for i, p in enumerate(self.partitions)])

    def mapPartitions(self, f, preservesPartitioning=False):
        return self._derive([list(f(iter(p))) for p in self.partitions])

    def map(self, f, preservesPartitioning=False):
        return self._derive([list(map(f, p)) for p in self.partitions])

    def flatMap(self, f, preservesPartitioning=False):
        return self._derive([list(itertools.chain.from_iterable(map(f, p))) for p in self.partitions])

    def filter(self, f):
        return self._derive([list(filter(f, p)) for p in self.partitions])

    def glom(self):
        return self._derive([[list(p)] for p in self.partitions])

    def mapValues(self, f):
        return self._derive([[(k, f(v)) for k, v in p] for p in self.partitions])

    def flatMapValues(self, f):
        return self._derive([[(k, x) for k, v in p for x in f(v)] for p in self.partitions])

    def keys(self):
        return self.map(operator.itemgetter(0))

    def values(self):
        return self.map(operator.itemgetter(1))

    def union(self, other):
        return self._derive(self.partitions + other.partitions)

    def cache(self):
        return self

    persist = cache

    def unpersist(self, blocking=False):
        return self

    # ---- shuffles --------------------------------------------------------------------------

    def repartition(self, numPartitions):
        items = self.collect()
        return self._derive([items[i::numPartitions] for i in range(numPartitions)])

    def coalesce(self, numPartitions, shuffle=False):
        return self.repartition(numPartitions)

    def partitionBy(self, numPartitions, partitionFunc=portable_hash):
        buckets = [[] for _ in range(numPartitions)]
        for p in self.partitions:
            for kv in p:
                buckets[partitionFunc(kv[0]) % numPartitions].append(kv)
        return self._derive(buckets)

    def combineByKey(self, createCombiner, mergeValue, mergeCombiners, numPartitions=None,
                     partitionFunc=portable_hash):
        n = numPartitions or self._parallelism()
        partials = [combine_partition(p, createCombiner, mergeValue) for p in self.partitions]
        if partitionFunc is portable_hash:
            return self._derive(merge_partials(partials, mergeCombiners, n))
        return self._derive(partials).partitionBy(n, partitionFunc).mapPartitions(
            lambda it: combine_partition(it, _identity, mergeCombiners))

    def reduceByKey(self, func, numPartitions=None, partitionFunc=portable_hash):
        return self.combineByKey(_identity, func, func, numPartitions, partitionFunc)

    def groupByKey(self, numPartitions=None, partitionFunc=portable_hash):
        def create(v):
            return [v]

        def merge_value(c, v):
            c.append(v)
            return c

        def merge_combiners(a, b):
            a.extend(b)
            return a

        grouped = self.combineByKey(create, merge_value, merge_combiners, numPartitions, partitionFunc)
        return grouped.mapValues(ResultIterable)

    def distinct(self, numPartitions=None):
        return self.map(lambda x: (x, None)).reduceByKey(lambda x, _: x, numPartitions).keys()

    def _tagged_groups(self, other, numPartitions):
        tagged = self.mapValues(lambda v: (1, v)).union(other.mapValues(lambda w: (2, w)))
        return tagged.groupByKey(numPartitions)

    def _join(self, other, numPartitions, left_outer, right_outer):
        def pairs(values):
            left = [v for side, v in values if side == 1]
            right = [w for side, w in values if side == 2]
            if left_outer and not right:
                right.append(None)
            if right_outer and not left:
                left.append(None)
            return [(v, w) for v in left for w in right]

        return self._tagged_groups(other, numPartitions).flatMapValues(pairs)

    def join(self, other, numPartitions=None):
        return self._join(other, numPartitions, False, False)

    def leftOuterJoin(self, other, numPartitions=None):
        return self._join(other, numPartitions, True, False)

    def rightOuterJoin(self, other, numPartitions=None):
        return self._join(other, numPartitions, False, True)

    def fullOuterJoin(self, other, numPartitions=None):
        return self._join(other, numPartitions, True, True)

    def cogroup(self, other, numPartitions=None):
        def split(values):
            return (ResultIterable([v for side, v in values if side == 1]),
                    ResultIterable([w for side, w in values if side == 2]))

        return self._tagged_groups(other, numPartitions).mapValues(split)

    def sortBy(self, keyfunc, ascending=True, numPartitions=None):
        items = sorted(self.collect(), key=keyfunc, reverse=not ascending)
        n = numPartitions or self.getNumPartitions() or 1
        size = -(-len(items) // n) if items else 0
        return self._derive([items[i * size:(i + 1) * size] for i in range(n)])

    def sortByKey(self, ascending=True, numPartitions=None, keyfunc=_identity):
        return self.sortBy(lambda kv: keyfunc(kv[0]), ascending, numPartitions)


def _fold(items, f):
    it = iter(items)
    acc = next(it)
    for x in it:
        acc = f(acc, x)
    return acc


def _read_lines(path):
    """A text file's lines as Spark reads them (``\\n``, ``\\r\\n`` or ``\\r`` ends a line)."""
    with open(path, encoding="utf-8", newline=None) as f:
        return [line[:-1] if line.endswith("\n") else line for line in f]
