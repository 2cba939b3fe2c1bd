"""Every DStream operation against PySpark's own test vectors (pyspark/streaming/tests/
test_dstream.py: BasicOperationTests, WindowFunctionTests, StreamingContextTests), rewritten:
a queue of input batches, the operation, the batches collected with foreachRDD, compared with
the expected results (sorted where PySpark's tests sort: keyed outputs have no set order).
"""

import operator

import pytest

from dstreams.testing import run_program

import dstreams_test_support as support

# The program: the test's function applied to one or two queue streams (each input batch an
# RDD of `partitions` partitions), every batch collected.
SOURCE = """\
import sys
from dstreams import SparkConf, SparkContext
from dstreams.streaming import StreamingContext
import dstreams_test_support as support

key = sys.argv[1]
inp = support.get_input(key)
out = support.sink(key)
sc = SparkContext(conf=SparkConf().setMaster("local[2]"))
ssc = StreamingContext(sc, inp["interval"])
if inp["checkpoint"]:
    ssc.checkpoint(inp["checkpoint"])
streams = [ssc.queueStream([sc.parallelize(b, inp["partitions"]) for b in i]) for i in inp["inputs"]]
result = inp["func"](*streams)
batches = out.setdefault("batches", [])
result.foreachRDD(lambda rdd: batches.append(rdd.collect()))
ssc.start()
ssc.awaitTermination()
"""


def run(func, *inputs, batches=None, interval=1, partitions=2, checkpoint=None, sort=False):
    """The first `batches` outputs of `func(*queue streams of inputs)` (each input a list of
    batches)."""
    key = support.new_key("operations")
    n = batches or max(len(i) for i in inputs)
    support.put_input(key, {"inputs": inputs, "func": func, "interval": interval,
                            "partitions": partitions, "checkpoint": checkpoint})
    with run_program(source=SOURCE, argv=[key]) as program:
        program.advance(batches=n)
        got = [list(b) for b in support.sink(key)["batches"][:n]]
    assert len(got) == n, got
    return [sorted(b) for b in got] if sort else got


R = [list(range(1, 5)), list(range(5, 9)), list(range(9, 13))]


def test_map_flatmap_filter_count_reduce():
    assert run(lambda s: s.map(str), R) == [[str(x) for x in b] for b in R]
    assert run(lambda s: s.flatMap(lambda x: (x, x * 2)), R) == [
        [y for x in b for y in (x, x * 2)] for b in R]
    assert run(lambda s: s.filter(lambda x: x % 2 == 0), R) == [[2, 4], [6, 8], [10, 12]]
    counts = [list(range(5)), list(range(10)), list(range(20))]
    assert run(lambda s: s.count(), counts) == [[5], [10], [20]]
    assert run(lambda s: s.reduce(operator.add), R) == [[10], [26], [42]]
    assert run(lambda s: s.reduce(operator.add), [[], [1]]) == [[], [1]]


def test_partition_operations():
    assert run(lambda s: s.glom(), R) == [[[1, 2], [3, 4]], [[5, 6], [7, 8]], [[9, 10], [11, 12]]]
    assert run(lambda s: s.mapPartitions(lambda it: [sum(it)]), R) == [[3, 7], [11, 15], [19, 23]]
    assert run(lambda s: s.repartition(1).glom(), R[:2]) == [[[1, 2, 3, 4]], [[5, 6, 7, 8]]]
    assert run(lambda a, b: a.union(b), [[0, 1, 2], [0, 1]], [[3, 4], []]) == [
        [0, 1, 2, 3, 4], [0, 1]]


KEYED = [[("a", 1), ("a", 1), ("b", 1), ("b", 1)], [("", 1), ("", 1), ("", 1), ("", 1)],
         [(1, 1), (1, 1), (2, 1), (2, 1), (3, 1)]]
GROUPS = [[(1, 1), (2, 1), (3, 1), (4, 1)], [(1, 1), (1, 1), (1, 1), (2, 1), (2, 1), (3, 1)],
          [("a", 1), ("a", 1), ("b", 1), ("", 1), ("", 1), ("", 1)]]
GROUPED = [[(1, [1]), (2, [1]), (3, [1]), (4, [1])], [(1, [1, 1, 1]), (2, [1, 1]), (3, [1])],
           [("", [1, 1, 1]), ("a", [1, 1]), ("b", [1])]]


def test_keyed_operations():
    assert run(lambda s: s.reduceByKey(operator.add), KEYED, sort=True) == [
        [("a", 2), ("b", 2)], [("", 4)], [(1, 2), (2, 2), (3, 1)]]
    values = [[("a", 2), ("b", 2), ("c", 1), ("d", 1)], [(0, 4), (1, 1), (2, 2), (3, 3)]]
    assert run(lambda s: s.mapValues(lambda x: x + 10), values, sort=True) == [
        [("a", 12), ("b", 12), ("c", 11), ("d", 11)], [(0, 14), (1, 11), (2, 12), (3, 13)]]
    assert run(lambda s: s.flatMapValues(lambda x: (x, x + 10)), values[:1], sort=True) == [
        [("a", 2), ("a", 12), ("b", 2), ("b", 12), ("c", 1), ("c", 11), ("d", 1), ("d", 11)]]
    assert run(lambda s: s.groupByKey().mapValues(list), GROUPS, sort=True) == GROUPED
    combined = run(lambda s: s.combineByKey(lambda x: [x], lambda x, y: x.append(y) or x,
                                            lambda x, y: x.extend(y) or x), GROUPS, sort=True)
    assert combined == GROUPED
    by_value = [[0, 1, 2, 3] * 2, ["a", "b", "a"]]
    assert run(lambda s: s.countByValue(), by_value, sort=True) == [
        [(0, 2), (1, 2), (2, 2), (3, 2)], [("a", 2), ("b", 1)]]


def test_joins_and_cogroup():
    left, right = [[("a", 1), ("b", 2)]], [[("b", 3), ("c", 4)]]
    assert run(lambda a, b: a.join(b), left, right, sort=True) == [[("b", (2, 3))]]
    assert run(lambda a, b: a.leftOuterJoin(b), left, right, sort=True) == [
        [("a", (1, None)), ("b", (2, 3))]]
    assert run(lambda a, b: a.rightOuterJoin(b), left, right, sort=True) == [
        [("b", (2, 3)), ("c", (None, 4))]]
    assert run(lambda a, b: a.fullOuterJoin(b), left, right, sort=True) == [
        [("a", (1, None)), ("b", (2, 3)), ("c", (None, 4))]]
    one = [[(1, 1), (2, 1), (3, 1)], [(1, 1), (1, 1), (1, 1), (2, 1)],
           [("a", 1), ("a", 1), ("b", 1), ("b", 1)], []]
    two = [[(1, 2)], [(4, 1)], [("a", 1), ("a", 1), ("b", 1), ("b", 1)], [("", 1)]]
    got = run(lambda a, b: a.cogroup(b).mapValues(lambda vs: tuple(map(list, vs))),
              one, two, sort=True)
    assert got == [[(1, ([1], [2])), (2, ([1], [])), (3, ([1], []))],
                   [(1, ([1, 1, 1], [])), (2, ([1], [])), (4, ([], [1]))],
                   [("a", ([1, 1], [1, 1])), ("b", ([1, 1], [1, 1]))], [("", ([], [1]))]]


def test_transform_and_transform_with():
    got = run(lambda s: s.transform(lambda rdd: rdd.map(lambda x: x * 2).sortBy(lambda x: -x)), R)
    assert got == [sorted((x * 2 for x in b), reverse=True) for b in R]
    got = run(lambda a, b: a.transformWith(lambda t, x, y: x.union(y).filter(lambda v: v > 2), b),
              [[1, 2, 3]], [[4, 0]])
    assert got == [[3, 4]]


# PySpark's WindowFunctionTests: batches of 0.5 s.
def test_windows():
    ranges = [list(range(i)) for i in range(1, 6)]
    assert run(lambda s: s.window(1.5, .5).count(), ranges, batches=7, interval=.5) == [
        [1], [3], [6], [9], [12], [9], [5]]
    assert run(lambda s: s.countByWindow(1.5, .5), ranges, batches=7, interval=.5) == [
        [1], [3], [6], [9], [12], [9], [5]]
    large = [list(range(i)) for i in range(1, 7)]
    assert run(lambda s: s.countByWindow(2.5, .5), large, batches=10, interval=.5) == [
        [1], [3], [6], [10], [15], [20], [18], [15], [11], [6]]
    assert run(lambda s: s.countByValueAndWindow(2.5, .5).count(), large, batches=10, interval=.5) == [
        [1], [2], [3], [4], [5], [6], [6], [6], [6], [6]]
    assert run(lambda s: s.reduceByWindow(operator.add, None, 1.5, .5), ranges, batches=7,
               interval=.5) == [[0], [1], [4], [10], [19], [16], [10]]
    pairs = [[("a", i)] for i in range(5)]
    got = run(lambda s: s.groupByKeyAndWindow(1.5, .5).mapValues(lambda vs: sorted(vs)), pairs, batches=7,
              interval=.5)
    assert got == [[("a", [0])], [("a", [0, 1])], [("a", [0, 1, 2])], [("a", [1, 2, 3])],
                   [("a", [2, 3, 4])], [("a", [3, 4])], [("a", [4])]]


@pytest.mark.parametrize("inverse", [None, operator.sub])
def test_reduce_by_key_and_window_with_python_values(inverse):
    # Float values keep the stream off the native word-count path; a window of 5 slides takes
    # PySpark's inverse path when an inverse is given: the key whose values left stays at 0.0.
    data = [[("a", 1.0), ("b", 2.0)], [("a", 1.0)], [], [], [], [], []]
    got = run(lambda s: s.reduceByKeyAndWindow(operator.add, inverse, 5, 1), data, batches=7, sort=True)
    kept = [("a", 0.0), ("b", 0.0)] if inverse else []
    assert got[:5] == [[("a", 1.0), ("b", 2.0)]] + [[("a", 2.0), ("b", 2.0)]] * 4
    assert got[5] == ([("a", 1.0), ("b", 0.0)] if inverse else [("a", 1.0)])
    assert got[6] == kept


def test_update_state_by_key_with_a_python_function(tmp_path):
    def update(new_values, state):
        return (state or []) + new_values

    data = [[("a", 1)], [("a", 2), ("b", 3)], []]
    got = run(lambda s: s.updateStateByKey(update, initialRDD=[("c", [0])]), data,
              checkpoint=str(tmp_path), sort=True)
    assert got == [[("a", [1]), ("c", [0])], [("a", [1, 2]), ("b", [3]), ("c", [0])],
                   [("a", [1, 2]), ("b", [3]), ("c", [0])]]


def test_to_arrow():
    pa = pytest.importorskip("pyarrow")
    tables = []
    run(lambda s: s.transform(lambda rdd: tables.append(rdd.toArrow()) or rdd),
        [[("a", 1), ("b", 2)]])
    assert tables[0].equals(pa.table({"key": ["a", "b"], "value": [1, 2]}))


RECOVERABLE = """\
import sys
from dstreams import SparkConf, SparkContext
from dstreams.streaming import StreamingContext
import dstreams_test_support as support

key = sys.argv[1]
inp = support.get_input(key)
out = support.sink(key)


def setup():
    sc = SparkContext(conf=SparkConf().setMaster("local[2]"))
    ssc = StreamingContext(sc, 1)
    ssc.checkpoint(inp["checkpoint"])
    words = ssc.textFileStream(inp["dir"]).flatMap(lambda line: line.split(" "))
    native = words.map(lambda w: (w, 1)).updateStateByKey(
        lambda new_values, last_sum: sum(new_values) + (last_sum or 0))
    python = words.map(lambda w: (w, [w])).updateStateByKey(
        lambda new, last: (last or []) + [x for v in new for x in v])
    for name, stream in (("native", native), ("python", python)):
        stream.foreachRDD(collector(out.setdefault(name, [])))
    return ssc


def collector(results):
    return lambda rdd: results.append(sorted(rdd.collect()))


ssc = StreamingContext.getOrCreate(inp["checkpoint"], setup)
ssc.start()
ssc.awaitTermination()
"""


def test_get_or_create_restores_the_state_of_the_last_run(tmp_path):
    watched = tmp_path / "in"
    watched.mkdir()
    checkpoint = "file://" + str(tmp_path / "checkpoint")
    for run_number, words in enumerate(["a b a", "b c"]):
        key = support.new_key("recover")
        support.put_input(key, {"checkpoint": checkpoint, "dir": str(watched)})
        with run_program(source=RECOVERABLE, argv=[key]) as program:
            path = watched / ("part-%d" % run_number)
            path.write_text(words + "\n")
            program.advance(batches=3)
        results = support.sink(key)
        assert "native" in results and "python" in results
    assert results["native"][-1] == [("a", 2), ("b", 2), ("c", 1)]
    assert results["python"][-1] == [("a", ["a", "a"]), ("b", ["b", "b"]), ("c", ["c"])]
