"""Errors in user functions fail their batch with the Python traceback in the error, as in
PySpark (the worker's traceback travels in the Py4JJavaError that awaitTermination raises); the
process goes on. KafkaUtils.createStream (ZooKeeper receiver) points to createDirectStream.
"""

import pytest

from dstreams import DStreamsError
from dstreams.testing import run_program

from dstreams_test_support import format_pprint, parse_pprint

FAILING_LINE = "stream.map(lambda x: divmod(100, x)).pprint()"

PROGRAM = """\
from dstreams import SparkContext
from dstreams.streaming import StreamingContext

sc = SparkContext(appName="errors")
ssc = StreamingContext(sc, 1)
batches = [[1, 2, 4], [5, 0, 10], [3]]
stream = ssc.queueStream([sc.parallelize(b, 1) for b in batches])
%s
ssc.start()
%s
"""

AWAIT = "ssc.awaitTermination()"

AWAIT_AND_CARRY_ON = """\
from dstreams import DStreamsError
try:
    ssc.awaitTermination()
except DStreamsError as e:
    print("caught", type(e).__name__, "ZeroDivisionError" in str(e))
ssc.stop(stopSparkContext=True, stopGraceFully=False)
print("still running")
"""


def _zero_division_message():
    try:
        divmod(100, 0)
    except ZeroDivisionError as e:
        return str(e)


def _assert_python_traceback(error):
    text = str(error)
    assert "Traceback (most recent call last)" in text, text
    assert "ZeroDivisionError: " + _zero_division_message() in text, text
    # The failing lambda's line, as Python's traceback shows it (stripped).
    assert FAILING_LINE in text, text


def test_exception_in_a_lambda_fails_its_batch_with_the_traceback(tmp_path):
    program = tmp_path / "failing.py"
    program.write_text(PROGRAM % (FAILING_LINE, AWAIT), encoding="utf-8")
    with pytest.raises(DStreamsError) as program_error:
        with run_program(str(program)) as run:
            assert not run.finished, run.output()
            run.advance(batches=1)
            first = run.output()
            with pytest.raises(DStreamsError) as batch_error:
                run.advance(batches=1)
            output = run.output()
    assert issubclass(DStreamsError, Exception)
    # Batch 1 went through: pprint's text for divmod(100, x) of 1, 2, 4.
    blocks = parse_pprint(first)
    assert len(blocks) == 1
    assert first == format_pprint(blocks[0].time_text, [(100, 0), (50, 0), (25, 0)])
    # Batch 2 failed in rdd.take, before pprint printed anything.
    assert output == first
    _assert_python_traceback(batch_error.value)
    # awaitTermination() raised the same error in the program, which ended with it.
    _assert_python_traceback(program_error.value)
    assert run.finished


def test_the_program_goes_on_after_a_failed_batch(tmp_path):
    program = tmp_path / "carry_on.py"
    program.write_text(PROGRAM % (FAILING_LINE, AWAIT_AND_CARRY_ON), encoding="utf-8")
    with run_program(str(program)) as run:
        run.advance(batches=1)
        with pytest.raises(DStreamsError) as batch_error:
            run.advance(batches=1)
    _assert_python_traceback(batch_error.value)
    output = run.output()
    tail = "caught DStreamsError True\nstill running\n"
    assert output.endswith(tail), output
    assert len(parse_pprint(output[: -len(tail)])) == 1, output


# The seed's Kafka program as written (PySpark 2.4's kafka_wordcount.py), imports changed only.
SEED_KAFKA_CREATE_STREAM = """\
from __future__ import print_function
import sys
from dstreams import SparkContext
from dstreams.streaming import StreamingContext
from dstreams.streaming.kafka import KafkaUtils

if __name__ == "__main__":
    if len(sys.argv) != 3:
        print("Usage: KafkaWordCount.py <zk> <topic>", file=sys.stderr)
        exit(-1)
    sc = SparkContext(appName="PythonStreamingKafkaWordCount")
    ssc = StreamingContext(sc, 1)
    zkQuorum, topic = sys.argv[1:]
    kvs = KafkaUtils.createStream(ssc, zkQuorum, "spark-streaming-consumer", {topic: 1})
    lines = kvs.map(lambda x: x[1])
    counts = lines.flatMap(lambda line: line.split(" ")).map(lambda word: (word, 1)).reduceByKey(lambda a, b: a+b)
    counts.pprint()
    ssc.start()
    ssc.awaitTermination()
"""


def test_create_stream_points_to_create_direct_stream():
    with pytest.raises(NotImplementedError) as info:
        with run_program(source=SEED_KAFKA_CREATE_STREAM, argv=["localhost:2181", "words"]):
            pass
    assert "createDirectStream" in str(info.value)


def test_a_program_that_ends_without_stopping_its_context_exits(tmp_path):
    # The interpreter exits while the engine's threads run batches that call Python: the
    # context is stopped at exit, and the process ends cleanly.
    import subprocess
    import sys

    program = tmp_path / "no_stop.py"
    program.write_text(
        "from dstreams import SparkContext\n"
        "from dstreams.streaming import StreamingContext\n"
        "import threading\n"
        "sc = SparkContext('local[2]')\n"
        "ssc = StreamingContext(sc, 0.01)\n"
        "stream = ssc.queueStream([[1, 2, 3]] * 1000).map(lambda x: x + 1)\n"
        "ran = threading.Event()\n"
        "stream.foreachRDD(lambda rdd: ran.set())\n"
        "stream.pprint()\n"
        "ssc.start()\n"
        "assert ran.wait(60), 'no batch ran'\n")
    # Without the stop at exit, engine threads reach a finalised interpreter (a panic on
    # standard error) in about half the runs: five runs.
    for _ in range(5):
        done = subprocess.run([sys.executable, str(program)], capture_output=True, timeout=60)
        assert done.returncode == 0 and not done.stderr, done.stderr.decode()
        assert b"Time:" in done.stdout
