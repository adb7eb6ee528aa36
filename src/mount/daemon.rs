//! Going to the background like sshfs: the parent forks, the child mounts and reports through a pipe
//! whether the mount is ready or why it failed; the parent prints that and exits with the right status.
//! The fork happens before any thread exists (no runtime, no FUSE workers), which is what makes it safe.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};

/// The child's end: say once whether the mount came up.
pub struct Readiness {
    pipe: Option<File>,
}

impl Readiness {
    /// For `-f` (foreground): nobody is waiting.
    pub fn foreground() -> Self {
        Readiness { pipe: None }
    }

    pub fn ready(&mut self) {
        if let Some(mut p) = self.pipe.take() {
            let _ = p.write_all(b"ok\n");
            detach_stdio();
        }
    }

    pub fn failed(&mut self, message: &str) {
        if let Some(mut p) = self.pipe.take() {
            let _ = p.write_all(format!("error: {message}\n").as_bytes());
        }
    }

    pub fn is_background(&self) -> bool {
        self.pipe.is_some()
    }
}

/// Fork. In the parent this never returns: it waits for the child's word and exits. In the child it
/// returns the `Readiness` to report through.
pub fn daemonize() -> std::io::Result<Readiness> {
    let mut fds = [0i32; 2];
    // SAFETY: pipe(2) fills two fds we then own.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the fds were just created and are owned here only.
    let (read_end, write_end) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: no other threads exist yet (checked by the caller's ordering), so fork is sound.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(std::io::Error::last_os_error());
    }
    if pid > 0 {
        drop(write_end);
        let mut answer = String::new();
        let _ = File::from(read_end).read_to_string(&mut answer);
        match answer.lines().next() {
            Some("ok") => std::process::exit(0),
            Some(line) => {
                eprintln!("jottafuse: {}", line.strip_prefix("error: ").unwrap_or(line));
                std::process::exit(1)
            }
            None => {
                eprintln!("jottafuse: the mount daemon exited before the mount was ready (run with -f to see why)");
                std::process::exit(1)
            }
        }
    }
    drop(read_end);
    // SAFETY: setsid in the fresh child detaches it from the terminal's session.
    unsafe { libc::setsid() };
    Ok(Readiness { pipe: Some(File::from(write_end)) })
}

/// Point stdin/stdout/stderr at /dev/null once the parent has gone, so a closed terminal cannot hurt us.
fn detach_stdio() {
    if let Ok(null) = std::fs::OpenOptions::new().read(true).write(true).open("/dev/null") {
        use std::os::fd::AsRawFd;
        for fd in 0..3 {
            // SAFETY: dup2 onto the standard descriptors, which we own.
            unsafe { libc::dup2(null.as_raw_fd(), fd) };
        }
    }
}
