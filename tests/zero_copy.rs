//! Strings that flow through flat_map, map, filter and keying are views into the input buffer,
//! never copies.

mod common;
use common::*;
use dstreams::prelude::*;
use std::sync::{Arc, Mutex};

/// Address ranges of the input batch's byte buffers.
fn buffer_ranges(batch: &Batch<String>) -> Vec<(usize, usize)> {
    batch
        .partitions()
        .iter()
        .flat_map(|p| {
            p.data_buffers()
                .iter()
                .map(|b| (b.as_ptr() as usize, b.as_ptr() as usize + b.len()))
        })
        .collect()
}

fn inside(ranges: &[(usize, usize)], s: &str) -> bool {
    let (a, b) = (s.as_ptr() as usize, s.as_ptr() as usize + s.len());
    ranges.iter().any(|&(x, y)| x <= a && b <= y)
}

#[test]
fn words_and_keys_point_into_the_input_buffer() {
    let lines = s(&[
        "internationalization is a longwordthatisnotinline",
        "internationalization again and again",
        "short words only",
    ]);
    let input = Batch::from_vec(lines, 1);
    let ranges = buffer_ranges(&input);
    assert!(!ranges.is_empty());

    let (ssc, clock) = manual_context(2);
    let stream = ssc.queue_stream(vec![input.clone()], true, None);
    let words = stream.flat_map(|l| l.split(' '));
    let long = words.filter(|w| w.len() > 12);
    let pairs = long.map(|w| (w, 1));
    let counts = pairs.reduce_by_key(|a, b| a + b);
    let grouped = pairs.group_by_key();

    let checked = Arc::new(Mutex::new(Vec::new()));
    let (r1, c1) = (ranges.clone(), checked.clone());
    long.foreach_rdd(move |b| {
        for w in b.iter() {
            c1.lock()
                .unwrap()
                .push(("word", w.to_string(), inside(&r1, w)));
        }
    });
    let (r2, c2) = (ranges.clone(), checked.clone());
    counts.foreach_rdd(move |b| {
        for (k, _) in b.iter() {
            c2.lock()
                .unwrap()
                .push(("reduced key", k.to_string(), inside(&r2, k)));
        }
    });
    let (r3, c3) = (ranges, checked.clone());
    grouped.foreach_rdd(move |b| {
        for (k, _) in b.iter() {
            c3.lock()
                .unwrap()
                .push(("grouped key", k.to_string(), inside(&r3, k)));
        }
    });
    run_batches(&ssc, &clock, 1);

    let checked = checked.lock().unwrap();
    assert_eq!(checked.iter().filter(|c| c.0 == "word").count(), 3);
    assert_eq!(checked.iter().filter(|c| c.0 == "reduced key").count(), 2);
    for (what, value, is_view) in checked.iter() {
        assert!(is_view, "{what} {value:?} was copied");
    }
}

#[test]
fn owned_results_are_copied_and_still_correct() {
    let out = test_operation(vec![s(&["a rather long sentence indeed"])], |st| {
        st.flat_map(|l| l.split(' ').map(|w| w.to_uppercase()))
    });
    assert_eq!(out, vec![s(&["A", "RATHER", "LONG", "SENTENCE", "INDEED"])]);
}

#[test]
fn fused_chains_keep_views_into_the_input_buffer() {
    let lines = s(&[
        "internationalization is a longwordthatisnotinline",
        "internationalization again and again",
        "short words only",
    ]);
    let input = Batch::from_vec(lines, 2);
    let ranges = buffer_ranges(&input);

    let (ssc, clock) = manual_context(2);
    let stream = ssc.queue_stream(vec![input.clone()], true, None);
    // Three chains, each read only by its consumer: run fused, never materialised in between.
    let long_words = || stream.flat_map(|l| l.split(' ')).filter(|w| w.len() > 12);
    let words = long_words();
    let counts = words.map(|w| (w, 1)).reduce_by_key(|a, b| a + b);
    let counted = long_words().count_by_value();
    let tagged = long_words()
        .map(|w| (w, w.len() as i64))
        .map_values(|n| n + 1);

    let checked = Arc::new(Mutex::new(Vec::new()));
    for (what, stream) in [
        ("reduced key", &counts),
        ("counted key", &counted),
        ("tagged key", &tagged),
    ] {
        let (r, c) = (ranges.clone(), checked.clone());
        stream.foreach_rdd(move |b| {
            // The kernel builds its keys unchecked: they pass Arrow's validation.
            for p in b.partitions() {
                let (views, buffers, nulls) = p.a.clone().into_parts();
                let validated = arrow_array::StringViewArray::try_new(views, buffers, nulls);
                assert_eq!(&validated.expect(what), &p.a, "{what}");
            }
            for (k, _) in b.iter() {
                c.lock().unwrap().push((what, k.to_string(), inside(&r, k)));
            }
        });
    }
    run_batches(&ssc, &clock, 1);

    assert!(
        words.remembered_times().is_empty(),
        "the words were materialised"
    );
    let checked = checked.lock().unwrap();
    for what in ["reduced key", "counted key"] {
        assert_eq!(checked.iter().filter(|c| c.0 == what).count(), 2, "{what}");
    }
    assert_eq!(checked.iter().filter(|c| c.0 == "tagged key").count(), 3);
    for (what, value, is_view) in checked.iter() {
        assert!(is_view, "{what} {value:?} was copied");
    }
}
