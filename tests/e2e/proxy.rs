//! The forward proxy of PROTOCOL §2.2/§2.3, end to end: with
//! `PROXY_AUTH_MODE=username_password`, every Confluence request (token,
//! API, download and its media-host redirect) goes through the proxy with
//! `Proxy-Authorization`, while cluster-local Unique traffic goes direct.
//! The proxy here is a small recording HTTP forwarder on 127.0.0.1.

use std::sync::{Arc, Mutex};

use base64::Engine;
use confluence_connector::sim::confluence::{Flavor, SimAttachment, SimPage};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
};

use crate::support::*;

both_flavors!(confluence_traffic_goes_through_the_proxy_and_unique_traffic_does_not);

/// What the proxy saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    target: String,
    proxy_authorization: Option<String>,
    team_header: Option<String>,
}

/// Accepts absolute-form HTTP requests, records them, and forwards each on
/// a connection of its own (`Connection: close`).
async fn start_proxy() -> (String, Arc<Mutex<Vec<Seen>>>, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("proxy binds");
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let task = tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let log = Arc::clone(&log);
            tokio::spawn(async move {
                let _ = forward(client, log).await;
            });
        }
    });
    (addr.port().to_string(), seen, task)
}

async fn forward(client: TcpStream, log: Arc<Mutex<Vec<Seen>>>) -> std::io::Result<()> {
    let mut reader = BufReader::new(client);
    let mut request_line = String::new();
    reader.read_line(&mut request_line).await?;
    let mut parts = request_line.split_whitespace();
    let (method, target) = (
        parts.next().unwrap_or_default().to_owned(),
        parts.next().unwrap_or_default().to_owned(),
    );
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).await?;
        if line.trim_end().is_empty() {
            break;
        }
        headers.push(line.trim_end().to_owned());
    }
    let header = |name: &str| {
        headers.iter().find_map(|h| {
            let (n, v) = h.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    };
    log.lock().unwrap().push(Seen {
        target: target.clone(),
        proxy_authorization: header("proxy-authorization"),
        team_header: header("x-proxy-team"),
    });
    let url = url::Url::parse(&target).expect("absolute-form target");
    let mut upstream = TcpStream::connect((url.host_str().unwrap(), url.port().unwrap())).await?;
    let path = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    };
    let mut head = format!("{method} {path} HTTP/1.1\r\n");
    for h in &headers {
        let name = h.split(':').next().unwrap_or_default().to_ascii_lowercase();
        if !matches!(
            name.as_str(),
            "proxy-authorization" | "proxy-connection" | "connection" | "x-proxy-team"
        ) {
            head.push_str(h);
            head.push_str("\r\n");
        }
    }
    head.push_str("Connection: close\r\n\r\n");
    upstream.write_all(head.as_bytes()).await?;
    if let Some(length) = header("content-length").and_then(|l| l.parse::<usize>().ok()) {
        let mut body = vec![0; length];
        reader.read_exact(&mut body).await?;
        upstream.write_all(&body).await?;
    }
    let mut client = reader.into_inner();
    tokio::io::copy(&mut upstream, &mut client).await?;
    client.shutdown().await
}

async fn confluence_traffic_goes_through_the_proxy_and_unique_traffic_does_not(flavor: Flavor) {
    let pdf = SimAttachment::new("att-1", "a.pdf", "application/pdf", 3_000);
    let data = dataset(flavor).page(
        SimPage::new("p1", "SP")
            .labels([SINGLE])
            .attachment(pdf.clone()),
    );
    let mut app = spawn_app(flavor, data).await;
    if flavor == Flavor::Cloud {
        app.confluence.set_quirk(
            confluence_connector::sim::confluence::Quirk::DownloadRedirectToMediaHost,
            true,
        );
    }
    let (port, seen, proxy) = start_proxy().await;
    for (name, value) in [
        ("PROXY_AUTH_MODE", "username_password"),
        ("PROXY_HOST", "127.0.0.1"),
        ("PROXY_PORT", port.as_str()),
        ("PROXY_PROTOCOL", "http"),
        ("PROXY_USERNAME", "proxy-user"),
        ("PROXY_PASSWORD", "proxy-pass"),
        ("PROXY_HEADERS", r#"{"X-Proxy-Team":"search"}"#),
    ] {
        app.set_env(name, value);
    }
    let report = app.cycle_with_configured_clients().await;
    assert_eq!(
        report.result,
        confluence_connector::app::sync::CycleResult::Success,
        "{report:#?}"
    );
    let snapshot = app.snapshot();
    assert_eq!(
        keys(&snapshot),
        sorted([sp(flavor, "p1"), sp(flavor, "p1::att-1")])
    );
    assert_eq!(
        stored(&snapshot, &sp(flavor, "p1::att-1"))
            .blob
            .as_ref()
            .unwrap()
            .sha256,
        attachment_sha256(&pdf)
    );

    let seen = seen.lock().unwrap().clone();
    let credentials = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("proxy-user:proxy-pass")
    );
    let confluence_origin = match flavor {
        Flavor::Cloud => app.confluence.gateway_url(),
        Flavor::DataCenter => app.confluence.base_url(),
    };
    let unique_origin = app.unique.origin();
    assert!(!seen.is_empty(), "nothing went through the proxy");
    let media = app.confluence.media_url();
    for request in &seen {
        assert_eq!(
            request.team_header.as_deref(),
            Some("search"),
            "{request:?}"
        );
        assert!(
            !request.target.starts_with(&unique_origin),
            "Unique traffic was proxied: {request:?}"
        );
        // Known limit (reqwest 0.13): on a cross-host redirect of a plain
        // `http://` request, the redirect strips `Proxy-Authorization`
        // together with the origin's credentials and does not add it again.
        // For `https://` targets (real Cloud and its media host) the proxy
        // credentials go into each tunnel's CONNECT instead, which no
        // redirect touches. The simulators speak plain HTTP, so the media
        // hop here is the one request without them.
        if !request.target.starts_with(&media) {
            assert_eq!(
                request.proxy_authorization.as_deref(),
                Some(credentials.as_str()),
                "{request:?}"
            );
        }
    }
    let proxied_confluence = seen
        .iter()
        .filter(|r| r.target.starts_with(&confluence_origin))
        .count() as u64;
    let counters = app.confluence.counters();
    assert_eq!(
        proxied_confluence,
        counters.api_requests() + counters.tokens_issued,
        "every Confluence request went through the proxy: {seen:#?}"
    );
    if flavor == Flavor::Cloud {
        assert!(
            seen.iter()
                .any(|r| r.target.starts_with(&app.confluence.media_url())),
            "the media-host redirect went through the proxy too"
        );
        assert_eq!(counters.media_requests_with_authorization, 0);
    }
    proxy.abort();
    app.finish().await;
}
