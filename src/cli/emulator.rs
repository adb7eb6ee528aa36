//! `jotta emulator`: run the JottaCloud emulator in the foreground. Prints `endpoint=URL`, with `--tls`
//! `ca_cert=FILE` (the CA clients must trust), and `login_token=TOKEN` on stdout once it serves, and stops
//! cleanly (state flushed) on SIGTERM/SIGINT.

use crate::emulator::{self, EmulatorConfig, FaultConfig};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// 20 ms latency and 50 MiB/s per connection.
    Wan,
}

#[derive(clap::Args, Debug)]
pub struct EmulatorArgs {
    /// Directory holding the emulated account (created if missing).
    #[arg(long = "data", value_name = "DIR")]
    pub data: PathBuf,
    /// Address to listen on. With port 0 (the default) it takes the port it had last time for this data
    /// folder, if free (so a saved login stays valid), else any free port.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Internal username of the account.
    #[arg(long, value_name = "NAME", default_value = "demo")]
    pub user: String,
    /// Password for legacy HTTP Basic auth.
    #[arg(long, default_value = "demo-password")]
    pub password: String,
    /// Account capacity in bytes (unlimited when absent).
    #[arg(long, value_name = "BYTES")]
    pub quota: Option<u64>,
    /// Access token lifetime in seconds.
    #[arg(long = "token-lifetime", value_name = "SECS", default_value_t = 3600)]
    pub token_lifetime: u64,
    /// Delay before every answer, in milliseconds.
    #[arg(long = "latency-ms", value_name = "MS")]
    pub latency_ms: Option<u64>,
    /// Bandwidth limit per connection, bytes per second.
    #[arg(long, value_name = "BYTES_PER_SEC")]
    pub bandwidth: Option<u64>,
    /// Fraction of requests answered 500.
    #[arg(long = "error-rate", value_name = "F", default_value_t = 0.0)]
    pub error_rate: f64,
    /// Fraction of requests answered 429.
    #[arg(long = "throttle-rate", value_name = "F", default_value_t = 0.0)]
    pub throttle_rate: f64,
    /// Fraction of file bodies cut mid-way.
    #[arg(long = "drop-rate", value_name = "F", default_value_t = 0.0)]
    pub drop_rate: f64,
    /// Network profile; explicit --latency-ms/--bandwidth override it.
    #[arg(long, value_enum)]
    pub profile: Option<Profile>,
    /// Seed a small sample tree when the data dir is new.
    #[arg(long = "demo-content")]
    pub demo_content: bool,
    /// Serve HTTPS: a CA and a server certificate for localhost/127.0.0.1 are made in DIR/tls the first
    /// time and kept; clients are to trust the CA file it prints as `ca_cert=` (DIR/tls/ca.pem).
    #[arg(long)]
    pub tls: bool,
    #[command(flatten)]
    pub _local: super::jotta::LocalOnly,
}

fn check_rate(name: &str, v: f64) -> Result<(), String> {
    if (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err(format!("--{name} must be between 0 and 1, got {v}"))
    }
}

impl EmulatorArgs {
    pub fn to_config(&self) -> Result<EmulatorConfig, String> {
        check_rate("error-rate", self.error_rate)?;
        check_rate("throttle-rate", self.throttle_rate)?;
        check_rate("drop-rate", self.drop_rate)?;
        if self.user.is_empty() || self.user.contains('/') {
            return Err(format!("invalid --user {:?}", self.user));
        }
        let (profile_latency, profile_bandwidth) = match self.profile {
            Some(Profile::Wan) => (20, 50 * 1024 * 1024),
            None => (0, 0),
        };
        let faults = FaultConfig {
            latency_ms: self.latency_ms.unwrap_or(profile_latency),
            bandwidth: self.bandwidth.unwrap_or(profile_bandwidth),
            error_rate: self.error_rate,
            throttle_rate: self.throttle_rate,
            drop_rate: self.drop_rate,
            ..FaultConfig::default()
        };
        Ok(EmulatorConfig {
            data_dir: self.data.clone(),
            listen: self.listen,
            user: self.user.clone(),
            password: self.password.clone(),
            quota: self.quota,
            access_token_lifetime: Duration::from_secs(self.token_lifetime.max(1)),
            faults,
            demo_content: self.demo_content,
            tls: self.tls,
        })
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The file in the data folder that remembers the address last served, for the next start.
const LAST_ADDRESS: &str = "last-address";

pub fn run(args: EmulatorArgs) -> ExitCode {
    let config = match args.to_config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("jotta emulator: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("jotta emulator: cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (data, listen) = (config.data_dir.clone(), config.listen);
    let remembered = data.join(LAST_ADDRESS);
    runtime.block_on(async move {
        // Port 0: the address it had last time for this data folder, while that port is free.
        let last = std::fs::read_to_string(&remembered).ok().and_then(|s| s.trim().parse::<SocketAddr>().ok());
        let again = match last {
            Some(addr) if listen.port() == 0 && addr.ip() == listen.ip() => {
                emulator::start(EmulatorConfig { listen: addr, ..config.clone() }).await.ok()
            }
            _ => None,
        };
        let started = match again {
            Some(r) => Ok(r),
            None => emulator::start(config).await,
        };
        let running = match started {
            Ok(r) => r,
            Err(e) => {
                eprintln!("jotta emulator: cannot serve {} on {listen}: {e}", data.display());
                return ExitCode::FAILURE;
            }
        };
        let address = running.local_addr().to_string();
        if let Err(e) = std::fs::write(&remembered, format!("{address}\n")) {
            eprintln!("jotta emulator: cannot remember the address in {}: {e}", remembered.display());
        }
        let mut out = std::io::stdout().lock();
        let printed = writeln!(out, "endpoint={}", running.endpoint())
            .and_then(|_| match running.ca_cert() {
                Some(ca) => writeln!(out, "ca_cert={}", ca.display()),
                None => Ok(()),
            })
            .and_then(|_| writeln!(out, "login_token={}", running.login_token()))
            .and_then(|_| out.flush());
        drop(out);
        if let Err(e) = printed {
            eprintln!("jotta emulator: cannot write to stdout: {e}");
        }
        wait_for_signal().await;
        running.shutdown().await;
        ExitCode::SUCCESS
    })
}
