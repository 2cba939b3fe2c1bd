"""Fixtures of the dstreams Python tests: the repository, a line server for socket streams, a
Kafka broker (tansu, via scripts/kafka-broker) and producing to it with `dstreams kafka-produce`.

Every wait is bounded; every process a fixture starts is stopped by its PID at teardown.
"""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
# The programs run by dstreams.testing.run_program import dstreams_test_support (same process).
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))

REPO_ROOT = TESTS_DIR.parents[1]
NETWORK_TIMEOUT = 30.0  # seconds, for every wait on a socket, a broker or a subprocess


@pytest.fixture(scope="session")
def repo_root():
    return REPO_ROOT


@pytest.fixture(scope="session")
def seed_dir():
    return TESTS_DIR / "seed"


# ---------------------------------------------------------------------------------------------
# Line server


class LineServer:
    """A TCP server on 127.0.0.1 (a free port) for socketTextStream: `send_lines` writes lines
    (UTF-8, each ended by "\\n") to the most recent connection, waiting (bounded) for one.

    Connections stay open until `close`: Spark's socket receiver restarts (reconnects) when the
    server closes the connection, which would make the records of a batch depend on timing.
    """

    def __init__(self):
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(8)
        self._listener.settimeout(0.2)
        self.host, self.port = self._listener.getsockname()
        self._connections = []
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._accept, name="line-server", daemon=True)
        self._thread.start()

    def _accept(self):
        while True:
            with self._cond:
                if self._closed:
                    return
            try:
                conn, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn.settimeout(NETWORK_TIMEOUT)
            with self._cond:
                self._connections.append(conn)
                self._cond.notify_all()

    @property
    def connections(self):
        with self._cond:
            return len(self._connections)

    def wait_connected(self, timeout=NETWORK_TIMEOUT):
        with self._cond:
            if not self._cond.wait_for(lambda: self._connections, timeout=timeout):
                raise AssertionError(
                    "nobody connected to 127.0.0.1:%d within %s s" % (self.port, timeout))
            return self._connections[-1]

    def send_lines(self, lines, timeout=NETWORK_TIMEOUT):
        conn = self.wait_connected(timeout)
        conn.sendall("".join(line + "\n" for line in lines).encode("utf-8"))

    def close(self):
        with self._cond:
            self._closed = True
            conns, self._connections = self._connections, []
        for c in conns:
            try:
                c.close()
            except OSError:
                pass
        self._listener.close()
        self._thread.join(timeout=5)


@pytest.fixture
def line_server():
    server = LineServer()
    try:
        yield server
    finally:
        server.close()


# ---------------------------------------------------------------------------------------------
# Kafka


def _tansu_bin():
    return Path(os.environ.get("TANSU_BIN") or REPO_ROOT / "target" / "kafka" / "bin" / "tansu")


def _pid_alive(pid):
    """Whether process `pid` runs and is tansu (a PID reused by another process is not ours)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            cmdline = f.read()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z" and b"tansu" in cmdline


class KafkaBroker:
    def __init__(self, addr, pid):
        self.addr = addr  # "127.0.0.1:PORT", for metadata.broker.list / bootstrap.servers
        self.pid = pid


@pytest.fixture(scope="session")
def kafka_broker():
    """A tansu broker (memory storage) on a free 127.0.0.1 port for the whole session, started
    with `scripts/kafka-broker start` and stopped by its PID at the end. Skipped, loudly, when
    tansu is not installed (as the Rust tests do: `scripts/kafka-broker install`)."""
    if not _tansu_bin().is_file():
        msg = ("no Kafka broker binary at %s: run `scripts/kafka-broker install` (or .ci/run) "
               "to run the Kafka tests" % _tansu_bin())
        sys.stderr.write("\n" + "*" * 72 + "\nSKIPPED: " + msg + "\n" + "*" * 72 + "\n")
        pytest.skip(msg)
    script = REPO_ROOT / "scripts" / "kafka-broker"
    done = subprocess.run([str(script), "start"], cwd=str(REPO_ROOT), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=NETWORK_TIMEOUT + 10)
    assert done.returncode == 0, "scripts/kafka-broker start failed:\n%s%s" % (
        done.stdout, done.stderr)
    addr = done.stdout.strip().splitlines()[-1]
    assert addr.startswith("127.0.0.1:"), done.stdout
    pid = int((REPO_ROOT / "target" / "kafka" / "broker.pid").read_text().strip())
    try:
        yield KafkaBroker(addr, pid)
    finally:
        # By its PID: SIGTERM, then SIGKILL if it is still there after 10 s.
        if _pid_alive(pid):
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            while _pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
        for name in ("broker.pid", "broker.port"):
            try:
                (REPO_ROOT / "target" / "kafka" / name).unlink()
            except OSError:
                pass


@pytest.fixture(scope="session")
def dstreams_bin():
    """The dstreams CLI the CI builds before running pytest (`cargo build`)."""
    env = os.environ.get("DSTREAMS_BIN")
    if env:
        path = Path(env)
    else:
        target = Path(os.environ.get("CARGO_TARGET_DIR") or REPO_ROOT / "target")
        if not target.is_absolute():
            target = REPO_ROOT / target
        path = target / "debug" / "dstreams"
    if not path.is_file():
        pytest.fail("no dstreams CLI at %s: run `cargo build` first (or set DSTREAMS_BIN)" % path)
    return path


@pytest.fixture
def kafka_produce(kafka_broker, dstreams_bin, tmp_path):
    """produce(topic, lines): writes the lines as records (no key) to a one-partition topic,
    creating it if needed, with `dstreams kafka-produce`; returns once all were delivered.

    One record per produce request (linger.ms=0, batch.num.messages=1): tansu's memory storage
    answers ListOffsets "latest" wrongly for batches of several records (scripts/kafka-broker,
    tests/kafka.rs), and the direct stream bounds each batch with that answer."""
    counter = [0]

    def produce(topic, lines):
        counter[0] += 1
        path = tmp_path / ("kafka-records-%d.txt" % counter[0])
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        cmd = [str(dstreams_bin), "kafka-produce", kafka_broker.addr, topic, str(path),
               "--create", "--partitions", "1", "--timeout", str(int(NETWORK_TIMEOUT)),
               "--config", "linger.ms=0", "--config", "batch.num.messages=1"]
        done = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=NETWORK_TIMEOUT + 30)
        assert done.returncode == 0, "%s failed:\n%s%s" % (" ".join(cmd), done.stdout,
                                                           done.stderr)

    return produce
