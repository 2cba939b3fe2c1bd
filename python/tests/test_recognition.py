"""Recognised functions (run natively) and the Python fallback give the same results, and both
give Python's own: random inputs (stdlib random, fixed seeds), each program run twice, with
recognition on and with spark.dstreams.recognise=false, every output collected per batch with
foreachRDD and compared with what plain Python dicts compute here.

Order of values: every queueStream RDD has one partition, so reduceByKey folds a key's values
left to right in input order (PySpark: one map-side combiner per key, one reducer merge), which
is what makes the string concatenations below deterministic in Spark too.
"""

import functools
import random
from collections import Counter, defaultdict
from operator import add

import pytest

from dstreams.testing import run_program

import dstreams_test_support as support
from dstreams_test_support import canon

# The program: one queue of lines (word count, windows, state) and two of (key, value) pairs
# (numbers; strings), each output collected under its name. Interval 1 s.
SOURCE = """\
import sys
from operator import add
from dstreams import SparkConf, SparkContext
from dstreams.streaming import StreamingContext
import dstreams_test_support as support

key = sys.argv[1]
inp = support.get_input(key)
out = support.sink(key)
conf = SparkConf().setAppName("recognition").setMaster("local[2]")
if not inp["recognise"]:
    conf.set("spark.dstreams.recognise", "false")
sc = SparkContext(conf=conf)
ssc = StreamingContext(sc, 1)
ssc.checkpoint(inp["checkpoint"])  # reduceByKeyAndWindow with an inverse needs it


def collect(name, stream):
    results = out.setdefault(name, [])
    stream.foreachRDD(lambda t, rdd: results.append((t, sorted(rdd.collect()))))


lines = ssc.queueStream([sc.parallelize(b, 1) for b in inp["lines"]])
words = lines.flatMap(lambda line: line.split(" "))
pairs = words.map(lambda word: (word, 1))
counts = pairs.reduceByKey(lambda a, b: a + b)
collect("wordcount", counts)
out["explain"] = counts.explain()
collect("window", pairs.reduceByKeyAndWindow(lambda a, b: a + b, None, 3, 1))
collect("window_slide2", pairs.reduceByKeyAndWindow(lambda a, b: a + b, None, 3, 2))
collect("window_inverse", pairs.reduceByKeyAndWindow(
    lambda a, b: a + b, lambda a, b: a - b, 5, 1, filterFunc=lambda kv: kv[1] > 0))


def updateFunc(new_values, last_sum):
    return sum(new_values) + (last_sum or 0)


collect("state", pairs.updateStateByKey(updateFunc))

nums = ssc.queueStream([sc.parallelize(b, 1) for b in inp["nums"]])
collect("num_plus", nums.reduceByKey(lambda a, b: a + b))
collect("num_operator_add", nums.reduceByKey(add))
collect("num_plus_zero", nums.reduceByKey(lambda a, b: a + b + 0))
collect("num_plus_one", nums.reduceByKey(lambda a, b: a + b + 1))


def add_scaled(a, b, scale=3):
    return a + b * scale


collect("num_default_arg", nums.reduceByKey(add_scaled))
k = 7
collect("num_global", nums.reduceByKey(lambda a, b: a + b + k))


def make_adder(c):
    return lambda a, b: a + b + c


collect("num_closure", nums.reduceByKey(make_adder(-2)))

strs = ssc.queueStream([sc.parallelize(b, 1) for b in inp["strs"]])
collect("str_plus", strs.reduceByKey(lambda a, b: a + b))
collect("str_reversed", strs.reduceByKey(lambda a, b: b + a))

ssc.start()
ssc.awaitTermination()
"""

# The same functions, for the expectations.
K = 7
NUM_FUNCS = {
    "num_plus": lambda a, b: a + b,
    "num_operator_add": add,
    "num_plus_zero": lambda a, b: a + b + 0,
    "num_plus_one": lambda a, b: a + b + 1,
    "num_default_arg": lambda a, b, scale=3: a + b * scale,
    "num_global": lambda a, b: a + b + K,
    "num_closure": lambda a, b: a + b - 2,
}
STR_FUNCS = {
    "str_plus": lambda a, b: a + b,
    "str_reversed": lambda a, b: b + a,
}
DATA_BATCHES = 5
EMPTY_TAIL = 2  # two empty batches after the data: windows slide out, state stays
BATCHES = DATA_BATCHES + EMPTY_TAIL

WORDS = ["a", "b", "spark", "数据", "é", "ß", "", "x y"]
HUGE = [2 ** 63 - 1, 2 ** 63, 2 ** 64 + 7, -(2 ** 63), -(2 ** 63) - 1, 2 ** 100, -(2 ** 70)]


def random_line(rng):
    if rng.random() < 0.1:
        return ""
    words = [rng.choice(WORDS[:-1]) for _ in range(rng.randint(1, 6))]
    # Random separators: single, double, leading and trailing spaces.
    seps = [rng.choice([" ", " ", " ", "  "]) for _ in words[1:]]
    line = words[0] + "".join(s + w for s, w in zip(seps, words[1:]))
    return rng.choice(["", " ", "  "]) + line + rng.choice(["", "", " "])


def random_num_pair(rng):
    # Integer keys: small ints, ints beyond 64 bits, bools (True + True == 2, a lone True stays
    # True). Float keys: halves and small ints, whose sums are exact whatever the order.
    if rng.random() < 0.6:
        value = rng.choice([
            lambda: rng.randint(-5, 5),
            lambda: rng.choice(HUGE),
            lambda: rng.choice([True, False]),
        ])()
        return ("i%d" % rng.randint(0, 4), value)
    value = rng.choice([lambda: rng.randint(-40, 40) / 2, lambda: rng.randint(-3, 3)])()
    return ("f%d" % rng.randint(0, 2), value)


def random_str_pair(rng):
    return ("s%d" % rng.randint(0, 3), rng.choice(["x", "yz", "", "é", "数", " "]))


def random_input(seed):
    rng = random.Random(seed)
    lines = [[random_line(rng) for _ in range(rng.randint(0, 8))] for _ in range(DATA_BATCHES)]
    nums = [[random_num_pair(rng) for _ in range(rng.randint(0, 12))] for _ in range(DATA_BATCHES)]
    strs = [[random_str_pair(rng) for _ in range(rng.randint(0, 8))] for _ in range(DATA_BATCHES)]
    tail = [[] for _ in range(EMPTY_TAIL)]
    return {"lines": lines + tail, "nums": nums + tail, "strs": strs + tail}


def fold_by_key(pairs, func):
    """reduceByKey on one partition: a left fold of each key's values in input order."""
    values = defaultdict(list)
    for k, v in pairs:
        values[k].append(v)
    return sorted((k, functools.reduce(func, vs)) for k, vs in values.items())


def word_pairs(lines):
    return [(w, 1) for line in lines for w in line.split(" ")]


def expected_results(data):
    lines = data["lines"]
    exp = {}
    exp["wordcount"] = [fold_by_key(word_pairs(b), add) for b in lines]

    def window(i, length=3):  # batches i-length+1 .. i (interval 1 s), 0-based
        return [p for b in lines[max(0, i - length + 1): i + 1] for p in word_pairs(b)]

    exp["window"] = [fold_by_key(window(i), add) for i in range(BATCHES)]
    # Slide 2 s: a windowed stream has RDDs only at times zeroTime + n * slide, i.e. after the
    # 2nd, 4th, 6th batch (0-based 1, 3, 5).
    exp["window_slide2"] = [fold_by_key(window(i), add) for i in range(1, BATCHES, 2)]
    # With the inverse function (window 5 s >= 5 slides: PythonReducedWindowedDStream then
    # subtracts the batch leaving the window instead of reducing the whole window), keys whose
    # count fell to 0 would stay; the filter drops them, leaving the plain window counts.
    exp["window_inverse"] = [fold_by_key(window(i, 5), add) for i in range(BATCHES)]
    running = Counter()
    exp["state"] = []
    for b in lines:
        for w, one in word_pairs(b):
            running[w] += one
        exp["state"].append(sorted(running.items()))
    for name, func in NUM_FUNCS.items():
        exp[name] = [fold_by_key(b, func) for b in data["nums"]]
    for name, func in STR_FUNCS.items():
        exp[name] = [fold_by_key(b, func) for b in data["strs"]]
    return exp


def run_once(data, recognise, tmp_path):
    key = support.new_key("recognition")
    checkpoint = tmp_path / ("checkpoint-%s" % key)
    support.put_input(key, dict(data, recognise=recognise, checkpoint="file://" + str(checkpoint)))
    with run_program(source=SOURCE, argv=[key]) as run:
        assert not run.finished, run.output()
        run.advance(batches=BATCHES)
        # Copied now: stopping the context at the end must not add to what is compared.
        results = {name: (list(v) if isinstance(v, list) else v)
                   for name, v in support.sink(key).items()}
    return results


def rows_by_batch(results):
    """The collected rows per batch, in batch order; checks the batch times are increasing."""
    times = [t for t, _ in results]
    assert times == sorted(times) and len(set(times)) == len(times), times
    return [canon(rows) for _, rows in results]


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_recognised_and_python_paths_agree_with_python(seed, tmp_path):
    data = random_input(seed)
    expected = expected_results(data)
    native = run_once(data, True, tmp_path)
    python = run_once(data, False, tmp_path)
    for name, exp in expected.items():
        exp = [canon(rows) for rows in exp]
        assert rows_by_batch(native[name]) == exp, "%s, recognition on" % name
        assert rows_by_batch(python[name]) == exp, "%s, recognition off" % name


def _op_modes(explain):
    """{operation: line} for the lines of DStream.explain() ("flatMap native", "map python")."""
    ops = {}
    for line in explain.splitlines():
        parts = line.split()
        if parts:
            ops.setdefault(parts[0], line)
    return ops


def test_explain_says_native_when_recognised_and_python_when_off(tmp_path):
    data = random_input(0)
    for recognise, mode, other in [(True, "native", "python"), (False, "python", "native")]:
        explain = run_once(data, recognise, tmp_path)["explain"]
        assert isinstance(explain, str), explain
        ops = _op_modes(explain)
        # The word count's three functions are the recognised forms.
        for op in ("flatMap", "map", "reduceByKey"):
            assert op in ops, explain
            words = ops[op].split()
            assert mode in words and other not in words, explain


def test_inputs_cover_the_cases():
    # The generator itself: the cases the property test claims to cover do occur.
    all_lines = [l for s in (1, 2, 3, 4) for b in random_input(s)["lines"] for l in b]
    assert "" in all_lines
    assert any(l.startswith(" ") for l in all_lines) and any(l.endswith(" ") for l in all_lines)
    assert any("  " in l for l in all_lines)
    assert any(not l.isascii() for l in all_lines)
    nums = [v for s in (1, 2, 3, 4) for b in random_input(s)["nums"] for _, v in b]
    assert any(type(v) is bool for v in nums) and any(type(v) is float for v in nums)
    assert any(type(v) is int and abs(v) >= 2 ** 63 for v in nums)
    # Some key gets two or more huge values in one batch (a sum beyond 64 bits), some bool key
    # stays a lone bool, some sums two bools.
    exp = [expected_results(random_input(s)) for s in (1, 2, 3, 4)]
    plus = [kv for e in exp for rows in e["num_plus"] for kv in rows]
    assert any(type(v) is int and abs(v) >= 2 ** 64 for _, v in plus)
    assert any(type(v) is bool for _, v in plus)
    strs = [kv for e in exp for rows in e["str_plus"] for kv in rows]
    assert any(len(v) >= 3 for _, v in strs)
    assert any(e["str_plus"] != e["str_reversed"] for e in exp)
