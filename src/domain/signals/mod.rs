//! Shared Signals (SSF 1.0 with CAEP 1.0 and RISC 1.0): Gatehouse as a transmitter
//! toward apps (their streams, the events they are owed, delivered by push or poll) and
//! as a receiver of its upstreams' events, which end or narrow what came from them.

pub mod actions;
pub mod emit;
pub mod events;
pub mod polling;
pub mod push;
pub mod receive;
pub mod receiver;
pub mod streams;
