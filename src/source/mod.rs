//! Input sources.

pub(crate) mod queue;
