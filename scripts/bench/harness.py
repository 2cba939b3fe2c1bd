#!/usr/bin/env python3
"""The harness behind scripts/bench-vs-spark: dstreams against Spark Streaming (JVM and PySpark).

Runs W1-W3 (defined in scripts/bench/README.md) on the same 16 MiB batch files in every engine,
alternating engines (A B C A B C ...), and writes raw JSON, a markdown table and a PNG plot of
the throughput ratios under bench-results/. The engines: the dstreams CLI (`replay`), Spark JVM
(SparkBench.java), PySpark (spark/pyspark_bench.py) and, on request, dstreams' Python package
running that same PySpark program with its imports switched (dstreams-py, dstreams-py-lambda).
Run it through scripts/bench-vs-spark, which creates the virtual environment this script runs
in; `harness.py report RUN_DIR` re-renders a run's table and plot from its results.json.
"""

import argparse
import datetime
import json
import math
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "scripts" / "bench"
RESULTS = ROOT / "bench-results"
VENV = RESULTS / "venv"
FILE_BYTES = 16 * 1024 * 1024  # each batch file holds whole lines, at most this many bytes
WARMUP_BATCHES = 2  # Spark's first batches (JIT, Python workers, class loading) are excluded
WINDOW, SLIDE = 10, 1  # W2, in batches
SPARK_DRIVER_MEMORY = "4g"

WORKLOADS = {
    "w1": ("word-count", "W1 word count"),
    "w2": ("windowed-word-count", "W2 windowed (10, 1)"),
    "w3": ("stateful-word-count", "W3 running count"),
}
# dstreams: the job as this build implements it; dstreams-closures: W1 written as the user
# closures of the workload definition (`replay --closures`, in builds that have it).
# dstreams-py: spark/pyspark_bench.py with BENCH_ENGINE=dstreams, run by the Python of
# target/python (built by scripts/python-package); dstreams-py-lambda: the same with
# --unrecognised-map (its map function is a lambda dstreams does not recognise, called in Python).
ENGINES = ["dstreams", "dstreams-closures", "spark-jvm", "pyspark", "dstreams-py", "dstreams-py-lambda"]
DEFAULT_ENGINES = ["dstreams", "dstreams-closures", "spark-jvm", "pyspark"]
LABEL = {
    "dstreams": "dstreams",
    "dstreams-closures": "dstreams, closures",
    "spark-jvm": "Spark JVM",
    "pyspark": "PySpark",
    "dstreams-py": "dstreams-Python",
    "dstreams-py-lambda": "dstreams-Python, lambda map",
}
DSTREAMS = ("dstreams", "dstreams-closures")  # the CLI's engines
PY_DSTREAMS = ("dstreams-py", "dstreams-py-lambda")  # the Python package's engines
SPARK = ("spark-jvm", "pyspark")
DSTREAMS_PYTHON = ROOT / "target" / "python" / "bin" / "python"

NCPU = os.cpu_count() or 1
MODES = {
    # files: 16 MiB batch files per run; pyspark_files: how many of them PySpark replays (the
    # slowest engine by far); reps: repetitions at each core count (all cores, then 1 core).
    "quick": dict(files=12, pyspark_files=6, cores=[NCPU], reps={NCPU: 1}, run_timeout=900, wait_quiet=120),
    "full": dict(files=32, pyspark_files=12, cores=sorted({NCPU, 1}, reverse=True), reps={NCPU: 2, 1: 1}, run_timeout=2400, wait_quiet=1800),
}

# Spark batch intervals (ms) at 2 cores, chosen so that batches do not queue on the project's
# machine (processing delay well under the interval after warm-up); doubled for 1 core. A run
# whose measured batches come close to the interval raises it for the next repetition, and
# queueing (scheduling delay) is reported either way.
INTERVAL_MS = {
    ("spark-jvm", "w1"): 3000,
    ("spark-jvm", "w2"): 4000,
    ("spark-jvm", "w3"): 5000,
    ("pyspark", "w1"): 5000,
    ("pyspark", "w2"): 7000,
    ("pyspark", "w3"): 25000,
    # dstreams' Python package: guesses before its first measurement (issue 20's goals: 20x and
    # 3x PySpark); a run whose batches come close to the interval raises it for the next one.
    ("dstreams-py", "w1"): 1000,
    ("dstreams-py", "w2"): 1000,
    ("dstreams-py", "w3"): 1000,
    ("dstreams-py-lambda", "w1"): 2000,
    ("dstreams-py-lambda", "w2"): 2000,
    ("dstreams-py-lambda", "w3"): 2000,
}
QUEUED_MS = 200  # a measured batch that waited longer than this to start counts as queued

# The corpora (--corpus): where the batch files come from, and how much longer Spark's batches
# take on them than on KJV (its intervals are scaled by this; a slower batch still raises the
# interval of the next repetition). KJV's vocabulary is small (12,762 words, the same in every
# file); GCIDE's is large (221,278 words, ~146 k distinct per 16 MiB file); the Zipf corpus
# (s = 1 over 1 M words, seeded) brings ~375 k distinct words per file, many new in every file.
CORPORA = {
    "kjv": dict(source="datasets/kjv.txt", describe="`datasets/kjv.txt` replicated", spark_slowdown=1),
    "gcide": dict(source="datasets/large/gcide.txt", describe="`datasets/large/gcide.txt` (built by `scripts/prepare-datasets.sh`) replicated", spark_slowdown=2),
    "zipf": dict(source="src/zipf.rs", describe="seeded Zipf text (`cargo run --release -- zipf BYTES --seed 24301 --vocabulary 1000000`: s = 1 over a 1 M-word vocabulary)", spark_slowdown=2),
}
ZIPF_ARGS = ["--seed", "24301", "--vocabulary", "1000000", "--exponent", "1.0"]  # seed, vocabulary, exponent: the same text every time


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def die(msg):
    print(f"bench-vs-spark: error: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


def run_checked(cmd, what, timeout, **kw):
    """Runs a set-up step; exits with a clear message if it fails or takes too long."""
    try:
        p = subprocess.run(cmd, timeout=timeout, capture_output=True, text=True, **kw)
    except subprocess.TimeoutExpired:
        die(f"{what} took longer than {timeout} s: {' '.join(map(str, cmd))}")
    except FileNotFoundError as e:
        die(f"{what}: {e}")
    if p.returncode != 0:
        tail = "\n".join((p.stdout + p.stderr).strip().splitlines()[-30:])
        die(f"{what} failed (exit {p.returncode}):\n{tail}")
    return p.stdout


# ---------------------------------------------------------------------------------------------
# Set-up: tools, dstreams, the Java program, the data


def pyspark_home():
    import pyspark  # noqa: PLC0415 -- only inside the venv

    return Path(pyspark.__file__).resolve().parent


def check_tools():
    for tool in ["cargo", "java", "javac", "jar", "taskset"]:
        if shutil.which(tool) is None:
            die(f"'{tool}' not found on PATH (needed: Rust's cargo, a JDK 17 with javac and jar, util-linux's taskset)")


def build_dstreams(out_dir):
    log("building dstreams (cargo build --release)")
    run_checked(["cargo", "build", "--release", "--quiet"], "cargo build --release", 3600, cwd=ROOT)
    built = ROOT / "target" / "release" / "dstreams"
    if not built.exists():
        die(f"{built} missing after cargo build --release")
    # A private copy: a rebuild in the work tree during the benchmark must not swap the binary.
    dst = out_dir / "bin" / "dstreams"
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(built, dst)
    return dst


def dstreams_python_probe(python):
    """(True, "dstreams VERSION, Python X.Y.Z") if `python` imports dstreams, else (False, why)."""
    code = "import sys, dstreams; print(getattr(dstreams, '__version__', '?'), sys.version.split()[0])"
    try:
        p = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, str(e)
    if p.returncode != 0:
        return False, ((p.stdout + p.stderr).strip().splitlines() or ["exit status %d" % p.returncode])[-1]
    version, py = p.stdout.split()[-2:]
    return True, f"dstreams {version}, Python {py}"


def ensure_dstreams_python(python):
    """The Python that runs the dstreams-py engines: `python` if it imports dstreams; the default
    (target/python) is built first with scripts/python-package if it does not."""
    ok, what = dstreams_python_probe(python)
    if ok:
        return what
    if Path(python) != DSTREAMS_PYTHON:
        die(f"--dstreams-python {python} cannot import dstreams: {what}")
    build = ROOT / "scripts" / "python-package"
    if not build.exists():
        die(f"{python} cannot import dstreams ({what}), and {build} (which builds the package into target/python) is missing")
    log(f"{python} cannot import dstreams ({what}): building it with scripts/python-package")
    run_checked([str(build)], "scripts/python-package", 3600, cwd=ROOT)
    ok, what = dstreams_python_probe(python)
    if not ok:
        die(f"scripts/python-package ran, but {python} still cannot import dstreams: {what}")
    return what


def compile_java(out_dir):
    log("compiling scripts/bench/spark/SparkBench.java against pyspark's jars")
    jars = pyspark_home() / "jars"
    classes = out_dir / "java-classes"
    shutil.rmtree(classes, ignore_errors=True)
    classes.mkdir(parents=True)
    run_checked(
        ["javac", "-nowarn", "-cp", f"{jars}/*", "-d", str(classes), str(BENCH / "spark" / "SparkBench.java")],
        "javac SparkBench.java",
        600,
    )
    jar = out_dir / "spark-bench.jar"
    run_checked(["jar", "cf", str(jar), "-C", str(classes), "."], "jar", 120)
    return jar


def count_words(path):
    words, distinct, lines = 0, set(), 0
    with open(path, "rb") as f:
        for line in f:
            toks = line.rstrip(b"\n").split(b" ")
            lines += 1
            words += len(toks)
            distinct.update(toks)
    return lines, words, distinct


def write_corpus(corpus, whole, size):
    """Writes `size` bytes (whole lines) of the corpus into `whole`."""
    if corpus == "zipf":
        with open(whole, "wb") as out:
            try:
                p = subprocess.run(
                    ["cargo", "run", "--release", "--quiet", "--", "zipf", str(size)] + ZIPF_ARGS,
                    cwd=ROOT, stdout=out, stderr=subprocess.PIPE, text=False, timeout=3600,
                )
            except subprocess.TimeoutExpired:
                die("generating the Zipf corpus took longer than an hour")
        if p.returncode != 0:
            die(f"dstreams zipf failed (exit {p.returncode}):\n{p.stderr.decode(errors='replace')[-3000:]}")
        return
    source = ROOT / CORPORA[corpus]["source"]
    if not source.exists():
        die(f"{source} is missing: run scripts/prepare-datasets.sh first (it builds the corpora)")
    run_checked([str(ROOT / "scripts" / "replicate.sh"), str(source), str(whole), str(size)], "scripts/replicate.sh", 600)


def prepare_data(n_files, corpus):
    """n_files batch files of at most 16 MiB, cut at line ends from the corpus (replicated, or
    generated); kept under bench-results/data/ and reused. Returns the manifest."""
    data = RESULTS / "data" / f"{corpus}-{n_files}x16MiB"
    manifest_path = data / "manifest.json"
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        if all(Path(f["path"]).exists() and Path(f["path"]).stat().st_size == f["bytes"] for f in manifest["files"]):
            log(f"reusing {n_files} batch files in {data}")
            return manifest
    log(f"preparing {n_files} batch files of 16 MiB of {corpus} in {data}")
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    whole = data / "all.txt"
    # One file more than needed, so that the last kept file is full too.
    write_corpus(corpus, whole, (n_files + 1) * FILE_BYTES)
    run_checked(
        ["split", "-C", str(FILE_BYTES), "-d", "-a", "3", "--additional-suffix=.txt", str(whole), str(data / "batch-")],
        "split",
        600,
    )
    whole.unlink()
    paths = sorted(data.glob("batch-*.txt"))
    for extra in paths[n_files:]:
        extra.unlink()
    paths = paths[:n_files]
    if len(paths) != n_files:
        die(f"expected {n_files} batch files, got {len(paths)}")
    files, sets = [], []
    for p in paths:
        lines, words, distinct = count_words(p)
        sets.append(distinct)
        files.append({"path": str(p), "bytes": p.stat().st_size, "lines": lines, "words": words, "distinct": len(distinct)})
    # Expected sizes of each batch's result (distinct keys), to check every engine's output.
    cumulative = set()
    for k, f in enumerate(files):
        cumulative |= sets[k]
        f["expect_w1"] = len(sets[k])
        f["expect_w2"] = len(set().union(*sets[max(0, k - WINDOW + 1) : k + 1]))
        f["expect_w3"] = len(cumulative)
    manifest = {"source": CORPORA[corpus]["source"], "corpus": corpus, "file_bytes_max": FILE_BYTES, "files": files}
    manifest_path.write_text(json.dumps(manifest, indent=1))
    return manifest


# ---------------------------------------------------------------------------------------------
# Running one engine: process tree RSS sampling, timeouts


PAGE = os.sysconf("SC_PAGE_SIZE")


def _proc_tree(root, ticks=None):
    """The pids of root and its descendants; fills ticks[pid] with each one's own CPU ticks."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                s = f.read()
        except OSError:
            continue
        fields = s[s.rfind(")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append(int(d))
        if ticks is not None:
            ticks[int(d)] = (int(fields[11]) + int(fields[12]), int(fields[19]))  # utime + stime, start time
    tree, todo = [], [root]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(children.get(p, []))
    return tree


def _rss_and_hwm(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            status = f.read()
    except OSError:
        return 0, 0, 0

    def kb(field):
        m = re.search(rf"^{field}:\s+(\d+) kB", status, re.M)
        return int(m.group(1)) * 1024 if m else 0

    return kb("VmRSS"), kb("VmHWM"), kb("RssFile")


class TreeSampler(threading.Thread):
    """Samples the summed RSS of a process and its descendants every 100 ms."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_sum = 0
        self.peak_sum_file = 0  # file-backed part (mapped files) of the sum at its peak
        self.peak_sum_anon = 0  # peak of the sum of RSS minus file-backed pages
        self.hwm = {}
        self.ticks = {}  # own CPU ticks of every process of the tree, as last seen
        self.started = {}  # their start times (to recognise them later)
        self.max_procs = 0
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            ticks = {}
            tree = _proc_tree(self.pid, ticks)
            total = file_backed = 0
            for p in tree:
                if p in ticks:
                    cpu, started = ticks[p]
                    self.started[p] = started
                    self.ticks[p] = max(self.ticks.get(p, 0), cpu)
                rss, hwm, rss_file = _rss_and_hwm(p)
                total += rss
                file_backed += rss_file
                self.hwm[p] = max(self.hwm.get(p, 0), hwm)
            if total > self.peak_sum:
                self.peak_sum, self.peak_sum_file = total, file_backed
            self.peak_sum_anon = max(self.peak_sum_anon, total - file_backed)
            self.max_procs = max(self.max_procs, len(tree))
            self.stop.wait(0.1)


CLK_TCK = os.sysconf("SC_CLK_TCK")


def busy_seconds(ncpus):
    """CPU time spent busy so far on CPUs 0..ncpus-1 (from /proc/stat)."""
    total = 0
    with open("/proc/stat") as f:
        for line in f:
            m = re.match(r"cpu(\d+) (.*)", line)
            if m and int(m.group(1)) < ncpus:
                v = [int(x) for x in m.group(2).split()]
                total += v[0] + v[1] + v[2] + v[5] + v[6] + v[7]  # user nice system irq softirq steal
    return total / CLK_TCK


def cpu_seconds(who):
    ru = resource.getrusage(who)
    return ru.ru_utime + ru.ru_stime


QUIET = {"max_wait_s": 0, "threshold_cores": 0.25, "waited_s": 0.0}


def wait_until_quiet(cores):
    """Waits (up to --wait-quiet seconds in all) until other processes use less than
    0.25 cores of CPUs 0..cores-1 over 3 s: a shared machine's builds distort any figure."""
    start = time.monotonic()
    while True:
        b0 = busy_seconds(cores)
        s0 = cpu_seconds(resource.RUSAGE_SELF)
        time.sleep(3)
        load = (busy_seconds(cores) - b0 - (cpu_seconds(resource.RUSAGE_SELF) - s0)) / 3
        waited = time.monotonic() - start
        if load < QUIET["threshold_cores"] or QUIET["waited_s"] + waited >= QUIET["max_wait_s"]:
            QUIET["waited_s"] += waited
            return load
        if waited < 4:
            log(f"other processes use {load:.2f} cores; waiting for the machine to quieten")
        time.sleep(2)


def run_engine(cmd, env, log_path, timeout, cores):
    """Runs cmd pinned to CPUs 0..cores-1; returns exit status, wall time, launch time, peak RSS
    and how much CPU other processes took on those CPUs meanwhile."""
    cpus = "0" if cores == 1 else f"0-{cores - 1}"
    full = ["taskset", "-c", cpus] + [str(c) for c in cmd]
    load_before = wait_until_quiet(cores) if QUIET["max_wait_s"] > 0 else None
    busy0, kids0, self0 = busy_seconds(cores), cpu_seconds(resource.RUSAGE_CHILDREN), cpu_seconds(resource.RUSAGE_SELF)
    launch_ms = int(time.time() * 1000)
    env = dict(env, BENCH_LAUNCH_MS=str(launch_ms))
    t0 = time.monotonic()
    with open(log_path, "w") as logf:
        logf.write("$ " + " ".join(full) + "\n")
        logf.flush()
        p = subprocess.Popen(full, stdout=logf, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        sampler = TreeSampler(p.pid)
        sampler.start()
        timed_out = False
        try:
            rc = p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(p.pid, signal.SIGTERM)
            try:
                rc = p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                rc = p.wait()
        wall = time.monotonic() - t0
        sampler.stop.set()
        sampler.join()
    busy = busy_seconds(cores) - busy0
    # Reaped descendants are in RUSAGE_CHILDREN; processes whose parent did not wait for them
    # are only in the samples. Either is a lower bound of the engine's CPU time.
    engine_cpu = max(cpu_seconds(resource.RUSAGE_CHILDREN) - kids0, sum(sampler.ticks.values()) / CLK_TCK)
    other_cpu = max(0.0, busy - engine_cpu - (cpu_seconds(resource.RUSAGE_SELF) - self0))
    # Whatever the run left behind: its process group, and processes of its tree that moved to
    # their own group (PySpark's daemon does) and outlived their parent (orphaned workers).
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    leftovers = []
    for pid, started in sampler.started.items():
        try:
            with open(f"/proc/{pid}/stat") as f:
                st = f.read()
        except OSError:
            continue
        if int(st[st.rfind(")") + 2 :].split()[19]) == started:
            leftovers.append(pid)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    if leftovers:
        log(f"killed {len(leftovers)} process(es) the run left running")
    return {
        "rc": rc,
        "timed_out": timed_out,
        "wall_s": wall,
        "launch_ms": launch_ms,
        "rss_tree_peak_bytes": sampler.peak_sum,
        "rss_tree_peak_file_backed_bytes": sampler.peak_sum_file,
        "rss_tree_peak_anon_bytes": sampler.peak_sum_anon,
        "rss_max_process_hwm_bytes": max(sampler.hwm.values(), default=0),
        "processes_max": sampler.max_procs,
        "engine_cpu_s": engine_cpu,
        "leftover_processes_killed": len(leftovers),
        # CPU time other processes (not this benchmark) used on the run's CPUs, in cores.
        "other_load_cores": other_cpu / wall if wall > 0 else 0.0,
        "other_load_cores_before": load_before,
    }


def pct(sorted_vals, p):
    """Nearest-rank percentile (the same rule dstreams' replay uses)."""
    if not sorted_vals:
        return None
    rank = math.ceil(p * len(sorted_vals))
    return sorted_vals[min(max(rank, 1), len(sorted_vals)) - 1]


def tail_of(path, n=12):
    try:
        lines = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return ""
    keep = [ln for ln in lines if not ln.startswith("\tat ")]
    return "\n".join(keep[-n:])


def run_dstreams(ctx, workload, cores, files, tag, closures=False):
    stats = ctx["raw"] / f"{tag}.json"
    cmd = [ctx["dstreams"], "replay", "--job", WORKLOADS[workload][0], "--batch-per-file", "--stats-json", stats]
    if closures:
        cmd.append("--closures")
    if workload == "w2":
        cmd += ["--window", str(WINDOW), "--slide", str(SLIDE)]
    cmd += [f["path"] for f in files]
    r = run_engine(cmd, os.environ.copy(), ctx["logs"] / f"{tag}.log", ctx["run_timeout"], cores)
    res = {"command": " ".join(map(str, cmd))}
    if r["rc"] != 0 or not stats.exists():
        out = tail_of(ctx["logs"] / f"{tag}.log", 3)
        status = "timeout" if r["timed_out"] else ("unavailable" if "not available" in out else "failed")
        return dict(res, status=status, rc=r["rc"], message=out.splitlines()[-1] if out else "", run=r)
    s = json.loads(stats.read_text())
    words = sum(f["words"] for f in files)
    nbytes = sum(f["bytes"] for f in files)
    checks = []
    if s["batches"] != len(files):
        checks.append(f"{s['batches']} batches for {len(files)} files")
    if s["input_bytes"] != nbytes:
        checks.append(f"input_bytes {s['input_bytes']} != {nbytes}")
    if workload == "w1" and s["words"] != words:
        checks.append(f"words {s['words']} != {words} (wc -w)")
    # Outside view of launch -> first batch done: the process's wall time minus the part of its
    # own clock that followed the first batch (so teardown counts against dstreams).
    first_outside = r["wall_s"] * 1000 - s["seconds"] * 1000 + s["first_batch_ms"]
    return dict(
        res,
        status="ok",
        batches=s["batches"],
        batches_measured=s["batches"],
        mb_per_s=s["mb_per_s"],
        words_per_s=words / s["seconds"],
        batch_ms_p50=s["batch_ms_p50"],
        batch_ms_p99=s["batch_ms_p99"],
        batch_ms_max=s["batch_ms_max"],
        first_batch_ms=first_outside,
        first_batch_ms_own=s["first_batch_ms"],
        peak_rss_bytes=max(r["rss_tree_peak_bytes"], s["peak_rss_bytes"]),
        checks=checks,
        engine_json=s,
        run=r,
    )


EXTRA_SPARK_CONF = []  # --spark-conf KEY=VALUE


def dstreams_unavailable(ctx, workload, one_file):
    """The message if this dstreams build does not have the workload's job, else None."""
    cmd = [str(ctx["dstreams"]), "replay", "--job", WORKLOADS[workload][0], "--batch-per-file",
           "--stats-json", str(ctx["tmp"] / "probe.json"), one_file["path"]]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        return None  # the measured run will report it
    out = (p.stdout + p.stderr).strip()
    if p.returncode != 0 and "not available" in out:
        return out.splitlines()[-1]
    return None


def spark_conf(cores):
    conf = [
        "--master", f"local[{cores}]",
        "--driver-memory", SPARK_DRIVER_MEMORY,
        "--conf", "spark.serializer=org.apache.spark.serializer.KryoSerializer",
        "--conf", f"spark.default.parallelism={cores}",
        "--conf", "spark.ui.enabled=false",
        "--conf", "spark.log.level=WARN",
    ]  # fmt: skip
    for kv in EXTRA_SPARK_CONF:
        conf += ["--conf", kv]
    return conf


def run_spark(ctx, engine, workload, cores, files, tag, interval_ms):
    """Runs one of the engines that report through the Spark programs' listener JSON: Spark JVM
    and PySpark through spark-submit, and dstreams' Python package running pyspark_bench.py with
    BENCH_ENGINE=dstreams (its own Python, no spark-submit; the same taskset pinning)."""
    out = ctx["raw"] / f"{tag}.json"
    ck = ctx["tmp"] / f"checkpoint-{tag}"
    shutil.rmtree(ck, ignore_errors=True)
    args = [workload, str(cores), str(interval_ms), str(WINDOW), str(SLIDE), str(ck), str(out)] + [f["path"] for f in files]
    submit = [str(ctx["spark_home"] / "bin" / "spark-submit")] + spark_conf(cores)
    env = os.environ.copy()
    if engine in PY_DSTREAMS:
        # `env` in the command line, so that the log and results.json show the switch.
        flags = ["--unrecognised-map"] if engine == "dstreams-py-lambda" else []
        cmd = ["env", "BENCH_ENGINE=dstreams", str(ctx["dstreams_python"]), str(BENCH / "spark" / "pyspark_bench.py")] + flags + args
    else:
        if engine == "spark-jvm":
            cmd = submit + ["--class", "SparkBench", str(ctx["jar"])] + args
        else:
            cmd = submit + [str(BENCH / "spark" / "pyspark_bench.py")] + args
        env.update(
            SPARK_HOME=str(ctx["spark_home"]),
            PYSPARK_PYTHON=sys.executable,
            PYSPARK_DRIVER_PYTHON=sys.executable,
            SPARK_LOCAL_IP="127.0.0.1",
            PATH=f"{Path(sys.executable).parent}:{env.get('PATH', '')}",
        )
    env.pop("BENCH_ENGINE", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    r = run_engine(cmd, env, ctx["logs"] / f"{tag}.log", ctx["run_timeout"], cores)
    shutil.rmtree(ck, ignore_errors=True)
    res = {"command": " ".join(cmd[:1] + [c for c in cmd[1:] if not c.endswith(".txt")]) + f" <{len(files)} files>", "interval_ms": interval_ms}
    if r["rc"] != 0 or not out.exists():
        msg = tail_of(ctx["logs"] / f"{tag}.log", 1)
        return dict(res, status="timeout" if r["timed_out"] else "failed", rc=r["rc"], message=msg, run=r)
    s = json.loads(out.read_text())
    batches = s["batches"][: len(files)]
    checks = []
    if len(batches) != len(files):
        checks.append(f"{len(batches)} batches for {len(files)} files")
    for k, b in enumerate(batches):
        exp = files[k][f"expect_{workload}"]
        if b["result_count"] != exp:
            checks.append(f"batch {k}: {b['result_count']} keys, expected {exp}")
            break
    warm = WARMUP_BATCHES if len(batches) > WARMUP_BATCHES else 0
    measured = list(range(warm, len(batches)))
    proc = sorted(batches[k]["processing_ms"] for k in measured)
    total_ms = sum(proc)
    nbytes = sum(files[k]["bytes"] for k in measured)
    words = sum(files[k]["words"] for k in measured)
    queued = [k for k in measured if batches[k]["scheduling_ms"] > QUEUED_MS]
    b0 = batches[0]
    return dict(
        res,
        status="ok",
        batches=len(batches),
        batches_measured=len(measured),
        mb_per_s=nbytes / 1e6 / (total_ms / 1000),
        words_per_s=words / (total_ms / 1000),
        mb_per_s_all_batches=sum(f["bytes"] for f in files) / 1e6 / (sum(b["processing_ms"] for b in batches) / 1000),
        batch_ms_p50=pct(proc, 0.50),
        batch_ms_p99=pct(proc, 0.99),
        batch_ms_max=proc[-1],
        batch_ms_max_measured_or_first=max(b["processing_ms"] for b in batches),
        # Launch -> context started, then the first batch's own scheduling and processing; the
        # idle wait for the first tick of the batch clock (up to one interval) is left out.
        first_batch_ms=(s["ready_ms"] - s["launch_ms"]) + (b0["end_ms"] - b0["submission_ms"]),
        first_batch_ms_raw=b0["end_ms"] - s["launch_ms"],
        jvm_main_ms=s["main_ms"] - s["launch_ms"],
        context_ready_ms=s["ready_ms"] - s["launch_ms"],
        queued_batches=len(queued),
        max_scheduling_ms=max((batches[k]["scheduling_ms"] for k in measured), default=0),
        peak_rss_bytes=r["rss_tree_peak_bytes"],
        spark_version=s["spark_version"],
        checks=checks,
        engine_json=s,
        run=r,
    )


# ---------------------------------------------------------------------------------------------
# Aggregation, table, plot


def median(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def aggregate(runs):
    cells = {}
    for r in runs:
        cells.setdefault((r["workload"], r["cores"], r["engine"]), []).append(r)
    agg = []
    for (w, c, e), rs in cells.items():
        ok = [r for r in rs if r["status"] == "ok"]
        row = {"workload": w, "cores": c, "engine": e, "runs": len(rs), "runs_ok": len(ok)}
        if ok:
            for k in ["mb_per_s", "words_per_s", "batch_ms_p50", "batch_ms_p99", "peak_rss_bytes", "first_batch_ms"]:
                row[k] = median([r[k] for r in ok])
            row["batches"] = ok[0]["batches"]
            row["batches_measured"] = ok[0]["batches_measured"]
            row["queued_batches"] = sum(r.get("queued_batches", 0) for r in ok)
            row["peak_rss_file_backed_bytes"] = median([r["run"]["rss_tree_peak_file_backed_bytes"] for r in ok])
            row["peak_rss_anon_bytes"] = median([r["run"]["rss_tree_peak_anon_bytes"] for r in ok])
            # Runs of harness versions before 2026-11-27 08:45 counted PySpark's workers (orphaned
            # by its daemon, so never reaped by the run) as other processes' load.
            reliable = [r for r in ok if "leftover_processes_killed" in r["run"] or r["engine"] != "pyspark"]
            row["other_load_cores_max"] = max((r["run"].get("other_load_cores", 0.0) for r in reliable), default=None)
            row["checks"] = sorted({c for r in ok for c in r["checks"]})
            row["status"] = "ok"
        else:
            row["status"] = rs[0]["status"]
            row["message"] = rs[0].get("message", "")
        agg.append(row)
    by = {(a["workload"], a["cores"], a["engine"]): a for a in agg}
    for a in agg:
        for baseline in SPARK:
            base = by.get((a["workload"], a["cores"], baseline))
            if a["status"] == "ok" and base and base["status"] == "ok":
                a[f"ratio_to_{baseline.replace('-', '_')}"] = a["mb_per_s"] / base["mb_per_s"]
    order = {e: i for i, e in enumerate(ENGINES)}
    agg.sort(key=lambda a: (-a["cores"], a["workload"], order[a["engine"]]))
    return agg


def fmt_num(v, digits=3):
    if v is None:
        return "–"
    if v >= 100:
        return f"{v:,.0f}"
    return f"{v:.{digits}g}"


def fmt_rate(v):
    if v is None:
        return "–"
    if v >= 1e6:
        return f"{v / 1e6:.2f} M"
    return f"{v / 1e3:.0f} k"


def status_text(a):
    if a["status"] == "unavailable":
        return "not available in this build"
    if a["status"] == "timeout":
        return "timed out"
    return f"failed: {a.get('message', '')[:80]}"


def ratio_columns(agg):
    """The baselines the table has a ratio column for: Spark JVM as always (unless a run of the
    Python package's engines left it out), and PySpark when the Python package's engines ran."""
    engines = {a["engine"] for a in agg}
    py = bool(engines & set(PY_DSTREAMS))
    cols = []
    if "spark-jvm" in engines or not py:
        cols.append(("spark-jvm", "ratio to Spark JVM"))
    if py and "pyspark" in engines:
        cols.append(("pyspark", "ratio to PySpark"))
    return cols


def table_md(agg):
    cols = ratio_columns(agg)
    head = (
        "| workload | cores | engine | batches (measured) | MB/s | words/s | ms/batch p50 | ms/batch p99 "
        "| peak RSS | launch → 1st batch | " + " | ".join(name for _, name in cols) + " |\n"
        "|---|---|---|---|---|---|---|---|---|---|" + "---|" * len(cols) + "\n"
    )
    rows = []
    for a in agg:
        first = [WORKLOADS[a["workload"]][1], str(a["cores"]), LABEL[a["engine"]]]
        if a["status"] != "ok":
            rows.append("| " + " | ".join(first + [status_text(a)] + ["–"] * (6 + len(cols))) + " |")
            continue
        flags = ""
        if a.get("queued_batches"):
            flags += " (queued)"
        if a.get("checks"):
            flags += " (check failed)"
        ratios = []
        for baseline, _ in cols:
            ratio = a.get(f"ratio_to_{baseline.replace('-', '_')}")
            bold = a["engine"] in DSTREAMS + PY_DSTREAMS
            ratios.append((f"**{ratio:.2f}×**" if bold else f"{ratio:.2f}×") if ratio is not None else "–")
        rows.append(
            "| "
            + " | ".join(
                first
                + [
                    f"{a['batches']} ({a['batches_measured']})",
                    fmt_num(a["mb_per_s"]) + flags,
                    fmt_rate(a["words_per_s"]),
                    f"{a['batch_ms_p50']:.0f}",
                    f"{a['batch_ms_p99']:.0f}",
                    f"{a['peak_rss_bytes'] / 2**20:,.0f} MiB",
                    f"{a['first_batch_ms'] / 1000:.1f} s",
                ]
                + ratios
            )
            + " |"
        )
    return head + "\n".join(rows) + "\n"


def plot_baseline(agg):
    """The engine the plot divides by: Spark JVM, or PySpark in runs without Spark JVM."""
    return "spark-jvm" if any(a["engine"] == "spark-jvm" for a in agg) or not any(a["engine"] == "pyspark" for a in agg) else "pyspark"


def plot(agg, path, title):
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    groups = sorted({(a["cores"], a["workload"]) for a in agg}, key=lambda g: (-g[0], g[1]))
    by = {(a["workload"], a["cores"], a["engine"]): a for a in agg}
    baseline = plot_baseline(agg)
    key = f"ratio_to_{baseline.replace('-', '_')}"
    shown = [e for e in ENGINES if e != baseline and any(a["engine"] == e for a in agg)]
    colors = {"dstreams": "#d9622b", "dstreams-closures": "#f0a35e", "pyspark": "#3b75af", "spark-jvm": "#6b6b6b",
              "dstreams-py": "#2e8b57", "dstreams-py-lambda": "#8fcf9f"}
    fig, ax = plt.subplots(figsize=(max(6, 2.2 * len(groups) + 2), 4.5))
    width = 0.8 / max(1, len(shown))
    ratios = [a[key] for a in agg if a.get(key) and a["engine"] in shown]
    labelled = set()
    log_scale = bool(ratios) and max(ratios) / min(ratios) > 20
    for i, e in enumerate(shown):
        for g, (cores, w) in enumerate(groups):
            a = by.get((w, cores, e))
            x = g + (i - (len(shown) - 1) / 2) * width
            if a is None:
                continue  # not run (dstreams, closures: W1 only)
            r = a.get(key)
            if r is None:
                why = f"{LABEL[e]}: not available in this build" if a and a["status"] == "unavailable" else f"{LABEL[e]}: no result"
                ax.text(x, 0.03, why, rotation=90, ha="center", va="bottom", fontsize=8, color=colors[e],
                        transform=ax.get_xaxis_transform())
                continue
            ax.bar(x, r, width, color=colors[e], label=None if e in labelled else LABEL[e])
            labelled.add(e)
            ax.text(x, r, f"{r:.2f}×", ha="center", va="bottom", fontsize=8)
    ax.axhline(1.0, color="black", linewidth=1, linestyle="--")
    ax.text(len(groups) - 0.5, 1.0, f" {LABEL[baseline]} = 1", va="bottom", ha="right", fontsize=8)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels([f"{WORKLOADS[w][1]}\n{c} core{'s' if c > 1 else ''}" for c, w in groups], fontsize=8)
    ax.set_ylabel(f"MB/s relative to {LABEL[baseline]} DStreams")
    if log_scale:
        ax.set_yscale("log")
        from matplotlib.ticker import FuncFormatter, LogLocator  # noqa: PLC0415

        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}×"))
        ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
        ax.set_ylim(min(ratios + [1.0]) * 0.6, max(ratios + [1.0]) * 1.6)
    else:
        ax.set_ylim(0, max(ratios + [1.0]) * 1.2)
    ax.set_title(title, fontsize=10)
    if labelled:
        ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def notes(results):
    out = []
    meta = results["meta"]
    for a in results["aggregate"]:
        name = f"{WORKLOADS[a['workload']][1]}, {a['cores']} core(s), {LABEL[a['engine']]}"
        if a["status"] == "ok" and a.get("queued_batches"):
            out.append(f"{name}: {a['queued_batches']} measured batch(es) waited more than {QUEUED_MS} ms to start (batches queued; processing delay is still per batch).")
        if a["status"] == "ok" and a.get("other_load_cores_max") is None:
            out.append(f"{name}: the CPU other processes took during the run is unknown (this run's harness counted PySpark's own orphaned workers as other processes).")
        elif a["status"] == "ok" and a["other_load_cores_max"] > 0.2:
            out.append(f"{name}: other processes (other users' work, kernel threads) took {a['other_load_cores_max']:.2f} cores of the run's CPUs on average during a run (results.json: run.other_load_cores).")
        if a["status"] == "ok" and a.get("peak_rss_file_backed_bytes", 0) > 0.25 * a["peak_rss_bytes"]:
            out.append(f"{name}: {a['peak_rss_file_backed_bytes'] / 2**20:,.0f} MiB of the peak RSS are file-backed pages (mapped files); "
                       f"the largest anonymous part was {a['peak_rss_anon_bytes'] / 2**20:,.0f} MiB.")
        if a["status"] == "ok" and a.get("checks"):
            out.append(f"{name}: output check failed: {'; '.join(a['checks'])}.")
        if a["status"] not in ("ok", "unavailable"):
            out.append(f"{name}: {status_text(a)}.")
    if meta.get("waited_for_quiet_s", 0) >= 1:
        out.append(f"The harness waited {meta['waited_for_quiet_s']:.0f} s in all for other processes on the machine to quieten before runs (--wait-quiet).")
    if meta["pyspark_files"] < meta["files"]:
        out.append(f"PySpark replays the first {meta['pyspark_files']} of the {meta['files']} files (it is the slowest engine); its MB/s is over those batches.")
    return out


def render(run_dir):
    results = json.loads((run_dir / "results.json").read_text())
    results["aggregate"] = aggregate(results["runs"])
    (run_dir / "results.json").write_text(json.dumps(results, indent=1))
    meta = results["meta"]
    title = f"dstreams vs Spark {meta.get('spark_version', '?')} DStreams, {meta['mode']} ({meta['files']} × 16 MiB batches of {meta.get('corpus', 'kjv')}), on a {meta['machine']['cores']}-core machine"
    plot(results["aggregate"], run_dir / "ratios.png", title)
    run_engines = [e for e in meta.get("engines", DEFAULT_ENGINES) if e in LABEL]
    alternation = ", ".join(run_engines + run_engines[:1]) + ", ..." if len(run_engines) > 1 else f"{', '.join(run_engines)} only"
    baseline = plot_baseline(results["aggregate"])
    md = [
        f"Command: `{meta['command']}` ({meta['started']}, {meta['elapsed_s'] / 60:.0f} min).",
        f"Machine: {meta['machine']['cores']} cores ({meta['machine']['cpu']}), {meta['machine']['mem_gib']:.0f} GiB, "
        f"Linux {meta['machine']['kernel']}; Spark {meta.get('spark_version', '?')} (pyspark from PyPI), {meta['java']}, "
        f"Python {meta['python']}; dstreams {meta['dstreams_commit']}, {meta['rustc']}"
        + (f"; dstreams' Python package: {meta['dstreams_python']} (`{meta['dstreams_python_path']}`)" if meta.get("dstreams_python") else "")
        + ".",
        f"Data: {meta['files']} files of {meta['file_mib']:.0f} MiB ({meta['total_mb']:.0f} MB, {meta['total_words']:,} words) cut at "
        f"line ends from {CORPORA[meta.get('corpus', 'kjv')]['describe']}; one file = one batch. "
        f"Repetitions per core count: {', '.join(f'{r} at {c} core(s)' for c, r in meta['reps'].items())}, engines "
        f"alternating ({alternation}); figures are medians over repetitions.",
        "",
        table_md(results["aggregate"]),
        f"Plot: `ratios.png` (each engine's MB/s divided by {LABEL[baseline]}'s, per workload and cores).",
    ]
    extra = notes(results)
    if extra:
        md += ["", "Notes from this run:", ""] + [f"- {n}" for n in extra]
    (run_dir / "table.md").write_text("\n".join(md) + "\n")
    return results


# ---------------------------------------------------------------------------------------------
# Main


def machine():
    mem = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) * 1024
    cpu = "unknown CPU"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {"cores": os.cpu_count(), "cpu": cpu, "mem_gib": mem / 2**30, "kernel": platform.release()}


def version_of(cmd):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        return (p.stdout + p.stderr).strip().splitlines()[0]
    except Exception:  # noqa: BLE001
        return "unknown"


def git_commit():
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=30).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src", "Cargo.toml", "Cargo.lock"], cwd=ROOT, capture_output=True, text=True, timeout=30).stdout.strip()
        return rev + (" + uncommitted changes" if dirty else "") if rev else "unknown"
    except Exception:  # noqa: BLE001
        return "unknown"


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="scripts/bench-vs-spark", description=__doc__.split("\n\n")[0])
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_const", dest="mode", const="quick", help="12 × 16 MiB batches (PySpark 6), all cores, 1 repetition (default)")
    mode.add_argument("--full", action="store_const", dest="mode", const="full", help="32 × 16 MiB = 512 MiB (PySpark 12 files), all cores ×2 and 1 core ×1")
    ap.add_argument("--corpus", choices=sorted(CORPORA), default="kjv", help="the text the batch files are cut from: "
                    "kjv (small vocabulary), gcide (a dictionary: 221 k words) or zipf (1 M-word Zipf text); default kjv")
    ap.add_argument("--files", type=int, help="batch files per run (overrides the mode)")
    ap.add_argument("--pyspark-files", type=int, help="batch files PySpark replays (default: as many as the others)")
    ap.add_argument("--reps", type=int, help="repetitions (overrides the mode)")
    ap.add_argument("--cores", help="comma-separated core counts, e.g. 2,1 (overrides the mode)")
    ap.add_argument("--engines", default=",".join(DEFAULT_ENGINES), help="comma-separated subset of " + ",".join(ENGINES)
                    + " (default " + ",".join(DEFAULT_ENGINES) + "); dstreams-py runs spark/pyspark_bench.py on dstreams' "
                    "Python package, dstreams-py-lambda the same with a map lambda dstreams does not recognise")
    ap.add_argument("--dstreams-python", type=Path, default=DSTREAMS_PYTHON, help="the Python whose dstreams package the "
                    "dstreams-py engines use (default target/python/bin/python, built by scripts/python-package if it "
                    "cannot import dstreams)")
    ap.add_argument("--workloads", default="w1,w2,w3", help="subset of w1,w2,w3")
    ap.add_argument("--spark-conf", action="append", default=[], metavar="KEY=VALUE", help="extra Spark setting for both Spark engines (repeatable)")
    ap.add_argument("--wait-quiet", type=int, help="before each engine run, wait until other processes use < 0.25 cores, "
                    "at most this many seconds in all (default: quick 120, full 1800; 0 = never wait)")
    ap.add_argument("--run-timeout", type=int, help="seconds before one engine run is killed")
    ap.add_argument("--out", type=Path, help="output directory (default bench-results/<mode>-<time>)")
    ap.add_argument("--update-benchmarks-md", action="store_true", help="also replace the marked section of BENCHMARKS.md with this "
                    "run's table (bench-vs-spark:CORPUS, or bench-vs-spark:python-CORPUS for runs with dstreams-py engines)")
    ap.set_defaults(mode="quick")
    return ap.parse_args(argv)


def main(argv):
    if argv[:1] == ["report"]:
        results = render(Path(argv[1]))
        print((Path(argv[1]) / "table.md").read_text())
        return 0
    args = parse_args(argv)
    cfg = dict(MODES[args.mode])
    if args.files:
        cfg["files"] = args.files
        cfg["pyspark_files"] = min(cfg["pyspark_files"], args.files)
    if args.pyspark_files:
        cfg["pyspark_files"] = min(args.pyspark_files, cfg["files"])
    if args.cores:
        cfg["cores"] = [int(c) for c in args.cores.split(",")]
    cfg["reps"] = {c: args.reps or cfg["reps"].get(c, 1) for c in cfg["cores"]}
    if args.run_timeout:
        cfg["run_timeout"] = args.run_timeout
    EXTRA_SPARK_CONF.extend(args.spark_conf)
    QUIET["max_wait_s"] = args.wait_quiet if args.wait_quiet is not None else cfg["wait_quiet"]
    engines = [e for e in args.engines.split(",") if e]
    workloads = [w for w in args.workloads.split(",") if w]
    for e in engines:
        if e not in ENGINES:
            die(f"unknown engine {e}")
    for w in workloads:
        if w not in WORKLOADS:
            die(f"unknown workload {w}")
    if "spark-jvm" not in engines and not ("pyspark" in engines and any(e in PY_DSTREAMS for e in engines)):
        log("warning: without spark-jvm there is no ratio column")
    for c in cfg["cores"]:
        if c < 1 or c > NCPU:
            die(f"--cores {c}: this machine has {NCPU}")

    started = datetime.datetime.now()
    t0 = time.monotonic()
    RESULTS.mkdir(exist_ok=True)
    label = args.mode if args.corpus == "kjv" else f"{args.mode}-{args.corpus}"
    run_dir = args.out or RESULTS / f"{label}-{started:%Y%m%d-%H%M%S}"
    run_dir = run_dir.resolve()
    for sub in ["raw", "logs", "tmp"]:
        (run_dir / sub).mkdir(parents=True, exist_ok=True)
    log(f"{args.mode} run into {run_dir}")

    check_tools()
    ctx = {
        "raw": run_dir / "raw",
        "logs": run_dir / "logs",
        "tmp": run_dir / "tmp",
        "run_timeout": cfg["run_timeout"],
        "spark_home": pyspark_home(),
    }
    if any(e in DSTREAMS for e in engines):
        ctx["dstreams"] = build_dstreams(run_dir)
        helptext = subprocess.run([str(ctx["dstreams"]), "replay", "--help"], capture_output=True, text=True, timeout=60).stdout
        if "dstreams-closures" in engines and "--closures" not in helptext:
            log("this dstreams build has no 'replay --closures': running its word-count job only")
            engines.remove("dstreams-closures")
    if "spark-jvm" in engines:
        ctx["jar"] = compile_java(run_dir)
    dstreams_python = None
    if any(e in PY_DSTREAMS for e in engines):
        ctx["dstreams_python"] = args.dstreams_python.absolute()
        dstreams_python = ensure_dstreams_python(ctx["dstreams_python"])
        log(f"dstreams-py engines: {dstreams_python} ({ctx['dstreams_python']})")
    manifest = prepare_data(cfg["files"], args.corpus)
    files = manifest["files"]

    meta = {
        "mode": args.mode,
        "corpus": args.corpus,
        "command": "scripts/bench-vs-spark " + " ".join(argv),
        "started": f"{started:%Y-%m-%d %H:%M}",
        "machine": machine(),
        "java": version_of(["java", "-version"]),
        "python": platform.python_version(),
        "rustc": version_of(["rustc", "--version"]),
        "dstreams_commit": git_commit(),
        "files": cfg["files"],
        "pyspark_files": cfg["pyspark_files"] if "pyspark" in engines else cfg["files"],
        "file_mib": FILE_BYTES / 2**20,
        "total_mb": sum(f["bytes"] for f in files) / 1e6,
        "total_words": sum(f["words"] for f in files),
        "reps": {str(c): r for c, r in cfg["reps"].items()},
        "cores": cfg["cores"],
        "engines": engines,
        "workloads": workloads,
        "warmup_batches_spark": WARMUP_BATCHES,
        "spark_settings": spark_conf("N"),
        "elapsed_s": 0,
    }
    if dstreams_python:
        meta["dstreams_python"] = dstreams_python
        meta["dstreams_python_path"] = os.path.relpath(ctx["dstreams_python"], ROOT)
    results = {"meta": meta, "runs": []}

    def save():
        meta["elapsed_s"] = time.monotonic() - t0
        meta["waited_for_quiet_s"] = QUIET["waited_s"]
        (run_dir / "results.json").write_text(json.dumps(results, indent=1))

    # Which dstreams jobs this build has: run each on one file and look at the exit status.
    unavailable = {}
    if any(e in DSTREAMS for e in engines):
        for w in workloads:
            msg = dstreams_unavailable(ctx, w, files[0])
            if msg:
                log(f"dstreams {WORKLOADS[w][0]}: not available in this build ({msg})")
                unavailable[w] = msg

    intervals = {}
    for cores in cfg["cores"]:
        for w in workloads:
            for rep in range(1, cfg["reps"][cores] + 1):
                for e in engines:
                    tag = f"{w}-{e}-{cores}c-r{rep}"
                    if e == "dstreams-closures" and w != "w1":
                        continue  # --closures is the word-count job's
                    if e in DSTREAMS and w in unavailable:
                        if rep == 1:
                            r = {"status": "unavailable", "message": unavailable[w]}
                            r.update(engine=e, workload=w, cores=cores, rep=rep, tag=tag)
                            results["runs"].append(r)
                        continue
                    if e in DSTREAMS:
                        closures = e == "dstreams-closures"
                        log(f"{tag}: dstreams replay --job {WORKLOADS[w][0]}{' --closures' if closures else ''}, {len(files)} files")
                        r = run_dstreams(ctx, w, cores, files, tag, closures)
                    else:
                        key = (e, w, cores)
                        slow = CORPORA[args.corpus]["spark_slowdown"]
                        iv = intervals.get(key, INTERVAL_MS[(e, w)] * slow * (2 if cores == 1 else 1))
                        use = files[: cfg["pyspark_files"]] if e == "pyspark" else files
                        log(f"{tag}: {LABEL[e]} {w}, {len(use)} files, batch interval {iv} ms")
                        r = run_spark(ctx, e, w, cores, use, tag, iv)
                        if r["status"] == "ok":
                            if e in SPARK:
                                meta["spark_version"] = r["spark_version"]
                            # Raise the interval for the next repetition if batches came close.
                            slowest = r["batch_ms_max"]
                            if slowest > 0.8 * iv:
                                intervals[key] = int(math.ceil(slowest * 1.5 / 1000.0)) * 1000
                    r.update(engine=e, workload=w, cores=cores, rep=rep, tag=tag)
                    results["runs"].append(r)
                    if r["status"] == "ok":
                        log(f"{tag}: {r['mb_per_s']:.1f} MB/s, p50 {r['batch_ms_p50']:.0f} ms, peak RSS {r['peak_rss_bytes'] / 2**20:.0f} MiB" + (f", checks: {r['checks']}" if r["checks"] else ""))
                    else:
                        log(f"{tag}: {r['status']}: {r.get('message', '')}")
                    save()
    save()
    shutil.rmtree(run_dir / "tmp", ignore_errors=True)
    results = render(run_dir)
    latest = RESULTS / f"{label}-latest"
    if args.out is None and (latest.is_symlink() or not latest.exists()):
        if latest.is_symlink():
            latest.unlink()
        latest.symlink_to(run_dir.name if run_dir.parent == RESULTS else run_dir)
    table = (run_dir / "table.md").read_text()
    print()
    print(table)
    if args.update_benchmarks_md:
        # Runs of the Python package's engines have their own section (python-CORPUS), so that
        # they do not replace the CLI's comparison on the same corpus.
        section = f"python-{args.corpus}" if any(e in PY_DSTREAMS for e in engines) else args.corpus
        update_benchmarks_md(run_dir, table, section)
    log(f"done in {meta['elapsed_s'] / 60:.1f} min: {run_dir / 'table.md'}, {run_dir / 'ratios.png'}, {run_dir / 'results.json'}")
    failed = [r["tag"] for r in results["runs"] if r["status"] in ("failed", "timeout")]
    if failed:
        log(f"{len(failed)} run(s) failed or timed out ({', '.join(failed)}); see {run_dir / 'logs'}")
        return 1
    return 0


def update_benchmarks_md(run_dir, table, section):
    """Replaces a marked section of BENCHMARKS.md (`<!-- bench-vs-spark:SECTION:begin -->` ...
    `<!-- bench-vs-spark:SECTION:end -->`, SECTION the corpus or python-CORPUS) with this run's
    table."""
    BEGIN, END = f"<!-- bench-vs-spark:{section}:begin -->", f"<!-- bench-vs-spark:{section}:end -->"
    md = ROOT / "BENCHMARKS.md"
    text = md.read_text()
    if BEGIN not in text or END not in text:
        die(f"BENCHMARKS.md has no {BEGIN} ... {END} section to replace")
    pre, rest = text.split(BEGIN, 1)
    _, post = rest.split(END, 1)
    rel = os.path.relpath(run_dir, ROOT)
    body = table.replace("Plot: `ratios.png`", f"Plot: `{rel}/ratios.png`")
    md.write_text(pre + BEGIN + "\n" + body + END + post)
    log("updated the bench-vs-spark section of BENCHMARKS.md")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
