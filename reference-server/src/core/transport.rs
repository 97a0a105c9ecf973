//! What a connection runs on: plain TCP, or TLS (rustls) when the server was given
//! `--tls-cert` and `--tls-key`.
//!
//! Every profile's sessions see one [`ServerStream`] and never ask which it is. The plain case
//! stays a bare `TcpStream` split into owned halves (no lock between reader and writer, as
//! before TLS existed); only the TLS case pays for a shared lock (`tokio::io::split`).

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tokio_util::either::Either;

/// How long a client may take to finish the TLS handshake.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// `--tls-cert` / `--tls-key`, the same two flags on every profile.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct TlsArgs {
    /// Serve TLS (wss://, and https:// for an HTTP port) with this PEM certificate chain
    /// (leaf first). Needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key (PKCS#8, PKCS#1 or SEC1) of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

/// Why the TLS configuration could not be built; each says which flag to fix.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("cannot read --tls-cert {path}: {reason}")]
    Certificate { path: String, reason: String },
    #[error("--tls-cert {path} holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)")]
    NoCertificate { path: String },
    #[error("cannot read a private key from --tls-key {path}: {reason} (give a PEM PKCS#8, PKCS#1 or SEC1 key)")]
    Key { path: String, reason: String },
    #[error("--tls-cert and --tls-key do not make a usable pair: {0}")]
    Pair(String),
}

impl TlsArgs {
    /// The TLS side of a listener for these flags: off when neither is given (plain TCP).
    pub fn acceptor(&self) -> Result<ServerTls, TlsSetupError> {
        let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) else {
            return Ok(ServerTls::default());
        };
        let chain = certificates(cert)?;
        let key = private_key(key)?;
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsSetupError::Pair(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| TlsSetupError::Pair(e.to_string()))?;
        Ok(ServerTls(Some(TlsAcceptor::from(Arc::new(config)))))
    }
}

/// A listener's TLS side: an acceptor, or off (plain TCP). Cheap to clone.
#[derive(Clone, Default)]
pub struct ServerTls(Option<TlsAcceptor>);

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.is_on() {
            "ServerTls(on)"
        } else {
            "ServerTls(off)"
        })
    }
}

impl ServerTls {
    pub fn is_on(&self) -> bool {
        self.0.is_some()
    }

    /// `ws` or `wss`.
    pub fn ws_scheme(&self) -> &'static str {
        if self.is_on() {
            "wss"
        } else {
            "ws"
        }
    }

    /// `http` or `https`.
    pub fn http_scheme(&self) -> &'static str {
        if self.is_on() {
            "https"
        } else {
            "http"
        }
    }

    /// Completes the TLS handshake when TLS is on (bounded by [`TLS_HANDSHAKE_TIMEOUT`]);
    /// `None`: the client failed it or left. Plain TCP passes through.
    pub async fn secure(&self, tcp: TcpStream) -> Option<ServerStream> {
        let Some(acceptor) = &self.0 else {
            return Some(Either::Left(tcp));
        };
        match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
            Ok(Ok(tls)) => Some(Either::Right(Box::new(Rewind::new(tls)))),
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "TLS handshake failed");
                None
            }
            Err(_) => None,
        }
    }
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| TlsSetupError::Certificate {
        path: shown.clone(),
        reason: e.to_string(),
    })?;
    let chain = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsSetupError::Certificate {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsSetupError::NoCertificate { path: shown });
    }
    Ok(chain)
}

fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsSetupError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| TlsSetupError::Key {
        path: shown.clone(),
        reason: e.to_string(),
    })?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| TlsSetupError::Key {
        path: shown,
        reason: e.to_string(),
    })
}

/// A listening socket and its TLS side.
pub struct Listener {
    pub tcp: TcpListener,
    pub tls: ServerTls,
}

impl Listener {
    pub fn new(tcp: TcpListener, tls: ServerTls) -> Self {
        Listener { tcp, tls }
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}

/// A TLS connection whose first bytes (the request head, read before the upgrade) can be put
/// back for tungstenite to read again.
pub type TlsConnection = Rewind<TlsStream<TcpStream>>;

/// One accepted connection, plain or TLS.
pub type ServerStream = Either<TcpStream, Box<TlsConnection>>;
/// The half a session reads from.
pub type ReadHalf = Either<OwnedReadHalf, tokio::io::ReadHalf<Box<TlsConnection>>>;
/// The half the writer task writes to.
pub type WriteHalf = Either<OwnedWriteHalf, tokio::io::WriteHalf<Box<TlsConnection>>>;

/// Splits a connection for its reader session and its writer task.
pub fn split(stream: ServerStream) -> (ReadHalf, WriteHalf) {
    match stream {
        Either::Left(tcp) => {
            let (read, write) = tcp.into_split();
            (Either::Left(read), Either::Left(write))
        }
        Either::Right(tls) => {
            let (read, write) = tokio::io::split(tls);
            (Either::Right(read), Either::Right(write))
        }
    }
}

/// A stream that first replays bytes already read from it.
pub struct Rewind<S> {
    inner: S,
    replay: Vec<u8>,
    at: usize,
}

impl<S> Rewind<S> {
    pub fn new(inner: S) -> Self {
        Rewind {
            inner,
            replay: Vec::new(),
            at: 0,
        }
    }

    /// Bytes that will be read again before anything new.
    pub fn replayed(&self) -> &[u8] {
        &self.replay[self.at..]
    }

    /// Puts `bytes` (read from this stream) after what is already waiting to be replayed.
    pub fn put_back(&mut self, bytes: &[u8]) {
        self.replay.drain(..self.at);
        self.at = 0;
        self.replay.extend_from_slice(bytes);
    }

    pub fn inner_mut(&mut self) -> &mut S {
        &mut self.inner
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewind<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.at < this.replay.len() {
            let waiting = &this.replay[this.at..];
            let n = waiting.len().min(buf.remaining());
            buf.put_slice(&waiting[..n]);
            this.at += n;
            if this.at == this.replay.len() {
                this.replay = Vec::new();
                this.at = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rewind<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// A throwaway certificate for `localhost` and 127.0.0.1, written to `dir` as `cert.pem` and
/// `key.pem`: the flags that serve it, and the certificate to trust (`--ca-cert`). For tests.
#[cfg(feature = "self-signed")]
pub fn self_signed(dir: &Path) -> io::Result<(TlsArgs, PathBuf)> {
    let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    let made = rcgen::generate_simple_self_signed(names).map_err(io::Error::other)?;
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, made.cert.pem())?;
    std::fs::write(&key, made.signing_key.serialize_pem())?;
    let args = TlsArgs {
        tls_cert: Some(cert.clone()),
        tls_key: Some(key),
    };
    Ok((args, cert))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn rewind_replays_what_was_put_back_then_reads_on() {
        let mut stream = Rewind::new(&b" world"[..]);
        stream.put_back(b"hello");
        let mut all = String::new();
        stream.read_to_string(&mut all).await.expect("reads");
        assert_eq!(all, "hello world");
        assert!(stream.replayed().is_empty());
    }

    #[test]
    fn missing_files_name_the_flag() {
        let args = TlsArgs {
            tls_cert: Some("/nonexistent/cert.pem".into()),
            tls_key: Some("/nonexistent/key.pem".into()),
        };
        let error = args.acceptor().expect_err("no such file").to_string();
        assert!(
            error.contains("--tls-cert /nonexistent/cert.pem"),
            "{error}"
        );
        assert!(!TlsArgs::default().acceptor().expect("plain").is_on());
    }
}
