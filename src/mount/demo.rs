//! The embedded demo account for `jottafuse --demo`: an emulator started in-process on loopback, with its
//! data kept under `$XDG_DATA_HOME/jottafuse/demo` (so what you write there is still there next time),
//! logged in with a fresh single-use token into a credentials folder of its own, never the user's.

use crate::emulator::{self, EmulatorConfig, RunningEmulator};
use crate::remote::ConnectOptions;
use std::path::PathBuf;

pub struct DemoAccount {
    emulator: RunningEmulator,
    client_dir: PathBuf,
}

/// The demo account's folder: its emulator data and its own credentials.
pub fn data_base() -> PathBuf {
    crate::dirs::data_dir().join("demo")
}

impl DemoAccount {
    pub async fn start() -> Result<Self, String> {
        let base = data_base();
        let data_dir = base.join("service");
        let client_dir = base.join("client");
        for d in [&data_dir, &client_dir] {
            std::fs::create_dir_all(d).map_err(|e| format!("cannot create {}: {e}", d.display()))?;
        }
        // The demo data is as private as any other account's (an earlier version left it readable).
        let tightened = crate::private::tighten(&crate::dirs::data_dir());
        if tightened > 0 {
            log::info!("made {tightened} file(s) and folder(s) of the demo account readable by you alone");
        }
        let config = EmulatorConfig { data_dir, demo_content: true, ..EmulatorConfig::default() };
        let emulator = emulator::start(config).await.map_err(|e| format!("cannot start the demo account: {e}"))?;
        crate::remote::auth::login(&emulator.login_token(), Some(&emulator.endpoint()), &client_dir, None)
            .await
            .map_err(|e| format!("cannot log in to the demo account: {e}"))?;
        Ok(DemoAccount { emulator, client_dir })
    }

    pub fn connect_options(&self) -> ConnectOptions {
        ConnectOptions {
            config_dir: self.client_dir.clone(),
            endpoint: Some(self.emulator.endpoint()),
            // The embedded service speaks plain HTTP on loopback: no CA of the user's is involved.
            ca_cert: None,
            ..ConnectOptions::default()
        }
    }

    pub async fn stop(self) {
        self.emulator.shutdown().await;
    }
}
