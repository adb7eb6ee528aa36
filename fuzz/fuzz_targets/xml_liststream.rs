#![no_main]
//! Fuzz target: see `jottafuse::fuzzing::xml_liststream`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| jottafuse::fuzzing::xml_liststream(data));
