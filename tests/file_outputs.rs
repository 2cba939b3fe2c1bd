//! `save_as_parquet_files` and `save_as_arrow_files`: every batch read back exactly, with
//! arrow-rs's readers (Parquet's arrow reader, arrow-ipc's `FileReader`) and with pyarrow and
//! DuckDB (from the environment `scripts/python-env` makes; those tests skip loudly without it):
//! strings, integers, pairs, `Option`s (nulls), nested tuples, lists (`group_by_key`), empty
//! batches, and a re-run batch replacing its directory.

mod common;

use arrow_array::{Array, ArrayRef, RecordBatch, StringViewArray, StructArray};
use arrow_ipc::reader::FileReader;
use arrow_schema::DataType;
use common::{batches, manual_context, run_batches};
use dstreams::data::collect_owned;
use dstreams::prelude::*;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

/// The input: three batches of words, the second empty. Strings longer than 12 bytes are not
/// inline in their views; some are not ASCII.
fn input() -> Vec<Vec<String>> {
    [
        &["to", "be", "or", "not", "to", "be, that is the question"][..],
        &[],
        &[
            "whether 'tis nobler",
            "in the mind",
            "to",
            "süffer",
            "the slings",
        ],
    ]
    .iter()
    .map(|b| b.iter().map(|w| w.to_string()).collect())
    .collect()
}

const TIMES: [i64; 3] = [1000, 2000, 3000];

/// The first character of a word, as a key.
fn initial(w: &str) -> &str {
    &w[..w.chars().next().map_or(0, char::len_utf8)]
}

/// The streams the tests save, each under its own name, and the rows each batch must hold.
struct Expected {
    words: Vec<Vec<String>>,
    lengths: Vec<Vec<i64>>,
    even_lengths: Vec<Vec<Option<i64>>>,
    counts: Vec<Vec<(String, i64)>>,
    by_initial: Vec<Vec<(String, Vec<i64>)>>,
    joined: Vec<Vec<(String, (i64, Option<i64>))>>,
}

fn expected() -> Expected {
    let input = input();
    let map = |f: &dyn Fn(&String) -> i64| -> Vec<Vec<i64>> {
        input.iter().map(|b| b.iter().map(f).collect()).collect()
    };
    let lengths = map(&|w| w.len() as i64);
    let counts: Vec<Vec<(String, i64)>> = input
        .iter()
        .map(|b| {
            let mut c = BTreeMap::<String, i64>::new();
            b.iter().for_each(|w| *c.entry(w.clone()).or_default() += 1);
            c.into_iter().collect()
        })
        .collect();
    Expected {
        words: input.clone(),
        even_lengths: lengths
            .iter()
            .map(|b| b.iter().map(|&n| (n % 2 == 0).then_some(n)).collect())
            .collect(),
        by_initial: input
            .iter()
            .map(|b| {
                let mut g = BTreeMap::<String, Vec<i64>>::new();
                for w in b {
                    g.entry(initial(w).to_string())
                        .or_default()
                        .push(w.len() as i64);
                }
                g.into_iter().collect()
            })
            .collect(),
        joined: input
            .iter()
            .zip(&counts)
            .map(|(b, counts)| {
                let mut rows = Vec::new();
                for (w, n) in counts {
                    let long: Vec<i64> = b
                        .iter()
                        .filter(|x| *x == w && x.len() > 3)
                        .map(|x| x.len() as i64)
                        .collect();
                    if long.is_empty() {
                        rows.push((w.clone(), (*n, None)));
                    }
                    rows.extend(long.into_iter().map(|l| (w.clone(), (*n, Some(l)))));
                }
                rows
            })
            .collect(),
        counts,
        lengths,
    }
}

/// A fresh directory under cargo's scratch directory for integration tests.
fn temp_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("file-outputs-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Saves every stream of [`Expected`] as Parquet and as Arrow IPC files under `dir`
/// (`<name>.parquet-<ms>/`, `<name>.arrow-<ms>/`) over the three input batches.
fn run_scenario(dir: &Path) {
    let (ssc, clock) = manual_context(2);
    let words = ssc.queue_stream(batches(input(), 2), true, None);
    let lengths = words.map(|w| w.len() as i64);
    let even_lengths = lengths.map(|n| (n % 2 == 0).then_some(n));
    let counts = words.count_by_value();
    let by_initial = words
        .map(|w| (w.view(initial), w.len() as i64))
        .group_by_key();
    let long_words = words.filter(|w| w.len() > 3).map(|w| (w, w.len() as i64));
    let joined = counts.left_outer_join(&long_words);
    save_both(&words, dir, "words");
    save_both(&lengths, dir, "lengths");
    save_both(&even_lengths, dir, "even_lengths");
    save_both(&counts, dir, "counts");
    save_both(&by_initial, dir, "by_initial");
    save_both(&joined, dir, "joined");
    run_batches(&ssc, &clock, TIMES.len());
}

/// Saves `stream` as Parquet files with the prefix `<dir>/<name>.parquet` and as Arrow IPC files
/// with `<dir>/<name>.arrow`.
fn save_both<T: Data>(stream: &DStream<T>, dir: &Path, name: &str) {
    let prefix = |format: &str| {
        dir.join(format!("{name}.{format}"))
            .to_string_lossy()
            .into_owned()
    };
    stream.save_as_parquet_files(&prefix("parquet"), "");
    stream.save_as_arrow_files(&prefix("arrow"), "");
}

/// The directory of batch `ms` of stream `name` in `format` (`parquet` or `arrow`).
fn batch_dir(dir: &Path, name: &str, format: &str, ms: i64) -> PathBuf {
    dir.join(dstreams::batch_file_name(
        &format!("{name}.{format}"),
        "",
        Time::from_millis(ms),
    ))
}

/// The part files of a batch directory, in order; checks the directory holds nothing else but
/// `_SUCCESS`.
fn parts(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    // `_` sorts before `p`.
    assert_eq!(
        names.first().map(String::as_str),
        Some("_SUCCESS"),
        "{names:?}"
    );
    names.remove(0);
    for (i, name) in names.iter().enumerate() {
        assert_eq!(
            name,
            &format!("part-{i:05}.{extension}"),
            "{}",
            dir.display()
        );
    }
    names.iter().map(|n| dir.join(n)).collect()
}

/// The record batches of a batch directory, read with arrow-rs's Parquet reader or arrow-ipc's
/// `FileReader`: at least one per part file (an empty one, with the file's schema, for a part
/// without rows).
fn read_back(dir: &Path, format: &str) -> Vec<RecordBatch> {
    parts(dir, format)
        .iter()
        .flat_map(|path| {
            let file = std::fs::File::open(path).unwrap();
            let (schema, batches) = match format {
                "parquet" => {
                    let reader = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
                    let schema = reader.schema().clone();
                    let batches: Vec<RecordBatch> =
                        reader.build().unwrap().collect::<Result<_, _>>().unwrap();
                    (schema, batches)
                }
                _ => {
                    let reader = FileReader::try_new(file, None).unwrap();
                    let schema = reader.schema();
                    (schema, reader.collect::<Result<_, _>>().unwrap())
                }
            };
            if batches.is_empty() {
                vec![RecordBatch::new_empty(schema)]
            } else {
                batches
            }
        })
        .collect()
}

/// The rows of record batches as values of `T` (through `Data::column_from_arrow`, as a
/// checkpoint reads its state back).
fn rows<T: Data>(batches: &[RecordBatch]) -> Vec<T> {
    batches
        .iter()
        .flat_map(|b| {
            let array: ArrayRef = if b.schema().field(0).name() == "value" {
                b.column(0).clone()
            } else {
                Arc::new(StructArray::from(b.clone()))
            };
            collect_owned(&T::column_from_arrow(&array).unwrap())
        })
        .collect()
}

/// Checks that every batch of stream `name` in `format` reads back as `expected` (compared as
/// sorted rows; lists inside rows sorted by `normalize`).
fn check<T: Data + Ord + std::fmt::Debug + Clone>(
    dir: &Path,
    name: &str,
    format: &str,
    expected: &[Vec<T>],
    normalize: impl Fn(T) -> T,
) {
    for (ms, want) in TIMES.iter().zip(expected) {
        let batch = batch_dir(dir, name, format, *ms);
        // One part per partition (2), empty ones too.
        assert_eq!(parts(&batch, format).len(), 2, "{name} {format} {ms}");
        let read = read_back(&batch, format);
        let mut got: Vec<T> = rows::<T>(&read).into_iter().map(&normalize).collect();
        let mut want: Vec<T> = want.iter().cloned().map(&normalize).collect();
        got.sort();
        want.sort();
        assert_eq!(got, want, "{name} {format} batch {ms}");
    }
}

fn sorted_list<K>((k, mut v): (K, Vec<i64>)) -> (K, Vec<i64>) {
    v.sort();
    (k, v)
}

#[test]
fn every_batch_reads_back_exactly_with_arrow_rs() {
    let dir = temp_dir("rust");
    run_scenario(&dir);
    let e = expected();
    for format in ["parquet", "arrow"] {
        check(&dir, "words", format, &e.words, |w| w);
        check(&dir, "lengths", format, &e.lengths, |n| n);
        check(&dir, "even_lengths", format, &e.even_lengths, |n| n);
        check(&dir, "counts", format, &e.counts, |p| p);
        check(&dir, "by_initial", format, &e.by_initial, sorted_list);
        check(&dir, "joined", format, &e.joined, |p| p);

        // Strings come back as string views, their bytes exact.
        let read = read_back(&batch_dir(&dir, "words", format, 1000), format);
        let strings: Vec<&str> = read
            .iter()
            .flat_map(|b| {
                let views = b.column(0).as_any().downcast_ref::<StringViewArray>();
                views.expect("a string view column").iter().flatten()
            })
            .collect();
        assert_eq!(strings, e.words[0], "{format}");
        // One schema in every part of every batch, the empty one too, every field nullable
        // (nested ones too) whether or not a part holds nulls.
        let parts: Vec<RecordBatch> = TIMES
            .iter()
            .flat_map(|ms| read_back(&batch_dir(&dir, "joined", format, *ms), format))
            .collect();
        assert!(parts.iter().any(|b| b.num_rows() == 0));
        let schema = parts[0].schema();
        assert!(parts.iter().all(|b| b.schema() == schema), "{format}");
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["_1", "_2"]);
        let DataType::Struct(inner) = schema.field(1).data_type() else {
            panic!("{schema:?}")
        };
        assert!(schema.fields().iter().chain(inner).all(|f| f.is_nullable()));
        // Nulls are nulls.
        let options = read_back(&batch_dir(&dir, "even_lengths", format, 1000), format);
        let nulls: usize = options.iter().map(|b| b.column(0).null_count()).sum();
        assert_eq!(
            nulls,
            e.even_lengths[0].iter().filter(|n| n.is_none()).count()
        );
    }
    // Nothing but the batch directories: no temporary directories left behind.
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 6 * 2 * TIMES.len(), "{names:?}");
    assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_batch_without_partitions_still_writes_a_part_with_the_columns() {
    let dir = temp_dir("no-partitions");
    let (ssc, clock) = manual_context(2);
    let empty: Batch<(String, i64)> = Batch::from_partitions(Vec::new());
    let stream = ssc.queue_stream(vec![empty], true, None);
    let prefix = dir.join("pairs").to_string_lossy().into_owned();
    stream.save_as_parquet_files(&prefix, "");
    stream.save_as_arrow_files(&prefix, "ipc");
    run_batches(&ssc, &clock, 1);
    for (format, suffix) in [("parquet", ""), ("arrow", "ipc")] {
        let batch = dir.join(dstreams::batch_file_name(
            &prefix,
            suffix,
            Time::from_millis(1000),
        ));
        let read = read_back(&batch, format);
        assert_eq!(read.len(), 1, "{format}");
        assert_eq!(read[0].num_rows(), 0);
        let names: Vec<String> = read[0]
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(names, ["_1", "_2"], "{format}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_rerun_batch_replaces_its_directory() {
    let dir = temp_dir("rerun");
    let prefix = dir.join("out").to_string_lossy().into_owned();
    let run = |values: Vec<i64>, partitions: usize| {
        let (ssc, clock) = manual_context(partitions);
        let stream = ssc.queue_stream(batches(vec![values], partitions), true, None);
        stream.save_as_parquet_files(&prefix, "");
        stream.save_as_arrow_files(&prefix, "ipc");
        run_batches(&ssc, &clock, 1);
    };
    // First run: 3 partitions at t=1000; then the same batch time again with one partition, as
    // after a recovery: the old parts go with the old directory.
    run(vec![1, 2, 3], 3);
    assert_eq!(parts(&dir.join("out-1000"), "parquet").len(), 3);
    run(vec![7], 1);
    for (format, batch) in [("parquet", "out-1000"), ("arrow", "out-1000.ipc")] {
        let read = read_back(&dir.join(batch), format);
        assert_eq!(read.len(), 1, "{format}");
        assert_eq!(rows::<i64>(&read), [7], "{format}");
    }
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["out-1000", "out-1000.ipc"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The Python of `scripts/python-env`, or `None` after a loud message when it was not made: the
/// calling test returns early.
fn python() -> Option<PathBuf> {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/python/bin/python");
    if python.is_file() {
        return Some(python);
    }
    let test = std::thread::current()
        .name()
        .unwrap_or("a pyarrow/DuckDB test")
        .to_string();
    // Straight to the process's standard error: the harness shows `eprintln!` only for failures.
    let _ = writeln!(
        std::io::stderr(),
        "\n\
         ************************************************************************\n\
         SKIPPED {test}: no Python environment at {}.\n\
         Run `scripts/python-env` (or `.ci/run`, which does) to read the files\n\
         with pyarrow and DuckDB too (from PyPI, once).\n\
         ************************************************************************",
        python.display()
    );
    None
}

/// Reads batch directories with pyarrow or DuckDB and prints, per directory, its columns and
/// then each row as JSON (structs as lists of their fields, lists sorted), tab-separated after
/// the directory's name.
const READER: &str = r#"
import json, pathlib, sys
import duckdb, pyarrow as pa, pyarrow.dataset as ds, pyarrow.ipc as ipc

def canon(v):
    if isinstance(v, dict):
        return [canon(x) for x in v.values()]
    if isinstance(v, list):
        return sorted((canon(x) for x in v), key=json.dumps)
    return v

fmt, reader = sys.argv[1].split("-")
for d in map(pathlib.Path, sys.argv[2:]):
    if (fmt, reader) == ("parquet", "duckdb"):
        rel = duckdb.sql(f"select * from read_parquet('{d}/*.parquet')")
    elif fmt == "parquet":
        table = ds.dataset(d, format="parquet").to_table()
    else:
        parts = sorted(d.glob("part-*.arrow"))
        table = pa.concat_tables(ipc.open_file(p).read_all() for p in parts)
        if reader == "duckdb":
            rel = duckdb.from_arrow(table)
    if reader == "pyarrow":
        columns = table.column_names
        rows = [list(r.values()) for r in table.to_pylist()]
    else:
        columns = rel.columns
        rows = [list(r) for r in rel.fetchall()]
    print(d.name, "columns " + ",".join(columns), sep="\t")
    for row in rows:
        print(d.name, json.dumps([canon(c) for c in row], ensure_ascii=False), sep="\t")
"#;

/// Values as the reader script prints them.
trait Json {
    fn json(&self) -> String;
}

impl Json for String {
    fn json(&self) -> String {
        format!("\"{}\"", self.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

impl Json for i64 {
    fn json(&self) -> String {
        self.to_string()
    }
}

impl<T: Json> Json for Option<T> {
    fn json(&self) -> String {
        self.as_ref().map_or("null".to_string(), Json::json)
    }
}

impl<A: Json, B: Json> Json for (A, B) {
    fn json(&self) -> String {
        format!("[{}, {}]", self.0.json(), self.1.json())
    }
}

impl<T: Json> Json for Vec<T> {
    fn json(&self) -> String {
        let mut items: Vec<String> = self.iter().map(Json::json).collect();
        items.sort();
        format!("[{}]", items.join(", "))
    }
}

/// The lines the reader script must print for stream `name`: per batch its columns, then each
/// row (a tuple's fields are the row's columns, anything else the one `value`).
fn expected_lines<T: Json>(
    name: &str,
    format: &str,
    columns: &str,
    batches: &[Vec<T>],
) -> Vec<String> {
    let mut lines = Vec::new();
    for (ms, rows) in TIMES.iter().zip(batches) {
        let dir = format!("{name}.{format}-{ms}");
        lines.push(format!("{dir}\tcolumns {columns}"));
        for row in rows {
            let json = row.json();
            let json = if columns.contains(',') {
                json
            } else {
                format!("[{json}]")
            };
            lines.push(format!("{dir}\t{json}"));
        }
    }
    lines
}

#[test]
fn pyarrow_and_duckdb_read_every_batch_exactly() {
    let Some(python) = python() else { return };
    let dir = temp_dir("python");
    run_scenario(&dir);
    let e = expected();
    for format in ["parquet", "arrow"] {
        let mut want = Vec::new();
        want.extend(expected_lines("words", format, "value", &e.words));
        want.extend(expected_lines("lengths", format, "value", &e.lengths));
        want.extend(expected_lines(
            "even_lengths",
            format,
            "value",
            &e.even_lengths,
        ));
        want.extend(expected_lines("counts", format, "_1,_2", &e.counts));
        want.extend(expected_lines("by_initial", format, "_1,_2", &e.by_initial));
        want.extend(expected_lines("joined", format, "_1,_2", &e.joined));
        want.sort();
        let dirs: Vec<PathBuf> = [
            "words",
            "lengths",
            "even_lengths",
            "counts",
            "by_initial",
            "joined",
        ]
        .iter()
        .flat_map(|name| TIMES.map(|ms| batch_dir(&dir, name, format, ms)))
        .collect();
        for reader in ["pyarrow", "duckdb"] {
            let how = format!("{format}-{reader}");
            let out = Command::new(&python)
                .args(["-c", READER, &how])
                .args(&dirs)
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{how}: {stderr}");
            let mut got: Vec<String> = String::from_utf8(out.stdout)
                .unwrap()
                .lines()
                .map(String::from)
                .collect();
            got.sort();
            assert_eq!(got, want, "{how}");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn duckdb_reads_a_whole_stream_with_one_glob() {
    let Some(python) = python() else { return };
    let dir = temp_dir("duckdb-glob");
    run_scenario(&dir);
    // Every batch of the word counts in one query, as the README shows.
    let query = format!(
        "select _1, sum(_2) from read_parquet('{}/counts.parquet-*/*.parquet') group by _1 order by _1",
        dir.display()
    );
    let out = Command::new(&python)
        .args([
            "-c",
            "import duckdb, sys\nfor w, n in duckdb.sql(sys.argv[1]).fetchall(): print(w, n, sep='\\t')",
            &query,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut totals = BTreeMap::<String, i64>::new();
    for w in input().into_iter().flatten() {
        *totals.entry(w).or_default() += 1;
    }
    let want: String = totals.iter().map(|(w, n)| format!("{w}\t{n}\n")).collect();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), want);
    std::fs::remove_dir_all(&dir).unwrap();
}
