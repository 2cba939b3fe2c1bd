//! Running word counts of the text files moved into `in/`, saved to `out/totals-<ms>`, that survive
//! a crash: kill it and run it again, and it resumes from `checkpoints/`.
//!
//! `cargo run --release --example checkpointed_word_count`

use dstreams::prelude::*;

fn main() -> Result<()> {
    let ssc = StreamingContext::get_or_create("checkpoints", || {
        let ssc = StreamingContext::new(Duration::seconds(1))?;
        let pairs = ssc
            .text_file_stream("in")?
            .flat_map(|line, out| line.split(' ').for_each(|w| out.push(w)))?
            .map(|w, out| out.push((w, 1i64)))?;
        pairs
            .update_state_by_key(|new: &[i64], total: Option<i64>| {
                Some(total.unwrap_or(0) + new.iter().sum::<i64>())
            })?
            .checkpoint_name("totals")? // optional: the id its state is saved under
            .save_as_text_files("out/totals", "")?;
        Ok(ssc)
    })?;
    ssc.start()?;
    ssc.await_termination()
}
