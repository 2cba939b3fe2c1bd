//! `foreach_rdd` hands out the batch's data as Arrow `RecordBatch`es, sharing its buffers.

mod common;
use arrow_array::{Array, Int64Array, StringViewArray};
use common::*;
use std::sync::{Arc, Mutex};

#[test]
fn foreach_rdd_gives_record_batches_without_copying() {
    let (ssc, clock) = manual_context(1);
    let lines = ssc.queue_stream(
        batches(vec![s(&["an extraordinarily long line of words"])], 1),
        true,
        None,
    );
    // The length is an i32, stored (as every integer a closure returns) as an i64.
    let pairs = lines
        .flat_map(|l| l.split(' '))
        .map(|w| (w, w.len() as i64));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    pairs.foreach_rdd(move |batch| {
        let rbs = batch.to_record_batches()?;
        assert_eq!(rbs.len(), batch.num_partitions());
        let rb = &rbs[0];
        let schema = rb.schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["_1", "_2"]);
        let words = rb
            .column(0)
            .as_any()
            .downcast_ref::<StringViewArray>()
            .unwrap();
        let lens = rb.column(1).as_any().downcast_ref::<Int64Array>().unwrap();
        // The Arrow column is the batch's own column: same buffers.
        let ours = &batch.partitions()[0].a;
        assert_eq!(
            words.data_buffers()[0].as_ptr(),
            ours.data_buffers()[0].as_ptr()
        );
        let rows: Vec<(String, i64)> = (0..words.len())
            .map(|i| (words.value(i).to_string(), lens.value(i)))
            .collect();
        sink.lock().unwrap().push((batch.time().as_millis(), rows));
        Ok(())
    });
    run_batches(&ssc, &clock, 1);
    let seen = seen.lock().unwrap();
    assert_eq!(seen[0].0, 1000);
    assert_eq!(seen[0].1[1], ("extraordinarily".to_string(), 15));
    assert_eq!(seen[0].1.len(), 6);
}

#[test]
fn single_columns_are_named_value() {
    let b = dstreams::Batch::from_vec(vec![Some(1i64), None], 1);
    let rb = &b.to_record_batches().unwrap()[0];
    assert_eq!(rb.schema().field(0).name(), "value");
    assert_eq!(rb.column(0).null_count(), 1);
}
