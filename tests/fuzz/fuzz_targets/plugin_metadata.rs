#![no_main]
//! Fuzz target `plugin_metadata`: see `scivid::fuzzing`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| scivid::fuzzing::plugin_metadata(data));
