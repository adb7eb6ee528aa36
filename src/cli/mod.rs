//! Command-line front ends (clap argument structs and their `run` functions); no logic beyond wiring.

pub mod emulator;
