#![no_main]
//! Fuzz target: see `jottafuse::fuzzing::login_files` (given a scratch folder of this process).

libfuzzer_sys::fuzz_target!(|data: &[u8]| jottafuse::fuzzing::login_files(jottafuse_fuzz::scratch(), data));
