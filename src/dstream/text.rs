//! Text operations on streams of lines, on the tokenizer kernel.

use super::DStream;
use super::node::Plan;
use crate::data::Batch;
use crate::error::Result;
use crate::kernels::tokenize::{Separators, tokenize};
use rayon::prelude::*;

impl DStream<String> {
    /// The words of every line, as views into the lines' buffers: Spark's
    /// `flatMap(_.split(" "))` with [`Separators::Space`] (Java's `split(" ")` rules, as
    /// [`split_java`](crate::text::split_java): empty words between double spaces are kept,
    /// trailing ones dropped, an empty line gives one empty word), PySpark's
    /// `flatMap(lambda line: line.split(" "))` with [`Separators::SpaceKeepTrailingEmpty`]
    /// (Python's rules, as [`str::split`]: every empty word kept, trailing ones included), or
    /// whitespace-separated words with [`Separators::AsciiWhitespace`].
    ///
    /// Runs on the SIMD tokenizer, at the same speed for every separator; followed directly by
    /// [`count_by_value`](DStream::count_by_value) it fuses into one tokenize-and-count pass.
    ///
    /// ```
    /// # use dstreams::prelude::*;
    /// # let ssc = StreamingContext::new(Seconds(1));
    /// # let lines = ssc.queue_stream(Vec::<Batch<String>>::new(), true, None);
    /// let counts = lines.split(Separators::Space).count_by_value(); // DStream<(String, i64)>
    /// # let _ = counts;
    /// ```
    #[track_caller]
    pub fn split(&self, sep: Separators) -> DStream<String> {
        let plan = Plan {
            words_of: Some((self.node.clone(), sep)),
            ..Plan::default()
        };
        self.derive_planned("SplitDStream", plan, move |batch, _, _| {
            let parts = batch
                .partitions()
                .par_iter()
                .map(|lines| tokenize(lines, sep))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Batch::from_partitions(parts).with_origin_of(batch))
        })
    }
}
