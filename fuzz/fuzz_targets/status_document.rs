#![no_main]
//! Fuzz target: see `jottafuse::fuzzing::status_document`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| jottafuse::fuzzing::status_document(data));
