//! Spark's `HdfsWordCount`: counts words in new text files created in the given directory,
//! every 2 seconds.
//!
//! Usage: `hdfs_word_count <directory>`: files must be written elsewhere and moved (renamed)
//! into `<directory>`, as Spark's `textFileStream` requires. Try `cargo run --release --example
//! hdfs_word_count -- /tmp/in` and `echo "to be or not to be" > /tmp/x && mv /tmp/x /tmp/in/`
//! (or `dstreams run text-file-word-count /tmp/in`).

use dstreams::prelude::*;

/// `lines.flatMap(_.split(" ")).map(x => (x, 1)).reduceByKey(_ + _)`.
pub fn word_counts(lines: &DStream<String>) -> DStream<(String, i64)> {
    let words = lines.flat_map(|line| line.split_java(' '));
    words.map(|x| (x, 1)).reduce_by_key(|a, b| a + b)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [directory] = args.as_slice() else {
        eprintln!("Usage: hdfs_word_count <directory>");
        std::process::exit(1);
    };
    // Create the context
    let ssc = StreamingContext::new(Seconds(2));
    // Create the FileInputDStream on the directory and use the
    // stream to count words in new files created
    let lines = ssc.text_file_stream(directory);
    let word_counts = word_counts(&lines);
    word_counts.print();
    ssc.start()?;
    ssc.await_termination()
}
