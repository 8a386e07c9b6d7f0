#![no_main]
//! Fuzz target `npy`: see `scivid::fuzzing`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| scivid::fuzzing::npy(data));
