//! `Data::column_from_arrow`: round trips through `Column::to_arrow`, sliced arrays, shared
//! buffers and refused arrays.

use super::{ByteString, Column, Data, collect_owned, column_from_values};
use crate::error::Error;
use arrow_array::{
    Array, ArrayRef, Int32Array, Int64Array, LargeStringArray, StringArray, StringViewArray,
    StructArray,
};
use arrow_buffer::NullBuffer;
use std::fmt::Debug;
use std::sync::Arc;

/// Rebuilds `values`' column from its Arrow array, whole and sliced (`slice(1, n - 2)`), and
/// checks the values and that the rebuilt column gives the same array back.
fn round_trip<T: Data + Clone + PartialEq + Debug>(values: Vec<T>) {
    round_trip_by(values, |v| v);
}

/// [`round_trip`], comparing values through `key` (floats by bit pattern).
fn round_trip_by<T: Data + Clone + Debug, K: PartialEq + Debug>(values: Vec<T>, key: fn(T) -> K) {
    let keys = |vs: Vec<T>| vs.into_iter().map(key).collect::<Vec<_>>();
    let array = column_from_values(values.clone()).to_arrow();
    let back = T::column_from_arrow(&array).unwrap();
    assert_eq!(keys(collect_owned(&back)), keys(values.clone()));
    assert_eq!(back.to_arrow().as_ref(), array.as_ref());

    assert!(values.len() >= 3, "a slice of at least one value");
    let sliced = array.slice(1, values.len() - 2);
    let back = T::column_from_arrow(&sliced).unwrap();
    assert_eq!(
        keys(collect_owned(&back)),
        keys(values[1..values.len() - 1].to_vec())
    );
    assert_eq!(back.to_arrow().as_ref(), sliced.as_ref());
}

fn strings() -> Vec<String> {
    [
        "",
        "a",
        "twelve bytes",
        "thirteen byte",
        "",
        "na\u{ef}ve caf\u{e9} \u{1f980}, longer than a view's twelve bytes",
        "\u{e9}t\u{e9}",
        "\u{1f980}\u{1f980}\u{1f980}",
        "last",
    ]
    .map(String::from)
    .to_vec()
}

#[test]
fn integers_round_trip() {
    round_trip(vec![i32::MIN, -1, 0, 1, i32::MAX]);
    round_trip(vec![i64::MIN, -7, 0, 42, i64::MAX]);
    round_trip(vec![0u64, 1, u64::MAX - 1, u64::MAX]);
}

#[test]
fn floats_round_trip_bit_for_bit() {
    let nan = f64::from_bits(0x7ff8_0000_dead_beef);
    let values = vec![f64::NAN, -0.0, 0.0, nan, -f64::NAN, f64::INFINITY, 1.5e-300];
    round_trip_by(values, f64::to_bits);
    round_trip_by(
        vec![-0.0f32, f32::NAN, 1.0, f32::NEG_INFINITY],
        f32::to_bits,
    );
}

#[test]
fn bools_round_trip_at_any_bit_offset() {
    let values: Vec<bool> = (0..21).map(|i| i % 3 == 0 || i % 7 == 0).collect();
    round_trip(values.clone());
    // Slices starting in the middle of a byte.
    let array = column_from_values(values.clone()).to_arrow();
    for offset in 0..9 {
        let back = bool::column_from_arrow(&array.slice(offset, 11)).unwrap();
        assert_eq!(collect_owned(&back), values[offset..offset + 11]);
    }
}

#[test]
fn strings_round_trip() {
    round_trip(strings());
}

#[test]
fn byte_strings_round_trip() {
    round_trip(vec![
        ByteString(vec![]),
        ByteString(vec![0xff, 0, 0xfe]),
        ByteString(b"a byte string past twelve bytes".to_vec()),
        ByteString(vec![0xc3; 40]),
    ]);
}

#[test]
fn tuples_round_trip() {
    let pairs: Vec<(String, i64)> = strings().into_iter().zip(-3..).collect();
    round_trip(pairs);
    let triples: Vec<(i64, String, f64)> = strings()
        .into_iter()
        .enumerate()
        .map(|(i, s)| (i as i64, s, i as f64 / 4.0))
        .collect();
    round_trip(triples);
}

#[test]
fn options_round_trip() {
    round_trip(vec![None, Some(1i64), None, Some(-5), Some(0), None]);
    round_trip(vec![Some(1i64), Some(2), Some(3)]);
    round_trip(vec![None::<i64>, None, None]);
    round_trip(vec![
        Some(true),
        None,
        Some(false),
        Some(true),
        None,
        Some(true),
    ]);
    round_trip(vec![
        Some(vec![1i64]),
        None,
        Some(vec![]),
        None,
        Some(vec![2, 3]),
    ]);
    round_trip(vec![Some((1i64, 2.5f64)), None, Some((3, -0.5)), None]);
    let options: Vec<Option<String>> = strings()
        .into_iter()
        .enumerate()
        .map(|(i, s)| (i % 3 != 1).then_some(s))
        .collect();
    round_trip(options);
}

#[test]
fn lists_round_trip() {
    round_trip(vec![vec![1i64, 2], vec![], vec![3], vec![], vec![4, 5, 6]]);
    round_trip(vec![vec![], strings(), vec![], strings()[3..].to_vec()]);
}

#[test]
fn nested_columns_round_trip() {
    let values: Vec<(String, Vec<(i64, Option<String>)>)> = strings()
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            let items = (0..i % 4)
                .map(|j| (j as i64, (j != 1).then(|| format!("{s}/{j}"))))
                .collect();
            (s, items)
        })
        .collect();
    round_trip(values);
}

#[test]
fn columns_share_the_arrays_buffers() {
    let ints = column_from_values(0..10i64);
    let back = i64::column_from_arrow(&ints.to_arrow().slice(1, 8)).unwrap();
    assert!(std::ptr::eq(&back[0], &ints[1]));

    let words = column_from_values(strings());
    let long = |c: &StringViewArray| Column::value(c, 5).as_ptr();
    let back = String::column_from_arrow(&words.to_arrow()).unwrap();
    assert_eq!(long(&back), long(&words));

    let pairs = column_from_values(strings().into_iter().map(|s| (Some(s), 1i64)));
    let back = <(Option<String>, i64)>::column_from_arrow(&pairs.to_arrow().slice(2, 4)).unwrap();
    assert_eq!(
        Column::value(&back, 3).0.unwrap().as_ptr(),
        Column::value(&pairs, 5).0.unwrap().as_ptr()
    );

    let lists = column_from_values(vec![vec![], strings()]);
    let back = Vec::<String>::column_from_arrow(&lists.to_arrow().slice(1, 1)).unwrap();
    assert_eq!(
        Column::value(&back, 0).get(5).as_ptr(),
        Column::value(&lists, 1).get(5).as_ptr()
    );
}

#[test]
fn plain_utf8_arrays_become_views_of_their_bytes() {
    let plain = StringArray::from_iter_values(strings());
    let array: ArrayRef = Arc::new(plain.clone());
    let back = String::column_from_arrow(&array).unwrap();
    assert_eq!(collect_owned(&back), strings());
    assert_eq!(Column::value(&back, 5).as_ptr(), plain.value(5).as_ptr());

    let back = String::column_from_arrow(&array.slice(1, 7)).unwrap();
    assert_eq!(collect_owned(&back), strings()[1..8]);

    let large: ArrayRef = Arc::new(LargeStringArray::from_iter_values(strings()));
    let back = String::column_from_arrow(&large.slice(2, 5)).unwrap();
    assert_eq!(collect_owned(&back), strings()[2..7]);

    let with_nulls: ArrayRef = Arc::new(StringArray::from(vec![Some("a"), None, Some("c")]));
    let back = Option::<String>::column_from_arrow(&with_nulls).unwrap();
    assert_eq!(
        collect_owned(&back),
        [Some("a".into()), None, Some("c".into())]
    );
}

#[test]
fn a_null_buffer_without_nulls_is_accepted_and_dropped() {
    let words = column_from_values(strings());
    let (views, buffers, _) = words.clone().into_parts();
    let valid = NullBuffer::new_valid(strings().len());
    let array: ArrayRef = Arc::new(StringViewArray::new(views, buffers, Some(valid.clone())));
    let back = String::column_from_arrow(&array).unwrap();
    assert!(back.nulls().is_none());
    assert_eq!(collect_owned(&back), strings());

    let ints: ArrayRef = Arc::new(Int64Array::new(
        vec![1, 2, 3].into(),
        Some(valid.slice(0, 3)),
    ));
    let back = Option::<i64>::column_from_arrow(&ints).unwrap();
    assert_eq!(collect_owned(&back), [Some(1), Some(2), Some(3)]);
    assert!(back.to_arrow().nulls().is_none());
}

#[test]
fn arrays_of_other_types_are_refused() {
    let int32s: ArrayRef = Arc::new(Int32Array::from(vec![1, 2]));
    let err = i64::column_from_arrow(&int32s).unwrap_err();
    assert!(
        matches!(&err, Error::ArrowType { expected, found } if expected == "Int64" && found == "Int32"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "expected an Arrow array of type Int64, found Int32"
    );

    let words = column_from_values(strings()).to_arrow();
    let refused = |r: Result<(), Error>| assert!(matches!(r, Err(Error::ArrowType { .. })));
    refused(ByteString::column_from_arrow(&words).map(drop));
    refused(Vec::<String>::column_from_arrow(&words).map(drop));
    refused(bool::column_from_arrow(&int32s).map(drop));
    // A pair's field of the wrong type, and a struct of the wrong width.
    refused(
        <(String, i32)>::column_from_arrow(
            &column_from_values([("a".to_string(), 1i64)]).to_arrow(),
        )
        .map(drop),
    );
    let triple = column_from_values([(1i64, 2i64, 3i64)]).to_arrow();
    refused(<(i64, i64)>::column_from_arrow(&triple).map(drop));
    // A list of other items.
    let lists = column_from_values([vec![1i64]]).to_arrow();
    refused(Vec::<i32>::column_from_arrow(&lists).map(drop));
    // An empty struct array is not a pair either.
    let empty: ArrayRef = Arc::new(StructArray::new_empty_fields(0, None));
    refused(<(i64, i64)>::column_from_arrow(&empty).map(drop));
}

#[test]
fn nulls_are_refused_outside_options() {
    let with_nulls = column_from_values([Some(1i64), None]).to_arrow();
    let err = i64::column_from_arrow(&with_nulls).unwrap_err();
    assert_eq!(
        err.to_string(),
        "expected an Arrow array of type Int64 without nulls, found Int64 with nulls (1 of 2)"
    );
    let pairs = column_from_values([Some((1i64, 2i64)), None]).to_arrow();
    assert!(matches!(
        <(i64, i64)>::column_from_arrow(&pairs),
        Err(Error::ArrowType { .. })
    ));
    // Under the pair's nulls the fields have none.
    let back = Option::<(i64, i64)>::column_from_arrow(&pairs).unwrap();
    assert_eq!(collect_owned(&back), [Some((1, 2)), None]);
}

#[test]
fn nested_options_are_refused() {
    // `to_arrow` keeps one null buffer: `Some(None)` and `Some(Some(0))` look alike.
    let array = column_from_values([Some(Some(1i64)), Some(None), None]).to_arrow();
    assert!(matches!(
        Option::<Option<i64>>::column_from_arrow(&array),
        Err(Error::Unsupported(_))
    ));
}
