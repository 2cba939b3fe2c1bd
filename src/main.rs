//! The `dstreams` command line: runs Spark Streaming's examples (and, later, replays datasets).

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
