//! The API a Spark user writes: Spark-shaped closures on views, counts that are `i64`, graph
//! misuse collected and reported by `start` with Spark's messages and the place it was made,
//! queue streams refused on recovery, finite-input stops that wait for unbounded inputs, and
//! views that cannot outlive their call.

mod common;
use common::*;
use dstreams::prelude::*;
use dstreams::source::{KafkaConfig, ReceiverConfig, ReplayCut, ReplayData};
use dstreams::{CheckpointError, ContextState, Misuse};
use std::cell::RefCell;
use std::sync::Arc;

/// What `f` makes of every batch of `stream`, in batch order.
fn collect_with<T: Data, R: Send + 'static>(
    stream: &DStream<T>,
    f: fn(&Batch<T>) -> R,
) -> Arc<std::sync::Mutex<Vec<R>>> {
    let out = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = out.clone();
    stream.foreach_rdd(move |b| sink.lock().unwrap().push(f(b)));
    out
}

/// The misuses `start` reports.
fn misuses(ssc: &StreamingContext) -> Vec<Arc<Misuse>> {
    match ssc.start() {
        Err(Error::InvalidProgram(misuses)) => misuses,
        other => panic!("expected an invalid program, got {other:?}"),
    }
}

#[test]
fn spark_shaped_word_count_keeps_views_and_counts_as_i64() {
    let input = words(&[&["to be or not to be", "to do"], &["be quick "]]);
    let out = test_operation(input, |lines| {
        let words = lines.flat_map(|line| line.split_java(' '));
        words.map(|x| (x, 1)).reduce_by_key(|a, b| a + b)
    });
    let got: Vec<Vec<(String, i64)>> = sorted(out);
    assert_eq!(
        got,
        [
            pairs(&[&[("be", 2), ("do", 1), ("not", 1), ("or", 1), ("to", 3)]])[0].clone(),
            pairs(&[&[("be", 1), ("quick", 1)]])[0].clone(),
        ]
    );
}

#[test]
fn integer_literals_in_pairs_are_counts_that_join_and_union_with_i64_streams() {
    let (ssc, clock) = manual_context(2);
    let lines = ssc.queue_stream(vec![Batch::from_vec(vec!["a b a"], 1)], true, None);
    let totals = ssc.queue_stream(
        vec![Batch::from_vec(vec![("a", 10i64), ("b", 20)], 1)],
        true,
        None,
    );
    // `(w, 1)` is a `(String, i64)` stream: it joins and unions with `i64` counts.
    let counts = lines
        .flat_map(|l| l.split(' '))
        .map(|w| (w, 1))
        .reduce_by_key(|a, b| a + b);
    let joined = collect(
        &counts
            .join(&totals)
            .map_values(|(n, total)| n * 100 + total),
    );
    let united = collect(&counts.union(&totals).reduce_by_key(|a, b| a + b));
    run_batches(&ssc, &clock, 1);
    assert_eq!(
        timed_sorted(&joined),
        [(1000, vec![("a".to_string(), 210), ("b".to_string(), 120)])]
    );
    assert_eq!(
        timed_sorted(&united),
        [(1000, vec![("a".to_string(), 12), ("b".to_string(), 21)])]
    );
}

#[test]
fn views_returned_by_closures_point_into_the_input() {
    let (ssc, clock) = manual_context(1);
    let line = "an extraordinarily long line of words, longer than any inline view";
    let lines = ssc.queue_stream(vec![Batch::from_vec(vec![line], 1)], true, None);
    let picked = lines
        .map(|l| l.view(|s| s.split_once(' ').map_or(s, |(_, rest)| rest)))
        .flat_map(|rest| rest.split_whitespace())
        .filter(|w| w.len() > 12)
        .map(|w| w.view(|s| s.trim_end_matches(',')));
    /// The addresses of the byte buffers a batch of strings points into.
    fn buffers(b: &Batch<String>) -> Vec<usize> {
        let parts = b.partitions().iter();
        parts
            .flat_map(|p| p.data_buffers().iter().map(|d| d.as_ptr() as usize))
            .collect()
    }
    let (inputs, outputs) = (
        collect_with(&lines, buffers),
        collect_with(&picked, buffers),
    );
    let words = collect(&picked);
    run_batches(&ssc, &clock, 1);
    assert_eq!(
        timed_sorted(&words),
        [(1000, vec!["extraordinarily".to_string()])]
    );
    // The output's bytes are the input line's buffer (views), not copies.
    let (inputs, outputs) = (inputs.lock().unwrap(), outputs.lock().unwrap());
    assert_eq!(outputs[0], inputs[0]);
}

thread_local! {
    static KEPT: RefCell<Option<Str>> = const { RefCell::new(None) };
}

#[test]
fn a_view_kept_past_its_call_fails_the_batch_instead_of_reading_freed_memory() {
    let (ssc, clock) = manual_context(1);
    let input = words(&[&["first batch"], &["second batch"]]);
    let lines = ssc.queue_stream(batches(input, 1), true, None);
    // The closure stashes each line and reads the previous batch's one: its buffer may be gone.
    let lengths = lines.map(|line| {
        let previous = KEPT.with(|k| k.replace(Some(line)));
        previous.map_or(0, |p| p.len() as i64)
    });
    lengths.foreach_rdd(|_| ());
    ssc.start().unwrap();
    clock.advance(BATCH);
    clock.advance(BATCH);
    let _ = ssc.await_batch(Time::from_millis(2000), Seconds(30));
    ssc.stop(false).unwrap();
    let err = ssc.await_termination().unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("a Str was used after the closure call that received it returned"),
        "{text}"
    );
}

#[test]
fn misuse_is_reported_by_start_with_sparks_messages_and_where_it_was_made() {
    let ssc = StreamingContext::builder(Seconds(1))
        .clock(Arc::new(ManualClock::new(Time::from_millis(0))))
        .build();
    let nums = ssc.queue_stream(vec![Batch::from_vec(vec![1, 2], 1)], true, None);
    let pairs = nums.map(|x| (x, x));
    let slow = nums.window(Seconds(2), Seconds(2));
    nums.window(Milliseconds(2500), Seconds(1)).print();
    pairs
        .reduce_by_key_and_window_with(
            |a, b| a + b,
            Window::new(Milliseconds(2500), Seconds(1)).inverse(|a, b| a - b),
        )
        .print();
    nums.union(&slow).print();
    nums.repartition(0).print();
    nums.map(|x| x).with_partitions(2).print();
    pairs.reduce_by_key(|a, b| a + b).with_partitions(0).print();
    nums.checkpoint(Milliseconds(500));
    nums.checkpoint(Milliseconds(1500));
    nums.checkpoint_name("not stateful");
    ssc.union::<i64>(&[]).print();
    let other = StreamingContext::new(Seconds(1));
    let foreign = other.queue_stream(Vec::<Batch<i64>>::new(), true, None);
    nums.union(&foreign).print();
    ssc.replay_stream(
        ReplayData::read(&[] as &[&str]).unwrap(),
        ReplayCut::Lines(0),
    )
    .print();
    ssc.socket_text_stream_with(
        "localhost",
        9,
        ReceiverConfig {
            max_line_length: 0,
            ..ReceiverConfig::default()
        },
    )
    .print();
    ssc.keep_checkpoints(0);
    ssc.kafka_stream(KafkaConfig::new("127.0.0.1:9", Vec::<String>::new()))
        .print();
    let mut producer = dstreams::rdkafka::ClientConfig::new();
    producer.set("no.such.property", "1");
    nums.save_to_kafka(&producer, "out");
    let source: Vec<&str> = include_str!("api.rs").lines().collect();
    let got: Vec<(&str, String, &str)> = misuses(&ssc)
        .iter()
        .map(|m| {
            let mut at = m.location.split(':');
            assert_eq!(at.next(), Some("tests/api.rs"), "{}", m.location);
            let line: usize = at.next().unwrap().parse().unwrap();
            (m.operator, m.error.to_string(), source[line - 1].trim())
        })
        .collect();
    // Operator, Spark's message, and what the line the misuse points at calls.
    let expected: Vec<(&str, &str, &str)> = vec![
        (
            "window",
            "The window duration of windowed DStream (2500 ms) must be a multiple of the slide duration of parent DStream (1000 ms)",
            ".window(Milliseconds(2500)",
        ),
        (
            "reduce_by_key_and_window",
            "requirement failed: The window duration of ReducedWindowedDStream (2500 ms) must be multiple of the slide duration of parent DStream (1000 ms)",
            ".reduce_by_key_and_window_with(",
        ),
        (
            "union",
            "requirement failed: Some of the DStreams have different slide durations (1000 ms and 2000 ms)",
            "nums.union(&slow)",
        ),
        (
            "repartition",
            "repartition needs at least one partition",
            ".repartition(0)",
        ),
        (
            "with_partitions",
            "MappedDStream does not shuffle, so it has no partition count to set; repartition(n) spreads a stream over n partitions",
            ".with_partitions(2)",
        ),
        (
            "with_partitions",
            "ShuffledDStream needs at least one partition, got 0",
            ".with_partitions(0)",
        ),
        (
            "checkpoint",
            "requirement failed: The checkpoint interval for QueueInputDStream has been set to 500 ms which is lower than its slide time (1000 ms). Please set it to at least 1000 ms.",
            ".checkpoint(Milliseconds(500))",
        ),
        (
            "checkpoint",
            "requirement failed: The checkpoint interval for QueueInputDStream has been set to 1500 ms which not a multiple of its slide time (1000 ms). Please set it to a multiple of 1000 ms.",
            ".checkpoint(Milliseconds(1500))",
        ),
        (
            "checkpoint_name",
            "checkpoint_name(\"not stateful\"): QueueInputDStream is not computed by a stateful operator (update_state_by_key, map_with_state)",
            ".checkpoint_name(\"not stateful\")",
        ),
        (
            "union",
            "requirement failed: List of DStreams to union is empty",
            "ssc.union::<i64>(&[])",
        ),
        (
            "union",
            "requirement failed: Some of the DStreams have different contexts",
            "nums.union(&foreign)",
        ),
        (
            "replay_stream",
            "a replay batch must hold at least one line or byte",
            ".replay_stream(",
        ),
        (
            "receiver_stream",
            "max_line_length (0) must be positive and below segment_capacity (67108864)",
            ".socket_text_stream_with(",
        ),
        (
            "keep_checkpoints",
            "at least one checkpoint must be kept",
            ".keep_checkpoints(0)",
        ),
        (
            "kafka_stream",
            "kafka_stream needs at least one topic",
            ".kafka_stream(",
        ),
        (
            "save_to_kafka",
            "Kafka, creating a producer for topic out: Client config error: No such configuration property: \"no.such.property\" no.such.property 1",
            ".save_to_kafka(&producer",
        ),
    ];
    assert_eq!(got.len(), expected.len(), "{got:#?}");
    for (g, e) in got.iter().zip(&expected) {
        assert_eq!((g.0, g.1.as_str()), (e.0, e.1));
        assert!(g.2.contains(e.2), "{} points at `{}`", g.0, g.2);
    }
    // The context stays unstarted: fixing nothing, a second start reports the same.
    assert_eq!(misuses(&ssc).len(), expected.len());
}

#[test]
fn invalid_durations_and_parallelism_are_reported_by_start() {
    let ssc = StreamingContext::builder(Seconds(0)).parallelism(0).build();
    let nums = ssc.queue_stream(Vec::<Batch<i64>>::new(), true, None);
    nums.window(Seconds(-1), Seconds(1)).print();
    let got: Vec<(&str, String)> = misuses(&ssc)
        .iter()
        .map(|m| (m.operator, m.error.to_string()))
        .collect();
    assert_eq!(
        got,
        [
            (
                "StreamingContext",
                "invalid duration: batch interval must be positive, got 0 ms".to_string()
            ),
            (
                "StreamingContext",
                "parallelism must be at least 1".to_string()
            ),
            (
                "window",
                "invalid duration: window duration must be positive, got -1000 ms".to_string()
            ),
        ]
    );
}

/// A program over a queue stream with running totals, checkpointing into `dir`.
fn queue_program(dir: &std::path::Path, clock: &Arc<ManualClock>) -> StreamingContext {
    let ssc = StreamingContext::builder(BATCH)
        .clock(clock.clone())
        .build();
    ssc.checkpoint(dir);
    let pairs = ssc.queue_stream(vec![Batch::from_vec(vec![("a", 1)], 1)], true, None);
    pairs
        .update_state_by_key(|new: &[i64], total: Option<i64>| {
            Some(total.unwrap_or(0) + new.iter().sum::<i64>())
        })
        .foreach_rdd(|_| ());
    ssc
}

#[test]
fn a_queue_stream_refuses_recovery_with_sparks_message() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("api-queue-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let clock = Arc::new(ManualClock::new(Time::from_millis(0)));
    // A first run checkpoints (state needs it, the queue does not stop that)...
    let ssc = StreamingContext::get_or_create(&dir, || queue_program(&dir, &clock)).unwrap();
    ssc.start().unwrap();
    clock.advance(BATCH);
    assert!(
        ssc.await_batch(Time::from_millis(1000), Seconds(30))
            .unwrap()
    );
    ssc.stop(true).unwrap();
    // ...but its queue's batches cannot be brought back: recovering is refused.
    let clock = Arc::new(ManualClock::new(Time::from_millis(0)));
    let Err(err) = StreamingContext::get_or_create(&dir, || queue_program(&dir, &clock)) else {
        panic!("a program with a queue stream was recovered");
    };
    assert!(
        matches!(&err, Error::Checkpoint(CheckpointError::Incompatible { operator, .. }) if operator == "input-0"),
        "{err}"
    );
    assert!(
        err.to_string().contains(
            "queueStream doesn't support checkpointing. Please don't use queueStream when checkpointing is enabled."
        ),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_text_file_stream_keeps_a_context_running_when_finite_inputs_run_out() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("api-files-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let clock = Arc::new(ManualClock::new(Time::from_millis(0)));
    let ssc = StreamingContext::builder(BATCH)
        .clock(clock.clone())
        .stop_when_exhausted(true)
        .build();
    // A queue of one batch runs out after it; the file stream never does.
    let queued = ssc.queue_stream(vec![Batch::from_vec(vec![1], 1)], true, None);
    let files = ssc.text_file_stream(&dir);
    queued.count().foreach_rdd(|_| ());
    let counts = collect(&files.count());
    ssc.start().unwrap();
    for t in 1..=3 {
        clock.advance(BATCH);
        assert!(
            ssc.await_batch(Time::from_millis(t * 1000), Seconds(30))
                .unwrap(),
            "batch {t}: the context stopped although its file stream is unbounded"
        );
    }
    assert_eq!(ssc.get_state(), ContextState::Active);
    ssc.stop(false).unwrap();
    assert_eq!(
        timed_sorted(&counts),
        [(1000, vec![0]), (2000, vec![0]), (3000, vec![0])]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn transform_takes_batches_or_results_and_batches_know_their_time() {
    let input = vec![vec![3i64, 1, 2], vec![5, 4]];
    let ranked = test_operation(input.clone(), |nums| {
        nums.transform(|rdd| {
            rdd.sort_by(|x| *x)
                .zip_with_index()
                .map(|(x, i)| (x, i + rdd.time().as_millis()))
        })
    });
    assert_eq!(
        ranked,
        [
            vec![(1, 1000), (2, 1001), (3, 1002)],
            vec![(4, 2000), (5, 2001)]
        ]
    );
    let checked = test_operation(input, |nums| {
        nums.transform(|rdd| match rdd.count() {
            3 => Ok(rdd.clone()),
            n => Err(Error::InvalidArgument(format!("{n} elements"))),
        })
    });
    // The second batch's transform failed: it has no output.
    assert_eq!(checked, [vec![3, 1, 2]]);
}
