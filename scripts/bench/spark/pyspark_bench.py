"""The PySpark baseline of scripts/bench-vs-spark: W1, W2 and W3 (scripts/bench/README.md) written
the way the seed's users write PySpark DStreams, one input file per batch through a queueStream.

Usage (through spark-submit, see scripts/bench/harness.py):
  pyspark_bench.py WORKLOAD CORES INTERVAL_MS WINDOW SLIDE CHECKPOINT_DIR OUT_JSON FILE...

Mirrors SparkBench.java: a StreamingListener records BatchInfo of every completed batch, the
job's result (count() of the batch's result RDD) is kept per batch time, and the JSON is written
after the last file's batch completed and the context stopped.
"""

import json
import os
import sys
import threading
import time

from pyspark import SparkConf, SparkContext
from pyspark.streaming import StreamingContext
from pyspark.streaming.listener import StreamingListener


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


def main(argv):
    main_ms = int(time.time() * 1000)
    if len(argv) < 8:
        print(__doc__, file=sys.stderr)
        return 2
    workload, cores, interval_ms, window, slide, checkpoint_dir, out_json = argv[:7]
    files = argv[7:]
    cores, interval_ms, window, slide = int(cores), int(interval_ms), int(window), int(slide)
    interval = interval_ms / 1000.0

    # Master and settings come from spark-submit (--master local[N], --conf ...).
    sc = SparkContext(conf=SparkConf().setAppName("bench-pyspark-" + workload))
    sc.setLogLevel("WARN")
    ssc = StreamingContext(sc, interval)

    lines = ssc.queueStream([sc.textFile(f) for f in files], oneAtATime=True)
    pairs = lines.flatMap(lambda line: line.split(" ")).map(lambda x: (x, 1))
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
        raise SystemExit("unknown workload " + workload)

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
        "engine": "pyspark",
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
