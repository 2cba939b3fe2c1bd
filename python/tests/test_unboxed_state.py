"""Keyed state and inverse windows with Python values: the engine holds keys and values natively
when they are exact ints within i64 or exact strs, and computes a recognised `+`, `-` or summing
update function natively on such values. Results must be those of recognition off (every
function called in Python), and the state Python's own: keys 1, 1.0 and True are one key,
sums beyond 2**63 and sums of floats or bools are Python's.
"""

import random

import pytest

from dstreams.testing import run_program

import dstreams_test_support as support
from dstreams_test_support import canon

BATCHES = 7

SOURCE = """\
import sys
from operator import add, sub
from dstreams import SparkConf, SparkContext
from dstreams.streaming import StreamingContext
import dstreams_test_support as support

key = sys.argv[1]
inp = support.get_input(key)
out = support.sink(key)
conf = SparkConf().setMaster("local[2]")
if not inp["recognise"]:
    conf.set("spark.dstreams.recognise", "false")
sc = SparkContext(conf=conf)
ssc = StreamingContext(sc, 1)
ssc.checkpoint(inp["checkpoint"])
pairs = ssc.queueStream([sc.parallelize(b, 2) for b in inp["batches"]])


def collect(name, stream):
    results = out.setdefault(name, [])
    stream.foreachRDD(lambda rdd: results.append(sorted(rdd.collect(), key=repr)))


collect("window", pairs.reduceByKeyAndWindow(lambda a, b: a + b, lambda a, b: a - b, 5, 1))
collect("window_operator", pairs.reduceByKeyAndWindow(add, sub, 5, 1))
collect("state", pairs.updateStateByKey(lambda new_values, last_sum: sum(new_values) + (last_sum or 0)))
ssc.start()
ssc.awaitTermination()
"""


def random_batches(seed):
    rng = random.Random(seed)
    keys = ["a", "b", "数据", 1, 1.0, True, 2, (1, "x")]
    values = [1, 2, -3, 2 ** 62, 2 ** 63, -(2 ** 63), 0.5, True, 7]
    return [[(rng.choice(keys), rng.choice(values)) for _ in range(rng.randint(0, 8))]
            for _ in range(BATCHES)]


def run_once(batches, recognise, tmp_path):
    key = support.new_key("unboxed")
    support.put_input(key, {"batches": batches, "recognise": recognise,
                            "checkpoint": str(tmp_path / key)})
    with run_program(source=SOURCE, argv=[key]) as run:
        run.advance(batches=BATCHES)
        return {name: [canon(b) for b in v] for name, v in support.sink(key).items()}


def python_state(batches):
    """updateStateByKey's running sums as Python computes them, batch by batch."""
    state, out = {}, []
    for batch in batches:
        new = {}
        for k, v in batch:
            new.setdefault(k, []).append(v)
        for k in set(state) | set(new):
            state[k] = sum(new.get(k, [])) + (state.get(k) or 0)
        out.append(canon(sorted(state.items(), key=repr)))
    return out


@pytest.mark.parametrize("seed", [21, 22, 23, 24])
def test_native_and_python_functions_agree_on_python_values(seed, tmp_path):
    batches = random_batches(seed)
    native = run_once(batches, True, tmp_path)
    python = run_once(batches, False, tmp_path)
    assert native == python
    assert native["state"] == python_state(batches)
    assert native["window"] == native["window_operator"]
