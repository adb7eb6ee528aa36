#![no_main]
//! Fuzz target: see `jottafuse::fuzzing::checksum_cache` (given a scratch folder of this process).

libfuzzer_sys::fuzz_target!(|data: &[u8]| jottafuse::fuzzing::checksum_cache(jottafuse_fuzz::scratch(), data));
