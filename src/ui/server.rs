//! The HTTP side: binding the address (with Spark's retries on the next ports), the thread that
//! accepts connections, one request per connection (parsed by httparse) answered from the
//! published snapshot, and the routes. Read-only: every path answers `GET` (and `HEAD`),
//! anything else is refused with 405.

use super::snapshot::{Published, current};
use super::{UiConfig, metrics, page, rest};
use crate::error::{Error, Result};
use serde::Serialize;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// One response: status, content type and body.
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) content_type: &'static str,
    pub(crate) body: Vec<u8>,
}

impl Reply {
    pub(crate) fn ok(content_type: &'static str, body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status: 200,
            content_type,
            body: body.into(),
        }
    }

    /// `value` as JSON.
    pub(crate) fn json(value: &impl Serialize) -> Reply {
        match serde_json::to_vec(value) {
            Ok(body) => Reply::ok("application/json", body),
            Err(e) => Reply::error(500, format!("writing JSON: {e}")),
        }
    }

    /// A JSON error: `{"code": 404, "message": "unknown batch: 1000"}`.
    pub(crate) fn error(status: u16, message: String) -> Reply {
        let body = serde_json::json!({ "code": status, "message": message });
        Reply {
            status,
            content_type: "application/json",
            body: body.to_string().into_bytes(),
        }
    }

    pub(crate) fn not_found(message: String) -> Reply {
        Reply::error(404, message)
    }
}

/// Binds `config`'s address, or with retries the next ports up (Spark's `spark.port.maxRetries`),
/// logging each port found in use.
pub(crate) fn bind(config: &UiConfig) -> Result<TcpListener> {
    let bind_error = |e: std::io::Error| Error::UiBind {
        address: config.address.clone(),
        source: e,
    };
    let first: SocketAddr = config
        .address
        .to_socket_addrs()
        .map_err(bind_error)?
        .next()
        .ok_or_else(|| bind_error(std::io::ErrorKind::AddrNotAvailable.into()))?;
    let mut address = first;
    let mut tries = 0;
    loop {
        match TcpListener::bind(address) {
            Ok(listener) => return Ok(listener),
            Err(e)
                if e.kind() == std::io::ErrorKind::AddrInUse
                    && tries < config.port_retries
                    && address.port() != 0
                    && address.port() < u16::MAX =>
            {
                tracing::warn!(
                    "the web UI could not bind on port {}; attempting port {}",
                    address.port(),
                    address.port() + 1
                );
                address.set_port(address.port() + 1);
                tries += 1;
            }
            Err(e) => {
                return Err(Error::UiBind {
                    address: address.to_string(),
                    source: e,
                });
            }
        }
    }
}

/// Connections served at once; more are closed unanswered.
const MAX_CONNECTIONS: usize = 64;
/// How long a connection may take to send its request or read the reply.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest request head read.
const MAX_REQUEST_BYTES: usize = 16 * 1024;

/// The accepting thread, answering until [`Server::stop`] (or the server is dropped).
pub(crate) struct Server {
    address: SocketAddr,
    stopping: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Serves `published` on `listener`: a thread accepts connections and gives each a
    /// short-lived thread of its own that answers one request.
    pub(crate) fn start(listener: TcpListener, published: Published) -> Result<Server> {
        let address = listener
            .local_addr()
            .map_err(|e| Error::io("the web UI's address", e))?;
        let stopping = Arc::new(AtomicBool::new(false));
        let stop = stopping.clone();
        let thread = std::thread::Builder::new()
            .name("dstreams-ui".into())
            .spawn(move || accept(&listener, &published, &stop))
            .map_err(|e| Error::io("starting the web UI's thread", e))?;
        tracing::info!("web UI at http://{address}");
        Ok(Server {
            address,
            stopping,
            thread: Some(thread),
        })
    }

    /// Where it listens.
    pub(crate) fn address(&self) -> SocketAddr {
        self.address
    }

    /// Stops accepting (the port closes) and waits for the accepting thread.
    pub(crate) fn stop(self) {
        drop(self);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Wakes the accepting thread up (on the loopback address when bound to all addresses).
        let mut wake = self.address;
        if wake.ip().is_unspecified() {
            wake.set_ip(match wake {
                SocketAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
            });
        }
        let _ = TcpStream::connect_timeout(&wake, IO_TIMEOUT);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn accept(listener: &TcpListener, published: &Published, stopping: &AtomicBool) {
    let open = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        if stopping.load(Ordering::SeqCst) {
            break;
        }
        let stream = match stream {
            Ok(stream) => stream,
            Err(e) => {
                tracing::debug!("web UI: accepting a connection failed: {e}");
                continue;
            }
        };
        if open.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            open.fetch_sub(1, Ordering::SeqCst);
            tracing::warn!("web UI: {MAX_CONNECTIONS} connections open; one more closed");
            continue;
        }
        let (published, open) = (published.clone(), open.clone());
        let spawned = std::thread::Builder::new()
            .name("dstreams-ui-request".into())
            .spawn(move || {
                answer(stream, &published);
                open.fetch_sub(1, Ordering::SeqCst);
            });
        if let Err(e) = spawned {
            tracing::warn!("web UI: no thread for a connection: {e}");
        }
    }
}

/// Reads one request from `stream` and writes its reply; the connection then closes.
fn answer(mut stream: TcpStream, published: &Published) {
    let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
    let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
    let Some((method, url)) = read_request(&mut stream) else {
        return;
    };
    let reply = match method.as_str() {
        "GET" | "HEAD" => {
            // A bug in a handler costs its request, never the server.
            catch_unwind(AssertUnwindSafe(|| route(&url, published))).unwrap_or_else(|_| {
                tracing::error!("the web UI failed to answer {url}");
                Reply::error(500, format!("internal error answering {url}"))
            })
        }
        _ => Reply::error(405, "the web UI is read-only: GET only".into()),
    };
    let head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        reply.status,
        reason(reply.status),
        reply.content_type,
        reply.body.len()
    );
    let body: &[u8] = if method == "HEAD" { &[] } else { &reply.body };
    if let Err(e) = stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body))
    {
        tracing::debug!("web UI: the client went away: {e}");
    }
}

/// The method and URL of the request on `stream`, once its head is complete; `None` (after
/// answering 400 where the head is malformed or too long) otherwise.
fn read_request(stream: &mut TcpStream) -> Option<(String, String)> {
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        head.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(&head) {
            Ok(httparse::Status::Complete(_)) => {
                return Some((request.method?.to_string(), request.path?.to_string()));
            }
            Ok(httparse::Status::Partial) if head.len() < MAX_REQUEST_BYTES => {}
            Ok(httparse::Status::Partial) | Err(_) => {
                let _ = stream.write_all(
                    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
                return None;
            }
        }
    }
}

/// The reason phrase of the statuses the UI answers with.
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Internal Server Error",
    }
}

/// The reply to `GET url`.
fn route(url: &str, published: &Published) -> Reply {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segments.as_slice() {
        [] => Reply::ok("text/html; charset=utf-8", page::INDEX),
        ["static", file] => page::asset(file)
            .map(|(content_type, body)| Reply::ok(content_type, body))
            .unwrap_or_else(|| Reply::not_found(format!("unknown file: {file}"))),
        ["metrics"] => Reply::ok(
            "text/plain; version=0.0.4; charset=utf-8",
            metrics::render(&current(published)),
        ),
        ["api", "v1", rest @ ..] => rest::answer(
            rest,
            query,
            &current(published),
            crate::context::wall_millis(),
        ),
        _ => Reply::not_found(format!("unknown path: {path}")),
    }
}
