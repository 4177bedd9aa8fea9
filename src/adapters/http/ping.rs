//! Connectivity pings of the health endpoint (PROTOCOL §11.1): the error
//! codes it reports for requests that got no answer.

use std::error::Error as _;

/// The §11.1 code of a request that got no HTTP answer: `TIMEOUT`, an OS
/// error name (`ECONNREFUSED`, `ENOTFOUND`, `ENETUNREACH`, …) or
/// `UNKNOWN`. Never anything else (ours, §11.5: no numeric leak).
pub fn error_code(err: &reqwest::Error) -> &'static str {
    if err.is_timeout() {
        return "TIMEOUT";
    }
    let mut source = err.source();
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            match io.kind() {
                ConnectionRefused => return "ECONNREFUSED",
                ConnectionReset => return "ECONNRESET",
                ConnectionAborted => return "ECONNABORTED",
                NetworkUnreachable => return "ENETUNREACH",
                HostUnreachable => return "EHOSTUNREACH",
                TimedOut => return "TIMEOUT",
                AddrNotAvailable => return "EADDRNOTAVAIL",
                _ => {}
            }
        }
        // hyper-util reports resolver failures as "dns error: …".
        if cause.to_string().starts_with("dns error") {
            return "ENOTFOUND";
        }
        source = cause.source();
    }
    "UNKNOWN"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_refused_connection_is_econnrefused() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let client = crate::adapters::http::transport::HttpClients::loopback().direct;
        let err = client
            .get(format!("http://127.0.0.1:{port}/"))
            .send()
            .await
            .expect_err("nothing listens");
        assert_eq!(error_code(&err), "ECONNREFUSED");
    }
}
