//! Generated-client errors → [`PortError`], with a context naming the
//! request, so the sync can decide from the kind alone.

use std::time::SystemTime;

use progenitor_client::Error;

use crate::{
    domain::backoff::parse_retry_after,
    ports::{ErrorKind, PortError},
};

/// How much of an error answer's body is kept in the error (§5.1 reports
/// `Error response from {url}: {status} {body}`).
const BODY_EXCERPT: usize = 512;

/// Maps a failed call. `hook_failure` is the typed error behind an
/// `Error::Custom` raised by the hooks (token acquisition), which wins.
pub(super) async fn map_error(
    context: String,
    error: Error,
    hook_failure: Option<PortError>,
) -> PortError {
    if let Some(failure) = hook_failure {
        let mut error = PortError::new(failure.kind(), context);
        if let Some(status) = failure.status() {
            error = error.with_status(status);
        }
        return error.with_source(failure);
    }
    match error {
        Error::UnexpectedResponse(response) => from_response(context, response).await,
        Error::ErrorResponse(response) => {
            let status = response.status().as_u16();
            PortError::new(ErrorKind::from_status(status), context).with_status(status)
        }
        Error::CommunicationError(source) => from_transport(context, source),
        Error::ResponseBodyError(source) => {
            // The answer started but its body broke off: truncated.
            PortError::new(ErrorKind::InvalidResponse, context).with_source(source)
        }
        Error::InvalidResponsePayload(body, source) => {
            let excerpt = excerpt(&body);
            PortError::new(ErrorKind::InvalidResponse, context).with_source(
                anyhow::Error::new(source)
                    .context(format!("body does not match the schema: {excerpt}")),
            )
        }
        Error::InvalidRequest(message) => {
            PortError::new(ErrorKind::Internal, context).with_source(anyhow::anyhow!(message))
        }
        Error::Custom(message) => {
            PortError::new(ErrorKind::Internal, context).with_source(anyhow::anyhow!(message))
        }
        Error::InvalidUpgrade(source) => {
            PortError::new(ErrorKind::Internal, context).with_source(source)
        }
    }
}

/// A non-2xx final answer: kind by status, `Retry-After` kept, and the
/// start of the body as the cause.
pub(super) async fn from_response(context: String, response: reqwest::Response) -> PortError {
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()));
    let url = response.url().clone();
    let body = response.bytes().await.unwrap_or_default();
    PortError::new(ErrorKind::from_status(status), context)
        .with_status(status)
        .with_retry_after(retry_after)
        .with_source(anyhow::anyhow!(
            "Error response from {url}: {status} {}",
            excerpt(&body)
        ))
}

/// A failure below HTTP: timeouts and connection errors are transient,
/// too many redirects is not.
pub(super) fn from_transport(context: String, source: reqwest::Error) -> PortError {
    let kind = if source.is_redirect() {
        ErrorKind::Rejected
    } else if source.is_decode() || source.is_body() {
        ErrorKind::InvalidResponse
    } else {
        ErrorKind::Transient
    };
    PortError::new(kind, context).with_source(source)
}

fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut cut: String = text.chars().take(BODY_EXCERPT).collect();
    if text.chars().count() > BODY_EXCERPT {
        cut.push('…');
    }
    cut
}
