//! Writes seeded Zipf-distributed text to standard output.
//!
//! ```text
//! cargo run --release --example zipf -- BYTES [SEED [VOCABULARY [EXPONENT [WORDS_PER_LINE]]]]
//! cargo run --release --example zipf -- 1000000000 > datasets/large/zipf-1g.txt
//! ```
//!
//! Unset settings take `ZipfConfig::default()` (seed 0x5EED, 50 000 words, s = 1.0, 12 words).

use std::error::Error;
use std::io::Write;

use dstreams::zipf::{ZipfConfig, ZipfText};

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: zipf BYTES [SEED [VOCABULARY [EXPONENT [WORDS_PER_LINE]]]]";
    let bytes: u64 = args.first().ok_or(usage)?.parse()?;
    let mut config = ZipfConfig::default();
    if let Some(seed) = args.get(1) {
        config.seed = seed.parse()?;
    }
    if let Some(vocabulary) = args.get(2) {
        config.vocabulary = vocabulary.parse()?;
    }
    if let Some(exponent) = args.get(3) {
        config.exponent = exponent.parse()?;
    }
    if let Some(words_per_line) = args.get(4) {
        config.words_per_line = words_per_line.parse()?;
    }
    let mut out = std::io::stdout().lock();
    let written = ZipfText::new(config)?.write_to(&mut out, bytes)?;
    out.flush()?;
    eprintln!("{written} bytes, {config:?}");
    Ok(())
}
