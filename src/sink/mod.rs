//! Where batches go: printed in Spark's exact format, saved as text, Parquet or Arrow IPC files in
//! Spark's layout, written to Kafka.

pub(crate) mod batch_dirs;
pub(crate) mod columnar_files;
pub(crate) mod kafka;
pub(crate) mod print;
pub(crate) mod text_files;

pub use batch_dirs::batch_file_name;
pub(crate) use columnar_files::prepare_for_ipc;
pub use kafka::{BATCH_TIME_HEADER, Delivered, KafkaWriter, PARTITION_HEADER, PendingRecords};
