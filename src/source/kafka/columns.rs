//! A Kafka stream's elements made of a range's records: values as string views into the
//! arena's chunks, or whole records ([`KafkaRecord`]) with their keys and headers.

use super::arena::Taken;
use super::plan::OffsetRange;
use crate::data::{ColumnBuilder, Data, Sources};
use crate::error::{Error, Result};
use crate::source::file_stream::Utf8Policy;

/// A record as [`StreamingContext::kafka_record_stream`] gives it: key (`None` for a null key),
/// value, and the record's timestamp (milliseconds since the epoch, -1 if it has none) with its
/// headers (name, value; a null value as an empty string).
///
/// [`StreamingContext::kafka_record_stream`]: crate::StreamingContext::kafka_record_stream
pub type KafkaRecord = (Option<String>, String, (i64, Vec<(String, String)>));

/// Bytes as text by `policy`: invalid UTF-8 fails with [`Error::InvalidUtf8`] naming the record,
/// or is replaced by U+FFFD with a warning.
fn text<'a>(
    bytes: &'a [u8],
    policy: Utf8Policy,
    r: &OffsetRange,
    offset: i64,
) -> Result<std::borrow::Cow<'a, str>> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(std::borrow::Cow::Borrowed(s)),
        Err(e) if policy == Utf8Policy::Fail => Err(Error::InvalidUtf8 {
            source_name: format!("Kafka {}-{} offset {offset}", r.topic, r.partition),
            offset: e.valid_up_to(),
            line: 1,
        }),
        Err(_) => {
            tracing::warn!(
                "Kafka {}-{} offset {offset}: invalid UTF-8 replaced by U+FFFD",
                r.topic,
                r.partition
            );
            Ok(String::from_utf8_lossy(bytes))
        }
    }
}

/// What a Kafka stream's elements are made of its records.
pub(super) trait RecordShape: Data {
    /// Whether the stream needs record keys.
    const KEYS: bool;
    /// The column of one range's records.
    fn column(taken: Taken, r: &OffsetRange, policy: Utf8Policy) -> Result<Self::Column>;
    /// The bytes of one element as a text line would have them.
    fn line_bytes(v: Self::Ref<'_>) -> usize;
}

impl RecordShape for String {
    const KEYS: bool = false;
    /// Values as views into the chunks they were copied into when fetched (a null value is an
    /// empty string).
    fn column(taken: Taken, r: &OffsetRange, policy: Utf8Policy) -> Result<Self::Column> {
        let sources = Sources::new(taken.chunks.values().cloned().collect());
        let mut b = <String as Data>::Builder::new(taken.records.len(), &sources);
        for f in &taken.records {
            match text(taken.bytes(f.value), policy, r, f.offset)? {
                std::borrow::Cow::Borrowed(s) => b.push_ref(s),
                std::borrow::Cow::Owned(s) => b.push(s),
            }
        }
        Ok(b.finish())
    }
    fn line_bytes(v: &str) -> usize {
        v.len() + 1
    }
}

impl RecordShape for KafkaRecord {
    const KEYS: bool = true;
    fn column(taken: Taken, r: &OffsetRange, policy: Utf8Policy) -> Result<Self::Column> {
        let mut b = <Self as Data>::Builder::new(taken.records.len(), &Sources::none());
        for f in &taken.records {
            let owned = |bytes: &[u8]| -> Result<String> {
                Ok(text(bytes, policy, r, f.offset)?.into_owned())
            };
            let parts = f
                .record
                .as_deref()
                .expect("a stream of records keeps every record's parts");
            let key = parts.key.as_deref().map(owned).transpose()?;
            let headers = parts
                .headers
                .iter()
                .map(|(name, value)| {
                    Ok((name.clone(), owned(value.as_deref().unwrap_or_default())?))
                })
                .collect::<Result<Vec<_>>>()?;
            b.push((
                key,
                owned(taken.bytes(f.value))?,
                (parts.timestamp, headers),
            ));
        }
        Ok(b.finish())
    }
    fn line_bytes(v: Self::Ref<'_>) -> usize {
        v.1.len() + 1
    }
}
