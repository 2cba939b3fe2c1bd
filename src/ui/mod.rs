//! The web UI: Spark's Streaming tab as a live page, Spark's streaming REST API and Prometheus
//! metrics, served by a small HTTP server inside the process while a context runs.
//!
//! Off unless asked for ([`ContextBuilder::ui`](crate::ContextBuilder::ui),
//! [`StreamingContext::set_ui`](crate::StreamingContext::set_ui)). It only reads: a listener
//! (`snapshot.rs`) keeps a snapshot of what the context reported and publishes a new one after
//! each event; the server's thread (`server.rs`) answers from the last published one, never
//! from the scheduler's state, so serving never slows a batch and a failing server leaves the
//! job running. Routes: `/` (`page.rs`), `/api/v1/...` (`rest.rs`), `/metrics` (`metrics.rs`).

mod metrics;
mod page;
mod rest;
mod server;
mod snapshot;

use crate::context::Core;
use crate::error::Result;
use crate::lock::lock;
use snapshot::{InputStream, Publisher};
use std::net::SocketAddr;
use std::sync::Arc;

pub(crate) use server::Server;

/// Where the web UI listens, and what it calls the application.
///
/// ```
/// use dstreams::UiConfig;
/// // Spark's default: port 4040, or the next free one of the 16 after it.
/// let ui = UiConfig::new("127.0.0.1:4040").port_retries(16).app_name("word count");
/// # let _ = ui;
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UiConfig {
    pub(crate) address: String,
    pub(crate) port_retries: u16,
    pub(crate) app_name: String,
}

impl UiConfig {
    /// Listen on `address` (`host:port`; port 0 picks a free one), exactly: a port in use fails
    /// [`start`](crate::StreamingContext::start) with [`Error::UiBind`](crate::Error::UiBind)
    /// naming it. Bind to `127.0.0.1` unless the page must be reached from other machines:
    /// the UI has no authentication.
    pub fn new(address: impl Into<String>) -> Self {
        UiConfig {
            address: address.into(),
            port_retries: 0,
            app_name: "dstreams".into(),
        }
    }

    /// When the port is in use, try up to `n` ports after it, logging each (Spark's
    /// `spark.port.maxRetries`, 16 by default there).
    pub fn port_retries(mut self, n: u16) -> Self {
        self.port_retries = n;
        self
    }

    /// The application's name in the REST API and on the page (Spark's `spark.app.name`).
    pub fn app_name(mut self, name: impl Into<String>) -> Self {
        self.app_name = name.into();
        self
    }
}

impl From<&str> for UiConfig {
    fn from(address: &str) -> Self {
        UiConfig::new(address)
    }
}

impl From<String> for UiConfig {
    fn from(address: String) -> Self {
        UiConfig::new(address)
    }
}

impl From<SocketAddr> for UiConfig {
    fn from(address: SocketAddr) -> Self {
        UiConfig::new(address.to_string())
    }
}

/// Binds `config`'s address and starts serving `core`'s snapshot; registers the listener that
/// publishes it. Called by `start`, before any event.
pub(crate) fn start(core: &Arc<Core>, config: &UiConfig) -> Result<Server> {
    let listener = server::bind(config)?;
    let publisher = Arc::new(Publisher::new(
        core,
        config.app_name.clone(),
        input_streams(core),
    ));
    let server = Server::start(listener, publisher.published())?;
    lock(&core.listeners).push(publisher);
    Ok(server)
}

/// The program's input streams: id, name and whether a receiver feeds it.
fn input_streams(core: &Core) -> Vec<InputStream> {
    let kinds = lock(&core.checkpointing).input_kinds();
    let graph = lock(&core.graph);
    kinds
        .into_iter()
        .map(|(node, kind)| InputStream {
            id: node,
            name: graph
                .nodes
                .get(node)
                .map_or_else(|| format!("Stream-{node}"), |n| n.name().to_string()),
            receiver: kind == "receiver",
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::snapshot::current;
    use super::*;
    use crate::context::{BatchInfo, StreamingListener};
    use crate::prelude::*;
    use std::collections::BTreeMap;

    fn batch(ms: i64) -> BatchInfo {
        BatchInfo {
            batch_time: Time::from_millis(ms),
            stream_id_to_input_info: BTreeMap::new(),
            submission_time: ms,
            processing_start_time: Some(ms + 1),
            processing_end_time: Some(ms + 5),
            output_operation_infos: BTreeMap::new(),
        }
    }

    #[test]
    fn a_poisoned_snapshot_is_still_published_and_read() {
        let ssc = StreamingContext::new(Seconds(1));
        let publisher = Publisher::new(&ssc.core, "test".into(), Vec::new());
        let published = publisher.published();
        let writer = published.clone();
        let died = std::thread::spawn(move || {
            let _held = writer.write().unwrap();
            panic!("a thread dies holding the snapshot's lock");
        })
        .join();
        assert!(died.is_err());
        assert!(published.is_poisoned());
        publisher.on_batch_completed(&batch(1000));
        publisher.on_batch_completed(&batch(2000));
        let s = current(&published);
        assert_eq!(s.completed_batches, 2);
        assert_eq!(s.processing.count, 2);
    }

    #[test]
    fn batches_run_on_after_the_server_thread_is_gone() {
        let clock = Arc::new(ManualClock::new(Time::from_millis(0)));
        let ssc = StreamingContext::builder(Seconds(1))
            .clock(clock.clone())
            .ui("127.0.0.1:0")
            .build();
        let batches = (0..4).map(|i| Batch::from_vec(vec![i], 1));
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = seen.clone();
        ssc.queue_stream(batches, true, None)
            .foreach_rdd(move |b| sink.lock().unwrap().extend(b.collect()));
        ssc.start().unwrap();
        let address = ssc.ui_address().expect("the UI listens");
        clock.advance(Seconds(1));
        assert!(
            ssc.await_batch(Time::from_millis(1000), Seconds(10))
                .unwrap()
        );
        // The server's thread ends; its port closes.
        lock(&ssc.core.ui).take().expect("a server").stop();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(address).is_ok() {
            assert!(
                std::time::Instant::now() < deadline,
                "the UI's port stays open"
            );
            std::thread::yield_now();
        }
        for t in 2..=4 {
            clock.advance(Seconds(1));
            assert!(
                ssc.await_batch(Time::from_millis(t * 1000), Seconds(10))
                    .unwrap()
            );
        }
        ssc.stop(false).unwrap();
        assert_eq!(*seen.lock().unwrap(), vec![0, 1, 2, 3]);
    }
}
