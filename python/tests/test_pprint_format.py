"""DStream.pprint prints exactly what PySpark 2.4's pprint prints (dstream.py, takeAndPrint):

    -------------------------------------------
    Time: 2026-12-05 00:41:10
    -------------------------------------------
    <print(record) for the first num records>
    ...                       (only if the batch has more than num records)
    <empty line>

The time is the batch time as a naive local datetime (datetime.fromtimestamp(ms / 1000.0)), the
records are printed with print(), i.e. str(): strings bare, tuples with the reprs of their items.
"""

import time
from datetime import datetime, timedelta

from dstreams.testing import run_program

import dstreams_test_support as support
from dstreams_test_support import format_pprint, parse_pprint

SOURCE = """\
import sys
from dstreams import SparkContext
from dstreams.streaming import StreamingContext
import dstreams_test_support as support

key = sys.argv[1]
data = support.get_input(key)
times = support.sink(key).setdefault("times", [])
sc = SparkContext(appName="pprint-format")
ssc = StreamingContext(sc, 1)
stream = ssc.queueStream([sc.parallelize(batch) for batch in data])
stream.pprint()
stream.pprint(num=3)
stream.foreachRDD(lambda t, rdd: times.append(t))
ssc.start()
ssc.awaitTermination()
"""

# No record whose str() is "" or "..." or holds a line end: the output could not be parsed back.
RECORDS = [
    "plain string",
    "non-ASCII é 数据",
    ("word", 1),
    ("", 0),
    None,
    1.5,
    2.0,
    0.1 + 0.2,
    1e16,
    -0.0,
    2 ** 70,
    True,
    (None, "value"),
    ("nested", (1, 2.5, None)),
    [1, "a"],
    ("quote's", 'dq"'),
]

BATCHES = [
    RECORDS[:12],  # more than 10: "..." after 10 (pprint()) and after 3 (pprint(num=3))
    RECORDS[4:14],  # exactly 10: no "..." for pprint() (rdd.take(11) has 10)
    RECORDS[13:16],  # exactly 3: no "..." at all
    [],  # empty: the header and the empty line
]


def test_pprint_text_is_pysparks():
    key = support.new_key("pprint")
    support.put_input(key, BATCHES)
    before = time.time()
    with run_program(source=SOURCE, argv=[key]) as run:
        entered = time.time()
        assert not run.finished, run.output()
        run.advance(batches=len(BATCHES))
        output = run.output()
        times = list(support.sink(key)["times"])

    # foreachRDD's time is a datetime, the batch time; whole seconds here (interval 1 s).
    assert len(times) == len(BATCHES)
    assert all(type(t) is datetime and t.tzinfo is None and t.microsecond == 0 for t in times)
    assert [b - a for a, b in zip(times, times[1:])] == [timedelta(seconds=1)] * (len(times) - 1)
    # The manual clock starts at the wall time rounded down to the interval; the first batch
    # is one interval later. Local time, as datetime.fromtimestamp gives it.
    first = times[0].timestamp()
    assert int(before) + 1 <= first <= int(entered) + 1, (before, first, entered)

    expected = "".join(
        format_pprint(t, batch, 10) + format_pprint(t, batch, 3) for t, batch in zip(times, BATCHES)
    )
    assert output == expected

    # The same, spelled out for the first batch, in case format_pprint and the engine agree on
    # something wrong.
    head = output.split("\n")[:16]
    assert head == [
        "-------------------------------------------",
        "Time: " + times[0].strftime("%Y-%m-%d %H:%M:%S"),
        "-------------------------------------------",
        "plain string",
        "non-ASCII é 数据",
        "('word', 1)",
        "('', 0)",
        "None",
        "1.5",
        "2.0",
        "0.30000000000000004",
        "1e+16",
        "-0.0",
        "...",
        "",
        "-------------------------------------------",
    ]
    blocks = parse_pprint(output)
    assert [(b.truncated, len(b.lines)) for b in blocks] == [
        (True, 10), (True, 3), (False, 10), (True, 3), (False, 3), (False, 3), (False, 0),
        (False, 0)]
    assert blocks[-1].time == times[-1]
