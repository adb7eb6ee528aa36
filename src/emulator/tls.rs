//! `jotta emulator --tls`: the emulator's own certificate authority and a server certificate signed by it,
//! made once and kept in the data folder (`tls/`), and the rustls acceptor that serves with them.
//!
//! A client trusts the emulator by trusting `tls/ca.pem` (`--ca-cert`, `SSL_CERT_FILE` or the system
//! store), the way it would trust a company's TLS-inspecting proxy. The CA outlives restarts, so that trust
//! is set up once; the server certificate is issued again (by the same CA) when the names it must carry
//! change: the loopback names always, plus the listen address when that is a specific other one.

use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair};
use rcgen::{KeyUsagePurpose, PKCS_ECDSA_P256_SHA256};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::io;
use std::net::IpAddr;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;

/// The folder under the data dir, and its files.
const DIR: &str = "tls";
/// What users hand to clients (`--ca-cert`); the one file here that is not secret.
pub const CA_CERT: &str = "ca.pem";
const CA_KEY: &str = "ca-key.pem";
const SERVER_CERT: &str = "server.pem";
const SERVER_KEY: &str = "server-key.pem";
/// The names the server certificate was issued for, one a line: a change means a new certificate.
const SERVER_NAMES: &str = "server-names";

/// The CA file to trust and the acceptor for the listener.
pub struct TlsSetup {
    pub ca_cert: PathBuf,
    pub acceptor: TlsAcceptor,
}

/// Load the CA and server certificate from `<data_dir>/tls`, making what is missing, and build the
/// acceptor. Blocks on small file operations (and key generation the first time).
pub fn prepare(data_dir: &Path, listen: IpAddr) -> io::Result<TlsSetup> {
    // Absolute, so the printed `ca_cert=` path works from any folder.
    let dir = std::path::absolute(data_dir.join(DIR))?;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir)?;
    let ca_key = load_or_make_ca(&dir)?;
    let names = server_names(listen);
    let (cert_pem, key_pem) = load_or_issue_server(&dir, &names, &ca_key)?;
    let chain = vec![CertificateDer::from_pem_slice(cert_pem.as_bytes()).map_err(bad_file(&dir, SERVER_CERT))?];
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(bad_file(&dir, SERVER_KEY))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| io::Error::other(format!("the certificate in {} cannot be used: {e}", dir.display())))?;
    // The accept loop speaks HTTP/1.1 only.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsSetup { ca_cert: dir.join(CA_CERT), acceptor: TlsAcceptor::from(Arc::new(config)) })
}

fn bad_file(dir: &Path, name: &str) -> impl Fn(rustls::pki_types::pem::Error) -> io::Error {
    let path = dir.join(name);
    move |e| {
        io::Error::other(format!(
            "{} is not a usable PEM file ({e}); remove the tls folder to start afresh",
            path.display()
        ))
    }
}

/// The loopback names, and the listen address when clients must reach the emulator by another one.
fn server_names(listen: IpAddr) -> Vec<String> {
    let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string(), "::1".to_string()];
    if !listen.is_loopback() && !listen.is_unspecified() {
        names.push(listen.to_string());
    }
    names
}

/// The CA's parameters. Always the same, so the issuer of a later server certificate matches the CA
/// certificate made the first time (the key identifiers come from the kept key).
fn ca_params() -> Result<CertificateParams, rcgen::Error> {
    let mut params = CertificateParams::new(Vec::new())?;
    params.distinguished_name.push(DnType::CommonName, "jottafuse emulator CA");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    Ok(params)
}

fn load_or_make_ca(dir: &Path) -> io::Result<KeyPair> {
    let (cert_path, key_path) = (dir.join(CA_CERT), dir.join(CA_KEY));
    if cert_path.exists() && key_path.exists() {
        let pem = std::fs::read_to_string(&key_path)?;
        return KeyPair::from_pem(&pem).map_err(|e| {
            io::Error::other(format!(
                "{} is not a usable key ({e}); remove the tls folder to start afresh",
                key_path.display()
            ))
        });
    }
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(io::Error::other)?;
    let cert = ca_params().and_then(|p| p.self_signed(&key)).map_err(io::Error::other)?;
    write_file(&key_path, key.serialize_pem().as_bytes(), 0o600)?;
    write_file(&cert_path, cert.pem().as_bytes(), 0o644)?;
    // A new CA voids any server certificate the old one signed.
    let _ = std::fs::remove_file(dir.join(SERVER_NAMES));
    log::info!("emulator: made a new certificate authority, {}", cert_path.display());
    Ok(key)
}

fn load_or_issue_server(dir: &Path, names: &[String], ca_key: &KeyPair) -> io::Result<(String, String)> {
    let (cert_path, key_path, names_path) = (dir.join(SERVER_CERT), dir.join(SERVER_KEY), dir.join(SERVER_NAMES));
    let wanted = names.join("\n");
    if std::fs::read_to_string(&names_path).is_ok_and(|n| n.trim() == wanted) {
        if let (Ok(cert), Ok(key)) = (std::fs::read_to_string(&cert_path), std::fs::read_to_string(&key_path)) {
            return Ok((cert, key));
        }
    }
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(io::Error::other)?;
    let issuer = Issuer::new(ca_params().map_err(io::Error::other)?, ca_key);
    let mut params = CertificateParams::new(names.to_vec()).map_err(io::Error::other)?;
    params.distinguished_name.push(DnType::CommonName, "jottafuse emulator");
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.signed_by(&key, &issuer).map_err(io::Error::other)?;
    let (cert_pem, key_pem) = (cert.pem(), key.serialize_pem());
    write_file(&key_path, key_pem.as_bytes(), 0o600)?;
    write_file(&cert_path, cert_pem.as_bytes(), 0o644)?;
    write_file(&names_path, format!("{wanted}\n").as_bytes(), 0o644)?;
    Ok((cert_pem, key_pem))
}

/// Whole or not at all: a crash mid-write must not leave half a key that the next start chokes on.
fn write_file(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(mode).open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificates_are_made_once_and_reissued_only_for_new_names() {
        let dir = tempfile::tempdir().expect("temp dir");
        let loopback: IpAddr = "127.0.0.1".parse().expect("ip");
        let first = prepare(dir.path(), loopback).expect("first start");
        let ca = std::fs::read(&first.ca_cert).expect("ca file");
        let server = std::fs::read(dir.path().join("tls").join(SERVER_CERT)).expect("server cert");
        prepare(dir.path(), loopback).expect("second start");
        assert_eq!(std::fs::read(&first.ca_cert).expect("ca"), ca, "the CA is kept");
        assert_eq!(std::fs::read(dir.path().join("tls").join(SERVER_CERT)).expect("cert"), server);

        prepare(dir.path(), "192.0.2.7".parse().expect("ip")).expect("start on another address");
        assert_eq!(std::fs::read(&first.ca_cert).expect("ca"), ca, "the CA is kept");
        assert_ne!(std::fs::read(dir.path().join("tls").join(SERVER_CERT)).expect("cert"), server, "reissued");
        let mode = |name: &str| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(dir.path().join("tls").join(name)).expect("key").permissions().mode() & 0o777
        };
        assert_eq!(mode(CA_KEY), 0o600);
        assert_eq!(mode(SERVER_KEY), 0o600);
    }
}
