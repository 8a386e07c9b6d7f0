//! Zarr stores. The reader is the `scivid-zarr` crate (shared with Wasm
//! task plugins, which read coordinate arrays such as a store's time axis
//! through it); the writer of the synthetic stand-ins' stores is here.

pub use scivid_zarr::*;
pub mod write;
