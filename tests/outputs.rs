//! `print` and `save_as_text_files` compared byte for byte with Spark's formats
//! (reference §7.1, §7.2).

mod common;

use common::process::TestDir;
use common::*;
use dstreams::prelude::*;
use std::sync::{Arc, Mutex};

const RULE: &str = "-------------------------------------------";

#[test]
fn pprint_matches_sparks_print_format() {
    let (ssc, clock) = manual_context(1);
    let input = vec![
        s(&["hello world", "hello"]),
        vec![],
        s(&["a b c d e f g h i j k l"]),
    ];
    let lines = ssc.queue_stream(batches(input, 1), true, None);
    let words = lines.flat_map(|l| l.split(' '));
    let counts = words
        .map(|w| (w, 1))
        .reduce_by_key(|a, b| a + b)
        .with_partitions(1);
    let printed = Arc::new(Mutex::new(Vec::<u8>::new()));
    counts.print_to(10, printed.clone());
    words.print_to(3, printed.clone());
    run_batches(&ssc, &clock, 3);
    let text = String::from_utf8(printed.lock().unwrap().clone()).unwrap();
    let expected = [
        format!("{RULE}\nTime: 1000 ms\n{RULE}\n(hello,2)\n(world,1)\n\n"),
        format!("{RULE}\nTime: 1000 ms\n{RULE}\nhello\nworld\nhello\n\n"),
        format!("{RULE}\nTime: 2000 ms\n{RULE}\n\n"),
        format!("{RULE}\nTime: 2000 ms\n{RULE}\n\n"),
        format!(
            "{RULE}\nTime: 3000 ms\n{RULE}\n(a,1)\n(b,1)\n(c,1)\n(d,1)\n(e,1)\n(f,1)\n(g,1)\n(h,1)\n(i,1)\n(j,1)\n...\n\n"
        ),
        format!("{RULE}\nTime: 3000 ms\n{RULE}\na\nb\nc\n...\n\n"),
    ]
    .concat();
    assert_eq!(text, expected);
}

#[test]
fn pprint_formats_nested_values_as_scala_does() {
    let (ssc, clock) = manual_context(1);
    let a = ssc.queue_stream(
        batches(vec![vec![("k".to_string(), 1i64), ("k".to_string(), 2)]], 1),
        true,
        None,
    );
    let b = ssc.queue_stream(
        batches(vec![vec![("k".to_string(), 1.5f64)]], 1),
        true,
        None,
    );
    let printed = Arc::new(Mutex::new(Vec::<u8>::new()));
    a.left_outer_join(&b)
        .with_partitions(1)
        .print_to(10, printed.clone());
    a.cogroup(&b)
        .with_partitions(1)
        .print_to(10, printed.clone());
    run_batches(&ssc, &clock, 1);
    let text = String::from_utf8(printed.lock().unwrap().clone()).unwrap();
    assert_eq!(
        text,
        format!(
            "{RULE}\nTime: 1000 ms\n{RULE}\n(k,(1,Some(1.5)))\n(k,(2,Some(1.5)))\n\n{RULE}\nTime: 1000 ms\n{RULE}\n(k,(CompactBuffer(1, 2),CompactBuffer(1.5)))\n\n"
        )
    );
}

fn read(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn save_as_text_files_writes_sparks_layout() {
    let dir = TestDir::new("test", "save");
    let prefix = dir.join("counts").to_string_lossy().into_owned();
    let (ssc, clock) = manual_context(2);
    let input = vec![s(&["a", "b", "a"]), vec![]];
    let stream = ssc.queue_stream(batches(input, 2), true, None);
    let pairs = stream.map(|w| (w, 1)).reduce_by_key(|a, b| a + b);
    pairs.save_as_text_files(&prefix, "");
    pairs.save_as_text_files(&prefix, "txt");
    run_batches(&ssc, &clock, 2);

    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "counts-1000",
            "counts-1000.txt",
            "counts-2000",
            "counts-2000.txt"
        ]
    );
    for name in &names {
        let d = dir.join(name);
        let mut files: Vec<String> = std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        files.sort();
        // One part per partition (2 = the default parallelism), even when empty, then _SUCCESS.
        assert_eq!(files, ["_SUCCESS", "part-00000", "part-00001"], "{name}");
        assert_eq!(read(&d.join("_SUCCESS")), "");
    }
    let mut lines: Vec<String> = ["part-00000", "part-00001"]
        .iter()
        .flat_map(|p| {
            read(&dir.join("counts-1000").join(p))
                .lines()
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .collect();
    lines.sort();
    assert_eq!(lines, ["(a,2)", "(b,1)"]);
    let whole =
        read(&dir.join("counts-1000/part-00000")) + &read(&dir.join("counts-1000/part-00001"));
    assert!(whole.ends_with('\n') && whole.len() == "(a,2)\n(b,1)\n".len());
    assert_eq!(
        read(&dir.join("counts-2000/part-00000")) + &read(&dir.join("counts-2000/part-00001")),
        ""
    );
}

#[test]
fn rerunning_a_batch_replaces_its_files() {
    let dir = TestDir::new("test", "rerun");
    let prefix = dir.join("out").to_string_lossy().into_owned();
    // First run: 3 partitions at t=1000.
    let (ssc, clock) = manual_context(3);
    let stream = ssc.queue_stream(batches(vec![vec![1i64, 2, 3]], 3), true, None);
    stream.save_as_text_files(&prefix, "");
    run_batches(&ssc, &clock, 1);
    assert!(dir.join("out-1000/part-00002").exists());
    // Second run of the same batch time with one partition: stale parts disappear.
    let (ssc, clock) = manual_context(1);
    let stream = ssc.queue_stream(batches(vec![vec![7i64]], 1), true, None);
    stream.save_as_text_files(&prefix, "");
    run_batches(&ssc, &clock, 1);
    let mut files: Vec<String> = std::fs::read_dir(dir.join("out-1000"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(files, ["_SUCCESS", "part-00000"]);
    assert_eq!(read(&dir.join("out-1000/part-00000")), "7\n");
}

#[test]
fn an_unwritable_prefix_is_a_typed_error_from_await_termination() {
    let dir = TestDir::new("test", "unwritable");
    let blocker = dir.join("file");
    std::fs::write(&blocker, "not a directory").unwrap();
    let prefix = blocker.join("sub").to_string_lossy().into_owned();
    let (ssc, clock) = manual_context(1);
    let stream = ssc.queue_stream(batches(vec![vec![1i64]], 1), true, None);
    stream.save_as_text_files(&prefix, "");
    ssc.start().unwrap();
    clock.advance(BATCH);
    assert!(
        ssc.await_batch(Time::from_millis(1000), std::time::Duration::from_secs(30))
            .unwrap()
    );
    let err = ssc
        .await_termination_or_timeout(std::time::Duration::from_secs(5))
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("saveAsTextFiles") && text.contains("creating"),
        "{text}"
    );
    ssc.stop(false).unwrap();
}
