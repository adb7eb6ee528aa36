#![no_main]
//! Fuzz target: see `jottafuse::fuzzing::archive_head` (given a scratch folder of this process).

libfuzzer_sys::fuzz_target!(|data: &[u8]| jottafuse::fuzzing::archive_head(jottafuse_fuzz::scratch(), data));
