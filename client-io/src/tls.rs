//! TLS for `wss://` targets, on rustls (ring provider).
//!
//! One client configuration per process, set by the CLI at start from `--ca-cert FILE` and
//! `--insecure` ([`configure`]); every WebSocket connection this crate makes uses it. Without a
//! call, the Mozilla roots of `webpki-roots` are trusted, as a browser would.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::path::Path;
use std::sync::{Arc, RwLock};
use tokio::net::TcpStream;
use tokio_util::either::Either;

/// `None` until first used or [`configure`]d.
static CONFIG: RwLock<Option<Arc<ClientConfig>>> = RwLock::new(None);

/// What could not be set up; each says what to change.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error(
        "cannot read the CA certificate file {path}: {reason} (give a PEM file with --ca-cert)"
    )]
    CaFile { path: String, reason: String },
    #[error("{path} holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)")]
    NoCertificate { path: String },
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The roots to trust: the Mozilla set, plus the certificates of `ca_cert` (PEM) when given.
fn roots(ca_cert: Option<&Path>) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_cert {
        let shown = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| TlsError::CaFile {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(&bytes) {
            let cert = cert.map_err(|e| TlsError::CaFile {
                path: shown.clone(),
                reason: e.to_string(),
            })?;
            roots.add(cert).map_err(|e| TlsError::CaFile {
                path: shown.clone(),
                reason: e.to_string(),
            })?;
            added += 1;
        }
        if added == 0 {
            return Err(TlsError::NoCertificate { path: shown });
        }
    }
    Ok(roots)
}

/// Builds the client configuration: `insecure` accepts any certificate (still encrypted, no
/// longer authenticated; for test servers with throwaway certificates).
pub fn client_config(
    ca_cert: Option<&Path>,
    insecure: bool,
) -> Result<Arc<ClientConfig>, TlsError> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions");
    let config = if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider())))
            .with_no_client_auth()
    } else {
        builder
            .with_root_certificates(roots(ca_cert)?)
            .with_no_client_auth()
    };
    Ok(Arc::new(config))
}

/// `--ca-cert` and `--insecure`, the same on every tool: how `wss://` and `https://` targets
/// are trusted (every mode, every connection of the process).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct TrustArgs {
    /// A PEM file of CA certificates to trust for wss:// and https:// besides the built-in
    /// Mozilla roots (e.g. the CA of a test server's self-signed certificate).
    #[arg(long, global = true, value_name = "FILE")]
    pub ca_cert: Option<std::path::PathBuf>,
    /// Accept any server certificate for wss:// and https:// (still encrypted, no longer
    /// authenticated): for throwaway test certificates only.
    #[arg(long, global = true)]
    pub insecure: bool,
}

impl TrustArgs {
    /// [`configure`]s the process from these flags.
    pub fn configure(&self) -> Result<(), TlsError> {
        configure(self.ca_cert.as_deref(), self.insecure)
    }
}

/// Sets this process's TLS client configuration for every connection made from now on.
pub fn configure(ca_cert: Option<&Path>, insecure: bool) -> Result<(), TlsError> {
    let config = client_config(ca_cert, insecure)?;
    *CONFIG.write().unwrap_or_else(|e| e.into_inner()) = Some(config);
    Ok(())
}

/// The process's TLS client configuration (the Mozilla roots unless [`configure`]d).
pub fn config() -> Arc<ClientConfig> {
    if let Some(config) = CONFIG.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
        return config.clone();
    }
    let mut slot = CONFIG.write().unwrap_or_else(|e| e.into_inner());
    slot.get_or_insert_with(|| client_config(None, false).expect("the built-in roots load"))
        .clone()
}

/// What to check after a failed connect whose error reads `reason`: a certificate the
/// process does not trust has its own remedy.
pub fn connect_hint(reason: &str) -> &'static str {
    let lower = reason.to_ascii_lowercase();
    if lower.contains("certificate") || lower.contains("unknownissuer") {
        "the server's certificate is not trusted: give its CA with --ca-cert FILE, or --insecure for a throwaway test certificate"
    } else {
        "is the server running? check --ws / --http"
    }
}

/// A connection a tool opened itself (not through tungstenite or the pooled HTTP client):
/// plain TCP, or TLS on the process's configuration.
pub type ClientStream = Either<TcpStream, Box<tokio_rustls::client::TlsStream<TcpStream>>>;

/// Opens TCP to `host:port` with `TCP_NODELAY`, then TLS (SNI and certificate for `host`) when
/// `tls` is set.
pub async fn connect(host: &str, port: u16, tls: bool) -> std::io::Result<ClientStream> {
    let tcp = TcpStream::connect((host.trim_matches(['[', ']']), port)).await?;
    let _ = tcp.set_nodelay(true);
    if !tls {
        return Ok(Either::Left(tcp));
    }
    let name = ServerName::try_from(host.trim_matches(['[', ']']).to_owned())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let stream = tokio_rustls::TlsConnector::from(config())
        .connect(name, tcp)
        .await?;
    Ok(Either::Right(Box::new(stream)))
}

/// `--insecure`: encrypts, but takes any certificate for any name. Signatures are still
/// checked, so the handshake is a real one.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
