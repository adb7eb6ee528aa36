//! The `jottafuse` daemon: from parsed options to a mounted, serving filesystem, and back down on
//! SIGTERM/SIGINT or `fusermount3 -u`. Owns start-up order: vet the mount point, fork to the background,
//! own the demo folder, connect (or start the embedded demo account), own the account's cache folder,
//! check the root, mount, report ready, serve; then close what the kernel left open, drain, clean up.

mod allocator;
pub mod checks;
pub mod daemon;
pub mod demo;
mod kernel_mount;
pub mod lock;
mod logging;
pub mod option_table;
pub mod options;
pub mod status;
mod stop;
mod unmount;

use crate::fuse::FuseAdapter;
use crate::remote::RemotePath;
use crate::remote::{ConnectOptions, HttpRemote};
use crate::vfs::JottaFs;
use daemon::Readiness;
use options::MountSettings;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// Everything the daemon needs, already merged from flags, `-o` options and the mount source.
#[derive(Debug, Clone)]
pub struct MountRequest {
    pub mountpoint: PathBuf,
    pub settings: MountSettings,
    pub foreground: bool,
    pub debug: bool,
}

/// Run the daemon; returns the process exit status. In background mode the parent process exits inside.
pub fn run(mut req: MountRequest) -> i32 {
    allocator::keep_freed_memory();
    // Staging files, journal, status and logs are the user's alone, whatever the umask.
    crate::private::restrict_umask();
    if let Err(e) = check_private_locations(&req.settings) {
        eprintln!("jottafuse: {e}");
        return 1;
    }
    // A CA file that cannot be used is said on the terminal, before going to the background; the path is
    // made absolute so that it means the same file whatever the daemon's working folder becomes.
    if let Some(file) = req.settings.ca_cert.take() {
        let path = std::path::absolute(&file).unwrap_or_else(|_| PathBuf::from(&file));
        if let Err(e) = crate::remote::tls::load_ca_cert(&path) {
            eprintln!("jottafuse: {e}");
            return 1;
        }
        req.settings.ca_cert = Some(path.to_string_lossy().into_owned());
    }
    let mountpoint = match checks::check_mountpoint(&req.mountpoint, req.settings.nonempty) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("jottafuse: {e}");
            return 1;
        }
    };
    let root = match RemotePath::parse(req.settings.root.as_deref().unwrap_or("/")) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("jottafuse: bad --root: {e}");
            return 1;
        }
    };
    let mut readiness = if req.foreground {
        Readiness::foreground()
    } else {
        match daemon::daemonize() {
            Ok(r) => r,
            Err(e) => {
                eprintln!("jottafuse: cannot go to the background: {e} (try -f)");
                return 1;
            }
        }
    };
    logging::init(req.debug, req.settings.log_file.as_deref(), readiness.is_background(), &mountpoint);
    bound_allocator();
    match serve(&req, &mountpoint, root, &mut readiness) {
        Ok(()) => 0,
        Err(e) => {
            log::error!("{e}");
            if readiness.is_background() {
                readiness.failed(&e);
            } else {
                eprintln!("jottafuse: {e}");
            }
            1
        }
    }
}

/// `-o cache_dir` and `-o log_file` must be places no other user can write to.
fn check_private_locations(s: &MountSettings) -> Result<(), String> {
    if let Some(dir) = &s.cache_dir {
        crate::private::check_own_folder("cache_dir", Path::new(dir))?;
    }
    if let Some(file) = &s.log_file {
        crate::private::check_log_file(Path::new(file))?;
        crate::private::tighten(Path::new(file));
    }
    Ok(())
}

/// Read-ahead buffers are a few MiB each and short-lived. glibc would otherwise raise its mmap threshold
/// after the first free and then keep such buffers in per-thread arenas, growing the daemon's memory far
/// beyond what is in use; a fixed threshold returns them to the system as soon as they are freed.
fn bound_allocator() {
    // SAFETY: mallopt only tunes the allocator; called before the worker threads start.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 10);
        libc::mallopt(libc::M_ARENA_MAX, 4);
    }
}

/// Whether this process may open /dev/fuse (what mounting needs, directly or through fusermount3).
fn dev_fuse_open_to_us() -> bool {
    // SAFETY: a NUL-terminated constant path; access() only reads it.
    unsafe { libc::access(c"/dev/fuse".as_ptr(), libc::R_OK | libc::W_OK) == 0 }
}

fn serve(req: &MountRequest, mountpoint: &Path, root: RemotePath, readiness: &mut Readiness) -> Result<(), String> {
    if !dev_fuse_open_to_us() {
        // fusermount3 opens the device as the calling user too, so no helper can get around this.
        return Err(format!(
            "cannot mount on {}: /dev/fuse is not open to this user; distributions make it mode 0666 \
             (ask the administrator: chmod 0666 /dev/fuse), or mount as root",
            mountpoint.display()
        ));
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .thread_name("jottafuse-io")
        .build()
        .map_err(|e| format!("cannot start the I/O runtime: {e}"))?;

    let me = lock::Owner::me(mountpoint);
    // Two emulators on one data folder would overwrite each other's store: one demo at a time.
    let mut demo_lock = if req.settings.demo { Some(lock::own_demo_dir(&demo::data_base(), &me)?) } else { None };
    let demo = if req.settings.demo { Some(rt.block_on(demo::DemoAccount::start())?) } else { None };
    let opts = match &demo {
        Some(d) => d.connect_options(),
        None => {
            let mut o = ConnectOptions::default();
            if req.settings.endpoint.is_some() {
                o.endpoint = req.settings.endpoint.clone();
            }
            if let Some(dir) = &req.settings.config_dir {
                o.config_dir = PathBuf::from(dir);
            }
            if let Some(file) = &req.settings.ca_cert {
                o.ca_cert = Some(PathBuf::from(file));
            }
            o
        }
    };
    let remote = rt.block_on(HttpRemote::connect(opts)).map_err(|e| e.to_string())?;

    let s = &req.settings;
    // SAFETY: getuid/getgid cannot fail.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    let mut cfg = s.vfs_config(root, uid, gid);
    let cache_base = s.cache_dir.as_ref().map(PathBuf::from).unwrap_or_else(crate::dirs::cache_dir);
    let account_dir = cache_base.join("accounts").join(account_key(&remote));
    // Only what is ours: the whole default folder, but only our own subfolders of a `-o cache_dir`.
    let ours: Vec<PathBuf> = match &s.cache_dir {
        Some(_) => vec![cache_base.join("accounts"), cache_base.join("status")],
        None => vec![cache_base.clone()],
    };
    let tightened: usize = ours.iter().map(|p| crate::private::tighten(p)).sum();
    if tightened > 0 {
        log::info!(
            "made {tightened} file(s) and folder(s) under {} readable by you alone (local state is private)",
            cache_base.display()
        );
    }
    // One daemon per journal: two would upload the same records and remove each other's staging files.
    let background = readiness.is_background();
    let mut account_lock = lock::own_account_dir(&account_dir, &me, |message| {
        log::warn!("{message}");
        if background {
            eprintln!("jottafuse: {message}");
        }
    })?;
    cfg.cache_root = Some(account_dir.clone());
    let fs = JottaFs::new(Arc::new(remote), rt.handle().clone(), cfg)
        .map_err(|e| format!("cannot use the cache dir {}: {e}", account_dir.display()))?;
    let fs = Arc::new(fs);
    fs.check_root().map_err(|e| format!("cannot mount {}: {e}", fs.config().root))?;
    fs.start_uploads();
    fs.start_prefetch();
    let status = status::StatusFile::new(&cache_base, mountpoint, &fs.config().root.to_string());
    status.spawn_writer(&rt, fs.clone());
    allocator::spawn_idle_release(&rt);

    let mut fuse_cfg = fuser::Config::default();
    fuse_cfg.mount_options = s.fuse_options.clone();
    if !fuse_cfg.mount_options.iter().any(|o| matches!(o, fuser::MountOption::FSName(_))) {
        let name = if demo.is_some() { "jotta:demo".to_string() } else { format!("jotta:{}", fs.config().root) };
        fuse_cfg.mount_options.push(fuser::MountOption::FSName(name));
    }
    fuse_cfg.mount_options.push(fuser::MountOption::Subtype("jottafuse".into()));
    // nodev,nosuid unless asked otherwise (mount.fuse3 passes `dev,suid` along from mount(8)).
    if !fuse_cfg.mount_options.contains(&fuser::MountOption::Dev) {
        fuse_cfg.mount_options.push(fuser::MountOption::NoDev);
    }
    if !fuse_cfg.mount_options.contains(&fuser::MountOption::Suid) {
        fuse_cfg.mount_options.push(fuser::MountOption::NoSuid);
    }
    fuse_cfg.acl = s.acl;
    fuse_cfg.n_threads = Some(s.threads());
    fuse_cfg.clone_fd = true;

    let own_mount = kernel_mount::mount_as_root(mountpoint, &fuse_cfg.mount_options, fuse_cfg.acl);
    let mounted_here = own_mount.is_some();
    let session = match own_mount {
        Some(fd) => {
            let acl = fuse_cfg.acl;
            fuser::Session::from_fd(FuseAdapter::new(fs.clone()), fd, acl, fuse_cfg).map_err(|e| {
                // Mounted, but the kernel's handshake failed: take the mount away again.
                let _ = std::process::Command::new("umount").arg("-l").arg(mountpoint).status();
                format!("cannot start the FUSE session on {}: {e}", mountpoint.display())
            })?
        }
        None => fuser::Session::new(FuseAdapter::new(fs.clone()), mountpoint, &fuse_cfg)
            .map_err(|e| format!("cannot mount on {}: {e}", mountpoint.display()))?,
    };
    let notifier = session.notifier();
    let let_go =
        move |folder: u64, name: &str| notifier.inval_entry(fuser::INodeNo(folder), std::ffi::OsStr::new(name));
    if let Err(e) = fs.let_kernel_forget_with(Box::new(let_go)) {
        log::warn!("cannot start the thread that keeps the kernel's names within cache_entries: {e}");
    }
    log::info!("mounted {} on {}", fs.config().root, mountpoint.display());
    let own = unmount::OwnMount::find(mountpoint);
    raise_kernel_readahead(own.dev(), s.read_ahead_kb());
    readiness.ready();

    let stop = stop::listen(&rt, own, fs.clone());
    let result = match session.run() {
        // The connection was aborted (through fusectl, by the stop path or an administrator): the session
        // is over as after an unmount, and what it held is drained below like after any other end.
        Err(e) if e.raw_os_error() == Some(libc::ECONNABORTED) => {
            log::info!("the FUSE connection of {} was aborted", mountpoint.display());
            Ok(())
        }
        other => other,
    };
    stop.session_over.store(true, Ordering::SeqCst);
    if mounted_here && result.is_err() && checks::is_mounted(mountpoint) {
        // The library unmounts only what it mounted itself; a session that failed leaves ours to us.
        let _ = std::process::Command::new("umount").arg("-l").arg(mountpoint).status();
    }
    log::info!("unmounted {}", mountpoint.display());
    fs.stop_fetching_ahead(Duration::from_secs(5));
    account_lock.set_phase(lock::Phase::Draining);
    if let Some(l) = demo_lock.as_mut() {
        l.set_phase(lock::Phase::Draining);
    }
    // After a lazy unmount the kernel drops the releases of what was still open when the last process
    // let go; those files count as closed now, or they would never be uploaded.
    let open = fs.release_all();
    if open > 0 {
        log::info!("{open} file handle(s) were still open when the connection ended; their files are closed now");
    }
    let drain = s.drain_timeout();
    let left = fs.drain(drain, &stop.now);
    if left > 0 {
        eprintln!("jottafuse: {left} upload(s) left in the journal; they continue at the next mount of this account");
    }
    status.remove();
    if let Some(d) = demo {
        rt.block_on(d.stop());
    }
    rt.shutdown_timeout(Duration::from_secs(5));
    result.map_err(|e| format!("FUSE session ended with an error: {e}"))
}

/// The kernel reads ahead only 128 KiB on a FUSE mount by default, in 128 KiB requests: far too little
/// for a network filesystem that streams. Raise the mount's read-ahead (its backing device info, named
/// by the device number found in mountinfo, so the filesystem itself is not asked); only root may,
/// others keep the default.
fn raise_kernel_readahead(dev: Option<&str>, kb: u32) {
    let Some(dev) = dev else { return };
    let knob = format!("/sys/class/bdi/{dev}/read_ahead_kb");
    match std::fs::write(&knob, kb.to_string()) {
        Ok(()) => log::debug!("kernel read-ahead of {dev} set to {kb} KiB"),
        Err(e) => log::debug!("cannot raise the kernel read-ahead ({knob}: {e}); keeping the default"),
    }
}

/// One cache folder per account (and service), so two accounts never share a journal.
fn account_key(remote: &HttpRemote) -> String {
    use md5::{Digest, Md5};
    let who = format!("{}|{}", remote.endpoints().jfs, remote.username());
    let digest = hex::encode(Md5::digest(who.as_bytes()));
    let safe: String = remote.username().chars().filter(|c| c.is_ascii_alphanumeric()).take(24).collect();
    format!("{safe}-{}", &digest[..12])
}
