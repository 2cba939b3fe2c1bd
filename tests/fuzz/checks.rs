//! What the fuzz targets check, on any bytes. Shared by the fuzzers (`tests/fuzz/fuzz_targets/`,
//! libFuzzer on the nightly toolchain: `scripts/fuzz TARGET SECONDS`) and by
//! `tests/fuzz_corpus.rs`, which replays the committed corpora (`tests/fuzz/corpus/`) through
//! the same checks on stable, so `cargo test` catches a regression without a fuzzer.

use arrow_array::{Array, Int64Array, RecordBatch, StringViewArray, StructArray};
use arrow_buffer::Buffer;
use arrow_schema::{DataType, Field, Schema};
use dstreams::Time;
use dstreams::fuzzing::{self, Chunk};
use dstreams::kernels::simd::Simd;
use dstreams::kernels::tokenize::{Separators, tokenize_using};
use dstreams::source::OffsetRange;
use dstreams::source::lines::{LinesError, split_lines, split_lines_partitioned};
use dstreams::text::split_java;
use std::sync::Arc;

/// The lines of `text` as the engine cuts them: at `\n`, a `\r` right before it dropped, a last
/// line without a line end still a line, no line for an empty text.
fn reference_lines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        match rest.find('\n') {
            Some(i) => {
                lines.push(rest[..i].strip_suffix('\r').unwrap_or(&rest[..i]));
                rest = &rest[i + 1..];
            }
            None => {
                lines.push(rest);
                break;
            }
        }
    }
    lines
}

/// The strings of an array that has no nulls.
fn strings(array: &StringViewArray) -> Vec<&str> {
    array.iter().map(|s| s.expect("no nulls")).collect()
}

/// `split_lines` (its views built without checks) gives valid views of exactly the reference
/// lines, or the first invalid UTF-8 byte; `split_lines_partitioned` gives the same lines in 1 to
/// 4 parts.
pub fn lines(data: &[u8]) {
    let buffer = Buffer::from(data);
    match (std::str::from_utf8(data), split_lines(&buffer)) {
        (Ok(text), Ok(lines)) => {
            lines
                .to_data()
                .validate_full()
                .expect("the views are valid");
            let got = strings(&lines);
            assert_eq!(got, reference_lines(text));
            for parts in 1..=4 {
                let split = split_lines_partitioned(&buffer, parts).expect("valid text");
                assert_eq!(split.len(), parts);
                let joined: Vec<&str> = split.iter().flat_map(strings).collect();
                assert_eq!(joined, got, "{parts} parts");
            }
        }
        (Err(e), Err(LinesError::InvalidUtf8 { offset, .. })) => {
            assert_eq!(offset, e.valid_up_to());
        }
        (text, lines) => panic!("valid UTF-8: {}, split: {:?}", text.is_ok(), lines.err()),
    }
}

/// Every tokenizer kernel available here gives exactly the scalar kernel's tokens, which are
/// `split_java(line, ' ')`'s (and `split(' ')`'s, and `split_ascii_whitespace`'s) of every line
/// of `data` (invalid UTF-8 replaced).
pub fn tokenizer(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let lines = StringViewArray::from_iter_values(text.split('\n'));
    for sep in Separators::ALL {
        let scalar = tokenize_using(&lines, sep, Simd::Scalar).expect("small input");
        scalar
            .to_data()
            .validate_full()
            .expect("the views are valid");
        let want: Vec<&str> = strings(&lines)
            .into_iter()
            .flat_map(|line| match sep {
                Separators::Space => split_java(line, ' ').collect::<Vec<_>>(),
                Separators::SpaceKeepTrailingEmpty => line.split(' ').collect(),
                Separators::AsciiWhitespace => line.split_ascii_whitespace().collect(),
            })
            .collect();
        assert_eq!(strings(&scalar), want, "{sep:?}");
        for simd in Simd::available() {
            let got = tokenize_using(&lines, sep, simd).expect("available");
            assert_eq!(got, scalar, "{simd:?} against scalar, {sep:?}");
        }
    }
}

/// The socket receiver's input drawn from `data`: a line limit (1 to 16 bytes), a segment
/// capacity (1 to 32 bytes above it), and a byte stream cut into chunks: the third byte says how
/// many of the next bytes are cuts (low 7 bits: the chunk's length; high bit: seal a batch after
/// it), the rest is the stream, its remainder after the cuts one last chunk. `None` below three
/// bytes.
fn socket_input(data: &[u8]) -> Option<(usize, usize, Vec<Chunk<'_>>)> {
    let [limit, capacity, cuts, rest @ ..] = data else {
        return None;
    };
    let max_line_length = 1 + usize::from(limit % 16);
    let segment_capacity = max_line_length + 1 + usize::from(capacity % 32);
    let (cuts, mut stream) = rest.split_at(usize::from(cuts % 32).min(rest.len()));
    let mut chunks = Vec::new();
    for &cut in cuts {
        let (bytes, tail) = stream.split_at(usize::from(cut & 0x7f).min(stream.len()));
        chunks.push(Chunk {
            bytes,
            then_seal: cut & 0x80 != 0,
        });
        stream = tail;
    }
    chunks.push(Chunk {
        bytes: stream,
        then_seal: false,
    });
    Some((max_line_length, segment_capacity, chunks))
}

/// A receiver storing a byte stream in any chunks (`fuzzing::receive`, the socket receiver's
/// path) gives exactly a reference cut of the whole stream: each batch holds the lines of at most
/// the limit whose `\n` arrived before it was sealed (the last batch also the final line without
/// one), longer lines are skipped, each reported once by the chunk in which it grew past the
/// limit, with the bytes skipped during that chunk; the records counted are the lines kept.
pub fn socket_lines(data: &[u8]) {
    let Some((max, capacity, chunks)) = socket_input(data) else {
        return;
    };
    let received = fuzzing::receive(max, capacity, &chunks).expect("a valid configuration");
    let stream: Vec<u8> = chunks.iter().flat_map(|c| c.bytes).copied().collect();
    let chunk_ends: Vec<usize> = chunks
        .iter()
        .scan(0, |end, c| {
            *end += c.bytes.len();
            Some(*end)
        })
        .collect();
    let seal_ends: Vec<usize> = chunks
        .iter()
        .zip(&chunk_ends)
        .filter(|(c, _)| c.then_seal)
        .map(|(_, &end)| end)
        .collect();
    let chunk_at = |offset: usize| chunk_ends.partition_point(|&end| end <= offset);
    let mut batches = vec![Vec::new(); seal_ends.len() + 1];
    let mut skipped = vec![0; chunks.len()];
    let mut reported = vec![false; chunks.len()];
    let mut kept = 0;
    let mut start = 0;
    while start < stream.len() {
        let newline = stream[start..]
            .iter()
            .position(|&b| b == b'\n')
            .map(|i| start + i);
        let len = newline.unwrap_or(stream.len()) - start;
        let end = newline.map_or(stream.len(), |n| n + 1);
        if len <= max {
            let batch = newline.map_or(seal_ends.len(), |n| {
                seal_ends.partition_point(|&end| end <= n)
            });
            batches[batch].extend_from_slice(&stream[start..start + len]);
            batches[batch].push(b'\n');
            kept += 1;
        } else {
            // Buffered until the chunk that takes it past the limit, which drops it; each later
            // chunk skips its part.
            let found = chunk_at(start + max);
            reported[found] = true;
            skipped[found] += chunk_ends[found].min(end) - start;
            for chunk in found + 1..chunks.len() {
                let from = chunk_ends[chunk - 1];
                if from >= end {
                    break;
                }
                skipped[chunk] += chunk_ends[chunk].min(end) - from;
            }
        }
        start = end;
    }
    let too_long: Vec<Option<usize>> = reported
        .iter()
        .zip(&skipped)
        .map(|(&r, &n)| r.then_some(n))
        .collect();
    assert_eq!(received.batches, batches, "batches");
    assert_eq!(received.too_long, too_long, "over-long lines reported");
    assert_eq!(received.records_stored, kept, "records counted");
}

/// A state table like `update_state_by_key(Utf8View -> Int64)`'s drawn from `data`: batches
/// separated by empty lines, a row per line, its key the line and its state the line's bytes
/// summed (null for a line starting with `#`).
fn state_table(data: &[u8]) -> (Arc<Schema>, Vec<RecordBatch>) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("key", DataType::Utf8View, true),
        Field::new("state", DataType::Int64, true),
    ]));
    let text = String::from_utf8_lossy(data);
    let batches = text
        .split("\n\n")
        .map(|rows| {
            let keys = StringViewArray::from_iter_values(rows.split('\n'));
            let states: Int64Array = rows
                .split('\n')
                .map(|row| (!row.starts_with('#')).then(|| row.bytes().map(i64::from).sum::<i64>()))
                .collect();
            RecordBatch::try_new(schema.clone(), vec![Arc::new(keys), Arc::new(states)])
                .expect("columns of the schema")
        })
        .collect();
    (schema, batches)
}

/// The checkpoint reader on the bytes after the first, whose value (mod 4) says what they are:
/// 0, a metadata file; 1, the body of one (its checksummed end line added): either an error or
/// metadata the writer encodes into a file that decodes to the same; 2, a state file: an error,
/// or fully valid batches the writer writes into a file that reads back equal; 3, the rows of a
/// state table (`state_table`), written and read back equal.
pub fn checkpoint(data: &[u8]) {
    let Some((&what, bytes)) = data.split_first() else {
        return;
    };
    match what % 4 {
        0 => metadata_round_trip(bytes),
        1 => {
            let mut file = bytes.to_vec();
            file.extend(format!("end\t{:08x}\n", crc32fast::hash(bytes)).bytes());
            metadata_round_trip(&file);
        }
        2 => {
            if let Ok(batches) = fuzzing::read_checkpoint_state(bytes)
                && let Some(first) = batches.first()
            {
                for batch in &batches {
                    StructArray::from(batch.clone())
                        .to_data()
                        .validate_full()
                        .expect("the batches read are valid");
                }
                state_round_trip(&first.schema(), &batches);
            }
        }
        _ => {
            let (schema, batches) = state_table(bytes);
            state_round_trip(&schema, &batches);
        }
    }
}

/// Metadata decoded from `file`, if any, encodes into a file that decodes to the same (and so
/// encodes to the same file).
fn metadata_round_trip(file: &[u8]) {
    if let Ok(read) = fuzzing::checkpoint_metadata(file) {
        let again =
            fuzzing::checkpoint_metadata(read.encoded.as_bytes()).expect("written by the writer");
        assert_eq!(again, read);
    }
}

/// `batches` written as a state file read back equal.
fn state_round_trip(schema: &Arc<Schema>, batches: &[RecordBatch]) {
    let file = fuzzing::write_checkpoint_state(schema, batches).expect("batches of the schema");
    let read = fuzzing::read_checkpoint_state(&file).expect("written by the writer");
    assert_eq!(read, batches);
}

/// The write-ahead log reader on the bytes after the first: a log file re-creates a batch of
/// exactly its bytes; cut into pieces of at most 1 to 64 bytes (the first byte), the pieces are
/// the bytes, none empty, every one but the last ending after the last `\n` that fits (or, with
/// none, as long as allowed); a file name parses to the time whose log file bears that name
/// again, and the log file of any time (the first 8 bytes) parses back to it.
pub fn wal(data: &[u8]) {
    let Some((&limit, bytes)) = data.split_first() else {
        return;
    };
    let concat = |pieces: &[Buffer]| -> Vec<u8> {
        pieces.iter().flat_map(|p| p.as_slice()).copied().collect()
    };
    let batch = fuzzing::wal_batch(bytes);
    assert_eq!(concat(&batch), bytes);
    let max = 1 + usize::from(limit % 64);
    let pieces = fuzzing::wal_pieces(bytes, max);
    assert_eq!(concat(&pieces), bytes);
    for (i, piece) in pieces.iter().enumerate() {
        let piece = piece.as_slice();
        assert!(
            (1..=max).contains(&piece.len()),
            "piece {i} of {}",
            piece.len()
        );
        let Some(next) = pieces.get(i + 1) else {
            continue;
        };
        if piece.ends_with(b"\n") {
            let fitting = &next.as_slice()[..(max - piece.len()).min(next.len())];
            assert!(
                !fitting.contains(&b'\n'),
                "piece {i} ends before the last line end"
            );
        } else {
            assert_eq!(piece.len(), max, "piece {i} is cut short mid-line");
            assert!(
                !piece.contains(&b'\n'),
                "piece {i} is cut after its last line end"
            );
        }
    }
    file_names(bytes, fuzzing::wal_file_name, fuzzing::wal_file_time);
}

/// A file name in `bytes` that parses to a time is the name of that time's file (the time parses
/// back), and the file of the time in its first 8 bytes parses back to that time.
fn file_names(bytes: &[u8], name: fn(Time) -> String, time: fn(&str) -> Option<Time>) {
    if let Ok(text) = std::str::from_utf8(bytes)
        && let Some(t) = time(text)
    {
        assert_eq!(time(&name(t)), Some(t), "{text:?}");
    }
    if let Some(ms) = bytes.first_chunk::<8>() {
        let t = Time::from_millis(i64::from_le_bytes(*ms));
        assert_eq!(time(&name(t)), Some(t));
    }
}

/// Offset ranges drawn from `data`: per range a byte (mod 8) giving its topic's length, the topic
/// (a tab or line end in it replaced), the partition (4 bytes), from and until (8 bytes each),
/// zeros past the end.
fn offset_ranges(mut data: &[u8]) -> Vec<OffsetRange> {
    let mut ranges = Vec::new();
    while !data.is_empty() {
        let topic_len = usize::from(take::<1>(&mut data)[0] % 8);
        let (topic, rest) = data.split_at(topic_len.min(data.len()));
        data = rest;
        ranges.push(OffsetRange {
            topic: String::from_utf8_lossy(topic).replace(['\t', '\n'], "_"),
            partition: i32::from_le_bytes(take(&mut data)),
            from: i64::from_le_bytes(take(&mut data)),
            until: i64::from_le_bytes(take(&mut data)),
        });
    }
    ranges
}

/// The first `N` bytes of `data` (zeros past its end), which then starts after them.
fn take<const N: usize>(data: &mut &[u8]) -> [u8; N] {
    let (taken, rest) = data.split_at(N.min(data.len()));
    *data = rest;
    let mut bytes = [0; N];
    bytes[..taken.len()].copy_from_slice(taken);
    bytes
}

/// The Kafka range-log reader on the bytes after the first, whose parity says what they are:
/// even, a range file: an error, or a range per line, which the writer encodes into a file that
/// decodes to the same; odd, ranges (`offset_ranges`) the writer encodes into a file that
/// decodes to them. Either way, file names and times round-trip as for the write-ahead log.
pub fn range_log(data: &[u8]) {
    let Some((&what, bytes)) = data.split_first() else {
        return;
    };
    if what % 2 == 0 {
        if let Ok(ranges) = fuzzing::decode_ranges(bytes) {
            let text = std::str::from_utf8(bytes).expect("decoded");
            assert_eq!(ranges.len(), text.lines().count(), "a range per line");
            let encoded = fuzzing::encode_ranges(&ranges);
            assert_eq!(fuzzing::decode_ranges(encoded.as_bytes()).unwrap(), ranges);
        }
    } else {
        let ranges = offset_ranges(bytes);
        let encoded = fuzzing::encode_ranges(&ranges);
        assert_eq!(fuzzing::decode_ranges(encoded.as_bytes()).unwrap(), ranges);
    }
    file_names(bytes, fuzzing::range_file_name, fuzzing::range_file_time);
}
