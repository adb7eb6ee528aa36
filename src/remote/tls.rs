//! Which servers the client trusts, and why one was refused, in words a user can act on.
//!
//! Trusted: the bundled Mozilla roots (so a machine without a CA bundle still works), the system's
//! certificate store (what a company or school that inspects TLS installs its CA into; read as OpenSSL
//! reads it, so `SSL_CERT_FILE` / `SSL_CERT_DIR`, when set, stand in for it), and one more CA from
//! `--ca-cert FILE` / `JOTTA_CA_CERT`. reqwest loads the first two each time a client is built; this file
//! reads the third and explains refusals.

use super::error::{RemoteError, RemoteResult};
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::CertificateDer;
use rustls::CertificateError;
use std::path::Path;

/// Environment variable of `--ca-cert`.
pub const ENV_CA_CERT: &str = "JOTTA_CA_CERT";

/// The certificates of a `--ca-cert` PEM file, checked one by one, so a bad file is named here rather than
/// failing later in the HTTPS client with no file name. The error is one line naming the file.
pub fn load_ca_cert(path: &Path) -> RemoteResult<Vec<reqwest::Certificate>> {
    let shown = path.display();
    let bad = |what: String| RemoteError::Config(format!("--ca-cert {shown}: {what}"));
    let bytes = std::fs::read(path).map_err(|e| bad(format!("cannot read it ({e})")))?;
    let mut certs = Vec::new();
    let mut check = rustls::RootCertStore::empty();
    for item in CertificateDer::pem_slice_iter(&bytes) {
        let der = item
            .map_err(|e| match e {
                pem::Error::NoItemsFound => not_pem(),
                e => format!("not a readable PEM file ({e})"),
            })
            .map_err(&bad)?;
        check.add(der.clone()).map_err(|e| bad(format!("holds a certificate that cannot be parsed ({e})")))?;
        let cert = reqwest::Certificate::from_der(&der).map_err(|e| bad(format!("unusable certificate ({e})")))?;
        certs.push(cert);
    }
    if certs.is_empty() {
        return Err(bad(not_pem()));
    }
    Ok(certs)
}

fn not_pem() -> String {
    "holds no PEM certificate (a -----BEGIN CERTIFICATE----- block); a DER file converts with \
     `openssl x509 -inform der -in FILE -out FILE.pem`"
        .to_string()
}

/// If the request failed because the server's certificate was refused, the one line that says why and
/// what to do about it; the refusal is final, so callers do not retry it.
pub(crate) fn refused_certificate(e: &reqwest::Error) -> Option<String> {
    let refusal = certificate_error(e)?;
    let server = match e.url() {
        Some(u) => match (u.host_str(), u.port_or_known_default()) {
            (Some(h), Some(p)) => format!("{}://{h}:{p}", u.scheme()),
            _ => u.to_string(),
        },
        None => "the server".to_string(),
    };
    let why = match refusal {
        CertificateError::UnknownIssuer => {
            let mut s = format!(
                "the TLS certificate of {server} is not trusted (no trusted authority issued it); if a proxy or \
                 a private CA signs it, pass that CA with --ca-cert FILE or add it to the system certificate store"
            );
            if let Some(file) = std::env::var_os("SSL_CERT_FILE").filter(|f| std::fs::metadata(f).is_err()) {
                s.push_str(&format!(" (SSL_CERT_FILE={} cannot be read)", Path::new(&file).display()));
            }
            s
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            format!("the TLS certificate of {server} is for another host name; check the endpoint URL")
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            format!("the TLS certificate of {server} has expired (or this machine's clock is wrong)")
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            format!("the TLS certificate of {server} is not valid yet (or this machine's clock is wrong)")
        }
        other => format!("the TLS certificate of {server} was refused ({other})"),
    };
    Some(why)
}

/// The certificate refusal somewhere in an error's causes. rustls's error travels inside `io::Error`s
/// (nested, even), whose `source()` skips what they wrap, so those are opened instead.
fn certificate_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a CertificateError> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(rustls::Error::InvalidCertificate(c)) = err.downcast_ref::<rustls::Error>() {
            return Some(c);
        }
        cur = match err.downcast_ref::<std::io::Error>() {
            Some(io) => io.get_ref().map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => err.source(),
        };
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_ca_files_are_named_with_the_problem() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = dir.path().join("missing.pem");
        let text = dir.path().join("notes.txt");
        std::fs::write(&text, "just some words\n").expect("write");
        let broken = dir.path().join("broken.pem");
        std::fs::write(&broken, "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n").expect("write");
        for (path, says) in [(&missing, "cannot read it"), (&text, "holds no PEM certificate"), (&broken, "PEM")] {
            let e = load_ca_cert(path).map(|_| ()).expect_err("refused");
            let shown = e.to_string();
            assert!(shown.contains(&path.display().to_string()), "names the file: {shown}");
            assert!(shown.contains(says), "says why: {shown}");
            assert!(!shown.contains('\n'), "one line: {shown}");
        }
    }
}
