#![no_main]
//! Fuzz target `array_record`: see `scivid::fuzzing`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| scivid::fuzzing::array_record(data));
