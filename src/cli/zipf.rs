//! `dstreams zipf`: seeded Zipf-distributed text on standard output, for benchmarks with a
//! vocabulary as large as real keys (user ids, URLs) rather than a book's.

use clap::Args;
use dstreams::zipf::{ZipfConfig, ZipfError, ZipfText};
use dstreams::{Error, Result};
use std::io::Write;

#[derive(Args)]
pub struct ZipfArgs {
    /// Bytes to write (whole lines: the last line that would pass this is left out).
    bytes: u64,
    /// Seed of the generator: the same settings write the same text.
    #[arg(long, default_value_t = ZipfConfig::default().seed)]
    seed: u64,
    /// Number of distinct words.
    #[arg(long, default_value_t = ZipfConfig::default().vocabulary)]
    vocabulary: usize,
    /// Zipf exponent s: the word of rank r is drawn with probability proportional to 1 / r^s.
    #[arg(long, default_value_t = ZipfConfig::default().exponent)]
    exponent: f64,
    /// Words per line.
    #[arg(long, default_value_t = ZipfConfig::default().words_per_line)]
    words_per_line: usize,
}

pub fn run(args: ZipfArgs) -> Result<()> {
    let config = ZipfConfig {
        seed: args.seed,
        vocabulary: args.vocabulary,
        exponent: args.exponent,
        words_per_line: args.words_per_line,
    };
    let mut text = ZipfText::new(config).map_err(|e| Error::InvalidArgument(e.to_string()))?;
    let mut out = std::io::stdout().lock();
    let written = match text.write_to(&mut out, args.bytes) {
        Ok(n) => n,
        Err(ZipfError::Io(e)) => return Err(Error::io("writing Zipf text", e)),
        Err(e) => return Err(Error::Internal(e.to_string())),
    };
    out.flush().map_err(|e| Error::io("writing Zipf text", e))?;
    eprintln!("{written} bytes, {config:?}");
    Ok(())
}
