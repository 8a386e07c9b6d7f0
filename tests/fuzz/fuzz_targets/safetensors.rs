#![no_main]
//! Fuzz target `safetensors`: see `scivid::fuzzing`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| scivid::fuzzing::checkpoint(data, "safetensors"));
