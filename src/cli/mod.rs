//! Command-line front ends: clap definitions and presentation for `jotta` and `jottafuse`.

pub mod emulator;
pub mod jotta;
pub mod jottafuse;
