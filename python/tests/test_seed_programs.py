"""The seed's PySpark programs (python/tests/seed/, imports changed, see each file's header) run
on dstreams, their output checked against expectations computed here independently.

Every program runs under dstreams.testing.run_program: a manual clock starting at the wall time
rounded down to the batch interval, advanced by the test; nothing here sleeps to wait for a batch.
"""

import ast
import os
import re
import uuid

from dstreams.testing import run_program

from dstreams_test_support import parse_pprint, summed_counts, word_counts


def _advance_until_past(run, mtime, limit=6):
    """Advances one batch at a time until a batch at or after `mtime` (seconds since the
    epoch) completed: Spark's FileInputDStream takes a file in the first batch whose time is
    >= the file's modification time (FileInputDStream.isNewFile: modTime > currentTime is "not
    selected yet"). Returns the parsed pprint blocks."""
    for _ in range(limit):
        run.advance(batches=1)
        blocks = parse_pprint(run.output())
        if blocks and blocks[-1].time_ms >= int(mtime * 1000):
            return blocks
    raise AssertionError("no batch reached the files' time %.3f in %d batches:\n%s"
                         % (mtime, limit, run.output()))


def _assert_consecutive(blocks, interval_ms):
    times = [b.time_ms for b in blocks]
    assert all(t % interval_ms == 0 for t in times), times
    assert [b - a for a, b in zip(times, times[1:])] == [interval_ms] * (len(times) - 1), times


def test_file_stream_wordcount(seed_dir, tmp_path, monkeypatch):
    watched = tmp_path / "logfile"
    staging = tmp_path / "staging"
    watched.mkdir()
    staging.mkdir()
    # The seed watches 'file:///root/logfile': a file:// URI, as here.
    monkeypatch.setenv("SEED_LOGDIR", "file://" + str(watched))
    # At most 10 distinct words in all (pprint prints 10 records), the empty word included:
    # double/leading spaces and the empty line give "" with str.split(" ").
    files = {
        "part-a.txt": ["spark streaming 数据", "spark  spark", "", "é rust"],
        "part-b.log": ["dstream spark", " streaming", "数据 数据 数据"],
    }
    with run_program(str(seed_dir / "file_stream_wordcount.py")) as run:
        assert not run.finished, run.output()
        # Written after the program started: Spark ignores files older than the context's start
        # (newFilesOnly); moved in whole, as Spark's documentation asks.
        mtimes = []
        for name, lines in files.items():
            staged = staging / name
            staged.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
            mtimes.append(staged.stat().st_mtime)
            os.rename(str(staged), str(watched / name))
        blocks = _advance_until_past(run, max(mtimes))
    _assert_consecutive(blocks, 5000)
    expected = word_counts(line for lines in files.values() for line in lines)
    assert summed_counts(blocks) == expected


def test_queue_stream_graceful_stop(seed_dir):
    # The program calls ssc.start() and at once ssc.stop(stopSparkContext=True,
    # stopGraceFully=True). Spark's graceful stop (JobGenerator.stop(processReceivedData=true))
    # stops its RecurringTimer with interruptTimer=false; the timer thread, waiting for the next
    # batch time, generates that batch, leaves its loop and generates ONE MORE
    # (RecurringTimer.loop: `while (!stopped) triggerActionForNextInterval();
    # triggerActionForNextInterval()`, SPARK-10224, RecurringTimerSuite "call 'callback' after
    # stopping": callbacks at 100 and 200 after stop). The stop then waits until that last
    # batch was processed. queueStream takes one RDD per batch (oneAtATime=True): both batches
    # hold 1..1000, so each prints (0, 100) ... (9, 100), in any order.
    with run_program(str(seed_dir / "queue_stream.py")) as run:
        run.advance(batches=1)
        run.advance(batches=1)
    blocks = parse_pprint(run.output())
    assert len(blocks) == 2, run.output()
    _assert_consecutive(blocks, 2000)
    for block in blocks:
        assert not block.truncated
        assert sorted(block.records()) == [(k, 100) for k in range(10)], block


def test_network_wordcount(seed_dir, line_server):
    batches = [
        ["to be or not to be", "", "  spaced  out ", "ça va"],
        ["be quick", "to be"],
    ]
    with run_program(str(seed_dir / "network_wordcount.py"),
                     argv=["127.0.0.1", str(line_server.port)]) as run:
        assert not run.finished, run.output()
        received = 0
        for lines in batches:
            line_server.send_lines(lines)
            received += len(lines)  # socketTextStream: one record per line, empty ones too
            run.wait_received(records=received)
            run.advance(batches=1)
        output = run.output()
    blocks = parse_pprint(output)
    assert len(blocks) == 2, output
    _assert_consecutive(blocks, 1000)
    for block, lines in zip(blocks, batches):
        # reduceByKey: counts per batch, not running totals.
        assert summed_counts([block]) == word_counts(lines), block


def test_kafka_wordcount(seed_dir, kafka_broker, kafka_produce):
    topic = "seed-wordcount-" + uuid.uuid4().hex[:12]
    # Records already in the topic: not read. PySpark 2.4's createDirectStream without
    # auto.offset.reset starts at the latest offsets, resolved when the stream is created
    # (KafkaUtilsPythonHelper.createDirectStream -> getFromOffsets: getLatestLeaderOffsets).
    kafka_produce(topic, ["stale stale records", "stale"])
    # No empty line: an empty record value may come back as a null value from librdkafka.
    lines = ["hello kafka", "hello  dstreams", "数据 kafka kafka", " kafka"]
    with run_program(str(seed_dir / "kafka_wordcount.py"),
                     argv=[kafka_broker.addr, topic]) as run:
        assert not run.finished, run.output()
        # Produced after the stream started, before its first batch: read by that batch.
        kafka_produce(topic, lines)
        run.advance(batches=1)
        run.advance(batches=1)
        output = run.output()
    blocks = parse_pprint(output)
    assert len(blocks) == 2, output
    _assert_consecutive(blocks, 1000)
    assert summed_counts(blocks) == word_counts(lines)


def test_kafka_direct_stream_from_earliest(kafka_broker, kafka_produce):
    # bootstrap.servers (Kafka 0.10's name) and auto.offset.reset=smallest: everything already
    # in the topic, as (key, value) pairs; records produced without a key have key None.
    topic = "earliest-" + uuid.uuid4().hex[:12]
    values = ["one", "two", "drei vier", "五"]
    kafka_produce(topic, values)
    source = (
        "import sys\n"
        "from dstreams import SparkContext\n"
        "from dstreams.streaming import StreamingContext\n"
        "from dstreams.streaming.kafka import KafkaUtils\n"
        "sc = SparkContext(appName='earliest')\n"
        "ssc = StreamingContext(sc, 1)\n"
        "kvs = KafkaUtils.createDirectStream(ssc, [sys.argv[2]], {\n"
        "    'bootstrap.servers': sys.argv[1], 'auto.offset.reset': 'smallest'})\n"
        "kvs.pprint(num=100)\n"
        "ssc.start()\n"
        "ssc.awaitTermination()\n"
    )
    with run_program(source=source, argv=[kafka_broker.addr, topic]) as run:
        run.advance(batches=1)
        output = run.output()
    blocks = parse_pprint(output)
    assert len(blocks) == 1, output
    # One partition: the batch's records in offset order; print() of a tuple shows reprs.
    assert blocks[0].lines == [repr((None, v)) for v in values], output


def test_stateful_wordcount_with_initial_rdd_and_text_files(seed_dir, tmp_path, monkeypatch,
                                                             line_server):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    # The seed writes "file:///root/stateful/" and "file:///root/outp": file:// URIs.
    monkeypatch.setenv("SEED_CHECKPOINT", "file://" + str(tmp_path / "stateful") + "/")
    monkeypatch.setenv("SEED_OUTPREFIX", "file://" + str(out_dir / "outp"))
    batches = [["hello spark", "spark streaming"], ["world world", "new words"], []]
    with run_program(str(seed_dir / "stateful_wordcount.py"),
                     argv=["127.0.0.1", str(line_server.port)]) as run:
        assert not run.finished, run.output()
        received = 0
        for lines in batches:
            if lines:
                line_server.send_lines(lines)
                received += len(lines)
                run.wait_received(records=received)
            run.advance(batches=1)
        output = run.output()
        # Listed now: stopping the context at the end must not add to what is compared.
        out_names = sorted(p.name for p in out_dir.iterdir())
    blocks = parse_pprint(output)
    assert len(blocks) == len(batches), output
    _assert_consecutive(blocks, 1000)

    # updateStateByKey with initialRDD: the initial state joins the first batch; every key's
    # update function runs every batch (no new values: sum([]) + last), so a batch's state is
    # the initial counts plus all words so far; the batch without data prints it again.
    state = word_counts([])
    state.update({"hello": 1, "world": 1})
    expected_states = []
    for lines in batches:
        state.update(word_counts(lines))
        expected_states.append(sorted(state.items()))
    assert expected_states[0][:2] == [("hello", 2), ("spark", 2)]  # the check checks itself
    for block, expected in zip(blocks, expected_states):
        assert not block.truncated, block
        assert sorted(block.records()) == expected, block

    # saveAsTextFiles(prefix): per batch the directory prefix-<batch time in ms> (PySpark's
    # rddToFileName), written by RDD.saveAsTextFile: part-00000, part-00001, ... with str() of
    # each element per line, and an empty _SUCCESS; Hadoop's local file system may add hidden
    # .crc files.
    assert out_names == sorted("outp-%d" % b.time_ms for b in blocks)
    for block, expected in zip(blocks, expected_states):
        d = out_dir / ("outp-%d" % block.time_ms)
        names = sorted(p.name for p in d.iterdir() if not p.name.startswith("."))
        assert "_SUCCESS" in names, names
        assert (d / "_SUCCESS").stat().st_size == 0
        parts = [n for n in names if n != "_SUCCESS"]
        assert parts and all(re.fullmatch(r"part-\d{5}", n) for n in parts), names
        assert parts == ["part-%05d" % i for i in range(len(parts))], names
        lines = []
        for name in parts:
            text = (d / name).read_text(encoding="utf-8")
            assert text == "" or text.endswith("\n"), (name, text)
            lines.extend(text.splitlines())
        # str(('hello', 2)) == "('hello', 2)": PySpark's saveAsTextFile writes str(element).
        assert sorted(lines) == sorted(str(kv) for kv in expected), lines
        assert sorted(ast.literal_eval(line) for line in lines) == expected
