//! The daemon's log: env_logger to stderr (foreground) or to the mount's log file (background), one line
//! per event with the time, level and pid; fuser's reports of harmless events demoted to DEBUG, so that
//! ERROR and WARN in the log always mean something went wrong.

use log::{Level, Log, Metadata, Record};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The background log of the mount on `mountpoint`: `<cache>/logs/<mount point, / as ->.log`, so two
/// mounts never share a log and each is found by its mount point (`/home/u/jotta` -> `home-u-jotta.log`).
pub fn default_log_file(mountpoint: &Path) -> PathBuf {
    let name: String = mountpoint
        .to_string_lossy()
        .trim_matches('/')
        .chars()
        .map(|c| if c == '/' || c.is_control() { '-' } else { c })
        .collect();
    let name = if name.is_empty() { "root".to_string() } else { name };
    crate::dirs::cache_dir().join("logs").join(format!("{name}.log"))
}

pub fn init(debug: bool, log_file: Option<&str>, background: bool, mountpoint: &Path) {
    let default = if debug { "debug" } else { "info" };
    let mut builder = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default));
    let pid = std::process::id();
    // `2026-12-03T03:54:09Z INFO  pid 4242 jottafuse::mount: message`, a message over several lines
    // joined into one.
    builder.format(move |buf, record| {
        let text = record.args().to_string().replace(['\n', '\r'], " ");
        writeln!(buf, "{} {:<5} pid {pid} {}: {text}", buf.timestamp(), record.level(), record.target())
    });
    if background {
        let path = log_file.map(PathBuf::from).unwrap_or_else(|| default_log_file(mountpoint));
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        if let Ok(f) = std::fs::OpenOptions::new().create(true).append(true).open(&path) {
            builder.target(env_logger::Target::Pipe(Box::new(f)));
        }
    }
    let inner = builder.build();
    let max = inner.filter();
    if log::set_boxed_logger(Box::new(Demote { inner })).is_ok() {
        log::set_max_level(max);
    }
}

struct Demote {
    inner: env_logger::Logger,
}

/// fuser's messages that report nothing wrong.
const HARMLESS: [&str; 3] = [
    // An operation this filesystem does not implement, answered ENOSYS by the library: the caller sees
    // the errno, and the log of a busy mount would fill with these.
    "[Not Implemented]",
    // The kernel no longer knows the request being answered: its reader was interrupted or went away
    // while we fetched the bytes. Nobody waits for that reply.
    "Failed to send FUSE reply: No such file or directory",
    // At the end of the session, after `fusermount3 -u` or `umount` already took the mount away.
    "Failed to umount filesystem: Invalid argument",
];

fn harmless(record: &Record) -> bool {
    record.level() <= Level::Warn && record.target().starts_with("fuser") && {
        let text = record.args().to_string();
        HARMLESS.iter().any(|h| text.starts_with(h))
    }
}

impl Log for Demote {
    fn enabled(&self, metadata: &Metadata) -> bool {
        self.inner.enabled(metadata)
    }

    fn log(&self, record: &Record) {
        if !harmless(record) {
            self.inner.log(record);
            return;
        }
        let demoted = Metadata::builder().level(Level::Debug).target(record.target()).build();
        if self.inner.enabled(&demoted) {
            self.inner.log(
                &Record::builder()
                    .metadata(demoted)
                    .args(*record.args())
                    .module_path(record.module_path())
                    .file(record.file())
                    .line(record.line())
                    .build(),
            );
        }
    }

    fn flush(&self) {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_harmless(level: Level, target: &str, args: std::fmt::Arguments) -> bool {
        harmless(&Record::builder().level(level).target(target).args(args).build())
    }

    #[test]
    fn only_fusers_harmless_reports_are_demoted() {
        let enoent = "No such file or directory (os error 2)";
        assert!(is_harmless(Level::Error, "fuser::reply", format_args!("Failed to send FUSE reply: {enoent}")));
        assert!(is_harmless(Level::Warn, "fuser::request", format_args!("[Not Implemented] bmap(ino: 0x2)")));
        let einval = "Invalid argument (os error 22)";
        assert!(is_harmless(Level::Warn, "fuser::session", format_args!("Failed to umount filesystem: {einval}")));
        let enodev = "No such device (os error 19)";
        assert!(!is_harmless(Level::Error, "fuser::reply", format_args!("Failed to send FUSE reply: {enodev}")));
        let ebusy = "Device or resource busy (os error 16)";
        assert!(!is_harmless(Level::Warn, "fuser::session", format_args!("Failed to umount filesystem: {ebusy}")));
        assert!(!is_harmless(Level::Error, "jottafuse::vfs", format_args!("Failed to send FUSE reply: {enoent}")));
        assert!(!is_harmless(Level::Info, "fuser::reply", format_args!("Failed to send FUSE reply: {enoent}")));
    }
}
