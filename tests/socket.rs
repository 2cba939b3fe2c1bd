//! `socket_text_stream`: lines a TCP peer sends arrive exactly once, whole, across batches and
//! reconnects; oversized lines are reported; a refused connection is retried.
//!
//! No test sleeps: before sealing a batch, a test waits (bounded by [`WAIT`]) until the receiver
//! stored what the peer sent. Two observables say so: the receiver's `stored` trace event, emitted
//! after each chunk is in its segment (counted per receiver by a tracing layer installed here),
//! and the listener events of a restart (the receiver stops only after it stored the end of the
//! stream). Connections are accepted through `mio`, so waiting for one is bounded too.

mod common;
use common::*;
use dstreams::prelude::*;
use dstreams::source::ReceiverConfig;
use dstreams::{ContextState, ReceiverInfo};
use mio::{Events, Interest, Poll, Token};
use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpStream;
use std::sync::{Arc, Condvar, Mutex, Once};
use std::time::{Duration as StdDuration, Instant};
use tracing_subscriber::layer::SubscriberExt;

/// The longest any wait may take.
const WAIT: StdDuration = StdDuration::from_secs(10);

/// Bytes stored so far, per receiver name, from the receiver's `stored` trace events.
static STORED: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());
static STORED_CHANGED: Condvar = Condvar::new();

/// Counts the bytes of the socket receiver's `stored` events.
struct StoredBytes;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for StoredBytes {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() != "dstreams::source::socket" {
            return;
        }
        #[derive(Default)]
        struct Fields {
            receiver: Option<String>,
            bytes: Option<u64>,
        }
        impl tracing::field::Visit for Fields {
            fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
                if field.name() == "receiver" {
                    self.receiver = Some(value.to_string());
                }
            }
            fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
                if field.name() == "bytes" {
                    self.bytes = Some(value);
                }
            }
            fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        if let (Some(receiver), Some(bytes)) = (fields.receiver, fields.bytes) {
            *STORED.lock().unwrap().entry(receiver).or_default() += bytes;
            STORED_CHANGED.notify_all();
        }
    }
}

/// Installs the byte counter (and, with `RUST_LOG`, log output) once per test binary.
fn install_tracing() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        use tracing_subscriber::Layer;
        let logs = tracing_subscriber::fmt::layer()
            .with_test_writer()
            .with_filter(tracing_subscriber::EnvFilter::from_default_env());
        let subscriber = tracing_subscriber::registry().with(StoredBytes).with(logs);
        tracing::subscriber::set_global_default(subscriber).expect("no other subscriber");
    });
}

/// What the listener saw of the receiver, with when.
#[derive(Clone, Debug, Default)]
struct Seen {
    started: Vec<Instant>,
    stopped: Vec<Instant>,
    errors: Vec<String>,
}

/// A listener that records receiver events and lets the test wait for them.
#[derive(Default)]
struct Watch {
    seen: Mutex<Seen>,
    changed: Condvar,
}

impl Watch {
    fn update(&self, f: impl FnOnce(&mut Seen)) {
        f(&mut self.seen.lock().unwrap());
        self.changed.notify_all();
    }

    fn seen(&self) -> Seen {
        self.seen.lock().unwrap().clone()
    }

    /// Waits (at most [`WAIT`]) until `done` holds.
    fn wait(&self, what: &str, done: impl Fn(&Seen) -> bool) -> Seen {
        let guard = self.seen.lock().unwrap();
        let (guard, _) = self
            .changed
            .wait_timeout_while(guard, WAIT, |s| !done(s))
            .unwrap();
        assert!(done(&guard), "timed out waiting for {what}: {guard:?}");
        guard.clone()
    }

    /// Waits until the receiver runs (started after its last stop), so that stopping the context
    /// does not race a pending restart.
    fn wait_running(&self) {
        self.wait("the receiver to run", |s| s.started.len() > s.stopped.len());
    }
}

impl StreamingListener for Watch {
    fn on_receiver_started(&self, _: &ReceiverInfo) {
        self.update(|s| s.started.push(Instant::now()));
    }
    fn on_receiver_stopped(&self, _: &ReceiverInfo) {
        self.update(|s| s.stopped.push(Instant::now()));
    }
    fn on_receiver_error(&self, info: &ReceiverInfo) {
        self.update(|s| s.errors.push(info.last_error.clone().unwrap_or_default()));
    }
}

/// A TCP server on 127.0.0.1 whose `accept` waits at most [`WAIT`].
struct Server {
    listener: mio::net::TcpListener,
    poll: Poll,
    events: Events,
    port: u16,
}

impl Server {
    /// Listens on `port` (0: a free port).
    fn bind(port: u16) -> Server {
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut listener = mio::net::TcpListener::from_std(listener);
        let poll = Poll::new().unwrap();
        poll.registry()
            .register(&mut listener, Token(0), Interest::READABLE)
            .unwrap();
        Server {
            listener,
            poll,
            events: Events::with_capacity(4),
            port,
        }
    }

    /// The next connection, as a blocking stream.
    fn accept(&mut self) -> TcpStream {
        let deadline = Instant::now() + WAIT;
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    let stream = TcpStream::from(stream);
                    stream.set_nonblocking(false).unwrap();
                    return stream;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    assert!(!left.is_zero(), "no connection within {WAIT:?}");
                    self.poll.poll(&mut self.events, Some(left)).unwrap();
                }
                Err(e) => panic!("accept: {e}"),
            }
        }
    }
}

/// A started context with a socket stream to 127.0.0.1:`port`, its output and receiver events.
struct Fixture {
    ssc: StreamingContext,
    clock: Arc<ManualClock>,
    out: Arc<Mutex<Vec<(Time, Vec<String>)>>>,
    watch: Arc<Watch>,
    name: String,
    batches: i64,
}

/// The restart delay of the tests (Spark's default is 2 s).
fn quick_restarts() -> ReceiverConfig {
    ReceiverConfig {
        restart_delay: Duration::millis(50),
        ..Default::default()
    }
}

fn start(port: u16, config: ReceiverConfig) -> Fixture {
    install_tracing();
    let (ssc, clock) = manual_context(2);
    let watch = Arc::new(Watch::default());
    ssc.add_streaming_listener(watch.clone());
    let lines = ssc.socket_text_stream_with("127.0.0.1", port, config);
    let out = collect(&lines);
    let name = format!("socket-text-stream(127.0.0.1:{port})");
    // A port can be reused by a later test: count from zero.
    STORED.lock().unwrap().remove(&name);
    ssc.start().unwrap();
    Fixture {
        ssc,
        clock,
        out,
        watch,
        name,
        batches: 0,
    }
}

impl Fixture {
    /// Seals a batch: advances the clock one interval and returns the batch's lines.
    fn next_batch(&mut self) -> Vec<String> {
        self.batches += 1;
        self.clock.advance(BATCH);
        assert!(
            self.ssc
                .await_batch(Time::from_millis(self.batches * 1000), WAIT)
                .unwrap(),
            "batch {} did not complete",
            self.batches
        );
        let out = self.out.lock().unwrap();
        assert_eq!(out.len(), self.batches as usize);
        out.last().unwrap().1.clone()
    }

    /// Waits until the receiver stored `bytes` bytes in all (since the test started).
    fn wait_stored(&self, bytes: u64) {
        let guard = STORED.lock().unwrap();
        let count = |m: &BTreeMap<String, u64>| m.get(&self.name).copied().unwrap_or(0);
        let (guard, _) = STORED_CHANGED
            .wait_timeout_while(guard, WAIT, |m| count(m) < bytes)
            .unwrap();
        assert_eq!(count(&guard), bytes, "bytes stored by {}", self.name);
    }

    fn stop(&self) {
        self.ssc.stop(false).unwrap();
        assert_eq!(self.ssc.get_state(), ContextState::Stopped);
    }
}

impl Drop for Fixture {
    /// Stops the context (and so joins the receiver thread) even when the test failed.
    fn drop(&mut self) {
        if self.ssc.get_state() != ContextState::Stopped {
            let _ = self.ssc.stop(false);
        }
    }
}

fn newlines(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b == b'\n').count()
}

#[test]
fn lines_arrive_exactly_once_across_batches_and_reconnects() {
    let mut server = Server::bind(0);
    let mut f = start(server.port, quick_restarts());
    let lines: Vec<String> = (0..600)
        .map(|i| format!("line {i} {}", "x".repeat(i % 37)))
        .collect();
    let mut got = Vec::new();
    let mut stored = 0u64;
    for (conn, part) in lines.chunks(300).enumerate() {
        let mut peer = server.accept();
        let text: String = part.iter().map(|l| format!("{l}\n")).collect();
        let bytes = text.as_bytes();
        // Pieces cut mid-line; a batch is sealed once each piece is stored.
        let cuts = [0, bytes.len() / 3 + 1, bytes.len() * 2 / 3 + 5, bytes.len()];
        for w in cuts.windows(2) {
            peer.write_all(&bytes[w[0]..w[1]]).unwrap();
            stored += (w[1] - w[0]) as u64;
            f.wait_stored(stored);
            let batch = f.next_batch();
            // Exactly the lines completed by this piece.
            assert_eq!(
                batch,
                part[newlines(&bytes[..w[0]])..newlines(&bytes[..w[1]])]
            );
            got.extend(batch);
        }
        // The peer closes: the receiver stores the end of the stream, then restarts.
        drop(peer);
        f.watch.wait("the restart after end of stream", |s| {
            s.stopped.len() == conn + 1
        });
        assert!(f.next_batch().is_empty(), "nothing twice");
    }
    assert_eq!(got, lines);
    // Each reconnect came at least the restart delay after the stop.
    let seen = f.watch.wait("the last reconnect", |s| s.started.len() == 3);
    for (stop, start) in seen.stopped.iter().zip(&seen.started[1..]) {
        assert!(start.duration_since(*stop) >= StdDuration::from_millis(50));
    }
    assert!(seen.errors.is_empty(), "{:?}", seen.errors);
    f.stop();
}

/// Sends `pieces` over one connection (waiting until each is stored), then checks that the
/// oversized line among them is reported as `Error::LineTooLong` and the lines around it arrive.
fn oversized_line_case(pieces: &[&[u8]]) {
    let mut server = Server::bind(0);
    let mut f = start(
        server.port,
        ReceiverConfig {
            max_line_length: 16,
            ..quick_restarts()
        },
    );
    let mut peer = server.accept();
    let mut sent = 0;
    for piece in pieces {
        peer.write_all(piece).unwrap();
        sent += piece.len() as u64;
        f.wait_stored(sent);
    }
    // Reported to listeners, not a failure of the context: the job goes on.
    assert!(matches!(
        f.ssc.await_termination_or_timeout(Milliseconds(1)),
        Ok(false)
    ));
    let errors = f.watch.seen().errors;
    assert!(
        !errors.is_empty() && errors[0].contains("maximum line length of 16 bytes"),
        "{errors:?}"
    );
    assert_eq!(f.next_batch(), ["before", "after"]);
    // The receiver kept the connection and keeps reading.
    peer.write_all(b"still here\n").unwrap();
    f.wait_stored(sent + 11);
    assert_eq!(f.next_batch(), ["still here"]);
    assert!(f.watch.seen().stopped.is_empty(), "no restart");
    f.stop();
}

#[test]
fn an_oversized_line_over_two_reads_is_reported_and_the_lines_around_it_arrive() {
    // The first piece already holds more than the limit of the line, unterminated.
    oversized_line_case(&[
        format!("before\n{}", "y".repeat(30)).as_bytes(),
        format!("{}\nafter\n", "y".repeat(70)).as_bytes(),
    ]);
}

#[test]
fn an_oversized_line_in_one_read_is_reported_and_the_lines_around_it_arrive() {
    oversized_line_case(&[format!("before\n{}\nafter\n", "y".repeat(100)).as_bytes()]);
}

#[test]
fn a_line_cut_at_a_batch_boundary_arrives_whole_in_a_later_batch() {
    let mut server = Server::bind(0);
    let mut f = start(server.port, quick_restarts());
    let mut peer = server.accept();
    peer.write_all(b"first\nhel").unwrap();
    f.wait_stored(9);
    assert_eq!(f.next_batch(), ["first"]);
    assert!(f.next_batch().is_empty(), "an incomplete line waits");
    peer.write_all(b"lo\nCR\r").unwrap();
    f.wait_stored(15);
    assert_eq!(f.next_batch(), ["hello"]);
    // A `\r\n` cut between its two bytes is still one line end.
    peer.write_all(b"\n").unwrap();
    f.wait_stored(16);
    assert_eq!(f.next_batch(), ["CR"]);
    f.stop();
}

#[test]
fn a_final_line_without_a_newline_is_delivered_when_the_peer_closes() {
    let mut server = Server::bind(0);
    let mut f = start(server.port, quick_restarts());
    let mut peer = server.accept();
    peer.write_all(b"one\r\ntwo\rstill two\nlast words")
        .unwrap();
    drop(peer);
    f.watch
        .wait("the restart after end of stream", |s| s.stopped.len() == 1);
    // `\r\n` ends a line, a bare `\r` does not.
    assert_eq!(f.next_batch(), ["one", "two\rstill two", "last words"]);
    // A connection that sends nothing adds no (empty) line.
    drop(server.accept());
    f.watch.wait("the second restart", |s| s.stopped.len() == 2);
    assert!(f.next_batch().is_empty());
    f.watch.wait_running();
    assert!(f.watch.seen().errors.is_empty());
    f.stop();
}

#[test]
fn a_refused_connection_is_retried_until_a_server_listens() {
    // A port nothing listens on.
    let port = Server::bind(0).port;
    let mut f = start(port, quick_restarts());
    f.watch.wait("two retries", |s| {
        s.started.len() >= 3 && s.stopped.len() >= 2
    });
    // Not an error: the context runs on, with empty batches.
    assert!(
        !f.ssc
            .await_termination_or_timeout(StdDuration::ZERO)
            .unwrap()
    );
    assert_eq!(f.ssc.get_state(), ContextState::Active);
    assert!(f.next_batch().is_empty());
    let mut server = Server::bind(port);
    let mut peer = server.accept();
    // Every earlier attempt's stop was reported before this connection was made.
    let stops = f.watch.seen().stopped.len();
    peer.write_all(b"finally\n").unwrap();
    drop(peer);
    f.watch.wait("the restart after end of stream", |s| {
        s.stopped.len() > stops
    });
    assert_eq!(f.next_batch(), ["finally"]);
    assert!(f.watch.seen().errors.is_empty());
    f.watch.wait_running();
    f.stop();
    drop(server);
}

/// Closes `peer` with a reset (RST) instead of an orderly end (FIN): SO_LINGER set to 0.
fn reset(peer: TcpStream) {
    let socket = socket2::Socket::from(peer);
    socket.set_linger(Some(StdDuration::ZERO)).unwrap();
    drop(socket);
}

#[test]
fn a_peer_that_resets_mid_line_loses_only_its_unfinished_line_and_is_reconnected_to() {
    let mut server = Server::bind(0);
    let mut f = start(server.port, quick_restarts());
    let mut peer = server.accept();
    let sent = b"whole line\nanother\nhalf a li";
    peer.write_all(sent).unwrap();
    f.wait_stored(sent.len() as u64);
    reset(peer);
    f.watch
        .wait("the restart after the reset", |s| s.stopped.len() == 1);
    // The truncated line is not delivered as if it were whole (nor glued to the next one).
    assert_eq!(f.next_batch(), ["whole line", "another"]);
    let mut peer = server.accept();
    peer.write_all(b"ne after the reconnect\n").unwrap();
    drop(peer);
    f.watch
        .wait("the restart after end of stream", |s| s.stopped.len() == 2);
    assert_eq!(f.next_batch(), ["ne after the reconnect"]);
    // A reset is the network's doing, not the job's: no receiver error, the context runs on.
    assert!(f.watch.seen().errors.is_empty());
    f.watch.wait_running();
    f.stop();
}

#[test]
fn a_stalled_peer_holds_up_neither_the_batches_nor_the_stop() {
    let mut server = Server::bind(0);
    let mut f = start(server.port, quick_restarts());
    let mut peer = server.accept();
    let sent = b"before the stall\nand half a";
    peer.write_all(sent).unwrap();
    f.wait_stored(sent.len() as u64);
    // The peer sends nothing more and keeps the connection open.
    assert_eq!(f.next_batch(), ["before the stall"]);
    assert!(f.next_batch().is_empty());
    assert!(f.next_batch().is_empty());
    let stopping = Instant::now();
    f.stop();
    assert!(
        stopping.elapsed() < StdDuration::from_secs(5),
        "the stop waited {:?} for a stalled peer",
        stopping.elapsed()
    );
    drop(peer);
}
