"""Helpers shared by the tests and the programs they run.

`dstreams.testing.run_program` runs a program in a thread of the test process, so a program and
its test can exchange Python objects through this module: the test stores the program's input
under a fresh key (`put_input`), passes the key in argv, and the program appends what it collects
to `sink(key)`. The module also holds the strict parser of `DStream.pprint` output.

Only the standard library: the self-check at the bottom (`python3 dstreams_test_support.py`)
runs without dstreams and without pytest.
"""

import ast
import itertools
import re
import threading
from collections import Counter
from datetime import datetime

_lock = threading.Lock()
_keys = itertools.count()
_inputs = {}
_sinks = {}


def new_key(prefix="run"):
    """A key no other test uses in this process."""
    with _lock:
        return "%s-%d" % (prefix, next(_keys))


def put_input(key, value):
    with _lock:
        _inputs[key] = value


def get_input(key):
    with _lock:
        return _inputs[key]


def sink(key):
    """The dict a program stores its collected results in (created on first use)."""
    with _lock:
        return _sinks.setdefault(key, {})


# ---------------------------------------------------------------------------------------------
# pprint
#
# PySpark 2.4, python/pyspark/streaming/dstream.py:
#
#     def pprint(self, num=10):
#         def takeAndPrint(time, rdd):
#             taken = rdd.take(num + 1)
#             print("-------------------------------------------")
#             print("Time: %s" % time)
#             print("-------------------------------------------")
#             for record in taken[:num]:
#                 print(record)
#             if len(taken) > num:
#                 print("...")
#             print("")
#         self.foreachRDD(takeAndPrint)
#
# `time` is the batch time as a naive local `datetime` (`datetime.fromtimestamp(ms / 1000.0)`
# in TransformFunction.call), so whole-second batch times print as `YYYY-MM-DD HH:MM:SS`.

DASHES = "-" * 43
_TIME_LINE = re.compile(r"Time: (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d{6})?)\Z")


class Block:
    """One batch's pprint output."""

    def __init__(self, time_text, lines, truncated):
        self.time_text = time_text  # as printed, e.g. "2026-12-05 00:41:10"
        self.lines = lines  # the printed records (without the "..." line)
        self.truncated = truncated  # whether "..." followed them

    @property
    def time(self):
        """The batch time as a naive local datetime."""
        fmt = "%Y-%m-%d %H:%M:%S.%f" if "." in self.time_text else "%Y-%m-%d %H:%M:%S"
        return datetime.strptime(self.time_text, fmt)

    @property
    def time_ms(self):
        """The batch time in ms since the epoch (PySpark's rddToFileName computes it the same
        way: time.mktime(t.timetuple()) * 1000 + t.microsecond // 1000)."""
        t = self.time
        return int(round(t.timestamp() * 1000))

    def records(self):
        """The printed records, read back with ast.literal_eval (for tuples of str/int/...)."""
        return [ast.literal_eval(line) for line in self.lines]

    def __repr__(self):
        return "Block(%r, %r, truncated=%r)" % (self.time_text, self.lines, self.truncated)


def parse_pprint(text):
    """Parses output made only of pprint blocks; raises AssertionError on anything else.

    A record line cannot be told from the "..." line or from the closing empty line, so the
    programs these tests run never print records whose str() is "..." or "" or has a newline.
    """
    lines = text.split("\n")
    assert lines[-1] == "", "the output does not end with a line end: %r" % text[-200:]
    lines.pop()
    blocks = []
    i = 0
    while i < len(lines):
        context = "pprint output line %d: %r\nwhole output:\n%s" % (i + 1, lines[i], text)
        assert lines[i] == DASHES, context
        assert i + 2 < len(lines), "a block is cut short: " + context
        m = _TIME_LINE.match(lines[i + 1])
        assert m, "not a Time line: %r\n%s" % (lines[i + 1], context)
        assert lines[i + 2] == DASHES, context
        i += 3
        records = []
        while True:
            assert i < len(lines), "a block does not end with an empty line: " + context
            if lines[i] == "":
                break
            assert lines[i] != DASHES, "a block does not end with an empty line: " + context
            records.append(lines[i])
            i += 1
        i += 1  # the empty line
        truncated = bool(records) and records[-1] == "..."
        if truncated:
            records.pop()
        assert "..." not in records, "'...' before the end of a block: " + context
        blocks.append(Block(m.group(1), records, truncated))
    return blocks


def format_pprint(time, records, num=10):
    """The text PySpark's pprint prints for one batch (records: the batch's first num+1 or all)."""
    out = [DASHES, "Time: %s" % time, DASHES]
    out.extend(str(r) for r in records[:num])
    if len(records) > num:
        out.append("...")
    out.append("")
    return "\n".join(out) + "\n"


def summed_counts(blocks):
    """Sums the (word, count) records of all blocks; asserts no block was truncated and no word
    printed twice in one block."""
    total = Counter()
    for b in blocks:
        assert not b.truncated, "a batch had more than 10 distinct words: %r" % (b,)
        recs = b.records()
        words = [w for w, _ in recs]
        assert len(words) == len(set(words)), "a word printed twice in one batch: %r" % (b,)
        for word, count in recs:
            assert isinstance(count, int) and count > 0, b
            total[word] += count
    return total


def word_counts(lines):
    """Word counts with str.split(" ") semantics (empty words included), as the programs count."""
    return Counter(w for line in lines for w in line.split(" "))


def canon(rows):
    """Rows as (type name, repr) pairs: equal only if types agree too (True is not 1, 2.0 is
    not 2, a list is not a tuple)."""
    return [(type(r).__name__, repr(r)) for r in rows]


if __name__ == "__main__":
    # Self-check of the parser and the formatter, without dstreams.
    import contextlib
    import io

    buf = io.StringIO()
    t = datetime(2026, 12, 5, 0, 41, 10)
    with contextlib.redirect_stdout(buf):
        # PySpark's takeAndPrint, verbatim, on a 12-record batch and an empty one.
        for time, taken in [(t, [("a", 1), "é", None, 1.5, 2 ** 70, True, ("x", None),
                                 "b", "c", "d", "e", "f"][:11]), (t, [])]:
            num = 10
            print("-------------------------------------------")
            print("Time: %s" % time)
            print("-------------------------------------------")
            for record in taken[:num]:
                print(record)
            if len(taken) > num:
                print("...")
            print("")
    text = buf.getvalue()
    records = [("a", 1), "é", None, 1.5, 2 ** 70, True, ("x", None), "b", "c", "d", "e"]
    assert text == format_pprint(t, records) + format_pprint(t, []), text
    blocks = parse_pprint(text)
    assert len(blocks) == 2
    assert blocks[0].truncated and len(blocks[0].lines) == 10
    assert blocks[0].lines[:3] == ["('a', 1)", "é", "None"]
    assert blocks[0].time == t and not blocks[1].truncated and blocks[1].lines == []
    assert blocks[0].time_ms == int(t.timestamp() * 1000)
    counts = summed_counts(parse_pprint(format_pprint(t, [("a", 2), ("", 1)]) +
                                        format_pprint(t, [("a", 1)])))
    assert counts == Counter({"a": 3, "": 1})
    assert word_counts(["a  b", "", " a"]) == Counter({"a": 2, "b": 1, "": 3})
    for bad in [text[:-1], "x\n" + text, text.replace("Time: ", "Time:"),
                text + DASHES + "\n", text.replace("\n\n", "\n", 1)]:
        try:
            parse_pprint(bad)
        except AssertionError:
            pass
        else:
            raise SystemExit("parse_pprint accepted %r" % bad)
    assert canon([(1, True)]) != canon([(1, 1)]) and canon([2.0]) != canon([2])
    print("dstreams_test_support self-check: ok")
