//! The TLS of deliveries: the roots an endpoint's certificate must chain to, and how many
//! endpoints' sessions the engine remembers so that a new connection resumes one.
//!
//! Built here rather than left to the HTTP client's defaults because of the session cache:
//! rustls's default remembers 32 servers (8 tickets each), so a provider delivering to more
//! hosts than that, round after round, resumed next to no session — every new connection paid
//! a full handshake: the certificate chain verified again and, on TLS 1.2, one more round trip
//! to an endpoint that may be hundreds of milliseconds away.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::Resumption;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::RootCertStore;

/// The TLS 1.3 tickets rustls keeps per server; its cache is sized in tickets.
const TICKETS_PER_SERVER: usize = 8;

/// The most hosts whose sessions are kept, whatever `--max-in-flight` says (its default is as
/// many): a host's entry, once filled, holds its tickets and the certificate chains they came
/// with — some KiB to a few tens of KiB with real chains — so a cache that grew with a limit
/// raised to the hundreds of thousands could hold gigabytes.
const MOST_HOSTS: usize = 4_096;

/// The roots endpoints' certificates must chain to: the public web roots and the certificate
/// authorities in `files` (PEM, `--target-ca-file`). An unreadable file, one without a
/// certificate or with one that is not a CA certificate rustls can use is an error naming it.
pub fn endpoint_roots(files: &[PathBuf]) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for file in files {
        let named = |reason: String| format!("{}: {reason}", file.display());
        let pem = std::fs::read(file).map_err(|e| named(e.to_string()))?;
        let certificates = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| named(format!("not PEM certificates: {e}")))?;
        if certificates.is_empty() {
            return Err(named("no certificate in the file".to_owned()));
        }
        for certificate in certificates {
            roots
                .add(certificate)
                .map_err(|e| named(format!("not a usable certificate: {e}")))?;
        }
    }
    Ok(roots)
}

/// The client's TLS configuration: `roots` trusted, HTTP/1.1 offered, and the sessions of up
/// to `endpoints` hosts (at most [`MOST_HOSTS`]) kept for resumption — the engine passes the
/// most attempts it can hold in flight: every endpoint it can be talking to at once. A host's
/// entry holds up to 8 tickets and the certificate chains they came with: in the internet-like
/// benchmark (small certificates) 1,000 hosts cost the server at most 10 MiB.
pub fn client_config(roots: RootCertStore, endpoints: usize) -> rustls::ClientConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(rustls::ALL_VERSIONS)
        .expect("ring supports every protocol version rustls has")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config.resumption =
        Resumption::in_memory_sessions(endpoints.clamp(1, MOST_HOSTS) * TICKETS_PER_SERVER);
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_roots_are_trusted_without_a_file() {
        let roots = endpoint_roots(&[]).unwrap();
        assert_eq!(roots.len(), webpki_roots::TLS_SERVER_ROOTS.len());
        assert!(roots.len() > 100);
    }

    #[test]
    fn a_file_without_certificates_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "no PEM here\n").unwrap();
        let error = endpoint_roots(std::slice::from_ref(&empty)).unwrap_err();
        assert!(error.starts_with(&empty.display().to_string()), "{error}");
        assert!(error.contains("no certificate"), "{error}");
        let missing = dir.path().join("missing.pem");
        let error = endpoint_roots(&[missing]).unwrap_err();
        assert!(error.contains("missing.pem"), "{error}");
    }
}
