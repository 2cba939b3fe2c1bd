//! Custom receivers: what they store becomes batches of lines, never split or lost at a batch
//! boundary; oversized lines are skipped with an error; restart and backpressure work as Spark's.

mod common;
use common::*;
use dstreams::prelude::*;
use dstreams::source::{Receiver, ReceiverConfig, ReceiverHandle};
use std::sync::mpsc::{Receiver as Rx, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration as StdDuration, Instant};

/// A receiver whose handle is handed to the test on every start, so the test stores data itself.
struct Handover {
    starts: Sender<ReceiverHandle>,
    stops: Arc<Mutex<u32>>,
}

impl Receiver for Handover {
    fn on_start(&mut self, handle: ReceiverHandle) -> Result<()> {
        self.starts
            .send(handle)
            .map_err(|_| Error::Unsupported("test is gone".into()))
    }
    fn on_stop(&mut self) {
        *self.stops.lock().unwrap() += 1;
    }
    fn name(&self) -> String {
        "handover".into()
    }
}

fn start(
    config: ReceiverConfig,
) -> (
    StreamingContext,
    Arc<ManualClock>,
    Rx<ReceiverHandle>,
    Arc<Mutex<Vec<(Time, Vec<String>)>>>,
    Arc<Mutex<u32>>,
) {
    let (ssc, clock) = manual_context(2);
    let (tx, rx) = channel();
    let stops = Arc::new(Mutex::new(0));
    let lines = ssc.receiver_stream_with(
        Handover {
            starts: tx,
            stops: stops.clone(),
        },
        config,
    );
    let out = collect(&lines);
    ssc.start().unwrap();
    (ssc, clock, rx, out, stops)
}

fn next(ssc: &StreamingContext, clock: &ManualClock, n: i64) {
    clock.advance(BATCH);
    assert!(
        ssc.await_batch(Time::from_millis(n * 1000), StdDuration::from_secs(30))
            .unwrap()
    );
}

fn batch(out: &Mutex<Vec<(Time, Vec<String>)>>, i: usize) -> Vec<String> {
    out.lock().unwrap()[i].1.clone()
}

#[test]
fn stored_lines_and_byte_chunks_become_batches_without_splitting_lines() {
    let (ssc, clock, rx, out, _) = start(ReceiverConfig::default());
    let h = rx.recv_timeout(StdDuration::from_secs(10)).unwrap();
    h.store("first record").unwrap();
    h.store_bytes(b"second\nthird\r\nhal").unwrap();
    next(&ssc, &clock, 1);
    assert_eq!(batch(&out, 0), ["first record", "second", "third"]);
    // The incomplete line waits; the rest arrives in the next chunk.
    h.store_bytes(b"f a line\n").unwrap();
    next(&ssc, &clock, 2);
    assert_eq!(batch(&out, 1), ["half a line"]);
    next(&ssc, &clock, 3);
    assert!(batch(&out, 2).is_empty());
    // A final line without newline arrives once the stream ends.
    h.store_bytes(b"last words").unwrap();
    h.end_of_stream().unwrap();
    next(&ssc, &clock, 4);
    assert_eq!(batch(&out, 3), ["last words"]);
    assert_eq!(h.records_stored(), 5);
    assert_eq!(
        ssc.records_received(),
        5,
        "the context's count of its receivers' records"
    );
    ssc.stop(false).unwrap();
    assert!(h.is_stopped());
}

#[test]
fn random_chunks_lose_and_duplicate_nothing_across_batches() {
    let (ssc, clock, rx, out, _) = start(ReceiverConfig {
        segment_capacity: 4096,
        max_line_length: 1000,
        ..Default::default()
    });
    let h = rx.recv_timeout(StdDuration::from_secs(10)).unwrap();
    let lines: Vec<String> = (0..3000)
        .map(|i| format!("line {i} {}", "x".repeat(i % 97)))
        .collect();
    let text: Vec<u8> = lines
        .iter()
        .flat_map(|l| format!("{l}\n").into_bytes())
        .collect();
    let mut state = 7u64;
    let mut at = 0;
    let mut n = 0;
    while at < text.len() {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let len = ((state >> 33) as usize % 700 + 1).min(text.len() - at);
        h.store_bytes(&text[at..at + len]).unwrap();
        at += len;
        if (state >> 20).is_multiple_of(5) {
            n += 1;
            next(&ssc, &clock, n);
        }
    }
    n += 1;
    next(&ssc, &clock, n);
    let got: Vec<String> = out
        .lock()
        .unwrap()
        .iter()
        .flat_map(|(_, v)| v.clone())
        .collect();
    assert_eq!(got, lines);
    ssc.stop(false).unwrap();
}

#[test]
fn a_line_over_the_limit_is_skipped_with_an_error_and_the_others_arrive() {
    let config = ReceiverConfig {
        max_line_length: 16,
        ..Default::default()
    };
    let (ssc, clock, rx, out, _) = start(config);
    let h = rx.recv_timeout(StdDuration::from_secs(10)).unwrap();
    let err = h
        .store_bytes(b"before\nthis line is far too long for the limit")
        .unwrap_err();
    assert!(matches!(err, Error::LineTooLong { limit: 16, .. }), "{err}");
    // The rest of that line is skipped without a second error.
    h.store_bytes(b" and goes on\nafter\n").unwrap();
    // A line too long within one chunk is caught too.
    assert!(
        h.store_bytes(b"x is another line over the limit\n")
            .is_err()
    );
    assert!(h.store("x".repeat(17).as_str()).is_err());
    next(&ssc, &clock, 1);
    assert_eq!(batch(&out, 0), ["before", "after"]);
    ssc.stop(false).unwrap();
}

#[test]
fn restart_stops_and_starts_the_receiver_again_after_the_delay() {
    let config = ReceiverConfig {
        restart_delay: Duration::millis(20),
        ..Default::default()
    };
    let (ssc, clock, rx, out, stops) = start(config);
    let h = rx.recv_timeout(StdDuration::from_secs(10)).unwrap();
    h.store("before restart").unwrap();
    h.restart("source went away", None);
    let h2 = rx
        .recv_timeout(StdDuration::from_secs(10))
        .expect("restarted");
    assert_eq!(*stops.lock().unwrap(), 1);
    assert!(!h2.is_stopped());
    h2.store("after restart").unwrap();
    next(&ssc, &clock, 1);
    assert_eq!(batch(&out, 0), ["before restart", "after restart"]);
    ssc.stop(false).unwrap();
    assert_eq!(*stops.lock().unwrap(), 2);
}

#[test]
fn backpressure_sets_a_rate_from_processing_speed() {
    let config = ReceiverConfig {
        backpressure: true,
        max_rate: Some(1_000_000.0),
        ..Default::default()
    };
    let (ssc, clock) = manual_context(2);
    let (tx, rx) = channel();
    let lines = ssc.receiver_stream_with(
        Handover {
            starts: tx,
            stops: Arc::new(Mutex::new(0)),
        },
        config,
    );
    // Simulated processing cost: a few milliseconds of work per batch, so delays are measurable.
    lines.foreach_rdd(|_| {
        let until = Instant::now() + StdDuration::from_millis(5);
        while Instant::now() < until {
            std::hint::spin_loop();
        }
    });
    ssc.start().unwrap();
    let h = rx.recv_timeout(StdDuration::from_secs(10)).unwrap();
    assert_eq!(
        h.rate_limit(),
        Some(1_000_000.0),
        "starts at max_rate without initial_rate"
    );
    for n in 1..=3 {
        for i in 0..100 {
            h.store(&format!("record {i}")).unwrap();
        }
        next(&ssc, &clock, n);
    }
    let rate = h.rate_limit().unwrap();
    // 100 records in >= 5 ms: at most 20,000 records/s, well under the cap.
    assert!((100.0..100_000.0).contains(&rate), "{rate}");
    ssc.stop(false).unwrap();
}
#[test]
fn an_incomplete_line_is_not_sealed_while_a_restart_waits() {
    let config = ReceiverConfig {
        restart_delay: Duration::millis(60_000),
        ..Default::default()
    };
    let (ssc, clock, rx, out, _) = start(config);
    let h = rx.recv_timeout(StdDuration::from_secs(10)).unwrap();
    h.store_bytes(b"hel").unwrap();
    h.restart("source went away", None);
    assert!(h.wait_stopped(StdDuration::from_secs(10)));
    next(&ssc, &clock, 1);
    assert!(batch(&out, 0).is_empty(), "{:?}", batch(&out, 0));
    h.store_bytes(b"lo\n").unwrap();
    next(&ssc, &clock, 2);
    assert_eq!(batch(&out, 1), ["hello"]);
    // Stopping ends the pending restart at once, and it never starts the receiver again.
    let at = Instant::now();
    ssc.stop(false).unwrap();
    assert!(at.elapsed() < StdDuration::from_secs(5));
    assert!(rx.recv_timeout(StdDuration::from_millis(200)).is_err());
}
