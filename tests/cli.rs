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

#[test]
fn a_write_ahead_log_without_a_checkpoint_directory_is_sparks_error() {
    // Refused at start, before any connection is tried (port 9 need not listen).
    let mut child = Reaped(
        Command::new(env!("CARGO_BIN_EXE_dstreams"))
            .args(["run", "network-word-count", "127.0.0.1", "9", "--wal"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("running dstreams"),
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "dstreams did not refuse to start"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    assert!(!status.success());
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.0.stderr.take().unwrap(), &mut err).unwrap();
    assert!(
        err.contains("Cannot enable receiver write-ahead log without checkpoint directory set"),
        "{err}"
    );
}

/// Kills the child when dropped, so a failing test leaves no process behind.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reads `reader`'s lines until one satisfies `done` or `deadline` passes (on its own thread,
/// so a silent process cannot block the test).
fn lines_until(
    reader: impl std::io::Read + Send + 'static,
    deadline: std::time::Duration,
    done: impl Fn(&str) -> bool + Send + 'static,
) -> Vec<String> {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(reader).lines() {
            let Ok(line) = line else { break };
            let stop = done(&line);
            if tx.send(line).is_err() || stop {
                break;
            }
        }
    });
    let end = std::time::Instant::now() + deadline;
    let mut seen = Vec::new();
    while let Some(left) = end.checked_duration_since(std::time::Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(_) => break,
        }
    }
    seen
}

#[test]
fn stateful_network_word_count_counts_on_from_its_initial_state() {
    use std::io::Write;
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port().to_string();
    let checkpoint = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("stateful-network-{}", std::process::id()));
    let child = Command::new(env!("CARGO_BIN_EXE_dstreams"))
        .args([
            "run",
            "stateful-network-word-count",
            "127.0.0.1",
            &port,
            "--interval",
            "200ms",
            "--checkpoint",
            checkpoint.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = Reaped(child);
    let (mut peer, _) = server.accept().unwrap();
    peer.write_all(b"hello dstreams hello\n").unwrap();
    peer.flush().unwrap();
    let stdout = child.0.stdout.take().unwrap();
    let seen = lines_until(stdout, std::time::Duration::from_secs(30), |l| {
        l == "(dstreams,1)"
    });
    // hello starts at 1 (initial state) and gets two records: 2, then 3; both are printed.
    assert!(seen.iter().any(|l| l == "(hello,3)"), "{seen:?}");
    assert!(seen.iter().any(|l| l == "(hello,2)"), "{seen:?}");
    assert!(seen.iter().any(|l| l == "(dstreams,1)"), "{seen:?}");
    assert!(!seen.iter().any(|l| l.starts_with("(world")), "{seen:?}");
}

#[test]
fn recoverable_network_word_count_appends_counts_and_resumes_from_its_checkpoint() {
    use std::io::Write;
    let dir = std::env::temp_dir().join(format!("dstreams-cli-recoverable-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (cp, out) = (dir.join("cp"), dir.join("counts.txt"));
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port().to_string();
    let start = |stdout: std::process::Stdio| {
        let child = Command::new(env!("CARGO_BIN_EXE_dstreams"))
            .args(["run", "recoverable-network-word-count", "127.0.0.1", &port])
            .args([
                cp.to_str().unwrap(),
                out.to_str().unwrap(),
                "--interval",
                "200ms",
            ])
            .stdout(stdout)
            .spawn()
            .unwrap();
        Reaped(child)
    };
    let appended = |word: &str| {
        std::fs::read_to_string(&out)
            .unwrap_or_default()
            .lines()
            .any(|l| l.starts_with("Counts at time ") && l.contains(word))
    };
    let wait = |what: &str, done: &dyn Fn() -> bool| {
        let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !done() {
            assert!(
                std::time::Instant::now() < until,
                "timed out waiting for {what}"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    };
    let mut first = start(std::process::Stdio::piped());
    let (mut peer, _) = server.accept().unwrap();
    peer.write_all(b"a b c hello hello world\n").unwrap();
    let stdout = first.0.stdout.take().unwrap();
    // Up to the last line the batch prints before it appends to the file (the pipe closes after
    // it; the process is killed before a later batch would print into it).
    let seen = lines_until(stdout, std::time::Duration::from_secs(30), |l| {
        l.starts_with("Appending to ")
    });
    assert!(
        seen.iter()
            .any(|l| l.contains("(hello,2)") && l.contains("(world,1)") && !l.contains("(a,")),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|l| l == "Dropped 3 word(s) totally"),
        "{seen:?}"
    );
    wait("the counts in the file", &|| appended("(hello,2)"));
    wait("a checkpoint", &|| {
        std::fs::read_dir(&cp).is_ok_and(|d| {
            d.flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("checkpoint-"))
        })
    });
    drop(first); // killed
    drop(peer);
    let second = start(std::process::Stdio::null());
    let (mut peer, _) = server.accept().unwrap();
    peer.write_all(b"again\n").unwrap();
    wait("the restarted run's counts", &|| appended("(again,1)"));
    drop(second); // killed before its directory goes: it keeps writing checkpoints
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Runs `dstreams run <example> 127.0.0.1 <port> [args]` against a server on 127.0.0.1 that
/// sends `lines`, and returns what it prints until a line satisfies `done` (30 s at most).
fn run_against_server(
    example: &str,
    args: &[&str],
    lines: &[u8],
    done: impl Fn(&str) -> bool + Send + 'static,
) -> Vec<String> {
    use std::io::Write;
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port().to_string();
    let child = Command::new(env!("CARGO_BIN_EXE_dstreams"))
        .args(["run", example, "127.0.0.1", &port])
        .args(args)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = Reaped(child);
    let (mut peer, _) = server.accept().unwrap();
    peer.write_all(lines).unwrap();
    peer.flush().unwrap();
    let stdout = child.0.stdout.take().unwrap();
    lines_until(stdout, std::time::Duration::from_secs(30), done)
}

#[test]
fn sql_network_word_count_prints_each_batch_as_an_arrow_table() {
    // Rows come in the order of the aggregation's partitions, which depends on the cores this
    // runs on: read until every word's row has come.
    let words = std::sync::Mutex::new(std::collections::BTreeSet::new());
    let seen = run_against_server(
        "sql-network-word-count",
        &["--interval", "200ms"],
        b"to be or not to be\n",
        move |l| {
            let mut words = words.lock().unwrap();
            if let Some(word) = l
                .strip_prefix("| ")
                .and_then(|r| r.split_whitespace().next())
            {
                words.insert(word.to_string());
            }
            ["to", "be", "or", "not"].iter().all(|w| words.contains(*w))
        },
    );
    let row = |word: &str, total: &str| {
        seen.iter().any(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            cells == ["", word, total, ""]
        })
    };
    assert!(
        seen.iter()
            .any(|l| l.starts_with("=========") && l.ends_with("ms =========")),
        "{seen:?}"
    );
    assert!(row("word", "total"), "{seen:?}");
    assert!(
        row("be", "2") && row("to", "2") && row("or", "1"),
        "{seen:?}"
    );
}

#[test]
fn custom_receiver_counts_the_words_its_own_receiver_stores() {
    // Done at the blank line that ends the batch holding both lines.
    let counted = std::sync::atomic::AtomicBool::new(false);
    let seen = run_against_server(
        "custom-receiver",
        &["--interval", "200ms"],
        b"hello custom receiver hello again\n",
        move |l| {
            let seen_hello =
                counted.fetch_or(l == "(hello,2)", std::sync::atomic::Ordering::Relaxed);
            seen_hello && l.is_empty()
        },
    );
    assert!(seen.iter().any(|l| l == "(hello,2)"), "{seen:?}");
    assert!(seen.iter().any(|l| l == "(again,1)"), "{seen:?}");
}

#[test]
fn zipf_writes_the_same_whole_lines_for_a_seed_and_rejects_a_bad_vocabulary() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_dstreams"))
            .arg("zipf")
            .args(args)
            .output()
            .unwrap()
    };
    let a = run(&["10000", "--seed", "7", "--vocabulary", "50"]);
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
    assert!(a.stdout.len() <= 10_000 && a.stdout.len() > 9_000);
    assert_eq!(a.stdout.last(), Some(&b'\n'));
    let text = String::from_utf8(a.stdout.clone()).unwrap();
    let words: std::collections::HashSet<&str> = text.split_ascii_whitespace().collect();
    assert!(
        words.len() <= 50 && words.len() > 10,
        "{} words",
        words.len()
    );
    assert_eq!(
        run(&["10000", "--seed", "7", "--vocabulary", "50"]).stdout,
        a.stdout
    );
    assert_ne!(
        run(&["10000", "--seed", "8", "--vocabulary", "50"]).stdout,
        a.stdout
    );

    let bad = run(&["10000", "--vocabulary", "0"]);
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("vocabulary of 0 words is out of range"),
        "{err}"
    );
}

/// Starts `dstreams args` with a standard output whose reader is already gone (`| true`, `|
/// head` after its lines), then waits (30 s at most) for it to end: its status and standard
/// error.
fn run_into_a_closed_pipe(args: &[&str], before_waiting: impl FnOnce()) -> (bool, String) {
    let mut child = Reaped(
        Command::new(env!("CARGO_BIN_EXE_dstreams"))
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    drop(child.0.stdout.take());
    before_waiting();
    let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < until,
            "dstreams {args:?} did not end"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.0.stderr.take().unwrap(), &mut err).unwrap();
    (status.success(), err)
}

#[test]
fn a_replay_whose_standard_output_is_closed_ends_quietly() {
    let kjv = concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/kjv.txt");
    let (ok, err) = run_into_a_closed_pipe(&["replay", "--repeat", "4", kjv], || ());
    assert!(ok && err.is_empty(), "{err}");
    let (ok, err) = run_into_a_closed_pipe(&["run", "queue-stream", "--fast", "--no-ui"], || ());
    assert!(ok && err.is_empty(), "{err}");
}

#[test]
fn a_replay_into_a_full_disk_fails_clearly_without_a_panic() {
    let kjv = concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/kjv.txt");
    let out = Command::new(env!("CARGO_BIN_EXE_dstreams"))
        .args(["replay", kjv])
        .stdout(std::fs::File::create("/dev/full").unwrap())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("writing to standard output: No space left on device"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn recoverable_network_word_count_whose_standard_output_is_closed_stops_quietly() {
    use std::io::Write;
    let dir = std::env::temp_dir().join(format!("dstreams-cli-epipe-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (cp, out) = (dir.join("cp"), dir.join("counts.txt"));
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port().to_string();
    let mut peer = None;
    let (ok, err) = run_into_a_closed_pipe(
        &[
            "run",
            "recoverable-network-word-count",
            "127.0.0.1",
            &port,
            cp.to_str().unwrap(),
            out.to_str().unwrap(),
            "--interval",
            "200ms",
            "--no-ui",
        ],
        || {
            let (mut p, _) = server.accept().unwrap();
            p.write_all(b"hello world\n").unwrap();
            peer = Some(p);
        },
    );
    assert!(ok && err.is_empty(), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn network_word_count_skips_a_line_over_the_limit_and_counts_the_lines_after_it() {
    // A 2 MiB line (the limit is 1 MiB), then good lines: the long line is skipped and reported,
    // and the job goes on counting (it used to end with the error, the good lines never counted).
    let mut sent = vec![b'x'; 2 << 20];
    sent.push(b'\n');
    for _ in 0..30_000 {
        sent.extend_from_slice(b"after the long line\n");
    }
    let seen = run_against_server(
        "network-word-count",
        &["--interval", "200ms", "--no-ui"],
        &sent,
        |l| l.starts_with("(after,"),
    );
    assert!(seen.iter().any(|l| l.starts_with("(after,")), "{seen:?}");
    assert!(
        !seen.iter().any(|l| l.starts_with("(xxx")),
        "the long line was counted"
    );
}
