//! Spark's `socketTextStream`: a receiver that connects to a TCP server and stores the lines it
//! sends, reconnecting (after the restart delay) when the server closes or cannot be reached.
//!
//! One thread per receiver connects with a non-blocking `mio` connect bounded by
//! [`CONNECT_TIMEOUT`], then reads with a `mio::Poll`; a `mio::Waker` ends the thread as soon as
//! the receiver stops, so `on_stop` joins it without waiting for the peer.

use crate::context::StreamingContext;
use crate::dstream::DStream;
use crate::error::{Error, Result};
use crate::source::receiver::{Receiver, ReceiverConfig, ReceiverHandle};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token, Waker};
use std::io::{self, Read};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration as StdDuration, Instant};

/// How long one connection attempt may take before it counts as failed (and the receiver
/// restarts). Spark's `new Socket(host, port)` has no timeout of its own (the OS's applies).
const CONNECT_TIMEOUT: StdDuration = StdDuration::from_secs(10);
/// Bytes read from the socket at a time.
const READ_BUFFER: usize = 64 << 10;
const SOCKET: Token = Token(0);
const WAKE: Token = Token(1);

/// Receives `\n`-separated text from `host:port` (Spark's `SocketReceiver`).
pub(crate) struct SocketReceiver {
    host: String,
    port: u16,
    worker: Option<Worker>,
}

/// The running reader thread and what stops it.
struct Worker {
    stop: Arc<AtomicBool>,
    waker: Arc<Waker>,
    thread: JoinHandle<()>,
}

impl SocketReceiver {
    pub(crate) fn new(host: &str, port: u16) -> Self {
        SocketReceiver {
            host: host.to_string(),
            port,
            worker: None,
        }
    }
}

impl Receiver for SocketReceiver {
    fn on_start(&mut self, handle: ReceiverHandle) -> Result<()> {
        // A worker left over (on_stop not called) is ended first: two readers must not share
        // the handle.
        self.on_stop();
        let name = self.name();
        let poll = Poll::new().map_err(|e| Error::io(format!("{name}: creating a poll"), e))?;
        let waker = Waker::new(poll.registry(), WAKE)
            .map(Arc::new)
            .map_err(|e| Error::io(format!("{name}: creating a waker"), e))?;
        let stop = Arc::new(AtomicBool::new(false));
        let reader = Reader {
            host: self.host.clone(),
            port: self.port,
            handle,
            stop: stop.clone(),
            poll,
            events: Events::with_capacity(8),
        };
        let thread = std::thread::Builder::new()
            .name(format!("dstreams-socket-{}:{}", self.host, self.port))
            .spawn(move || reader.run())
            .map_err(|e| Error::io(format!("{name}: starting the receiver thread"), e))?;
        self.worker = Some(Worker {
            stop,
            waker,
            thread,
        });
        Ok(())
    }

    fn on_stop(&mut self) {
        let Some(worker) = self.worker.take() else {
            return;
        };
        worker.stop.store(true, Ordering::SeqCst);
        if let Err(e) = worker.waker.wake() {
            tracing::warn!(receiver = %self.name(), "cannot wake the socket receiver thread: {e}");
        }
        if worker.thread.thread().id() == std::thread::current().id() {
            // Stopped from its own thread (a listener stopping the context on a receiver event):
            // the thread sees the flag and ends once the callback returns.
            return;
        }
        if worker.thread.join().is_err() {
            tracing::error!(receiver = %self.name(), "the socket receiver thread panicked");
        }
    }

    fn name(&self) -> String {
        format!("socket-text-stream({}:{})", self.host, self.port)
    }
}

/// How a connection ended.
enum End {
    /// The peer closed it.
    Eof,
    /// The receiver was stopped.
    Stopped,
    /// Reading failed.
    ReadFailed(io::Error),
    /// Storing failed (other than an oversized line); already reported.
    StoreFailed,
}

/// The reader thread's state.
struct Reader {
    host: String,
    port: u16,
    handle: ReceiverHandle,
    stop: Arc<AtomicBool>,
    poll: Poll,
    events: Events,
}

impl Reader {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst) || self.handle.is_stopped()
    }

    fn run(mut self) {
        let (host, port) = (self.host.clone(), self.port);
        tracing::info!(receiver = %self.handle.name(), "Connecting to {host}:{port}");
        let mut stream = match self.connect() {
            Ok(Some(stream)) => stream,
            Ok(None) => return,
            Err(e) => {
                if self.stopped() {
                    return;
                }
                // Spark logs and restarts on a `ConnectException`; it is not a receiver error.
                tracing::warn!(receiver = %self.handle.name(), "Error connecting to {host}:{port}: {e}");
                self.handle
                    .restart(&format!("Error connecting to {host}:{port}"), None);
                return;
            }
        };
        tracing::info!(receiver = %self.handle.name(), "Connected to {host}:{port}");
        let end = self.receive(&mut stream);
        drop(stream);
        // The connection is over; its unterminated last line must not be glued to the first
        // line of the next connection. After an end of stream it is a line (as `readLine`
        // returns it); after a failed read (a reset) it is dropped, as Spark's `readLine` loses
        // it, since its end never came.
        if let End::ReadFailed(_) = &end {
            let dropped = self.handle.stream_broken();
            if dropped > 0 {
                tracing::warn!(receiver = %self.handle.name(), "dropped the {dropped} bytes of an unfinished line: the connection to {host}:{port} broke before its end");
            }
        } else if let Err(e) = self.handle.end_of_stream() {
            self.handle.report_error(e);
        }
        match end {
            _ if self.stopped() => {
                tracing::info!(receiver = %self.handle.name(), "Stopped receiving");
            }
            End::Eof => self
                .handle
                .restart("Socket data stream had no more data", None),
            End::ReadFailed(e) => {
                tracing::warn!(receiver = %self.handle.name(), "Error receiving data from {host}:{port}: {e}");
                self.handle.restart("Error receiving data", None);
            }
            End::StoreFailed => self.handle.restart("Error receiving data", None),
            End::Stopped => {}
        }
    }

    /// Connects to the first address of `host:port` that accepts; `None` if stopped meanwhile.
    fn connect(&mut self) -> io::Result<Option<TcpStream>> {
        let addrs: Vec<SocketAddr> = (self.host.as_str(), self.port).to_socket_addrs()?.collect();
        let mut last = io::Error::new(
            io::ErrorKind::NotFound,
            format!("{} resolves to no address", self.host),
        );
        for addr in addrs {
            match self.connect_to(addr) {
                Ok(found) => return Ok(found),
                Err(e) => last = e,
            }
            if self.stopped() {
                return Ok(None);
            }
        }
        Err(last)
    }

    /// A non-blocking connect, waited for (writable, then `SO_ERROR` and the peer address) until
    /// [`CONNECT_TIMEOUT`] or a stop.
    fn connect_to(&mut self, addr: SocketAddr) -> io::Result<Option<TcpStream>> {
        let mut stream = TcpStream::connect(addr)?;
        self.poll.registry().register(
            &mut stream,
            SOCKET,
            Interest::READABLE | Interest::WRITABLE,
        )?;
        let deadline = Instant::now() + CONNECT_TIMEOUT;
        loop {
            if self.stopped() {
                return Ok(None);
            }
            if let Some(e) = stream.take_error()? {
                return Err(e);
            }
            match stream.peer_addr() {
                Ok(_) => {
                    self.poll
                        .registry()
                        .reregister(&mut stream, SOCKET, Interest::READABLE)?;
                    return Ok(Some(stream));
                }
                Err(e) if e.kind() == io::ErrorKind::NotConnected => {}
                Err(e) => return Err(e),
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("connection timed out after {} s", CONNECT_TIMEOUT.as_secs()),
                ));
            }
            match self.poll.poll(&mut self.events, Some(left)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads until the peer closes, an error, or a stop, storing every chunk.
    fn receive(&mut self, stream: &mut TcpStream) -> End {
        let mut buf = vec![0u8; READ_BUFFER];
        loop {
            // Readiness is edge-triggered: read until the socket would block.
            loop {
                if self.stopped() {
                    return End::Stopped;
                }
                match stream.read(&mut buf) {
                    Ok(0) => return End::Eof,
                    Ok(n) => {
                        if !self.store(&buf[..n]) {
                            return End::StoreFailed;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return End::ReadFailed(e),
                }
            }
            match self.poll.poll(&mut self.events, None) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return End::ReadFailed(e),
            }
        }
    }

    /// Stores one chunk; `false` if storing failed for another reason than an oversized line
    /// (which the handle skipped: it is reported and reading goes on).
    fn store(&self, chunk: &[u8]) -> bool {
        let result = self.handle.store_bytes(chunk);
        tracing::trace!(
            receiver = self.handle.name(),
            bytes = chunk.len() as u64,
            "stored"
        );
        match result {
            Ok(()) => true,
            Err(e @ Error::LineTooLong { .. }) => {
                self.handle.report_error(e);
                true
            }
            Err(e) => {
                self.handle.report_error(e);
                false
            }
        }
    }
}

impl StreamingContext {
    /// A stream of the lines a TCP server at `host:port` sends (Spark's `socketTextStream`),
    /// with the default [`ReceiverConfig`] (restart delay 2 s, lines up to 1 MiB).
    ///
    /// A receiver connects to the server and stores what it sends; each batch holds the lines
    /// that were complete at the batch time (a line is never split across batches: an incomplete
    /// last line waits for its end). As in Spark:
    /// * when the server closes the connection, a final line without a line end is still a
    ///   line, and the receiver restarts ("Socket data stream had no more data") and connects
    ///   again after the restart delay;
    /// * when the connection cannot be made (refused, unreachable, or not made within 10 s) or
    ///   reading fails (reset), a warning is logged and the receiver restarts the same way; this
    ///   is not an error of the context, which keeps running (with empty batches) until the
    ///   server is back. The unfinished last line of a connection whose read failed is dropped
    ///   (with a warning counting its bytes), as Spark's `readLine` loses it;
    /// * a server that stalls (connected, sending nothing, or half a line) holds up nothing:
    ///   batches go on with what was complete, and stopping does not wait for the server.
    ///
    /// Differences from Spark:
    /// * The bytes must be UTF-8 (Spark replaces invalid bytes with U+FFFD): a batch whose
    ///   received text is not valid UTF-8 fails with [`Error::Ingest`].
    /// * Lines end at `\n` or `\r\n` only; a bare `\r` is **not** a line end (Spark's
    ///   `BufferedReader.readLine` also splits at a lone `\r`) and stays in the line.
    /// * A line longer than [`ReceiverConfig::max_line_length`] is skipped up to its line end
    ///   and reported as [`Error::LineTooLong`] (to listeners' `on_receiver_error` and the log,
    ///   not to `await_termination`: the job goes on); the receiver keeps reading. Spark has no
    ///   limit.
    /// * A connection that fails mid-line (reset) also delivers what it received of its last
    ///   line as a line, where Spark drops it.
    /// * Host names are resolved by the receiver thread each time it connects; the receiver
    ///   stops promptly except while a name lookup is in progress.
    #[track_caller]
    pub fn socket_text_stream(&self, host: &str, port: u16) -> DStream<String> {
        self.socket_text_stream_with(host, port, ReceiverConfig::default())
    }

    /// [`socket_text_stream`](Self::socket_text_stream) with a [`ReceiverConfig`]: restart
    /// delay (Spark's `spark.streaming.receiverRestartDelay`), rate limit and backpressure, the
    /// longest line accepted, and the write-ahead log
    /// ([`ReceiverConfig::write_ahead_log`]: lines sealed into a batch survive a crash).
    ///
    /// An invalid configuration is reported by `start`, as for
    /// [`receiver_stream_with`](Self::receiver_stream_with).
    #[track_caller]
    pub fn socket_text_stream_with(
        &self,
        host: &str,
        port: u16,
        config: ReceiverConfig,
    ) -> DStream<String> {
        self.receiver_stream_with(SocketReceiver::new(host, port), config)
    }
}
