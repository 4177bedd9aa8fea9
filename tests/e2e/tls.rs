//! Extra trusted CAs (PROTOCOL §2.1 `NODE_EXTRA_CA_CERTS`, ours
//! `SSL_CERT_FILE`): a Data Center served over TLS with a certificate from a
//! private CA syncs when the CA bundle is configured, and fails the cycle
//! (nothing written) when it is not. The TLS front is a small terminator
//! on 127.0.0.1 forwarding to the simulator.

use std::sync::Arc;

use confluence_connector::{
    app::sync::CycleResult,
    sim::confluence::{Flavor, SimPage},
};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{
    TlsAcceptor,
    rustls::{
        ServerConfig,
        pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer},
    },
};

use crate::support::*;

/// A private CA and a `localhost` certificate it signed: (CA PEM, server
/// chain, server key).
fn private_pki() -> (String, Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).expect("CA certificate");
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().expect("server key");
    let params = CertificateParams::new(vec!["localhost".to_owned()]).expect("server params");
    let cert = params.signed_by(&key, &issuer).expect("server certificate");
    (
        ca.pem(),
        vec![cert.der().clone()],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    )
}

/// Terminates TLS on an ephemeral port and forwards the plaintext to
/// `upstream` (host:port); returns the port.
async fn tls_front(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    upstream: String,
) -> (u16, tokio::task::JoinHandle<()>) {
    let config = ServerConfig::builder_with_provider(Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .expect("server certificate");
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("binds");
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let (acceptor, upstream) = (acceptor.clone(), upstream.clone());
            tokio::spawn(async move {
                // A client refusing our certificate ends the handshake.
                let Ok(mut tls) = acceptor.accept(client).await else {
                    return;
                };
                let Ok(mut plain) = TcpStream::connect(upstream).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    (port, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_ca_is_trusted_only_when_configured() {
    let data = dataset(Flavor::DataCenter).page(SimPage::new("p1", "SP").labels([SINGLE]));
    let mut app = spawn_app(Flavor::DataCenter, data).await;
    let (ca_pem, chain, key) = private_pki();
    let upstream = app
        .confluence
        .base_url()
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let (port, front) = tls_front(chain, key, upstream).await;
    let context = app.confluence.settings().context_path.clone();
    app.configure(json!({"confluence": {"baseUrl": format!("https://localhost:{port}{context}")}}));

    // Without the CA bundle: the certificate is refused, the cycle fails
    // before writing anything.
    let refused = app.cycle_with_configured_clients().await;
    assert!(
        matches!(&refused.result, CycleResult::Failure(why) if why.contains("invalid peer certificate")),
        "{:?}",
        refused.result
    );
    assert!(app.snapshot().contents.is_empty());

    // With it (PEM file named by NODE_EXTRA_CA_CERTS): the same cycle syncs.
    let bundle = tempfile::NamedTempFile::new().expect("temporary file");
    std::fs::write(bundle.path(), ca_pem).expect("CA bundle written");
    app.set_env("NODE_EXTRA_CA_CERTS", &bundle.path().display().to_string());
    let trusted = app.cycle_with_configured_clients().await;
    assert_eq!(trusted.result, CycleResult::Success, "{trusted:#?}");
    assert_eq!(keys(&app.snapshot()), [sp(Flavor::DataCenter, "p1")]);
    front.abort();
    app.finish().await;
}
