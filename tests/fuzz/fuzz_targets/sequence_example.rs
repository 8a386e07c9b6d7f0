#![no_main]
//! Fuzz target `sequence_example`: see `scivid::fuzzing`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| scivid::fuzzing::sequence_example(data));
