//! `-o` mount options, in the conventions of FUSE filesystems and the `mount.fuse3` helper: the kernel
//! and fusermount options (`ro`, `allow_other`, `uid=`, ...), the generic fstab words that only matter to
//! mount(8) (`defaults`, `_netdev`, `noauto`, ...), and our own settings as `name=value`. This file
//! owns the settings and how unset ones resolve to defaults; `option_table.rs` owns what each option is.

use super::option_table::{self, Given, Takes};
use crate::remote::RemotePath;
use crate::vfs::VfsConfig;
use fuser::{MountOption, SessionACL};
use std::time::Duration;

#[derive(Debug, Clone, Default)]
pub struct MountSettings {
    pub fuse_options: Vec<MountOption>,
    pub acl: SessionACL,
    pub read_only: bool,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub umask: Option<u32>,
    /// `root=/Device/MountPoint[/path]`: mount a subtree.
    pub root: Option<String>,
    pub demo: bool,
    pub dir_cache: Option<Duration>,
    pub attr_cache: Option<Duration>,
    pub threads: Option<usize>,
    pub cache_entries: Option<usize>,
    pub endpoint: Option<String>,
    /// Folder holding the saved login (default: $XDG_CONFIG_HOME/jottafuse), as `jotta --config-dir`.
    pub config_dir: Option<String>,
    /// One more CA to trust (PEM), as `jotta --ca-cert`.
    pub ca_cert: Option<String>,
    /// Mount over a folder that holds files (hiding them while mounted).
    pub nonempty: bool,
    pub log_file: Option<String>,
    /// Staging files and the upload journal (default: $XDG_CACHE_HOME/jottafuse).
    pub cache_dir: Option<String>,
    pub writeback_delay: Option<Duration>,
    pub uploads: Option<usize>,
    /// Folder listings fetched ahead in parallel (0: none).
    pub prefetch: Option<usize>,
    /// How long unmount waits for pending uploads before leaving them to the next mount.
    pub drain_timeout: Option<Duration>,
    /// Kernel read-ahead for the mount, in KiB (root only; default 8192).
    pub read_ahead_kb: Option<u32>,
    /// Reads bypass the kernel's page cache.
    pub direct_io: bool,
    /// Symbolic links stored as `NAME.rclonelink` files (rclone's `--links` convention).
    pub links: bool,
}

impl MountSettings {
    /// FUSE worker threads when `-o threads` is not given.
    pub const DEFAULT_THREADS: usize = 8;
    /// How long unmount waits for uploads when `-o drain_timeout` is not given.
    pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(3600);
    /// The kernel's read-ahead in KiB when `-o read_ahead_kb` is not given.
    pub const DEFAULT_READ_AHEAD_KB: u32 = 8192;

    /// Apply one comma-separated `-o` string; later options override earlier ones. What each option
    /// does is its row in `option_table::OPTIONS`.
    pub fn apply(&mut self, list: &str) -> Result<(), String> {
        for opt in list.split(',').map(str::trim).filter(|o| !o.is_empty()) {
            let (key, value) = match opt.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (opt, None),
            };
            let Some(spec) = option_table::find(key) else {
                if option_table::ignored(key) {
                    continue;
                }
                return Err(format!(
                    "unknown mount option '{opt}' (see `jottafuse --help` for the options; {key} is not one)"
                ));
            };
            let value = match (spec.takes, value) {
                (Takes::Flag, None) => "",
                (Takes::Flag, Some(v)) => {
                    return Err(format!("mount option {key}={v}: {key} takes no value (write just {key})"))
                }
                (_, Some(v)) => v,
                (_, None) => return Err(format!("mount option {key}: give a value, as {}", spec.usage())),
            };
            (spec.apply)(self, &Given { key, value })?;
        }
        Ok(())
    }

    pub fn threads(&self) -> usize {
        self.threads.unwrap_or(Self::DEFAULT_THREADS)
    }

    pub fn drain_timeout(&self) -> Duration {
        self.drain_timeout.unwrap_or(Self::DEFAULT_DRAIN_TIMEOUT)
    }

    pub fn read_ahead_kb(&self) -> u32 {
        self.read_ahead_kb.unwrap_or(Self::DEFAULT_READ_AHEAD_KB)
    }

    /// The filesystem core's settings: what the options say, `VfsConfig`'s defaults for the rest, and
    /// `uid`/`gid` (the mounting user's) where the options name none.
    pub fn vfs_config(&self, root: RemotePath, uid: u32, gid: u32) -> VfsConfig {
        let d = VfsConfig::default();
        VfsConfig {
            root,
            uid: self.uid.unwrap_or(uid),
            gid: self.gid.unwrap_or(gid),
            umask: self.umask.unwrap_or(d.umask),
            read_only: self.read_only,
            direct_io: self.direct_io,
            links: self.links,
            dir_ttl: self.dir_cache.unwrap_or(d.dir_ttl),
            attr_ttl: self.attr_cache.unwrap_or(d.attr_ttl),
            cache_entries: self.cache_entries.unwrap_or(d.cache_entries),
            writeback_delay: self.writeback_delay.unwrap_or(d.writeback_delay),
            upload_workers: self.uploads.unwrap_or(d.upload_workers),
            prefetch: self.prefetch.unwrap_or(d.prefetch),
            ..d
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fstab_style_options_parse() {
        let mut s = MountSettings::default();
        s.apply("rw,_netdev,noauto,user,allow_other,uid=1000,gid=100,umask=027,fsname=jotta,root=/Jotta/Archive")
            .unwrap();
        assert_eq!(s.acl, SessionACL::All);
        assert_eq!((s.uid, s.gid, s.umask), (Some(1000), Some(100), Some(0o027)));
        assert_eq!(s.root.as_deref(), Some("/Jotta/Archive"));
        assert!(s.fuse_options.contains(&MountOption::FSName("jotta".into())));
        assert!(!s.read_only);
    }

    #[test]
    fn own_settings_and_ro() {
        let mut s = MountSettings::default();
        s.apply("ro,dir_cache=1.5,threads=4,demo,links").unwrap();
        assert!(s.read_only && s.demo && s.links);
        assert_eq!(s.dir_cache, Some(Duration::from_millis(1500)));
        assert_eq!(s.threads, Some(4));
    }

    #[test]
    fn bad_options_name_the_problem() {
        for bad in ["bogus", "uid=abc", "umask=9", "threads=0", "dir_cache=-1"] {
            let e = MountSettings::default().apply(bad).unwrap_err();
            assert!(e.contains(bad.split('=').next().unwrap()), "{bad}: {e}");
        }
    }
}
