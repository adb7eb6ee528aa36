//! The one table of `-o` mount options. Each row names an option, the value it takes, the default a user
//! sees, one line of help, and the function that checks the value and sets it on `MountSettings`.
//! Parsing (`MountSettings::apply`), `jottafuse --help` and README's option table all read this table,
//! and the shown defaults are the named constants the daemon resolves unset options with, so none of
//! them can drift from the others.

use super::options::MountSettings;
use crate::vfs::VfsConfig;
use fuser::{MountOption, SessionACL};
use std::time::Duration;

/// What follows `NAME=`, if anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Takes {
    /// A bare word: `ro`.
    Flag,
    /// Seconds, fractions allowed: `dir_cache=1.5`.
    Secs,
    /// A decimal number: `threads=4`.
    Number,
    /// An octal number: `umask=027`.
    Octal,
    Name,
    Path,
    Dir,
    File,
    Url,
}

impl Takes {
    /// How the value is written in help: `uid=N`.
    pub fn placeholder(self) -> &'static str {
        match self {
            Takes::Flag => "",
            Takes::Secs => "SECS",
            Takes::Number => "N",
            Takes::Octal => "OCTAL",
            Takes::Name => "NAME",
            Takes::Path => "PATH",
            Takes::Dir => "DIR",
            Takes::File => "FILE",
            Takes::Url => "URL",
        }
    }
}

/// The default as a user sees it. The numeric kinds hold the very constant the daemon uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    Off,
    On,
    Count(usize),
    Secs(Duration),
    Octal(u32),
    /// Whatever is not a number: "the mounting user", "$XDG_CACHE_HOME/jottafuse", ...
    Text(&'static str),
}

impl Shown {
    pub fn text(self) -> String {
        match self {
            Shown::Off => "off".into(),
            Shown::On => "on".into(),
            Shown::Count(n) => n.to_string(),
            Shown::Secs(d) => format!("{} s", d.as_secs_f64()),
            Shown::Octal(n) => format!("{n:03o}"),
            Shown::Text(t) => t.into(),
        }
    }

    /// The default written as the option's value (`prefetch=32`), for the numeric kinds.
    pub fn as_value(self) -> Option<String> {
        match self {
            Shown::Count(n) => Some(n.to_string()),
            Shown::Secs(d) => Some(d.as_secs_f64().to_string()),
            Shown::Octal(n) => Some(format!("{n:03o}")),
            Shown::Off | Shown::On | Shown::Text(_) => None,
        }
    }
}

/// One option as given: `key=value`, or `key` with an empty value for a flag. Its readers give the
/// one-line errors, which name the option as written.
pub struct Given<'a> {
    pub key: &'a str,
    pub value: &'a str,
}

impl Given<'_> {
    pub fn refuse(&self, why: &str) -> String {
        format!("mount option {}={}: {why}", self.key, self.value)
    }

    pub fn secs(&self) -> Result<Duration, String> {
        // try_from: a huge number of seconds is refused, not a panic.
        self.value
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s >= 0.0)
            .and_then(|s| Duration::try_from_secs_f64(s).ok())
            .ok_or_else(|| self.refuse("expected a number of seconds"))
    }

    pub fn number(&self) -> Result<u32, String> {
        self.value.parse::<u32>().map_err(|_| self.refuse("expected a number"))
    }

    pub fn octal(&self) -> Result<u32, String> {
        u32::from_str_radix(self.value, 8).map_err(|_| self.refuse("expected an octal number"))
    }

    pub fn text(&self) -> String {
        self.value.to_string()
    }
}

type Apply = fn(&mut MountSettings, &Given) -> Result<(), String>;

pub struct OptionSpec {
    pub name: &'static str,
    pub takes: Takes,
    pub default: Shown,
    pub help: &'static str,
    pub apply: Apply,
}

impl OptionSpec {
    /// `uid=N`, or `ro` for a flag.
    pub fn usage(&self) -> String {
        match self.takes {
            Takes::Flag => self.name.to_string(),
            t => format!("{}={}", self.name, t.placeholder()),
        }
    }
}

/// More listings in flight than this only queue at the service.
pub const MAX_PREFETCH: u32 = 256;

/// Options that only mean something to mount(8) or systemd; the daemon accepts and ignores them, and
/// so any `x-*` word and `comment=`.
pub const IGNORED: [&str; 16] = [
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

/// Whether `key` is one of the accepted and ignored fstab words.
pub fn ignored(key: &str) -> bool {
    IGNORED.contains(&key) || key.starts_with("x-") || key == "comment"
}

/// A FUSE option the kernel or fusermount3 takes as it is.
macro_rules! kernel_flag {
    ($name:literal, $option:expr, $default:expr, $help:literal) => {
        OptionSpec {
            name: $name,
            takes: Takes::Flag,
            default: $default,
            help: $help,
            apply: |s, _| {
                s.fuse_options.push($option);
                Ok(())
            },
        }
    };
}

pub const OPTIONS: &[OptionSpec] = &[
    // The kernel's and fusermount3's, as every FUSE filesystem takes them.
    OptionSpec {
        name: "ro",
        takes: Takes::Flag,
        default: Shown::Off,
        help: "read-only mount",
        apply: |s, _| {
            s.read_only = true;
            s.fuse_options.push(MountOption::RO);
            Ok(())
        },
    },
    OptionSpec {
        name: "allow_other",
        takes: Takes::Flag,
        default: Shown::Off,
        help: "other users may look inside (needs user_allow_other in /etc/fuse.conf)",
        apply: |s, _| {
            s.acl = SessionACL::All;
            Ok(())
        },
    },
    OptionSpec {
        name: "allow_root",
        takes: Takes::Flag,
        default: Shown::Off,
        help: "root may look inside too",
        apply: |s, _| {
            s.acl = SessionACL::RootAndOwner;
            Ok(())
        },
    },
    kernel_flag!(
        "default_permissions",
        MountOption::DefaultPermissions,
        Shown::Off,
        "the kernel checks access against the mode bits"
    ),
    kernel_flag!("auto_unmount", MountOption::AutoUnmount, Shown::Off, "unmount when the daemon dies"),
    kernel_flag!("dev", MountOption::Dev, Shown::Off, "device files are honoured"),
    kernel_flag!("nodev", MountOption::NoDev, Shown::On, "device files are not honoured"),
    kernel_flag!("suid", MountOption::Suid, Shown::Off, "set-user-id bits are honoured"),
    kernel_flag!("nosuid", MountOption::NoSuid, Shown::On, "set-user-id bits are not honoured"),
    kernel_flag!("exec", MountOption::Exec, Shown::On, "programs may be run from the mount"),
    kernel_flag!("noexec", MountOption::NoExec, Shown::Off, "programs may not be run from the mount"),
    kernel_flag!("atime", MountOption::Atime, Shown::Off, "ask the kernel to update access times"),
    kernel_flag!("noatime", MountOption::NoAtime, Shown::Off, "ask the kernel not to update access times"),
    OptionSpec {
        name: "fsname",
        takes: Takes::Name,
        default: Shown::Text("jotta:ROOT"),
        help: "the source shown by mount, findmnt and df",
        apply: |s, g| {
            s.fuse_options.push(MountOption::FSName(g.text()));
            Ok(())
        },
    },
    OptionSpec {
        name: "subtype",
        takes: Takes::Name,
        default: Shown::Text("jottafuse"),
        help: "the type shown as fuse.NAME",
        apply: |s, g| {
            s.fuse_options.push(MountOption::Subtype(g.text()));
            Ok(())
        },
    },
    OptionSpec {
        name: "uid",
        takes: Takes::Number,
        default: Shown::Text("yours"),
        help: "owner shown for every file and folder",
        apply: |s, g| {
            s.uid = Some(g.number()?);
            Ok(())
        },
    },
    OptionSpec {
        name: "gid",
        takes: Takes::Number,
        default: Shown::Text("yours"),
        help: "group shown for every file and folder",
        apply: |s, g| {
            s.gid = Some(g.number()?);
            Ok(())
        },
    },
    OptionSpec {
        name: "umask",
        takes: Takes::Octal,
        default: Shown::Octal(VfsConfig::DEFAULT_UMASK),
        help: "permission bits taken away from 0666 (files) and 0777 (folders)",
        apply: |s, g| {
            s.umask = Some(g.octal()? & 0o777);
            Ok(())
        },
    },
    OptionSpec {
        name: "nonempty",
        takes: Takes::Flag,
        default: Shown::Off,
        help: "mount over a folder that holds files, hiding them while mounted",
        apply: |s, _| {
            s.nonempty = true;
            Ok(())
        },
    },
    // Ours.
    OptionSpec {
        name: "root",
        takes: Takes::Path,
        default: Shown::Text("/"),
        help: "mount only this subtree, /Device/MountPoint[/path]",
        apply: |s, g| {
            s.root = Some(g.text());
            Ok(())
        },
    },
    OptionSpec {
        name: "demo",
        takes: Takes::Flag,
        default: Shown::Off,
        help: "the embedded demo account (no account or network needed)",
        apply: |s, _| {
            s.demo = true;
            Ok(())
        },
    },
    OptionSpec {
        name: "endpoint",
        takes: Takes::Url,
        default: Shown::Text("the saved login's"),
        help: "service base URL (an emulator), as jotta --endpoint",
        apply: |s, g| {
            s.endpoint = Some(g.text());
            Ok(())
        },
    },
    OptionSpec {
        name: "config_dir",
        takes: Takes::Dir,
        default: Shown::Text("$XDG_CONFIG_HOME/jottafuse"),
        help: "folder holding the saved login, as jotta --config-dir",
        apply: |s, g| {
            s.config_dir = Some(g.text());
            Ok(())
        },
    },
    OptionSpec {
        name: "ca_cert",
        takes: Takes::File,
        default: Shown::Text("none"),
        help: "one more CA to trust (PEM), as jotta --ca-cert",
        apply: |s, g| {
            s.ca_cert = Some(g.text());
            Ok(())
        },
    },
    OptionSpec {
        name: "log_file",
        takes: Takes::Path,
        default: Shown::Text("one per mount point"),
        help: "where the daemon logs in the background",
        apply: |s, g| {
            s.log_file = Some(g.text());
            Ok(())
        },
    },
    OptionSpec {
        name: "cache_dir",
        takes: Takes::Dir,
        default: Shown::Text("$XDG_CACHE_HOME/jottafuse"),
        help: "staging files and the upload journal",
        apply: |s, g| {
            s.cache_dir = Some(g.text());
            Ok(())
        },
    },
    OptionSpec {
        name: "dir_cache",
        takes: Takes::Secs,
        default: Shown::Secs(VfsConfig::DEFAULT_DIR_TTL),
        help: "how long a folder listing is trusted; also the kernel's entry TTL",
        apply: |s, g| {
            s.dir_cache = Some(g.secs()?);
            Ok(())
        },
    },
    OptionSpec {
        name: "attr_cache",
        takes: Takes::Secs,
        default: Shown::Secs(VfsConfig::DEFAULT_ATTR_TTL),
        help: "the kernel's attribute TTL",
        apply: |s, g| {
            s.attr_cache = Some(g.secs()?);
            Ok(())
        },
    },
    OptionSpec {
        name: "cache_entries",
        takes: Takes::Number,
        default: Shown::Count(VfsConfig::DEFAULT_CACHE_ENTRIES),
        help: "names kept in memory (about 800 bytes each)",
        apply: |s, g| {
            s.cache_entries = Some(g.number()?.max(1) as usize);
            Ok(())
        },
    },
    OptionSpec {
        name: "prefetch",
        takes: Takes::Number,
        default: Shown::Count(VfsConfig::DEFAULT_PREFETCH),
        help: "folder listings fetched ahead in parallel when a folder is opened, or a walked subtree in one request (at most 256; 0: none)",
        apply: |s, g| {
            let n = g.number()?;
            if n > MAX_PREFETCH {
                return Err(g.refuse(&format!("at most {MAX_PREFETCH} listings in flight")));
            }
            s.prefetch = Some(n as usize);
            Ok(())
        },
    },
    OptionSpec {
        name: "threads",
        takes: Takes::Number,
        default: Shown::Count(MountSettings::DEFAULT_THREADS),
        help: "FUSE worker threads",
        apply: |s, g| {
            let n = g.number()? as usize;
            if n == 0 {
                return Err(g.refuse("at least one thread is needed"));
            }
            s.threads = Some(n);
            Ok(())
        },
    },
    OptionSpec {
        name: "uploads",
        takes: Takes::Number,
        default: Shown::Count(VfsConfig::DEFAULT_UPLOAD_WORKERS),
        help: "uploads in flight at once",
        apply: |s, g| {
            let n = g.number()? as usize;
            if n == 0 {
                return Err(g.refuse("at least one upload worker is needed"));
            }
            s.uploads = Some(n);
            Ok(())
        },
    },
    OptionSpec {
        name: "writeback_delay",
        takes: Takes::Secs,
        default: Shown::Secs(VfsConfig::DEFAULT_WRITEBACK_DELAY),
        help: "how long a closed file waits before its upload starts",
        apply: |s, g| {
            s.writeback_delay = Some(g.secs()?);
            Ok(())
        },
    },
    OptionSpec {
        name: "drain_timeout",
        takes: Takes::Secs,
        default: Shown::Secs(MountSettings::DEFAULT_DRAIN_TIMEOUT),
        help: "how long unmount waits for pending uploads before leaving them to the next mount",
        apply: |s, g| {
            s.drain_timeout = Some(g.secs()?);
            Ok(())
        },
    },
    OptionSpec {
        name: "read_ahead_kb",
        takes: Takes::Number,
        default: Shown::Count(MountSettings::DEFAULT_READ_AHEAD_KB as usize),
        help: "the kernel's read-ahead for the mount, in KiB (root only)",
        apply: |s, g| {
            s.read_ahead_kb = Some(g.number()?);
            Ok(())
        },
    },
    OptionSpec {
        name: "direct_io",
        takes: Takes::Flag,
        default: Shown::Off,
        help: "reads skip the page cache: faster one-pass streaming, nothing cached across opens",
        apply: |s, _| {
            s.direct_io = true;
            Ok(())
        },
    },
    OptionSpec {
        name: "links",
        takes: Takes::Flag,
        default: Shown::Off,
        help: "symbolic links kept as NAME.rclonelink files, as rclone's --links",
        apply: |s, _| {
            s.links = true;
            Ok(())
        },
    },
];

/// The row for `name`, if there is one.
pub fn find(name: &str) -> Option<&'static OptionSpec> {
    OPTIONS.iter().find(|o| o.name == name)
}

/// The options for `--help`, one per line: `NAME=VALUE`, default, what it does.
pub fn help_text() -> String {
    let width = OPTIONS.iter().map(|o| o.usage().len()).max().unwrap_or(0);
    let dwidth = OPTIONS.iter().map(|o| o.default.text().len()).max().unwrap_or(0);
    let mut out = String::from("MOUNT OPTIONS (-o, comma separated; a later one wins over an earlier one):\n");
    out += &format!("  {:width$}  {:dwidth$}  {}\n", "OPTION", "DEFAULT", "WHAT IT DOES");
    for o in OPTIONS {
        out += &format!("  {:width$}  {:dwidth$}  {}\n", o.usage(), o.default.text(), o.help);
    }
    out += &format!("Accepted and ignored (they are for mount(8) and systemd): {}, x-*, comment=.", IGNORED.join(", "));
    out
}

/// README's table of the options, as `tests` in this file expect to find it there.
pub fn markdown_table() -> String {
    let mut out = String::from("| option | value | default | what it does |\n|---|---|---|---|\n");
    for o in OPTIONS {
        let value = match o.takes {
            Takes::Flag => "-".to_string(),
            t => format!("`{}`", t.placeholder()),
        };
        out += &format!("| `{}` | {value} | {} | {} |\n", o.name, o.default.text(), o.help);
    }
    out
}

#[cfg(test)]
mod tests;
