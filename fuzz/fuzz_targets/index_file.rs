#![no_main]
//! Fuzz target: see `jottafuse::fuzzing::index_file`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| jottafuse::fuzzing::index_file(data));
