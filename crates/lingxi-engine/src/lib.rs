//! The decision core: routing, queueing, hand-off policy. Pure, synchronous, time passed in.
//!
//! Nothing here reads a clock or does I/O: every function takes `now_ms` and returns
//! decisions as data for the application layer to persist and carry out.

pub mod routing;
pub mod sla;
