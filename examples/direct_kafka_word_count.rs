//! Spark's `DirectKafkaWordCount`: consumes messages from one or more Kafka topics with the
//! direct stream and counts their words every 2 seconds.
//!
//! Usage: `direct_kafka_word_count <brokers> <group-id> <topics>`: `<brokers>` is a list of one
//! or more Kafka brokers, `<group-id>` a consumer group name, `<topics>` a comma-separated list
//! of topics. With the project's test broker: `addr=$(scripts/kafka-broker start)`, `cargo run
//! --release -- kafka-produce $addr lines datasets/kjv.txt --create`, then `cargo run --release
//! --example direct_kafka_word_count -- $addr my-group lines` (or `dstreams run kafka-word-count
//! $addr lines`; with `--group APP`, started several times, the processes are one consumer group
//! that shares the partitions: `KafkaConfig::group`).

use dstreams::prelude::*;
use dstreams::source::KafkaConfig;

/// `messages.map(_.value).flatMap(_.split(" ")).map(x => (x, 1L)).reduceByKey(_ + _)`, written
/// with the built-in tokenizer and counter that compute exactly that in one pass.
pub fn word_counts(lines: &DStream<String>) -> DStream<(String, i64)> {
    lines.split(Separators::Space).count_by_value()
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [brokers, group_id, topics] = args.as_slice() else {
        eprintln!("Usage: direct_kafka_word_count <brokers> <group-id> <topics>");
        std::process::exit(1);
    };
    // Create context with 2 second batch interval
    let ssc = StreamingContext::new(Seconds(2));
    // Create direct kafka stream with brokers and topics
    let kafka_params = KafkaConfig::new(brokers, topics.split(',')).group_id(group_id);
    let messages = ssc.kafka_stream(kafka_params);
    // Get the lines, split them into words, count the words and print
    let word_counts = word_counts(&messages);
    word_counts.print();
    // Start the computation
    ssc.start()?;
    ssc.await_termination()
}
