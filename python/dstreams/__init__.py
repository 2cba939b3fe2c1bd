"""dstreams for Python: ``pyspark.streaming``'s DStream API on the dstreams engine (Rust).

A PySpark streaming program runs with its imports changed::

    from dstreams import SparkConf, SparkContext        # was: from pyspark import ...
    from dstreams.streaming import StreamingContext     # was: from pyspark.streaming import ...

``SparkConf`` and ``SparkContext`` stand in for the parts of PySpark's that streaming programs
use: the application name, ``local[N]`` as the parallelism, ``parallelize`` and ``textFile``.
"""

import os
import re

from dstreams._dstreams import DStreamsError
from dstreams.rdd import RDD

__all__ = ["DStreamsError", "RDD", "SparkConf", "SparkContext"]
__version__ = "0.1.0"

# The setting that turns function recognition off: every function then runs in Python.
RECOGNISE = "spark.dstreams.recognise"


class SparkConf:
    """Settings, as PySpark's ``SparkConf``. Read by dstreams: ``spark.app.name``,
    ``spark.master`` (``local``, ``local[N]``, ``local[*]``), ``spark.dstreams.recognise``
    (``false`` runs every function in Python) and ``spark.streaming.clock`` (``manual``: batches
    happen when a test advances the clock, see ``dstreams.testing``). Others are kept and
    ignored."""

    def __init__(self, loadDefaults=True):
        self._settings = {}

    def set(self, key, value):
        self._settings[key] = str(value)
        return self

    def setAppName(self, value):
        return self.set("spark.app.name", value)

    def setMaster(self, value):
        return self.set("spark.master", value)

    def setAll(self, pairs):
        for k, v in pairs:
            self.set(k, v)
        return self

    def get(self, key, defaultValue=None):
        return self._settings.get(key, defaultValue)

    def getAll(self):
        return list(self._settings.items())

    def contains(self, key):
        return key in self._settings


def _cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _parallelism(master):
    """The number of partitions ``master`` asks for; without one, every core the process may
    run on (``local[*]``)."""
    if master is None:
        return _cores()
    if master == "local":
        return 1
    m = re.fullmatch(r"local\[(\*|\d+)(?:,\s*\d+)?\]", master)
    if not m:
        raise ValueError("dstreams runs in one process: the master must be local, local[N] or "
                         "local[*], not %r" % master)
    n = _cores() if m.group(1) == "*" else int(m.group(1))
    if n < 1:
        raise ValueError("the master %r asks for no cores" % master)
    return n


def _local_path(path):
    """A path given as a ``file://`` URI (as PySpark programs write them) or plain."""
    path = os.fspath(path)
    if path.startswith("file://"):
        return path[len("file://"):]
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", path):
        raise ValueError("dstreams reads local files only, not %r" % path)
    return path


class SparkContext:
    """The parts of PySpark's ``SparkContext`` that streaming programs use."""

    _active = None

    def __init__(self, master=None, appName=None, conf=None, **_ignored):
        self._conf = conf or SparkConf()
        if master is not None:
            self._conf.setMaster(master)
        if appName is not None:
            self._conf.setAppName(appName)
        self.master = self._conf.get("spark.master")
        self.appName = self._conf.get("spark.app.name")
        self.defaultParallelism = _parallelism(self.master)
        self.version = __version__
        SparkContext._active = self

    @classmethod
    def getOrCreate(cls, conf=None):
        return cls._active or cls(conf=conf)

    def getConf(self):
        return self._conf

    def setLogLevel(self, logLevel):
        """Accepted for compatibility; the engine logs through ``RUST_LOG`` (tracing)."""

    def parallelize(self, c, numSlices=None):
        """``c`` cut into ``numSlices`` partitions as PySpark cuts it."""
        items = list(c)
        n = numSlices or self.defaultParallelism
        if n < 1:
            raise ValueError("numSlices must be at least 1")
        return RDD([items[i * len(items) // n:(i + 1) * len(items) // n] for i in range(n)], self)

    def textFile(self, name, minPartitions=None, use_unicode=True):
        """A text file's lines, read when used (in a ``queueStream``: when its batch runs)."""
        return RDD(ctx=self, path=_local_path(name))

    def emptyRDD(self):
        return RDD([[]], self)

    def stop(self):
        if SparkContext._active is self:
            SparkContext._active = None
