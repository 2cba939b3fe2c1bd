//! Where batches go: printed in Spark's exact format, saved as text files in Spark's layout,
//! written to Kafka.

pub(crate) mod kafka;
pub(crate) mod print;
pub(crate) mod text_files;

pub use kafka::{Delivered, KafkaWriter, PendingRecords};
pub use text_files::batch_file_name;
