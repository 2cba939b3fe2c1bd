"""StreamingContext: ``pyspark.streaming.StreamingContext`` on the dstreams engine."""

import atexit
import os
import time as _time
import weakref

from dstreams import RECOGNISE, _dstreams, _local_path
from dstreams.rdd import RDD
from dstreams.streaming.dstream import DStream

__all__ = ["StreamingContext"]

# Called with every context that starts (dstreams.testing follows programs through it).
_started_hooks = []

# Contexts started and not stopped: stopped when the interpreter exits (a program that ends, or
# is interrupted, without stopping its context), before Python is torn down under the engine's
# threads.
_running = weakref.WeakSet()


@atexit.register
def _stop_running():
    for ssc in list(_running):
        ssc._ctx.stop(False)


def _millis(seconds, what):
    ms = round(float(seconds) * 1000)
    if ms <= 0:
        raise ValueError("%s must be positive, not %r" % (what, seconds))
    return ms


def _manual_clock(conf):
    return (conf.get("spark.streaming.clock") == "manual"
            or os.environ.get("DSTREAMS_CLOCK") == "manual")


class StreamingContext:
    """A streaming context of ``batchDuration``-second batches over the parallelism of
    ``sparkContext`` (``local[N]``)."""

    _activeContext = None

    def __init__(self, sparkContext, batchDuration=None):
        if batchDuration is None:
            raise ValueError("the batch duration is needed (StreamingContext(sc, seconds))")
        self._sc = sparkContext
        conf = sparkContext.getConf()
        self._batch_ms = _millis(batchDuration, "the batch duration")
        self._recognise = conf.get(RECOGNISE, "true").lower() != "false"
        start = None
        if _manual_clock(conf):
            now = int(_time.time() * 1000)
            start = now - now % self._batch_ms
        self._ctx = _dstreams.Context(self._batch_ms, sparkContext.defaultParallelism, start)

    @property
    def sparkContext(self):
        return self._sc

    # ---- sources ---------------------------------------------------------------------------

    def textFileStream(self, directory):
        """New text files in ``directory`` (a path or a ``file://`` URI), Spark's rules: files
        that appear in it (moved in, or written elsewhere and renamed in) with a modification
        time within the batch's window; each line a ``str``."""
        return self._source(self._ctx.text_file_stream(_local_path(directory)), "textFileStream")

    def socketTextStream(self, hostname, port, storageLevel=None):
        """Lines of text from a TCP server (``str``, UTF-8)."""
        return self._source(self._ctx.socket_text_stream(hostname, int(port)), "socketTextStream")

    def queueStream(self, rdds, oneAtATime=True, default=None):
        """A stream of the given batches (RDDs, or lists, made into RDDs with ``parallelize``):
        one per batch with ``oneAtATime``, else all in the first. A queue of text files
        (``sc.textFile``) is read file by file as the batches run."""
        rdds = [r if isinstance(r, RDD) else self._sc.parallelize(r) for r in rdds]
        if default is not None and not isinstance(default, RDD):
            default = self._sc.parallelize(default)
        if rdds and oneAtATime and default is None and all(r._path is not None for r in rdds):
            return self._source(self._ctx.text_files_queue([r._path for r in rdds]), "queueStream")
        batches = [r.partitions for r in rdds]
        if not oneAtATime and batches:
            batches = [[p for b in batches for p in b]]
        default = default.partitions if default is not None else None
        if all(type(x) is str for b in batches + [default or []] for p in b for x in p):
            # Strings only: a native stream, as lines from a source are.
            return self._source(self._ctx.queue_stream_strings(batches, default), "queueStream")
        stream = self._ctx.queue_stream(batches, True, default)
        return self._source(stream, "queueStream")

    def union(self, *dstreams):
        if not dstreams:
            raise ValueError("should have at least one DStream to union")
        if len(dstreams) == 1 and isinstance(dstreams[0], (list, tuple)):
            dstreams = dstreams[0]
        return DStream(self, self._ctx.union([d._s for d in dstreams]),
                       sum((d._lineage for d in dstreams), ()) + ("union native",))

    def transform(self, dstreams, transformFunc):
        """``transformFunc(rdds)`` (or ``(time, rdds)``), the batches of one or two streams."""
        from dstreams.streaming.dstream import _rdd_function

        f = _rdd_function(transformFunc)
        if len(dstreams) == 1:
            return dstreams[0].transform(lambda t, rdd: f(t, [rdd]))
        if len(dstreams) == 2:
            return dstreams[0].transformWith(lambda t, a, b: f(t, [a, b]), dstreams[1])
        raise NotImplementedError("StreamingContext.transform of more than two streams")

    def _source(self, stream, name):
        return DStream(self, stream, (name + " native",))

    # ---- settings --------------------------------------------------------------------------

    def checkpoint(self, directory):
        """Checkpoints go to ``directory`` (a path or a ``file://`` URI)."""
        self._ctx.checkpoint(_local_path(directory))

    def remember(self, duration):
        self._ctx.remember(_millis(duration, "the duration"))

    def addStreamingListener(self, streamingListener):
        from dstreams.streaming.listener import _ListenerBridge

        self._ctx.add_listener(_ListenerBridge(streamingListener))

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self):
        self._ctx.start()
        _running.add(self)
        StreamingContext._activeContext = self
        for hook in list(_started_hooks):
            hook(self)

    def awaitTermination(self, timeout=None):
        """Waits until the context stops; raises ``DStreamsError`` with the first batch
        failure. ``timeout`` in seconds."""
        if timeout is None:
            self._ctx.await_termination()
        else:
            self._ctx.await_termination(_millis(timeout, "the timeout"))

    def awaitTerminationOrTimeout(self, timeout):
        """``True`` if the context stopped within ``timeout`` seconds."""
        return self._ctx.await_termination(_millis(timeout, "the timeout"))

    def stop(self, stopSparkContext=True, stopGraceFully=False):
        """Stops the batches. Gracefully, as Spark does it: the batch timer is stopped without
        interrupting it, so the batch at the next interval and the one after it are still
        generated, and the stop waits for them (and for data already received)."""
        if stopGraceFully and self._ctx.state() == "active":
            now = self._ctx.now_ms()
            last = now - now % self._batch_ms + 2 * self._batch_ms
            self._ctx.await_batch(last, 10 * self._batch_ms + 60_000)
        self._ctx.stop(bool(stopGraceFully))
        _running.discard(self)
        if StreamingContext._activeContext is self:
            StreamingContext._activeContext = None
        if stopSparkContext:
            self._sc.stop()

    @classmethod
    def getActive(cls):
        return cls._activeContext

    @classmethod
    def getOrCreate(cls, checkpointPath, setupFunc):
        """The context ``setupFunc()`` builds, with the state and positions of the newest
        checkpoint in ``checkpointPath`` restored into it if there is one. Unlike PySpark, which
        rebuilds the program from the checkpoint, ``setupFunc`` runs every time: it must build
        the same streams in the same order."""
        ssc = setupFunc()
        ssc._ctx.restore_checkpoint(_local_path(checkpointPath))
        return ssc

    @classmethod
    def getActiveOrCreate(cls, checkpointPath, setupFunc):
        active = cls.getActive()
        if active is not None:
            return active
        if checkpointPath is None:
            return setupFunc()
        return cls.getOrCreate(checkpointPath, setupFunc)

