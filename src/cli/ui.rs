//! The web UI's options of the long-running commands (`run ...`, `replay --rate`), and the line
//! that tells where it is.

use clap::Args;
use dstreams::{Result, StreamingContext, UiConfig};

/// Spark's UI port, and how many ports after it are tried when it is in use (Spark's
/// `spark.port.maxRetries`).
const DEFAULT_ADDRESS: &str = "127.0.0.1:4040";
const DEFAULT_PORT_RETRIES: u16 = 16;

#[derive(Args, Clone, Debug, Default)]
pub struct UiArgs {
    /// Serve the web UI (the Streaming page at /, Spark's REST API at /api/v1, Prometheus
    /// metrics at /metrics) on ADDR, exactly (port 0: any free port). Default for `run` and
    /// `replay --rate`: 127.0.0.1:4040, or the next free port of the 16 after it.
    #[arg(long, value_name = "ADDR", global = true)]
    ui: Option<String>,
    /// No web UI.
    #[arg(long, conflicts_with = "ui", global = true)]
    no_ui: bool,
}

impl UiArgs {
    /// The UI to serve for application `name`: as asked, else Spark's default when `on_by_default`.
    pub fn config(&self, on_by_default: bool, name: &str) -> Option<UiConfig> {
        if self.no_ui {
            return None;
        }
        let config = match &self.ui {
            Some(address) => UiConfig::new(address.as_str()),
            None if on_by_default => {
                UiConfig::new(DEFAULT_ADDRESS).port_retries(DEFAULT_PORT_RETRIES)
            }
            None => return None,
        };
        Some(config.app_name(name))
    }
}

/// Starts `ssc` with the web UI of `config` (if any) and prints where the UI is, on standard
/// error (standard output is the job's).
pub fn start(ssc: &StreamingContext, config: Option<UiConfig>) -> Result<()> {
    if let Some(config) = config {
        ssc.set_ui(config);
    }
    ssc.start()?;
    if let Some(address) = ssc.ui_address() {
        eprintln!("dstreams: web UI at http://{address}/");
    }
    Ok(())
}
