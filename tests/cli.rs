//! The command line: `dstreams run queue-stream` reproduces Spark's QueueStream example output.

use std::process::Command;

#[test]
fn queue_stream_prints_sparks_output_and_stops_when_drained() {
    let out = Command::new(env!("CARGO_BIN_EXE_dstreams"))
        .args(["run", "queue-stream", "--fast", "--batches", "3"])
        .output()
        .expect("running dstreams");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let rule = "-------------------------------------------";
    let batches: Vec<&str> = text.split(&format!("{rule}\nTime: ")).skip(1).collect();
    assert_eq!(
        batches.len(),
        3,
        "one printed batch per queued batch, then a stop:\n{text}"
    );
    for (i, b) in batches.iter().enumerate() {
        let mut lines: Vec<&str> = b.lines().collect();
        assert_eq!(lines[0], format!("{} ms", (i + 1) * 1000));
        assert_eq!(lines[1], rule);
        assert_eq!(lines.last(), Some(&""));
        let mut pairs: Vec<&str> = lines.drain(2..12).collect();
        pairs.sort();
        let expected: Vec<String> = (0..10).map(|k| format!("({k},100)")).collect();
        assert_eq!(pairs, expected);
    }
}

#[test]
fn a_bad_interval_is_a_clear_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_dstreams"))
        .args(["run", "queue-stream", "--interval", "soon"])
        .output()
        .expect("running dstreams");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot parse \"soon\" as a duration"), "{err}");
}
