//! jottafuse: a FUSE filesystem and command-line tools for JottaCloud, plus the protocol-faithful
//! emulator every test runs against. Layers, top to bottom: `cli` -> `mount`/`fuse` -> `vfs` -> `remote`,
//! with `emulator` serving the same protocol from the other side.

pub mod cli;
pub mod direct_io;
pub mod dirs;
pub mod emulator;
pub mod fuse;
#[cfg(any(test, fuzzing))]
#[doc(hidden)]
pub mod fuzzing;
pub mod mount;
pub mod pages;
pub mod private;
pub mod remote;
pub mod sync;
pub mod vfs;
