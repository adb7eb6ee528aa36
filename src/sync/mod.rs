//! The sync layer: tools that move whole trees between a local disk and JottaCloud, built on `Remote`
//! (never on the vfs). `scan*`: the one-way backup mirror of `jotta scan`.

pub mod checksum_cache;
pub mod exclude;
pub mod scan;
pub mod scan_guard;
pub mod scan_local;
pub mod scan_report;
pub mod scan_run;
