//! `Batch`'s RDD operations against hand-computed results: values, partition counts and
//! placement, order across partitions, the `None`s of outer joins, `cogroup` lists, empty
//! batches and partitions, keys over 12 bytes and multi-byte UTF-8, and strings kept as views
//! into the input buffers. Then Spark's own `transform` examples, on streams.

mod common;
use common::*;
use dstreams::data::{Column, collect_owned};
use dstreams::kernels::hash::{key_hash_state, partition_of};
use dstreams::prelude::*;
use std::sync::{Arc, Mutex};

const LONG: &str = "internationalization";
const JAPANESE: &str = "日本語のとても長いキー";

/// Each partition's elements.
fn parts<T: Data>(b: &Batch<T>) -> Vec<Vec<T>> {
    b.partitions().iter().map(collect_owned).collect()
}

/// All elements, sorted (for shuffled results, whose order within a partition follows hashing).
fn sorted_all<T: Data + Ord>(b: &Batch<T>) -> Vec<T> {
    let mut all = b.collect();
    all.sort();
    all
}

/// Owned `(String, V)` pairs.
fn kv<V: Clone>(v: &[(&str, V)]) -> Vec<(String, V)> {
    v.iter().map(|(k, x)| (k.to_string(), x.clone())).collect()
}

/// Asserts that every key lies in the partition the engine's hash picks (`partition_of` of the
/// key's hash over the batch's partitions), as the DStream shuffles place them.
fn assert_hash_partitioned<K: Key, V: Data>(b: &Batch<(K, V)>) {
    let n = b.num_partitions();
    for (p, col) in b.partitions().iter().enumerate() {
        for i in 0..col.len() {
            let h = K::hash_key(col.value(i).0, key_hash_state());
            assert_eq!(partition_of(h, n), p, "row {i} of partition {p}");
        }
    }
}

/// Address ranges of the byte buffers a batch's strings point into.
fn buffer_ranges<T: Data>(b: &Batch<T>) -> Vec<(usize, usize)> {
    let mut buffers = Vec::new();
    for p in b.partitions() {
        Column::data_buffers(p, &mut buffers);
    }
    buffers
        .iter()
        .map(|b| (b.as_ptr() as usize, b.as_ptr() as usize + b.len()))
        .collect()
}

/// Whether `s`'s bytes lie inside one of `ranges`.
fn inside(ranges: &[(usize, usize)], s: &str) -> bool {
    let (a, b) = (s.as_ptr() as usize, s.as_ptr() as usize + s.len());
    ranges.iter().any(|&(x, y)| x <= a && b <= y)
}

/// Lines with long and multi-byte words, in three partitions: `[line 0]`, `[""]`, `[line 2,
/// "short"]`.
fn lines() -> Batch<String> {
    Batch::from_vec(
        s(&[
            "internationalization is long",
            "",
            "naïve café crème déjà-vu-again",
            "short",
        ]),
        3,
    )
}

#[test]
fn flat_map_filter_and_map_keep_partitions_and_views() {
    let lines = lines();
    let input = buffer_ranges(&lines);
    let words = lines.flat_map(|line| line.split(' '));
    assert_eq!(
        parts(&words),
        [
            s(&[LONG, "is", "long"]),
            s(&[""]),
            s(&["naïve", "café", "crème", "déjà-vu-again", "short"]),
        ]
    );
    let words = words.filter(|w| !w.is_empty());
    assert_eq!(words.num_partitions(), 3);
    assert!(words.partitions()[1].is_empty());
    let pairs = words.map(|w| (w, 1));
    assert_eq!(
        parts(&pairs)[2],
        kv(&[
            ("naïve", 1i64),
            ("café", 1),
            ("crème", 1),
            ("déjà-vu-again", 1),
            ("short", 1)
        ])
    );
    // Words over 12 bytes are views into the lines, through every step.
    for w in words.iter().filter(|w| w.len() > 12) {
        assert!(inside(&input, w), "{w} was copied");
    }
    for (w, _) in pairs.iter().filter(|(w, _)| w.len() > 12) {
        assert!(inside(&input, w), "{w} was copied");
    }
    assert_eq!(pairs.iter().filter(|(w, _)| w.len() > 12).count(), 2);
    // Owned results are copied and still right.
    let upper = words.map(|w| w.to_uppercase());
    assert_eq!(upper.partitions()[0].value(0), "INTERNATIONALIZATION");
    assert!(!inside(&input, upper.partitions()[0].value(0)));
}

#[test]
fn map_values_shares_the_keys_and_flat_map_values_repeats_them() {
    let pairs = Batch::from_vec(kv(&[(LONG, 2i64), ("b", 3), (JAPANESE, 4)]), 2);
    let doubled = pairs.map_values(|n| n * 2);
    assert_eq!(
        parts(&doubled),
        [kv(&[(LONG, 4i64)]), kv(&[("b", 6), (JAPANESE, 8)])]
    );
    for (a, b) in pairs.partitions().iter().zip(doubled.partitions()) {
        // The key column is the input's, not a rebuilt one.
        assert_eq!(a.a.views().as_ptr(), b.a.views().as_ptr());
    }

    let texts = Batch::from_vec(
        vec![
            (1i64, "a b".to_string()),
            (2, String::new()),
            (3, "c".to_string()),
        ],
        3,
    );
    let split = texts.flat_map_values(|v| v.split(' ').filter(|w| !w.is_empty()));
    assert_eq!(
        parts(&split),
        [
            vec![(1, "a".to_string()), (1, "b".to_string())],
            vec![],
            vec![(3, "c".to_string())],
        ]
    );
}

#[test]
fn zip_with_index_counts_partition_after_partition() {
    // Partitions [x], [], [y, z] (an empty one in the middle).
    let b = Batch::from_partitions(vec![
        dstreams::data::column_from_values(s(&["x"])),
        dstreams::data::column_from_values(Vec::<String>::new()),
        dstreams::data::column_from_values(s(&["y", LONG])),
    ]);
    let indexed = b.zip_with_index();
    assert_eq!(
        parts(&indexed),
        [kv(&[("x", 0i64)]), vec![], kv(&[("y", 1), (LONG, 2)])]
    );
    // The elements' column is shared.
    assert_eq!(
        indexed.partitions()[2].a.views().as_ptr(),
        b.partitions()[2].views().as_ptr()
    );
    assert_eq!(Batch::<i64>::empty().zip_with_index().collect(), []);
}

#[test]
fn union_glom_and_repartition() {
    let a = Batch::from_vec(vec![1i64, 2, 3], 2);
    let b = Batch::from_vec(vec![4i64], 1);
    let u = a.union(&b);
    assert_eq!(parts(&u), [vec![1], vec![2, 3], vec![4]]);
    assert_eq!(u.glom().collect(), [vec![1], vec![2, 3], vec![4]]);
    assert_eq!(
        u.repartition(2).unwrap().glom().collect(),
        [vec![1, 3], vec![2, 4]]
    );
    assert_eq!(
        parts(&u.repartition(3).unwrap()),
        [vec![1, 4], vec![2], vec![3]]
    );
    assert!(matches!(u.repartition(0), Err(Error::InvalidArgument(_))));
    let lines = lines();
    let spread = lines.repartition(4).unwrap();
    assert_eq!(spread.num_partitions(), 4);
    assert!(inside(
        &buffer_ranges(&lines),
        spread.partitions()[0].value(0)
    ));
}

#[test]
fn sort_by_is_stable_and_cuts_the_order_into_partitions() {
    // Partitions [d2, a3] and [c1, b2, e3].
    let b = Batch::from_vec(
        kv(&[("d", 2i64), ("a", 3), ("c", 1), ("b", 2), ("e", 3)]),
        2,
    );
    let ascending = b.sort_by(|(_, n)| *n);
    assert_eq!(
        parts(&ascending),
        [
            kv(&[("c", 1), ("d", 2)]),
            kv(&[("b", 2), ("a", 3), ("e", 3)])
        ]
    );
    let descending = b.sort_by_descending(|(_, n)| *n);
    assert_eq!(
        parts(&descending),
        [
            kv(&[("a", 3), ("e", 3)]),
            kv(&[("d", 2), ("b", 2), ("c", 1)])
        ]
    );
    let three = b.shuffle_into(3).unwrap().sort_by(|(_, n)| *n);
    assert_eq!(
        parts(&three),
        [
            kv(&[("c", 1)]),
            kv(&[("d", 2), ("b", 2)]),
            kv(&[("a", 3), ("e", 3)])
        ]
    );
    // A key that borrows from the batch; long and multi-byte strings stay views.
    let words = Batch::from_vec(s(&[JAPANESE, "b", LONG, "a"]), 2);
    let by_word = words.sort_by(|w| *w);
    assert_eq!(by_word.collect(), s(&["a", "b", LONG, JAPANESE]));
    let input = buffer_ranges(&words);
    assert!(
        by_word
            .iter()
            .filter(|w| w.len() > 12)
            .all(|w| inside(&input, w))
    );
    // Empty batches, with or without partitions, sort into one empty partition at least.
    assert_eq!(
        parts(&Batch::<i64>::empty().sort_by(|x| *x)),
        [Vec::<i64>::new()]
    );
    let none = Batch::<i64>::from_partitions(Vec::new());
    assert_eq!(none.sort_by(|x| *x).num_partitions(), 1);
}

#[test]
fn sort_by_equals_a_stable_sort_of_the_collected_elements() {
    let values: Vec<(i64, i64)> = (0..1000).map(|i| ((i * 7919) % 13, i)).collect();
    let b = Batch::from_vec(values.clone(), 5);
    let mut ascending = values.clone();
    ascending.sort_by_key(|&(k, _)| k);
    let mut descending = values;
    descending.sort_by_key(|&(k, _)| std::cmp::Reverse(k));
    let sorted = b.sort_by(|(k, _)| *k);
    assert_eq!(sorted.collect(), ascending);
    assert!(sorted.partitions().iter().all(|p| p.len() == 200));
    assert_eq!(b.sort_by_descending(|(k, _)| *k).collect(), descending);
    let seven = b.shuffle_into(7).unwrap().sort_by(|(k, _)| *k);
    let sizes: Vec<usize> = seven.partitions().iter().map(Column::len).collect();
    assert_eq!(sizes, [142, 143, 143, 143, 143, 143, 143]);
    assert_eq!(seven.collect(), ascending);
}

/// Pairs with long and multi-byte keys in three partitions: `[(LONG, 1), ("b", 2)]`,
/// `[(JAPANESE, 3), ("b", 4)]`, `[(LONG, 5), ("", 6)]`.
fn keyed() -> Batch<(String, i64)> {
    Batch::from_vec(
        kv(&[
            (LONG, 1i64),
            ("b", 2),
            (JAPANESE, 3),
            ("b", 4),
            (LONG, 5),
            ("", 6),
        ]),
        3,
    )
}

#[test]
fn reduce_by_key_on_the_kernel_and_the_general_path_agree() {
    let pairs = keyed();
    let input = buffer_ranges(&pairs);
    let expected = kv(&[("", 6i64), ("b", 6), (LONG, 6), (JAPANESE, 3)]);

    // String keys with integer values: the aggregation kernel.
    let sums = pairs.reduce_by_key(|a, b| a + b);
    assert_eq!(sums.num_partitions(), 3);
    assert_eq!(sorted_all(&sums), expected);
    assert_hash_partitioned(&sums);
    for (k, _) in sums.iter().filter(|(k, _)| k.len() > 12) {
        assert!(inside(&input, k), "{k} was copied");
    }

    // Floating-point values: the general shuffle, same keys in the same partitions.
    let floats = pairs.map_values(|n| n as f64);
    let float_sums = floats.reduce_by_key(|a, b| a + b);
    assert_hash_partitioned(&float_sums);
    for (a, b) in sums.partitions().iter().zip(float_sums.partitions()) {
        let mut ka: Vec<&str> = (0..a.len()).map(|i| a.a.value(i)).collect();
        let mut kb: Vec<&str> = (0..b.len()).map(|i| b.a.value(i)).collect();
        ka.sort();
        kb.sort();
        assert_eq!(ka, kb);
    }

    let five = pairs
        .shuffle_into(5)
        .unwrap()
        .reduce_by_key(|a, b| a.max(b));
    assert_eq!(five.num_partitions(), 5);
    assert_eq!(
        sorted_all(&five),
        kv(&[("", 6i64), ("b", 4), (LONG, 5), (JAPANESE, 3)])
    );
    assert_hash_partitioned(&five);
    assert!(matches!(
        pairs.shuffle_into(0),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn combine_group_count_and_distinct() {
    let pairs = keyed();
    let avg = pairs.combine_by_key(
        |v| (v, 1i64),
        |(s, n), v| (s + v, n + 1),
        |a, b| (a.0 + b.0, a.1 + b.1),
    );
    assert_eq!(
        sorted_all(&avg),
        kv(&[
            ("", (6i64, 1i64)),
            ("b", (6, 2)),
            (LONG, (6, 2)),
            (JAPANESE, (3, 1))
        ])
    );
    assert_hash_partitioned(&avg);

    // Values in the order they come, partition after partition.
    let groups = pairs.group_by_key();
    assert_eq!(groups.num_partitions(), 3);
    assert_eq!(
        sorted_all(&groups),
        kv(&[
            ("", vec![6i64]),
            ("b", vec![2, 4]),
            (LONG, vec![1, 5]),
            (JAPANESE, vec![3])
        ])
    );
    assert_hash_partitioned(&groups);

    let words = Batch::from_vec(s(&[LONG, "b", JAPANESE, "b", LONG, LONG]), 4);
    let counts = words.count_by_value();
    assert_eq!(counts.num_partitions(), 4);
    assert_eq!(
        sorted_all(&counts),
        kv(&[("b", 2i64), (LONG, 3), (JAPANESE, 1)])
    );
    assert_hash_partitioned(&counts);
    let input = buffer_ranges(&words);
    assert!(
        counts
            .iter()
            .all(|(w, _)| w.len() <= 12 || inside(&input, w))
    );

    let distinct = words.distinct();
    assert_eq!(distinct.num_partitions(), 4);
    assert_eq!(sorted_all(&distinct), s(&["b", LONG, JAPANESE]));
    let numbers = Batch::from_vec(vec![3i64, 1, 3, 2, 1], 2);
    let numbers = numbers.shuffle_into(3).unwrap();
    assert_eq!(numbers.count_by_value().num_partitions(), 3);
    assert_eq!(
        sorted_all(&numbers.count_by_value()),
        [(1, 2), (2, 1), (3, 2)]
    );
    assert_eq!(sorted_all(&numbers.distinct()), [1, 2, 3]);
}

/// Left `[("a", 1), ("b", 2)]`, `[("b", 3), ("c", 4)]`; right in three partitions
/// `[("b", "x")]`, `[("c", "y")]`, `[("c", "z"), ("d", "w")]`.
fn join_sides() -> (Batch<(String, i64)>, Batch<(String, String)>) {
    let left = Batch::from_vec(kv(&[("a", 1i64), ("b", 2), ("b", 3), ("c", 4)]), 2);
    let right = Batch::from_vec(
        vec![("b", "x"), ("c", "y"), ("c", "z"), ("d", "w")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        3,
    );
    (left, right)
}

fn st(v: &str) -> String {
    v.to_string()
}

#[test]
fn joins_pair_values_and_fill_missing_sides_with_none() {
    let (left, right) = join_sides();

    let inner = left.join(&right);
    assert_eq!(inner.num_partitions(), 3, "the larger input's count");
    assert_eq!(
        sorted_all(&inner),
        [
            (st("b"), (2, st("x"))),
            (st("b"), (3, st("x"))),
            (st("c"), (4, st("y"))),
            (st("c"), (4, st("z"))),
        ]
    );
    assert_hash_partitioned(&inner);

    let left_outer = left.left_outer_join(&right);
    assert_eq!(
        sorted_all(&left_outer),
        [
            (st("a"), (1, None)),
            (st("b"), (2, Some(st("x")))),
            (st("b"), (3, Some(st("x")))),
            (st("c"), (4, Some(st("y")))),
            (st("c"), (4, Some(st("z")))),
        ]
    );
    assert_hash_partitioned(&left_outer);

    let right_outer = left.right_outer_join(&right);
    assert_eq!(
        sorted_all(&right_outer),
        [
            (st("b"), (Some(2), st("x"))),
            (st("b"), (Some(3), st("x"))),
            (st("c"), (Some(4), st("y"))),
            (st("c"), (Some(4), st("z"))),
            (st("d"), (None, st("w"))),
        ]
    );
    assert_hash_partitioned(&right_outer);

    let full = left.full_outer_join(&right);
    assert_eq!(
        sorted_all(&full),
        [
            (st("a"), (Some(1), None)),
            (st("b"), (Some(2), Some(st("x")))),
            (st("b"), (Some(3), Some(st("x")))),
            (st("c"), (Some(4), Some(st("y")))),
            (st("c"), (Some(4), Some(st("z")))),
            (st("d"), (None, Some(st("w")))),
        ]
    );
    assert_hash_partitioned(&full);

    let two = left.shuffle_into(2).unwrap().full_outer_join(&right);
    assert_eq!(two.num_partitions(), 2);
    assert_eq!(sorted_all(&two), sorted_all(&full));
    assert_hash_partitioned(&two);
}

#[test]
fn the_pairs_of_a_key_come_in_spark_order() {
    // Spark pairs `for (v <- vs; w <- ws)`: left-major, in every join.
    let left = Batch::from_vec(kv(&[("k", 1i64), ("k", 2)]), 2);
    let right = Batch::from_vec(kv(&[("k", 10i64), ("k", 20)]), 1);
    let k = || st("k");
    assert_eq!(
        left.join(&right).collect(),
        [
            (k(), (1, 10)),
            (k(), (1, 20)),
            (k(), (2, 10)),
            (k(), (2, 20))
        ]
    );
    assert_eq!(
        left.right_outer_join(&right).collect(),
        [
            (k(), (Some(1), 10)),
            (k(), (Some(1), 20)),
            (k(), (Some(2), 10)),
            (k(), (Some(2), 20))
        ]
    );
    assert_eq!(
        left.left_outer_join(&right).collect()[1],
        (k(), (1, Some(20)))
    );
    assert_eq!(
        left.full_outer_join(&right).collect()[2],
        (k(), (Some(2), Some(10)))
    );
}

#[test]
fn cogroup_lists_and_subtract_by_key() {
    let (left, right) = join_sides();
    let grouped = left.cogroup(&right);
    assert_eq!(grouped.num_partitions(), 3);
    assert_eq!(
        sorted_all(&grouped),
        [
            (st("a"), (vec![1], vec![])),
            (st("b"), (vec![2, 3], vec![st("x")])),
            (st("c"), (vec![4], vec![st("y"), st("z")])),
            (st("d"), (vec![], vec![st("w")])),
        ]
    );
    assert_hash_partitioned(&grouped);
    assert_eq!(
        format!("{:?}", left.shuffle_into(1).unwrap().cogroup(&right)),
        "[(a,(CompactBuffer(1),CompactBuffer())), (b,(CompactBuffer(2, 3),CompactBuffer(x))), \
         (c,(CompactBuffer(4),CompactBuffer(y, z))), (d,(CompactBuffer(),CompactBuffer(w)))]"
    );

    // This batch's partition count, whatever the other side has (Spark's default here).
    let kept = left.subtract_by_key(&right);
    assert_eq!(kept.num_partitions(), 2);
    assert_eq!(kept.collect(), kv(&[("a", 1i64)]));
    let kept = right.subtract_by_key(&left);
    assert_eq!(kept.num_partitions(), 3);
    assert_eq!(kept.collect(), [(st("d"), st("w"))]);
    // Every pair of a kept key stays, keys over 12 bytes too.
    let many = Batch::from_vec(kv(&[(LONG, 1i64), ("x", 2), (LONG, 3), (JAPANESE, 4)]), 2);
    let drop = Batch::from_vec(kv(&[(JAPANESE, 0i64)]), 1);
    let kept = many.subtract_by_key(&drop);
    assert_eq!(sorted_all(&kept), kv(&[(LONG, 1i64), (LONG, 3), ("x", 2)]));
    assert_hash_partitioned(&kept);
    let input = buffer_ranges(&many);
    assert!(kept.iter().all(|(k, _)| k.len() <= 12 || inside(&input, k)));
}

#[test]
fn joined_strings_are_views_into_both_sides() {
    let counts = Batch::from_vec(kv(&[(LONG, 1i64), (JAPANESE, 2), ("x", 3)]), 2);
    let notes = Batch::from_vec(
        vec![
            (st(LONG), st("a note that is longer than twelve bytes")),
            (st(JAPANESE), st("もう一つの長いメモです")),
        ],
        1,
    );
    let (left, right) = (buffer_ranges(&counts), buffer_ranges(&notes));
    let joined = counts.join(&notes);
    assert_eq!(joined.len(), 2);
    for (k, (_, note)) in joined.iter() {
        assert!(inside(&left, k), "{k} was copied");
        assert!(inside(&right, note), "{note} was copied");
    }
    let grouped = counts.group_by_key();
    assert!(
        grouped
            .iter()
            .all(|(k, _)| k.len() <= 12 || inside(&left, k))
    );
    let cogrouped = notes.cogroup(&counts);
    for (k, (ns, _)) in cogrouped.iter() {
        assert!(inside(&right, k) || inside(&left, k) || k.len() <= 12);
        assert!(ns.iter().all(|n| inside(&right, n)));
    }
}

#[test]
fn empty_batches_and_empty_partitions() {
    let empty = Batch::<(String, i64)>::empty();
    let none = Batch::<(String, i64)>::from_partitions(Vec::new());
    let (left, _) = join_sides();
    // Shuffles of nothing have the largest input's count, and at least one partition.
    assert_eq!(parts(&empty.reduce_by_key(|a, b| a + b)), [vec![]]);
    assert_eq!(none.reduce_by_key(|a, b| a + b).num_partitions(), 1);
    assert_eq!(none.group_by_key().collect(), []);
    let joined = empty.join(&left);
    assert_eq!((joined.num_partitions(), joined.len()), (2, 0));
    assert_eq!(left.left_outer_join(&none).len(), 4);
    assert_eq!(none.full_outer_join(&none).num_partitions(), 1);
    assert_eq!(none.cogroup(&left).len(), 3);
    assert_eq!(sorted_all(&left.subtract_by_key(&empty)), sorted_all(&left));
    assert_eq!(none.count_by_value().len(), 0);
    // Narrow operations keep every partition, empty ones included.
    assert_eq!(none.map(|(k, _)| k).num_partitions(), 0);
    assert_eq!(empty.filter(|_| true).num_partitions(), 1);
    assert_eq!(none.union(&empty).num_partitions(), 1);
    assert_eq!(none.glom().collect(), Vec::<Vec<(String, i64)>>::new());
    assert_eq!(empty.glom().collect(), [vec![]]);
    // Actions.
    assert_eq!(
        (none.count(), none.first(), none.take(3)),
        (0, None, vec![])
    );
    assert_eq!(none.reduce(|a, _| a), None);
    assert_eq!(none.to_record_batch().unwrap().num_rows(), 0);
}

#[test]
fn actions_read_partition_after_partition() {
    // Partitions [1], [], [2, 3].
    let b = Batch::from_partitions(vec![
        vec![1i64].into(),
        Vec::<i64>::new().into(),
        vec![2i64, 3].into(),
    ]);
    assert_eq!(b.count(), 3);
    assert_eq!(b.collect(), [1, 2, 3]);
    assert_eq!(b.take(2), [1, 2]);
    assert_eq!(b.take(0), Vec::<i64>::new());
    assert_eq!(b.first(), Some(1));
    // Partitions are reduced on their own, then in partition order: a function that is
    // associative but not commutative sees the elements in order.
    let digits = b.map(|x| x.to_string());
    assert_eq!(digits.reduce(|a, c| a + &c), Some(st("123")));
}

#[test]
fn to_record_batch_gives_the_whole_batch_as_one() {
    let pairs = Batch::from_vec(kv(&[(LONG, 1i64), ("b", 2), (JAPANESE, 3)]), 3);
    let rb = pairs.to_record_batch().unwrap();
    assert_eq!((rb.num_rows(), rb.num_columns()), (3, 2));
    assert_eq!(rb.schema().field(0).name(), "_1");
    assert_eq!(rb.schema().field(1).name(), "_2");
    let keys = rb
        .column(0)
        .as_any()
        .downcast_ref::<arrow_array::StringViewArray>()
        .unwrap();
    assert_eq!(
        keys.iter().flatten().collect::<Vec<_>>(),
        [LONG, "b", JAPANESE]
    );
    // The strings are views into the partitions' buffers.
    let input = buffer_ranges(&pairs);
    assert!(inside(&input, keys.value(0)) && inside(&input, keys.value(2)));
    // The same rows as the record batches of the partitions, one after another.
    let per_partition = pairs.to_record_batches().unwrap();
    assert_eq!(per_partition.len(), 3);
    assert_eq!(per_partition.iter().map(|b| b.num_rows()).sum::<usize>(), 3);

    // One partition: its arrays, shared.
    let one = Batch::from_vec(vec![7i64, 8], 1);
    let rb = one.to_record_batch().unwrap();
    assert_eq!(rb.schema().field(0).name(), "value");
    assert_eq!(
        rb.column(0).to_data().buffers()[0].as_ptr(),
        one.partitions()[0].inner().as_ptr()
    );

    // Optional tuples with a `None` are one nullable column, not a panic.
    let maybe = Batch::from_vec(vec![Some((st("a"), 1i64)), None, Some((st("b"), 2))], 2);
    let rb = maybe.to_record_batch().unwrap();
    assert_eq!((rb.num_rows(), rb.num_columns()), (3, 1));
    assert_eq!(rb.column(0).null_count(), 1);
    assert!(rb.schema().field(0).is_nullable());
    let each = maybe.to_record_batches().unwrap();
    assert_eq!(each[1].column(0).null_count(), 1);
}

// ---- Spark's `transform` examples, on streams ----

/// Spark's BasicOperationsSuite "transform": `r.transform(rdd => rdd.map(_.toString))`.
#[test]
fn transform_with_an_rdd_map() {
    let input: Vec<Vec<i64>> = vec![(1..=4).collect(), (5..=8).collect(), (9..=12).collect()];
    let out = test_operation(input.clone(), |r| {
        r.transform(|rdd| rdd.map(|x| x.to_string()))
    });
    let expected: Vec<Vec<String>> = input
        .iter()
        .map(|b| b.iter().map(|x| x.to_string()).collect())
        .collect();
    assert_eq!(out, expected);
}

/// Spark's BasicOperationsSuite "transformWith":
/// `t1.transformWith(t2, (rdd1, rdd2) => rdd1.join(rdd2))`.
#[test]
fn transform_with_an_rdd_join() {
    let out = sorted(test_operation2(
        words(&[&["a", "b"], &["a", ""], &[""], &[]]),
        words(&[&["a", "b"], &["b", ""], &[], &[""]]),
        |s1, s2| {
            let t1 = s1.map(|x| (x, 1));
            let t2 = s2.map(|x| (x, "x"));
            t1.transform_with(&t2, |rdd1, rdd2| rdd1.join(rdd2))
        },
    ));
    assert_eq!(
        out,
        [
            vec![(st("a"), (1i64, st("x"))), (st("b"), (1, st("x")))],
            vec![(st(""), (1, st("x")))],
            vec![],
            vec![],
        ]
    );
}

/// The spam information of the programming guide's example: known words and whether they are
/// spam.
fn spam_info() -> Batch<(String, bool)> {
    Batch::from_vec(
        vec![
            (st("free"), true),
            (st("offer"), true),
            (st("meeting"), false),
            (st("tomorrow"), false),
            (st(LONG), false),
        ],
        2,
    )
}

fn spam_lines() -> Vec<Vec<String>> {
    words(&[
        &["free offer free", "meeting tomorrow"],
        &["internationalization meeting", "unknown words"],
        &[],
    ])
}

fn word_counts(lines: &DStream<String>) -> DStream<(String, i64)> {
    lines
        .flat_map(|l| l.split(' '))
        .map(|w| (w, 1i64))
        .reduce_by_key(|a, b| a + b)
}

fn expected_clean_counts() -> Vec<Vec<(String, i64)>> {
    vec![
        kv(&[("meeting", 1i64), ("tomorrow", 1)]),
        kv(&[(LONG, 1i64), ("meeting", 1)]),
        vec![],
    ]
}

/// The programming guide's "Transform Operation": `wordCounts.transform(rdd =>
/// rdd.join(spamInfoRDD).filter(...))`, with the static table captured by the closure.
#[test]
fn the_guide_spam_filter_with_a_captured_table() {
    let spam = spam_info();
    let out = sorted(test_operation(spam_lines(), |lines| {
        word_counts(lines).transform(move |rdd| {
            rdd.join(&spam)
                .filter(|(_, (_, is_spam))| !is_spam)
                .map(|(word, (count, _))| (word, count))
        })
    }));
    assert_eq!(out, expected_clean_counts());
}

/// The same with the table as a constant stream (Spark's `ConstantInputDStream`) joined batch
/// by batch through `transform_with`.
#[test]
fn the_guide_spam_filter_with_a_constant_stream() {
    let out = sorted(test_operation(spam_lines(), |lines| {
        let spam = lines.context().constant_stream(spam_info());
        word_counts(lines).transform_with(&spam, |rdd, spam| {
            rdd.join(spam)
                .filter(|(_, (_, is_spam))| !is_spam)
                .map(|(word, (count, _))| (word, count))
        })
    }));
    assert_eq!(out, expected_clean_counts());
}

/// `transform(rdd => rdd.sortBy(_._2, false).zipWithIndex())`: each batch's words ranked.
#[test]
fn transform_ranks_each_batch_with_sort_by_and_zip_with_index() {
    let out = test_operation(
        vec![pairs(&[&[("b", 2), ("a", 5), ("c", 1)]])[0].clone(), vec![]],
        |counts| {
            counts.transform(|rdd| {
                rdd.sort_by_descending(|(_, n)| *n)
                    .zip_with_index()
                    .map(|((word, _), rank)| (word, rank + 1))
            })
        },
    );
    assert_eq!(out, [kv(&[("a", 1i64), ("b", 2), ("c", 3)]), vec![]]);
}

#[test]
fn a_constant_stream_is_an_input_with_the_same_batch_every_time() {
    let (ssc, clock) = manual_context(2);
    let table = Batch::from_vec(s(&[LONG, "b", "c"]), 2);
    let constant = ssc.constant_stream(table.clone());
    let out = Arc::new(Mutex::new(Vec::new()));
    let sink = out.clone();
    let ranges = buffer_ranges(&table);
    constant.foreach_rdd(move |b| {
        let shared = inside(&ranges, b.partitions()[0].value(0));
        sink.lock()
            .unwrap()
            .push((b.time().as_millis(), parts(b), shared));
    });
    struct Records(Arc<Mutex<Vec<u64>>>);
    impl StreamingListener for Records {
        fn on_batch_completed(&self, info: &dstreams::BatchInfo) {
            self.0.lock().unwrap().push(info.num_records());
        }
    }
    let records = Arc::new(Mutex::new(Vec::new()));
    ssc.add_streaming_listener(Arc::new(Records(records.clone())));
    run_batches(&ssc, &clock, 3);
    let expected = vec![s(&[LONG]), s(&["b", "c"])];
    assert_eq!(
        *out.lock().unwrap(),
        [
            (1000, expected.clone(), true),
            (2000, expected.clone(), true),
            (3000, expected, true)
        ]
    );
    assert_eq!(*records.lock().unwrap(), [3, 3, 3]);
}

/// A keyed `Batch` result lines up with a DStream's keyed output: the fused word count of
/// `split(..).count_by_value().with_partitions(3)` and `reduce_by_key` on the batch, shuffled
/// into 3, hold the same keys in the same partitions.
#[test]
fn batch_shuffles_line_up_with_dstream_shuffles() {
    let (ssc, clock) = manual_context(2);
    let lines = ssc.queue_stream(
        vec![Batch::from_vec(
            s(&[
                "to be or not to be",
                "internationalization 日本語のとても長いキー be",
                "a b c d e f g",
            ]),
            2,
        )],
        true,
        None,
    );
    let fused = lines
        .split(Separators::Space)
        .count_by_value()
        .with_partitions(3);
    let batch_op = lines.transform(|rdd| {
        Ok(rdd
            .flat_map(|l| l.split(' '))
            .map(|w| (w, 1i64))
            .shuffle_into(3)?
            .reduce_by_key(|a, b| a + b))
    });
    let partitions_of = |stream: &DStream<(String, i64)>| {
        let out = Arc::new(Mutex::new(Vec::new()));
        let sink = out.clone();
        stream.foreach_rdd(move |b| {
            let mut ps = parts(b);
            ps.iter_mut().for_each(|p| p.sort());
            sink.lock().unwrap().push(ps);
        });
        out
    };
    let (a, b) = (partitions_of(&fused), partitions_of(&batch_op));
    run_batches(&ssc, &clock, 1);
    let (a, b) = (a.lock().unwrap().clone(), b.lock().unwrap().clone());
    assert_eq!(a.len(), 1);
    assert_eq!(a, b);
    assert_eq!(a[0].len(), 3);
}
