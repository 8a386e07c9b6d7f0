#![no_main]
//! Fuzz target `zarr_metadata`: see `scivid::fuzzing`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| scivid::fuzzing::zarr_metadata(data));
