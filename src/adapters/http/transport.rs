//! The HTTP clients every adapter is given (PROTOCOL §2.2, §2.3, §4.4).
//!
//! Built once per process from the environment: the forward proxy (with
//! `NO_PROXY`), extra trusted CAs, transport timeouts, the user agent and
//! the redirect policy. Adapters receive a `reqwest::Client` and never
//! configure transport themselves.

use std::{fs, path::Path, sync::Once, time::Duration};

use reqwest::{
    Certificate, Identity, Proxy,
    header::{HeaderMap, HeaderName, HeaderValue},
    redirect,
};
use secrecy::ExposeSecret;

use crate::config::{ProcessConfig, Proxy as ProxyConfig, ProxyAuth, ProxySettings};

/// Connection establishment (compat, §2.2).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Until the response headers arrive (compat, §2.2). reqwest has no such
/// knob; adapters wrap `send()` in a timeout of this length.
pub const HEADERS_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest silence while reading from a Confluence connection (compat,
/// §2.2): until the headers of a download arrive and between its chunks.
/// Unique traffic has none (ours): its calls carry their own per-attempt
/// timeouts, some of them longer (a large file-diff, deletions), and
/// uploads fail on a stall instead (`UNIQUE_UPLOAD_STALL_TIMEOUT_SECONDS`).
pub const BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Redirect hops followed by API and download requests (§4.4).
const MAX_REDIRECTS: usize = 10;

/// Why the HTTP clients could not be built; names the setting to fix.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("cannot read {setting} file {path}: {source}")]
    ReadFile {
        setting: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error("{setting} file {path} holds no usable PEM certificate/key: {source}")]
    Pem {
        setting: &'static str,
        path: String,
        source: reqwest::Error,
    },
    #[error("{setting} file {path} contains no PEM certificate")]
    NoCertificate { setting: &'static str, path: String },
    #[error("invalid forward proxy settings (PROXY_*): {0}")]
    Proxy(String),
    #[error("cannot build the HTTP client: {0}")]
    Build(#[source] reqwest::Error),
}

/// The process's HTTP clients, cheap to clone (reqwest clients share pools).
#[derive(Debug, Clone)]
pub struct HttpClients {
    /// Confluence and Atlassian traffic: through the proxy when one is
    /// configured (§2.2 "always" class, minus `NO_PROXY`).
    pub proxied: reqwest::Client,
    /// `external` Unique API traffic, through the proxy like `proxied`,
    /// without the idle read timeout of Confluence traffic.
    pub proxied_unique: reqwest::Client,
    /// `cluster_local` Unique traffic: never through the proxy.
    pub direct: reqwest::Client,
    /// Blob uploads through the proxy (external Unique); redirects are not
    /// followed on PUT (§4.4, ours).
    pub proxied_upload: reqwest::Client,
    /// Blob uploads inside the cluster; no proxy, no redirects.
    pub direct_upload: reqwest::Client,
}

impl HttpClients {
    /// Builds all clients from the process configuration.
    ///
    /// # Errors
    /// A CA bundle, client certificate or key cannot be read or parsed, or
    /// the proxy settings are not usable.
    pub fn from_config(config: &ProcessConfig) -> Result<Self, TransportError> {
        install_crypto_provider();
        let mut roots = Vec::new();
        for (setting, path) in [
            ("NODE_EXTRA_CA_CERTS", config.extra_ca_certs.as_deref()),
            ("SSL_CERT_FILE", config.ssl_cert_file.as_deref()),
        ] {
            if let Some(path) = path {
                roots.extend(read_certificates(setting, path)?);
            }
        }
        let proxy = match &config.proxy {
            ProxyConfig::Disabled => None,
            ProxyConfig::Enabled(settings) => {
                if let Some(path) = &settings.ca_bundle_path {
                    roots.extend(read_certificates("PROXY_SSL_CA_BUNDLE_PATH", path)?);
                }
                Some(settings)
            }
        };
        let no_proxy = config.no_proxy.entries().join(",");
        let build = |through_proxy: bool, follow_redirects: bool, read_idle: bool| {
            let mut builder = base_builder(&roots, follow_redirects, read_idle);
            match proxy.filter(|_| through_proxy) {
                Some(settings) => {
                    builder = builder.proxy(forward_proxy(settings, &no_proxy)?);
                    if let ProxyAuth::SslTls {
                        cert_path,
                        key_path,
                    } = &settings.auth
                    {
                        builder = builder.identity(client_identity(cert_path, key_path)?);
                    }
                }
                None => builder = builder.no_proxy(),
            }
            builder.build().map_err(TransportError::Build)
        };
        Ok(HttpClients {
            proxied: build(true, true, true)?,
            proxied_unique: build(true, true, false)?,
            direct: build(false, true, false)?,
            proxied_upload: build(true, false, false)?,
            direct_upload: build(false, false, false)?,
        })
    }

    /// Clients without any proxy or extra CA: for tests and the embedded
    /// simulators, which live on loopback.
    pub fn loopback() -> Self {
        install_crypto_provider();
        let build = |follow_redirects: bool, read_idle: bool| {
            base_builder(&[], follow_redirects, read_idle)
                .no_proxy()
                .build()
                .expect("a client without proxy or certificates always builds")
        };
        let unique = build(true, false);
        let upload = build(false, false);
        HttpClients {
            proxied: build(true, true),
            proxied_unique: unique.clone(),
            direct: unique,
            proxied_upload: upload.clone(),
            direct_upload: upload,
        }
    }
}

/// reqwest is built without a default TLS crypto provider (to avoid a C
/// toolchain dependency); install rustls' ring provider once per process.
pub fn install_crypto_provider() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // Fails only when another provider is already installed, which is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

fn base_builder(
    roots: &[Certificate],
    follow_redirects: bool,
    read_idle: bool,
) -> reqwest::ClientBuilder {
    // reqwest drops Authorization, Cookie and Proxy-Authorization when a
    // redirect changes scheme, host or port (§4.4), so the media-host hop of
    // Cloud downloads carries no credentials.
    let policy = if follow_redirects {
        redirect::Policy::limited(MAX_REDIRECTS)
    } else {
        redirect::Policy::none()
    };
    let builder = reqwest::Client::builder()
        .user_agent(concat!("confluence-connector/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(CONNECT_TIMEOUT)
        .redirect(policy)
        .tls_certs_merge(roots.iter().cloned());
    if read_idle {
        builder.read_timeout(BODY_IDLE_TIMEOUT)
    } else {
        builder
    }
}

fn forward_proxy(settings: &ProxySettings, no_proxy: &str) -> Result<Proxy, TransportError> {
    let mut proxy = Proxy::all(settings.url()).map_err(|e| TransportError::Proxy(e.to_string()))?;
    if let ProxyAuth::UsernamePassword { username, password } = &settings.auth {
        proxy = proxy.basic_auth(username, password.expose_secret());
    }
    if !settings.headers.is_empty() {
        let mut headers = HeaderMap::new();
        for (name, value) in &settings.headers {
            let name = HeaderName::try_from(name.as_str())
                .map_err(|e| TransportError::Proxy(format!("PROXY_HEADERS name `{name}`: {e}")))?;
            // Values may be credentials: never echo them in the error.
            let mut value = HeaderValue::try_from(value.as_str()).map_err(|_| {
                TransportError::Proxy(format!(
                    "PROXY_HEADERS value of `{name}` is not a valid header value"
                ))
            })?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        proxy = proxy.headers(headers);
    }
    Ok(proxy.no_proxy(reqwest::NoProxy::from_string(no_proxy)))
}

fn read_certificates(
    setting: &'static str,
    path: &Path,
) -> Result<Vec<Certificate>, TransportError> {
    let pem = read(setting, path)?;
    let certificates =
        Certificate::from_pem_bundle(&pem).map_err(|source| TransportError::Pem {
            setting,
            path: path.display().to_string(),
            source,
        })?;
    if certificates.is_empty() {
        return Err(TransportError::NoCertificate {
            setting,
            path: path.display().to_string(),
        });
    }
    Ok(certificates)
}

fn client_identity(cert_path: &Path, key_path: &Path) -> Result<Identity, TransportError> {
    let mut pem = read("PROXY_SSL_CERT_PATH", cert_path)?;
    pem.push(b'\n');
    pem.extend(read("PROXY_SSL_KEY_PATH", key_path)?);
    Identity::from_pem(&pem).map_err(|source| TransportError::Pem {
        setting: "PROXY_SSL_CERT_PATH/PROXY_SSL_KEY_PATH",
        path: format!("{} + {}", cert_path.display(), key_path.display()),
        source,
    })
}

fn read(setting: &'static str, path: &Path) -> Result<Vec<u8>, TransportError> {
    fs::read(path).map_err(|source| TransportError::ReadFile {
        setting,
        path: path.display().to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::config::Overrides;

    fn process_config(vars: &[(&str, &str)]) -> ProcessConfig {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut all = vars.clone();
        all.entry("TENANT_CONFIG_PATH_PATTERN".into())
            .or_insert("/x/*-tenant-config.yaml".into());
        ProcessConfig::from_lookup(|name| all.get(name).cloned(), &Overrides::default())
            .expect("valid process configuration")
    }

    #[test]
    fn clients_build_with_a_proxy_and_its_headers() {
        let config = process_config(&[
            ("PROXY_AUTH_MODE", "username_password"),
            ("PROXY_HOST", "proxy.corp.example"),
            ("PROXY_PORT", "3128"),
            ("PROXY_PROTOCOL", "http"),
            ("PROXY_USERNAME", "svc"),
            ("PROXY_PASSWORD", "s3cret"),
            ("PROXY_HEADERS", r#"{"x-proxy-tenant":"acme"}"#),
            ("NO_PROXY", "internal.example"),
        ]);
        HttpClients::from_config(&config).expect("clients build");
    }

    #[test]
    fn an_unreadable_ca_bundle_names_its_variable_and_path() {
        let config = process_config(&[("NODE_EXTRA_CA_CERTS", "/nonexistent/ca.pem")]);
        let err = HttpClients::from_config(&config).unwrap_err().to_string();
        assert!(err.contains("NODE_EXTRA_CA_CERTS"), "{err}");
        assert!(err.contains("/nonexistent/ca.pem"), "{err}");
    }

    #[test]
    fn a_ca_file_without_certificates_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.pem");
        fs::write(&path, "not a certificate").unwrap();
        let config = process_config(&[("SSL_CERT_FILE", path.to_str().unwrap())]);
        let err = HttpClients::from_config(&config).unwrap_err().to_string();
        assert!(err.contains("SSL_CERT_FILE"), "{err}");
    }
}
