#![no_main]
//! Fuzz target: see `jottafuse::fuzzing::rclonelink`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| jottafuse::fuzzing::rclonelink(data));
