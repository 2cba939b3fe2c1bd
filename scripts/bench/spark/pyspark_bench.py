"""The PySpark baseline of scripts/bench-vs-spark: W1, W2 and W3 (scripts/bench/README.md) written
the way the seed's users write PySpark DStreams, one input file per batch through a queueStream.
The same program runs on dstreams' Python package (engines dstreams-py and dstreams-py-lambda).

Usage (through spark-submit, or the dstreams venv's python; see scripts/bench/harness.py):
  [BENCH_ENGINE=pyspark|dstreams] pyspark_bench.py [--unrecognised-map]
      WORKLOAD CORES INTERVAL_MS WINDOW SLIDE CHECKPOINT_DIR OUT_JSON FILE...

BENCH_ENGINE (default pyspark) chooses where SparkConf, SparkContext, StreamingContext and
StreamingListener come from: `pyspark` or `dstreams` (whose modules mirror pyspark's); nothing
else in the program differs. --unrecognised-map replaces the map function `lambda x: (x, 1)` by
`lambda x: tuple((x, 1))`: the same pairs, but a lambda dstreams does not recognise, so it calls
it in Python for every word.

Mirrors SparkBench.java: a StreamingListener records BatchInfo of every completed batch, the
job's result (count() of the batch's result RDD) is kept per batch time, and the JSON is written
after the last file's batch completed and the context stopped.
"""

import argparse
import json
import os
import sys
import threading
import time

ENGINE = os.environ.get("BENCH_ENGINE", "pyspark")
if ENGINE == "pyspark":
    from pyspark import SparkConf, SparkContext
    from pyspark.streaming import StreamingContext
    from pyspark.streaming.listener import StreamingListener
elif ENGINE == "dstreams":
    from dstreams import SparkConf, SparkContext
    from dstreams.streaming import StreamingContext
    from dstreams.streaming.listener import StreamingListener
else:
    raise SystemExit(f"BENCH_ENGINE={ENGINE!r}: expected pyspark or dstreams")


class Listener(StreamingListener):
    def __init__(self, n):
        super().__init__()
        self.n = n
        self.batches = []
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.error = None

    def onBatchCompleted(self, batchCompleted):
        try:
            self.record(batchCompleted.batchInfo())
        except Exception as e:  # noqa: BLE001 -- report it instead of waiting forever
            self.error = repr(e)
            self.done.set()

    def record(self, info):
        # info is a JavaBatchInfo: plain longs, -1 where unset.
        batch = {
            "batch_time": info.batchTime().milliseconds(),
            "submission_ms": info.submissionTime(),
            "start_ms": info.processingStartTime(),
            "end_ms": info.processingEndTime(),
            "processing_ms": info.processingDelay(),
            "scheduling_ms": info.schedulingDelay(),
        }
        with self.lock:
            self.batches.append(batch)
            if len(self.batches) >= self.n:
                self.done.set()


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="pyspark_bench.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--unrecognised-map", action="store_true",
                    help="map with lambda x: tuple((x, 1)), which dstreams calls in Python")
    ap.add_argument("workload", choices=["w1", "w2", "w3"])
    for name in ["cores", "interval_ms", "window", "slide"]:
        ap.add_argument(name, type=int)
    ap.add_argument("checkpoint_dir")
    ap.add_argument("out_json")
    ap.add_argument("files", nargs="+")
    return ap.parse_args(argv)


def main(argv):
    main_ms = int(time.time() * 1000)
    args = parse_args(argv)
    workload, cores, interval_ms, window, slide = args.workload, args.cores, args.interval_ms, args.window, args.slide
    checkpoint_dir, out_json, files = args.checkpoint_dir, args.out_json, args.files
    interval = interval_ms / 1000.0
    engine = "pyspark" if ENGINE == "pyspark" else "dstreams-py"
    if args.unrecognised_map:
        engine += "-lambda"

    # Master and settings come from spark-submit (--master local[N], --conf ...); dstreams
    # without a master runs on the CPUs of the process's affinity mask (the harness's taskset).
    sc = SparkContext(conf=SparkConf().setAppName("bench-pyspark-" + workload))
    sc.setLogLevel("WARN")
    ssc = StreamingContext(sc, interval)

    lines = ssc.queueStream([sc.textFile(f) for f in files], oneAtATime=True)
    # The workload's map function, or (--unrecognised-map) one with the same results that
    # dstreams does not recognise and so calls in Python.
    to_pair = (lambda x: tuple((x, 1))) if args.unrecognised_map else (lambda x: (x, 1))
    pairs = lines.flatMap(lambda line: line.split(" ")).map(to_pair)
    if workload == "w1":
        result = pairs.reduceByKey(lambda a, b: a + b)
    elif workload == "w2":
        ssc.checkpoint(checkpoint_dir)
        result = pairs.reduceByKeyAndWindow(
            lambda a, b: a + b,
            lambda a, b: a - b,
            window * interval,
            slide * interval,
            cores,
            lambda kv: kv[1] != 0,
        )
    elif workload == "w3":
        ssc.checkpoint(checkpoint_dir)
        result = pairs.updateStateByKey(lambda new, old: sum(new) + (old or 0))
    else:
        raise AssertionError(workload)

    counts = {}

    def count(t, rdd):
        counts[int(t.timestamp() * 1000 + 0.5)] = rdd.count()

    result.foreachRDD(count)

    listener = Listener(len(files))
    ssc.addStreamingListener(listener)
    ssc.start()
    ready_ms = int(time.time() * 1000)
    complete = listener.done.wait() and listener.error is None
    done_ms = int(time.time() * 1000)
    ssc.stop(stopSparkContext=False, stopGraceFully=False)

    with listener.lock:
        batches = sorted(listener.batches, key=lambda b: b["batch_time"])
    for b in batches:
        b["result_count"] = counts.get(b["batch_time"], -1)
    out = {
        "engine": engine,
        "workload": workload,
        "spark_version": sc.version,
        "cores": cores,
        "interval_ms": interval_ms,
        "complete": bool(complete),
        "launch_ms": int(os.environ.get("BENCH_LAUNCH_MS", "0")),
        "main_ms": main_ms,
        "ready_ms": ready_ms,
        "done_ms": done_ms,
        "batches": batches,
    }
    if listener.error is not None:
        out["error"] = listener.error
        print("listener failed: " + listener.error, file=sys.stderr)
    with open(out_json, "w") as f:
        json.dump(out, f)
        f.write("\n")
    sc.stop()
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
