//! The RP face toward identity providers: each kind turns a login there into one JSON
//! document about the person, which the upstream's claim mapping then reads.

pub mod local;
