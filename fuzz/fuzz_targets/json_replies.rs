#![no_main]
//! Fuzz target: see `jottafuse::fuzzing::json_replies`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| jottafuse::fuzzing::json_replies(data));
