//! The decision core: routing, queueing, SLA timers, business hours, the hand-off policy and the hand-off
//! summary, guided flows and recommendations. Pure, synchronous, time passed in.
//!
//! Nothing here reads a clock or does I/O: every function takes `now_ms` and returns
//! decisions as data for the application layer to persist and carry out.

pub mod flow;
pub mod handoff;
pub mod hours;
pub mod recommend;
pub mod render;
pub mod routing;
pub mod sla;
pub mod summary;
