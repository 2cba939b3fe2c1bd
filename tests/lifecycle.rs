//! Context lifecycle: Spark's validation errors, stopping, waiting, errors in batches, listeners.

mod common;
use common::*;
use dstreams::prelude::*;
use dstreams::{BatchInfo, ContextState, OutputOperationInfo};
use std::sync::{Arc, Mutex};

fn wait() -> std::time::Duration {
    std::time::Duration::from_secs(30)
}

/// The message `f` panics with (it must panic).
fn panic_message(f: impl FnOnce()) -> String {
    let p = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_err();
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// The first misuse of an invalid program, as `start` reports it.
fn misuse(err: Error) -> Arc<dstreams::Misuse> {
    match err {
        Error::InvalidProgram(misuses) => misuses[0].clone(),
        e => panic!("expected an invalid program, got {e}"),
    }
}

#[test]
fn start_without_output_operations_fails_with_sparks_message() {
    let (ssc, _) = manual_context(1);
    let _ = ssc.queue_stream(batches(vec![vec![1i64]], 1), true, None);
    let err = ssc.start().unwrap_err();
    assert!(matches!(err, Error::NoOutputOperations));
    assert_eq!(
        err.to_string(),
        "requirement failed: No output operations registered, so nothing to execute"
    );
}

#[test]
fn operators_cannot_be_added_after_start_or_stop() {
    let (ssc, _) = manual_context(1);
    let s1 = ssc.queue_stream(batches(vec![vec![1i64]], 1), true, None);
    s1.print_first(1);
    ssc.start().unwrap();
    assert_eq!(ssc.get_state(), ContextState::Active);
    let message = panic_message(|| {
        s1.map(|x| x);
    });
    assert_eq!(message, Error::AddedAfterStart.to_string());
    assert_eq!(
        message,
        "Adding new inputs, transformations, and output operations after starting a context is not supported"
    );
    ssc.stop(false).unwrap();
    assert_eq!(
        panic_message(|| {
            s1.count();
        }),
        Error::AddedAfterStop.to_string()
    );
    assert!(matches!(ssc.start().unwrap_err(), Error::AlreadyStopped));
    assert_eq!(
        ssc.start().unwrap_err().to_string(),
        "StreamingContext has already been stopped"
    );
    assert_eq!(ssc.get_state(), ContextState::Stopped);
}

#[test]
fn stopping_an_unstarted_context_marks_it_stopped() {
    let (ssc, _) = manual_context(1);
    assert_eq!(ssc.get_state(), ContextState::Initialized);
    ssc.stop(true).unwrap();
    assert_eq!(ssc.get_state(), ContextState::Stopped);
    assert!(
        ssc.await_termination_or_timeout(std::time::Duration::ZERO)
            .unwrap()
    );
}

#[test]
fn streams_of_different_contexts_do_not_mix() {
    let (a, _) = manual_context(1);
    let (b, _) = manual_context(1);
    let x = a.queue_stream(batches(vec![vec![1i64]], 1), true, None);
    let y = b.queue_stream(batches(vec![vec![1i64]], 1), true, None);
    x.union(&y).foreach_rdd(|_| ());
    let m = misuse(a.start().unwrap_err());
    assert_eq!(m.operator, "union");
    assert!(matches!(m.error, Error::DifferentContexts), "{}", m.error);
}

#[test]
fn bad_batch_intervals_are_typed_errors() {
    for interval in [Duration::millis(0), Duration::millis(-5)] {
        let ssc = StreamingContext::new(interval);
        ssc.queue_stream(Vec::<Batch<i64>>::new(), true, None)
            .foreach_rdd(|_| ());
        let m = misuse(ssc.start().unwrap_err());
        assert_eq!(m.operator, "StreamingContext");
        assert!(matches!(m.error, Error::InvalidDuration(_)), "{}", m.error);
    }
}

#[test]
fn first_batch_is_the_first_interval_after_start() {
    let clock = Arc::new(ManualClock::new(Time::from_millis(2500)));
    let ssc = StreamingContext::builder(BATCH)
        .clock(clock.clone())
        .build();
    let s1 = ssc.queue_stream(batches(vec![vec![1i64]], 1), true, None);
    let out = collect(&s1);
    ssc.start().unwrap();
    clock.advance(Duration::millis(500));
    assert!(ssc.await_batch(Time::from_millis(3000), wait()).unwrap());
    ssc.stop(false).unwrap();
    assert_eq!(out.lock().unwrap()[0].0, Time::from_millis(3000));
}

#[test]
fn a_failing_batch_is_reported_and_later_batches_still_run() {
    let (ssc, clock) = manual_context(1);
    let s1 = ssc.queue_stream(
        batches(vec![vec![1i64], vec![2], vec![3], vec![4]], 1),
        true,
        None,
    );
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    s1.foreach_rdd(move |b| {
        let v = b.to_vec();
        if v == [2] {
            return Err(Error::Unsupported("This is a special error".into()));
        }
        sink.lock().unwrap().extend(v);
        Ok(())
    });
    ssc.start().unwrap();
    for i in 1..=4 {
        clock.advance(BATCH);
        assert!(
            ssc.await_batch(Time::from_millis(i * 1000), wait())
                .unwrap()
        );
    }
    let err = ssc.await_termination_or_timeout(wait()).unwrap_err();
    assert!(err.to_string().contains("This is a special error"), "{err}");
    // await_termination rethrows the same error again.
    assert!(
        ssc.await_termination()
            .unwrap_err()
            .to_string()
            .contains("special error")
    );
    ssc.stop(false).unwrap();
    assert_eq!(*seen.lock().unwrap(), vec![1, 3, 4]);
}

#[test]
fn a_panicking_closure_fails_its_batch_not_the_process() {
    let (ssc, clock) = manual_context(2);
    let s1 = ssc.queue_stream(batches(vec![vec![1i64, 0], vec![5]], 2), true, None);
    let inverted = s1.map(|x| 10 / x);
    let out = collect(&inverted);
    ssc.start().unwrap();
    for i in 1..=2 {
        clock.advance(BATCH);
        assert!(
            ssc.await_batch(Time::from_millis(i * 1000), wait())
                .unwrap()
        );
    }
    let err = ssc.await_termination_or_timeout(wait()).unwrap_err();
    assert!(err.to_string().contains("panicked"), "{err}");
    ssc.stop(false).unwrap();
    assert_eq!(
        out.lock()
            .unwrap()
            .iter()
            .map(|(_, v)| v.clone())
            .collect::<Vec<_>>(),
        vec![vec![2]]
    );
}

#[test]
fn stop_inside_a_batch_is_refused() {
    let (ssc, clock) = manual_context(1);
    let s1 = ssc.queue_stream(batches(vec![vec![1i64]], 1), true, None);
    let inner = ssc.clone();
    let result = Arc::new(Mutex::new(None));
    let r = result.clone();
    s1.foreach_rdd(move |_| {
        *r.lock().unwrap() = Some(inner.stop(false).map_err(|e| e.to_string()));
    });
    ssc.start().unwrap();
    clock.advance(BATCH);
    assert!(ssc.await_batch(Time::from_millis(1000), wait()).unwrap());
    ssc.stop(false).unwrap();
    let got = result.lock().unwrap().clone().unwrap();
    assert!(
        got.unwrap_err()
            .contains("Cannot stop StreamingContext within its own batch thread")
    );
}

#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<String>>,
    batches: Mutex<Vec<BatchInfo>>,
}

impl StreamingListener for Recorder {
    fn on_streaming_started(&self, _: i64) {
        self.events.lock().unwrap().push("started".into());
    }
    fn on_batch_submitted(&self, i: &BatchInfo) {
        self.events
            .lock()
            .unwrap()
            .push(format!("submitted {}", i.batch_time));
    }
    fn on_batch_started(&self, i: &BatchInfo) {
        self.events
            .lock()
            .unwrap()
            .push(format!("batch started {}", i.batch_time));
    }
    fn on_output_operation_started(&self, i: &OutputOperationInfo) {
        self.events
            .lock()
            .unwrap()
            .push(format!("op {} {} started", i.id, i.name));
    }
    fn on_output_operation_completed(&self, i: &OutputOperationInfo) {
        self.events
            .lock()
            .unwrap()
            .push(format!("op {} {} completed", i.id, i.name));
    }
    fn on_batch_completed(&self, i: &BatchInfo) {
        self.events
            .lock()
            .unwrap()
            .push(format!("batch completed {}", i.batch_time));
        self.batches.lock().unwrap().push(i.clone());
    }
}

#[test]
fn listeners_see_sparks_events_in_order_with_batch_info() {
    let (ssc, clock) = manual_context(1);
    let recorder = Arc::new(Recorder::default());
    ssc.add_streaming_listener(recorder.clone());
    let s1 = ssc.queue_stream(batches(vec![vec![1i64, 2, 3]], 1), true, None);
    s1.print_to(1, Arc::new(Mutex::new(Vec::<u8>::new())));
    s1.foreach_rdd(|_| ());
    run_batches(&ssc, &clock, 1);
    let events = recorder.events.lock().unwrap().clone();
    assert_eq!(
        events,
        [
            "started",
            "submitted 1000 ms",
            "batch started 1000 ms",
            "op 0 print started",
            "op 0 print completed",
            "op 1 foreachRDD started",
            "op 1 foreachRDD completed",
            "batch completed 1000 ms",
        ]
    );
    let info = recorder.batches.lock().unwrap()[0].clone();
    assert_eq!(info.num_records(), 3);
    assert_eq!(info.output_operation_infos.len(), 2);
    assert!(info.scheduling_delay().unwrap() >= 0);
    assert!(info.processing_delay().unwrap() >= 0);
    assert_eq!(
        info.total_delay(),
        Some(info.scheduling_delay().unwrap() + info.processing_delay().unwrap())
    );
}

#[test]
fn graceful_stop_processes_generated_batches() {
    // With a fast clock batches run back to back; a graceful stop lets queued work finish.
    let clock = Arc::new(FastClock::new(Time::from_millis(0)));
    let ssc = StreamingContext::builder(BATCH).clock(clock).build();
    let s1 = ssc.queue_stream(
        batches((1..=5).map(|i| vec![i as i64]).collect(), 1),
        true,
        None,
    );
    let out = collect(&s1);
    ssc.start().unwrap();
    assert!(ssc.await_batch(Time::from_millis(5000), wait()).unwrap());
    ssc.stop(true).unwrap();
    let got: Vec<i64> = out
        .lock()
        .unwrap()
        .iter()
        .flat_map(|(_, v)| v.clone())
        .collect();
    assert_eq!(&got[..5], &[1, 2, 3, 4, 5]);
    assert!(ssc.await_termination_or_timeout(wait()).unwrap());
}

fn finite_queue(clock: Arc<dyn Clock>) -> (StreamingContext, Arc<Mutex<Vec<(Time, Vec<i64>)>>>) {
    let ssc = StreamingContext::builder(BATCH)
        .clock(clock)
        .stop_when_exhausted(true)
        .build();
    let s1 = ssc.queue_stream(batches(vec![vec![1i64], vec![2], vec![3]], 1), true, None);
    let out = collect(&s1);
    (ssc, out)
}

fn values(out: &Mutex<Vec<(Time, Vec<i64>)>>) -> Vec<Vec<i64>> {
    out.lock().unwrap().iter().map(|(_, v)| v.clone()).collect()
}

#[test]
fn a_finite_run_on_the_fast_clock_stops_by_itself_after_its_last_batch() {
    let (ssc, out) = finite_queue(Arc::new(FastClock::new(Time::from_millis(0))));
    ssc.start().unwrap();
    assert!(ssc.await_termination_or_timeout(wait()).unwrap());
    assert_eq!(ssc.get_state(), ContextState::Stopped);
    assert_eq!(
        values(&out),
        vec![vec![1], vec![2], vec![3]],
        "exactly the queued batches"
    );
}

#[test]
fn a_finite_run_on_the_manual_clock_stops_when_the_next_batch_time_finds_nothing() {
    let clock = Arc::new(ManualClock::new(Time::from_millis(0)));
    let (ssc, out) = finite_queue(clock.clone());
    ssc.start().unwrap();
    for i in 1..=3 {
        clock.advance(BATCH);
        assert!(
            ssc.await_batch(Time::from_millis(i * 1000), wait())
                .unwrap()
        );
    }
    assert!(
        !ssc.await_termination_or_timeout(std::time::Duration::ZERO)
            .unwrap()
    );
    clock.advance(BATCH);
    assert!(ssc.await_termination_or_timeout(wait()).unwrap());
    assert_eq!(values(&out), vec![vec![1], vec![2], vec![3]]);
}

#[test]
fn batches_generated_after_finite_inputs_ran_out_are_not_run() {
    // The clock jumps three intervals at once: three batch times are generated before the first
    // batch took the queue's only batch. Only that one runs; the run then ends.
    let clock = Arc::new(ManualClock::new(Time::from_millis(0)));
    let ssc = StreamingContext::builder(BATCH)
        .clock(clock.clone())
        .stop_when_exhausted(true)
        .build();
    let nums = ssc.queue_stream(vec![Batch::from_vec(vec![1, 2, 3], 1)], true, None);
    let counts = collect(&nums.count());
    ssc.start().unwrap();
    clock.advance(BATCH * 3);
    assert!(
        ssc.await_batch(Time::from_millis(1000), Seconds(30))
            .unwrap()
    );
    // The generator sees the inputs exhausted at its next batch time, and the run ends.
    clock.advance(BATCH);
    assert!(ssc.await_termination_or_timeout(Seconds(30)).unwrap());
    assert_eq!(timed_sorted(&counts), [(1000, vec![3])]);
}
