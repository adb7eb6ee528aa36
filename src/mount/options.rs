//! `-o` mount options, in the conventions of FUSE filesystems and the `mount.fuse3` helper: the kernel
//! and fusermount options (`ro`, `allow_other`, `uid=`, ...), the generic fstab words that only matter to
//! mount(8) (`defaults`, `_netdev`, `noauto`, ...), and our own settings as `name=value`.

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

/// Options that only mean something to mount(8) or systemd; the daemon accepts and ignores them.
const IGNORED: [&str; 16] = [
    "defaults",
    "_netdev",
    "nofail",
    "noauto",
    "auto",
    "user",
    "users",
    "nouser",
    "owner",
    "relatime",
    "norelatime",
    "strictatime",
    "lazytime",
    "nodiratime",
    "rw",
    "async",
];

fn parse_secs(key: &str, v: &str) -> Result<Duration, String> {
    v.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("mount option {key}={v}: expected a number of seconds"))
}

fn parse_u32(key: &str, v: &str, radix: u32) -> Result<u32, String> {
    u32::from_str_radix(v, radix).map_err(|_| format!("mount option {key}={v}: expected a number"))
}

impl MountSettings {
    /// Apply one comma-separated `-o` string; later options override earlier ones.
    pub fn apply(&mut self, list: &str) -> Result<(), String> {
        for opt in list.split(',').map(str::trim).filter(|o| !o.is_empty()) {
            let (key, value) = match opt.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (opt, None),
            };
            match (key, value) {
                ("ro", None) => {
                    self.read_only = true;
                    self.fuse_options.push(MountOption::RO);
                }
                ("allow_other", None) => self.acl = SessionACL::All,
                ("allow_root", None) => self.acl = SessionACL::RootAndOwner,
                ("default_permissions", None) => self.fuse_options.push(MountOption::DefaultPermissions),
                ("auto_unmount", None) => self.fuse_options.push(MountOption::AutoUnmount),
                ("dev", None) => self.fuse_options.push(MountOption::Dev),
                ("nodev", None) => self.fuse_options.push(MountOption::NoDev),
                ("suid", None) => self.fuse_options.push(MountOption::Suid),
                ("nosuid", None) => self.fuse_options.push(MountOption::NoSuid),
                ("exec", None) => self.fuse_options.push(MountOption::Exec),
                ("noexec", None) => self.fuse_options.push(MountOption::NoExec),
                ("atime", None) => self.fuse_options.push(MountOption::Atime),
                ("noatime", None) => self.fuse_options.push(MountOption::NoAtime),
                ("demo", None) => self.demo = true,
                ("direct_io", None) => self.direct_io = true,
                ("links", None) => self.links = true,
                ("nonempty", None) => self.nonempty = true,
                ("uid", Some(v)) => self.uid = Some(parse_u32(key, v, 10)?),
                ("gid", Some(v)) => self.gid = Some(parse_u32(key, v, 10)?),
                ("umask", Some(v)) => self.umask = Some(parse_u32(key, v, 8)? & 0o777),
                ("fsname", Some(v)) => self.fuse_options.push(MountOption::FSName(v.to_string())),
                ("subtype", Some(v)) => self.fuse_options.push(MountOption::Subtype(v.to_string())),
                ("root", Some(v)) => self.root = Some(v.to_string()),
                ("endpoint", Some(v)) => self.endpoint = Some(v.to_string()),
                ("config_dir", Some(v)) => self.config_dir = Some(v.to_string()),
                ("ca_cert", Some(v)) => self.ca_cert = Some(v.to_string()),
                ("log_file", Some(v)) => self.log_file = Some(v.to_string()),
                ("cache_dir", Some(v)) => self.cache_dir = Some(v.to_string()),
                ("writeback_delay", Some(v)) => self.writeback_delay = Some(parse_secs(key, v)?),
                ("drain_timeout", Some(v)) => self.drain_timeout = Some(parse_secs(key, v)?),
                ("read_ahead_kb", Some(v)) => self.read_ahead_kb = Some(parse_u32(key, v, 10)?),
                ("uploads", Some(v)) => {
                    let n = parse_u32(key, v, 10)? as usize;
                    if n == 0 {
                        return Err("mount option uploads=0: at least one upload worker is needed".into());
                    }
                    self.uploads = Some(n)
                }
                ("prefetch", Some(v)) => {
                    let n = parse_u32(key, v, 10)?;
                    if n > 256 {
                        return Err(format!("mount option prefetch={n}: at most 256 listings in flight"));
                    }
                    self.prefetch = Some(n as usize)
                }
                ("cache_entries", Some(v)) => self.cache_entries = Some(parse_u32(key, v, 10)?.max(1) as usize),
                ("dir_cache", Some(v)) => self.dir_cache = Some(parse_secs(key, v)?),
                ("attr_cache", Some(v)) => self.attr_cache = Some(parse_secs(key, v)?),
                ("threads", Some(v)) => {
                    let n = parse_u32(key, v, 10)? as usize;
                    if n == 0 {
                        return Err("mount option threads=0: at least one thread is needed".into());
                    }
                    self.threads = Some(n)
                }
                (k, _) if IGNORED.contains(&k) || k.starts_with("x-") || k == "comment" => {}
                (k, _) => {
                    return Err(format!(
                        "unknown mount option '{opt}' (see `jottafuse --help` for the options; {k} is not one)"
                    ))
                }
            }
        }
        Ok(())
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
