//! An exchange record: the partial results one source partition's batch holds for one exchange
//! partition. Key: the batch time in milliseconds, the source partition, and how many source
//! partitions there are (big-endian `i64`, `u32`, `u32`); value: the partials as one Arrow IPC
//! stream (a schema message and one record batch of a single column `value`), string views
//! compacted so that only the bytes the partials use travel.

use crate::data::{Column, Data};
use crate::error::{Error, Result};
use crate::sink::prepare_for_ipc;
use crate::time::Time;
use arrow_array::RecordBatch;
use arrow_ipc::reader::StreamReader;
use arrow_ipc::writer::StreamWriter;
use arrow_schema::{Field, Schema};
use std::sync::Arc;

/// The key of the record of `(time, source)`, for a source topic of `sources` partitions.
pub(crate) fn key(time: Time, source: u32, sources: u32) -> [u8; 16] {
    let mut key = [0; 16];
    key[..8].copy_from_slice(&time.as_millis().to_be_bytes());
    key[8..12].copy_from_slice(&source.to_be_bytes());
    key[12..].copy_from_slice(&sources.to_be_bytes());
    key
}

/// `(time, source, sources)` of a record's key.
pub(crate) fn parse_key(key: &[u8]) -> Result<(Time, u32, u32)> {
    let key: &[u8; 16] = key.try_into().map_err(|_| {
        Error::IllegalState(format!(
            "an exchange record's key has {} bytes, not 16: the topic holds records dstreams did not write",
            key.len()
        ))
    })?;
    let ms = i64::from_be_bytes(key[..8].try_into().expect("8 bytes"));
    let source = u32::from_be_bytes(key[8..12].try_into().expect("4 bytes"));
    let sources = u32::from_be_bytes(key[12..].try_into().expect("4 bytes"));
    Ok((Time::from_millis(ms), source, sources))
}

/// One partition of partials as an exchange record's value.
pub(crate) fn encode<T: Data>(partials: &T::Column) -> Result<Vec<u8>> {
    let array = prepare_for_ipc(&partials.to_arrow())?;
    let field = Field::new("value", array.data_type().clone(), true);
    let batch = RecordBatch::try_new(Arc::new(Schema::new(vec![field])), vec![array])?;
    let mut out = Vec::new();
    let mut writer = StreamWriter::try_new(&mut out, &batch.schema())?;
    writer.write(&batch)?;
    writer.finish()?;
    drop(writer);
    Ok(out)
}

/// The partials of an exchange record's value.
pub(crate) fn decode<T: Data>(value: &[u8]) -> Result<T::Column> {
    let reader = StreamReader::try_new(value, None)?;
    let mut column = None;
    for batch in reader {
        let batch = batch?;
        if column.is_some() || batch.num_columns() != 1 {
            return Err(Error::IllegalState(
                "an exchange record holds more than one column or record batch".into(),
            ));
        }
        column = Some(T::column_from_arrow(batch.column(0))?);
    }
    Ok(column.unwrap_or_else(T::Column::empty))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Batch;

    #[test]
    fn keys_round_trip() {
        let k = key(Time::from_millis(1_700_000_000_123), 5, 6);
        assert_eq!(
            parse_key(&k).unwrap(),
            (Time::from_millis(1_700_000_000_123), 5, 6)
        );
        assert!(parse_key(b"short").is_err());
    }

    #[test]
    fn partials_round_trip_with_only_the_bytes_they_use() {
        let long = "a-word-longer-than-twelve-bytes".to_string();
        let text: String = std::iter::repeat_n("filler ", 10_000).collect::<String>() + &long;
        let lines = Batch::from_vec(vec![text], 1);
        let counts = lines
            .flat_map(|l| l.split(' '))
            .filter(|w| w.len() > 12)
            .map(|w| (w, 1))
            .reduce_by_key(|a, b| a + b);
        let value = encode::<(String, i64)>(&counts.partitions()[0]).unwrap();
        assert!(value.len() < 2_000, "{} bytes", value.len());
        let back = decode::<(String, i64)>(&value).unwrap();
        assert_eq!(
            Batch::<(String, i64)>::from_partitions(vec![back]).to_vec(),
            vec![(long, 1)]
        );
    }

    #[test]
    fn an_empty_partition_round_trips() {
        let empty = <(String, i64) as Data>::Column::empty();
        let back = decode::<(String, i64)>(&encode::<(String, i64)>(&empty).unwrap()).unwrap();
        assert!(back.is_empty());
    }
}
