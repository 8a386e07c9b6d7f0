#![no_main]
//! Fuzz target `zarr_chunk`: see `scivid::fuzzing`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| scivid::fuzzing::zarr_chunk(data));
