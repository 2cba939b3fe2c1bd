"""Testing streaming programs deterministically: a program runs on a manual clock that the test
advances, batch by batch, instead of the system clock (Spark's tests do the same with
``spark.streaming.clock``).

    from dstreams.testing import run_program

    with run_program("wordcount.py", argv=["127.0.0.1", "9999"]) as run:
        run.wait_received(records=3)   # the receivers stored the test's 3 lines
        run.advance(batches=1)         # the clock moves one batch on; that batch completes
        assert "('a', 2)" in run.output()

The program runs as ``__main__`` in a thread of the test's process, its ``print`` output
captured; every ``StreamingContext`` it makes runs on a manual clock starting at the current
time rounded down to the batch interval. Leaving the ``with`` block stops the program's context
(if it still runs), waits for the program to end and raises its exception, if any.
"""

import contextlib
import io
import os
import runpy
import sys
import threading

from dstreams.streaming import context as _context

__all__ = ["run_program", "ProgramRun"]

# Bound on every wait of a run (seconds).
WAIT = 60


class _Tee(io.TextIOBase):
    """Captures what is written, and passes it on."""

    def __init__(self, out):
        self._out = out
        self._parts = []
        self._lock = threading.Lock()

    def write(self, s):
        with self._lock:
            self._parts.append(s)
        return self._out.write(s)

    def flush(self):
        self._out.flush()

    def text(self):
        with self._lock:
            return "".join(self._parts)


class ProgramRun:
    """A program running on a manual clock (see the module's documentation)."""

    def __init__(self, path=None, argv=(), source=None):
        if (path is None) == (source is None):
            raise ValueError("give the program's path or its source")
        self._path = path
        self._source = source
        self._argv = [path or "<program>"] + [str(a) for a in argv]
        self._started = threading.Event()
        self._done = threading.Event()
        self.context = None
        self.error = None
        self._thread = None
        self._stdout = None
        self._saved = None

    @property
    def finished(self):
        return self._done.is_set()

    def _on_start(self, ssc):
        if self.context is None:
            self.context = ssc
            self._started.set()

    def _main(self):
        try:
            if self._source is not None:
                code = compile(self._source, "<program>", "exec")
                exec(code, {"__name__": "__main__", "__file__": "<program>"})
            else:
                runpy.run_path(self._path, run_name="__main__")
        except SystemExit as e:
            if e.code not in (None, 0):
                self.error = e
        except BaseException as e:  # noqa: BLE001 -- handed to the test at exit
            self.error = e
        finally:
            self._done.set()
            self._started.set()

    def __enter__(self):
        self._saved = (sys.argv, sys.stdout, os.environ.get("DSTREAMS_CLOCK"))
        sys.argv = self._argv
        self._stdout = _Tee(sys.stdout)
        sys.stdout = self._stdout
        os.environ["DSTREAMS_CLOCK"] = "manual"
        _context._started_hooks.append(self._on_start)
        self._thread = threading.Thread(target=self._main, name="dstreams-program", daemon=True)
        self._thread.start()
        if not self._started.wait(WAIT):
            self._restore()
            raise TimeoutError("the program did not start a StreamingContext within %d s" % WAIT)
        return self

    def output(self):
        """What the program printed so far."""
        return self._stdout.text()

    def _ctx(self):
        if self.context is None:
            raise RuntimeError("the program ended without starting a StreamingContext: %r"
                               % (self.error,))
        return self.context._ctx

    def _raise_failure(self):
        if self.error is not None:
            raise self.error
        # Raises the first failed batch's error, if any.
        self._ctx().await_termination(0)

    def advance(self, batches=1):
        """Moves the clock on by ``batches`` batch intervals and waits until those batches
        completed; raises the program's error, or the first failed batch's."""
        ctx = self._ctx()
        for _ in range(batches):
            ctx.advance(ctx.batch_ms)
            time = ctx.now_ms()
            if not ctx.await_batch(time, WAIT * 1000):
                self._raise_failure()
                if ctx.state() != "stopped":
                    raise TimeoutError("batch %d did not complete within %d s" % (time, WAIT))
        self._raise_failure()

    def wait_received(self, records, timeout=WAIT):
        """Waits until the program's receivers stored ``records`` records in all."""
        ctx = self._ctx()
        done = threading.Event()
        for _ in range(int(timeout * 100)):
            if ctx.records_received() >= records:
                return
            done.wait(0.01)
        raise TimeoutError("the receivers stored %d records, not %d, within %s s"
                           % (ctx.records_received(), records, timeout))

    def _restore(self):
        if self._saved is None:
            return
        argv, stdout, clock = self._saved
        self._saved = None
        sys.argv, sys.stdout = argv, stdout
        if clock is None:
            os.environ.pop("DSTREAMS_CLOCK", None)
        else:
            os.environ["DSTREAMS_CLOCK"] = clock
        with contextlib.suppress(ValueError):
            _context._started_hooks.remove(self._on_start)

    def __exit__(self, exc_type, exc, tb):
        try:
            if self.context is not None and self.context._ctx.state() == "active":
                self.context._ctx.stop(False)
            self._thread.join(WAIT)
            if self._thread.is_alive():
                raise TimeoutError("the program did not end within %d s of its context's stop"
                                   % WAIT)
        finally:
            self._restore()
        if exc_type is None and self.error is not None:
            raise self.error
        return False


def run_program(path=None, argv=(), source=None):
    """A :class:`ProgramRun` of the program at ``path`` (or given as ``source``) with
    ``argv``, to use in a ``with`` block."""
    return ProgramRun(path, argv, source)
