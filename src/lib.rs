//! jottafuse: a FUSE filesystem and command-line tools for JottaCloud, plus the protocol-faithful
//! emulator every test runs against. Layers, top to bottom: `cli` -> `vfs` -> `remote` -> (`emulator`).

pub mod cli;
pub mod dirs;
pub mod emulator;
pub mod remote;
