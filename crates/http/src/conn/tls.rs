//! HTTPS in-process (rustls, ring): the certificate chain and key are read from PEM files and
//! read again when the files change (cert-manager and ACME clients replace them in place), so a
//! renewed certificate is served without a restart. A replacement that does not load (a key that
//! does not match, a half-written file) is logged and the previous pair kept. Live connections
//! keep the configuration they started with; new handshakes take the new one.

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

/// The served certificate and where it comes from.
pub struct Tls {
    cert: PathBuf,
    key: PathBuf,
    /// Clients must present a certificate signed by a CA of this file (mutual TLS).
    client_ca: Option<PathBuf>,
    current: RwLock<TlsAcceptor>,
    /// The files' modification times and sizes when last loaded.
    loaded: Mutex<Stamp>,
}

type Stamp = Option<[(SystemTime, u64); 2]>;

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").field("cert", &self.cert).field("key", &self.key).finish()
    }
}

fn stamp(paths: [&Path; 2]) -> Stamp {
    let one = |p: &Path| std::fs::metadata(p).ok().and_then(|m| Some((m.modified().ok()?, m.len())));
    Some([one(paths[0])?, one(paths[1])?])
}

/// A server configuration from PEM text: the chain (leaf first), its private key and, for mutual
/// TLS, the CAs whose certificates clients must present (refused in the handshake otherwise).
fn server_config(cert_pem: &[u8], key_pem: &[u8], client_ca_pem: Option<&[u8]>) -> Result<ServerConfig, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("the certificate file is not PEM: {e}"))?;
    if chain.is_empty() {
        return Err("the certificate file holds no certificate".into());
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| format!("the key file holds no private key: {e}"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = match client_ca_pem {
        None => builder.with_no_client_auth(),
        Some(pem) => {
            let mut roots = rustls::RootCertStore::empty();
            for ca in CertificateDer::pem_slice_iter(pem) {
                let ca = ca.map_err(|e| format!("the client CA file is not PEM: {e}"))?;
                roots.add(ca).map_err(|e| format!("the client CA file holds an unusable certificate: {e}"))?;
            }
            if roots.is_empty() {
                return Err("the client CA file holds no certificate".into());
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| format!("the client CA cannot verify clients: {e}"))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config =
        builder.with_single_cert(chain, key).map_err(|e| format!("the certificate and key do not make a pair: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

impl Tls {
    /// Reads the pair (and, for mutual TLS, the clients' CA); an error says what is wrong with
    /// which file.
    pub fn load(cert: &Path, key: &Path, client_ca: Option<&Path>) -> Result<Arc<Tls>, String> {
        let acceptor = Self::read(cert, key, client_ca)?;
        Ok(Arc::new(Tls {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            client_ca: client_ca.map(Path::to_path_buf),
            current: RwLock::new(acceptor),
            loaded: Mutex::new(stamp([cert, key])),
        }))
    }

    fn read(cert: &Path, key: &Path, client_ca: Option<&Path>) -> Result<TlsAcceptor, String> {
        let read = |p: &Path| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
        let ca = client_ca.map(read).transpose()?;
        Ok(TlsAcceptor::from(Arc::new(server_config(&read(cert)?, &read(key)?, ca.as_deref())?)))
    }

    /// The acceptor for a new connection.
    pub(crate) fn acceptor(&self) -> TlsAcceptor {
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Loads the files again when they changed since the last load; true when the served pair
    /// changed.
    pub fn reload_if_changed(&self) -> bool {
        let now = stamp([&self.cert, &self.key]);
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        if now.is_none() || now == *loaded {
            return false;
        }
        match Self::read(&self.cert, &self.key, self.client_ca.as_deref()) {
            Ok(acceptor) => {
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = acceptor;
                *loaded = now;
                tracing::info!(cert = %self.cert.display(), "TLS certificate reloaded");
                true
            }
            Err(e) => {
                // Remembered, so one bad replacement is logged once; the next change is tried.
                *loaded = now;
                tracing::error!(error = %e, "the new TLS certificate does not load; still serving the previous one");
                false
            }
        }
    }

    /// Checks the files every `every` until `stop`.
    pub async fn watch(self: Arc<Self>, every: Duration, stop: CancellationToken) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => { self.reload_if_changed(); }
                () = stop.cancelled() => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_files_are_named_and_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (c, k) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        std::fs::write(&c, "not pem").expect("write");
        std::fs::write(&k, "not pem").expect("write");
        let err = Tls::load(&c, &k, None).expect_err("refused");
        assert!(err.contains("no certificate"), "{err}");
        let missing = Tls::load(&dir.path().join("none.pem"), &k, None).expect_err("refused");
        assert!(missing.contains("none.pem"), "{missing}");
    }
}
