#![no_main]
//! Fuzz target: see `jottafuse::fuzzing::journal_records` (given a scratch folder of this process).

libfuzzer_sys::fuzz_target!(|data: &[u8]| jottafuse::fuzzing::journal_records(jottafuse_fuzz::scratch(), data));
