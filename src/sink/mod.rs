//! Where batches go: printed in Spark's exact format, saved as text files in Spark's layout.

pub(crate) mod print;
pub(crate) mod text_files;

pub use text_files::batch_file_name;
