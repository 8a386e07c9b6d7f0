#![no_main]
//! Fuzz target `npz`: see `scivid::fuzzing`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| scivid::fuzzing::checkpoint(data, "npz"));
