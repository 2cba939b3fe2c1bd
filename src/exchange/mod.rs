//! Distributed mode: one job run by many processes, keyed operations exchanging their partial
//! results through Kafka (ARCHITECTURE.md, "Running on many machines").
//!
//! Every process runs the same program. A Kafka stream in group mode gives each process the
//! batches of the source partitions the group assigned it, labelled with their partition
//! ([`Origin`](crate::data::Origin)). A keyed operation (`reduce_by_key`, `count_by_value`,
//! `combine_by_key`) combines each source partition's batch on its own into `P` exchange
//! partitions by the engine's key hash, and sends one record per (batch time, source partition,
//! exchange partition) to the internal topic `<app>-<n>-exchange` (`n`: the operator's place among
//! the program's exchanges, in build order). The exchange partitions are shared out by a second
//! consumer group, named like the topic: a process merges, for each exchange partition it owns,
//! the partials of every source partition once the batch is complete there (see `pending.rs`),
//! and what follows the operation runs on those partitions.

mod changelog;
mod config;
mod handover;
mod pending;
mod records;
mod stage;

pub(crate) use changelog::{Changelog, Snapshot};
pub use config::ExchangeConfig;
pub(crate) use handover::{Handover, Logged};
pub(crate) use records::{decode, encode};
pub(crate) use stage::{Exchanges, Partials, Stage};
