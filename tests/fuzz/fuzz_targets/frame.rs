#![no_main]
//! Fuzz target `frame`: see `scivid::fuzzing`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| scivid::fuzzing::frame(data));
