//! Spark's `StatefulNetworkWordCount`: the running count of every word in UTF-8 encoded,
//! '\n' delimited text received from the network, with `map_with_state`, from an initial state
//! of `(hello, 1)` and `(world, 1)`; every second it prints the words of the batch with their
//! counts so far.
//!
//! Usage: `stateful_network_word_count <hostname> <port>`. Start a Netcat server first,
//! `nc -lk 9999`, then `cargo run --release --example stateful_network_word_count -- localhost
//! 9999` (or `dstreams run stateful-network-word-count localhost 9999`).

use dstreams::MapWithStateDStream;
use dstreams::prelude::*;

/// The word counts of `lines` carried across batches by `mapWithState`.
pub fn running_counts(lines: &DStream<String>) -> MapWithStateDStream<String, i64, (String, i64)> {
    // Initial state RDD for mapWithState operation
    let initial_rdd = Batch::from_vec(vec![("hello", 1), ("world", 1)], 2);
    let words = lines.flat_map(|line| line.split_java(' '));
    let word_dstream = words.map(|x| (x, 1));
    // Update the cumulative count using mapWithState
    // This will give a DStream made of state (which is the cumulative count of the words)
    let mapping_func = |word: Str, one: Option<i64>, state: &mut State<i64>| {
        let sum = one.unwrap_or(0) + state.get_option().copied().unwrap_or(0);
        let output = (word, sum);
        state.update(sum);
        output
    };
    word_dstream.map_with_state(StateSpec::function(mapping_func).initial_state(initial_rdd))
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [hostname, port] = args.as_slice() else {
        eprintln!("Usage: stateful_network_word_count <hostname> <port>");
        std::process::exit(1);
    };
    let port = port
        .parse()
        .map_err(|_| Error::InvalidArgument(format!("port {port:?}")))?;
    // Create the context with a 1 second batch size
    let ssc = StreamingContext::new(Seconds(1));
    ssc.checkpoint(".");
    let lines = ssc.socket_text_stream(hostname, port);
    let state_dstream = running_counts(&lines);
    state_dstream.print();
    ssc.start()?;
    ssc.await_termination()
}
