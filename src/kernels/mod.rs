//! The vectorised, parallel code behind the operators: per-partition application and the keyed
//! shuffle (hash once per row, partition, aggregate).

pub(crate) mod narrow;
pub(crate) mod shuffle;
