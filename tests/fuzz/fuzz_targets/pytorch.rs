#![no_main]
//! Fuzz target `pytorch`: see `scivid::fuzzing`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| scivid::fuzzing::checkpoint(data, "bin"));
