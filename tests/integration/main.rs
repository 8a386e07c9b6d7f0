//! scivid's integration tests: one binary, a module per area.

mod common;
mod contract;
mod ops;
mod sandbox;
mod slice;
mod third_party;
