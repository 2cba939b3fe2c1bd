"""An unrecognised map of words followed by reduceByKey(add) runs fused (the map in Python once
per partition, its (str, int) results summed natively): its results must be exactly Python's,
whatever the map returns: ints beyond i64, bools, floats, strings, lists as pairs, non-str keys,
equal keys of different objects. Each program runs with recognition on and off; both are
compared with plain-Python folds computed here.
"""

import random
from operator import add

import pytest

from dstreams.testing import run_program

import dstreams_test_support as support
from dstreams_test_support import canon

BATCHES = 3

# name -> the map function's source (applied to every word of `line.split(" ")`).
MAPS = {
    "plus_zero": "lambda w: (w, 1 + 0 * len(w))",
    "upper": "lambda w: (w.upper(), 1)",
    "big": "lambda w: (w, 2 ** 62 + len(w))",
    "bool": "lambda w: (w, len(w) > 2)",
    "float": "lambda w: (w, len(w) / 4)",
    "string": "lambda w: (w, w[:1])",
    "list_pair": "lambda w: [w, 1]",
    "int_key": "lambda w: (len(w), 1)",
    "mixed": "lambda w: (w, 2 ** 63 if w == 'a' else (0.5 if w == 'b' else 1))",
}

SOURCE = """\
import sys
from operator import add
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
lines = ssc.queueStream([sc.parallelize(b, 2) for b in inp["lines"]])
words = lines.flatMap(lambda line: line.split(" "))
for name, source in inp["maps"].items():
    for reducer, f in (("add", add), ("lambda", lambda a, b: a + b)):
        counts = words.map(eval(source)).reduceByKey(f)
        results = out.setdefault(name + "/" + reducer, [])
        counts.foreachRDD(lambda t, rdd, results=results: results.append(sorted(rdd.collect(), key=repr)))
        out["explain/" + name + "/" + reducer] = counts.explain()
ssc.start()
ssc.awaitTermination()
"""


def random_lines(seed):
    rng = random.Random(seed)
    vocabulary = ["a", "b", "spark", "数据", "", "ßé", "x" * 20, "longer-than-twelve"]
    return [[" ".join(rng.choice(vocabulary) for _ in range(rng.randint(0, 6)))
             for _ in range(rng.randint(0, 12))] for _ in range(BATCHES)]


def python_fold(lines, f):
    """reduceByKey(add) of the batch as Python computes it: per key, its values folded left to
    right in input order, each partition first (2 partitions, as parallelize(b, 2) cuts them),
    then the partitions' totals in partition order."""
    n = len(lines)
    partitions = [lines[:n // 2], lines[n // 2:]]
    totals = {}
    for part in partitions:
        partial = {}
        for line in part:
            for w in line.split(" "):
                k, v = f(w)
                partial[k] = partial[k] + v if k in partial else v
        for k, v in partial.items():
            totals[k] = totals[k] + v if k in totals else v
    return sorted(totals.items(), key=repr)


def run_once(lines, recognise):
    key = support.new_key("fused")
    support.put_input(key, {"lines": lines, "maps": MAPS, "recognise": recognise})
    with run_program(source=SOURCE, argv=[key]) as run:
        run.advance(batches=BATCHES)
        results = {name: list(v) if isinstance(v, list) else v
                   for name, v in support.sink(key).items()}
    return results


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_fused_map_and_add_give_pythons_results(seed):
    lines = random_lines(seed)
    fused = run_once(lines, True)
    plain = run_once(lines, False)
    for name, source in MAPS.items():
        f = eval(source)
        expected = [canon(python_fold(b, f)) for b in lines]
        for reducer in ("add", "lambda"):
            got = [canon(rows) for rows in fused[name + "/" + reducer]]
            assert got == expected, (name, reducer)
            assert [canon(rows) for rows in plain[name + "/" + reducer]] == expected
            assert fused["explain/%s/%s" % (name, reducer)].splitlines()[-2:] == [
                "map python", "reduceByKey native"]
            assert plain["explain/%s/%s" % (name, reducer)].splitlines()[-1] == (
                "reduceByKey python")
