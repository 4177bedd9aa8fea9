//! The blob PUT of a two-phase upsert (PROTOCOL §6.3): bytes stream from
//! the source to the pre-signed `writeUrl` (or, cluster-local, to the
//! ingestion service's scoped upload) without being held in memory.

use std::{
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use futures::Stream;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::{
    Body,
    header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderName, HeaderValue},
};
use tokio::time::Instant;
use url::Url;

use super::transport::transport_error;
use crate::ports::{ErrorKind, PortError, knowledge_base::UploadBody};

/// What JavaScript's `encodeURIComponent` leaves alone (PROTOCOL
/// conventions): alphanumerics and `- _ . ! ~ * ' ( )`.
const URI_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

const BLOB_TYPE: HeaderName = HeaderName::from_static("x-ms-blob-type");

/// Where the bytes go: `writeUrl` unchanged (external), or rewritten to
/// `{scoped_upload}?key={key}` with the decoded `key` of `writeUrl`
/// (cluster-local), which keeps the traffic inside the cluster.
pub(super) fn upload_target(
    write_url: &str,
    scoped_upload: Option<&str>,
) -> Result<String, PortError> {
    let Some(scoped_upload) = scoped_upload else {
        return Ok(write_url.to_owned());
    };
    let parsed = Url::parse(write_url).map_err(|e| {
        PortError::new(
            ErrorKind::InvalidResponse,
            "writeUrl is not an absolute URL",
        )
        .with_source(e)
    })?;
    let key = parsed
        .query_pairs()
        .find_map(|(name, value)| (name == "key").then_some(value))
        .ok_or_else(|| {
            PortError::new(
                ErrorKind::InvalidResponse,
                "writeUrl is missing key parameter",
            )
        })?;
    Ok(format!(
        "{scoped_upload}?key={}",
        utf8_percent_encode(&key, URI_COMPONENT)
    ))
}

/// PUTs `body` to `target` with exactly `Content-Type`, `Content-Length` and
/// `x-ms-blob-type: BlockBlob` and no Unique credentials. Not retried and
/// not rate limited (§6.3). `client` must not follow redirects: a 3xx is a
/// failure like any other non-2xx answer.
///
/// Fails once no byte has moved for `stall`: neither a chunk taken by the
/// connection nor, after the last one, an answer. A large upload may take
/// as long as it keeps moving, while a receiver that stopped reading (or
/// never answers) no longer hangs the tenant's cycle.
pub(super) async fn put(
    client: &reqwest::Client,
    target: &str,
    mime_type: &str,
    body: UploadBody,
    stall: Duration,
) -> Result<(), PortError> {
    let context = "blob upload";
    let content_type = HeaderValue::from_str(mime_type).map_err(|_| {
        PortError::new(
            ErrorKind::Rejected,
            format!("{context}: `{mime_type}` is not a valid Content-Type"),
        )
    })?;
    let source_failure = Arc::new(Mutex::new(None));
    let progress = Progress::default();
    let (length, body) = match body {
        UploadBody::Bytes(bytes) => (bytes.len() as u64, Body::from(bytes)),
        UploadBody::Stream { length, stream } => (
            length,
            Body::wrap_stream(ExactLength::new(
                stream.chunks,
                length,
                Arc::clone(&source_failure),
                progress.clone(),
            )),
        ),
    };
    let send = client
        .put(target)
        .header(CONTENT_TYPE, content_type)
        .header(CONTENT_LENGTH, length)
        .header(BLOB_TYPE, HeaderValue::from_static("BlockBlob"))
        .body(body)
        .send();
    let sent = tokio::select! {
        sent = send => sent,
        () = progress.stalled(stall) => {
            return Err(PortError::new(
                ErrorKind::Transient,
                format!(
                    "{context}: no progress for {} s (UNIQUE_UPLOAD_STALL_TIMEOUT_SECONDS)",
                    stall.as_secs_f64()
                ),
            ));
        }
    };
    let response = match sent {
        Ok(response) => response,
        // The source's own error says more than "error sending request".
        Err(err) => {
            let source = source_failure.lock().expect("not poisoned").take();
            return Err(source.unwrap_or_else(|| transport_error(context, err)));
        }
    };
    // Belt and braces for a client that does follow redirects: reqwest turns
    // a 301/302/303 into a body-less GET, whose success proves nothing.
    if Url::parse(target).is_ok_and(|sent| *response.url() != sent) {
        return Err(PortError::new(
            ErrorKind::Internal,
            "blob upload was redirected; the upload client must not follow redirects",
        ));
    }
    let status = response.status();
    if !status.is_success() {
        return Err(PortError::new(
            ErrorKind::from_status(status.as_u16()),
            format!("Upload failed with status {}", status.as_u16()),
        )
        .with_status(status.as_u16()));
    }
    Ok(())
}

/// When an upload last moved: its start, then each chunk the connection
/// took from the body.
#[derive(Debug, Clone)]
struct Progress(Arc<Mutex<Instant>>);

impl Default for Progress {
    fn default() -> Self {
        Progress(Arc::new(Mutex::new(Instant::now())))
    }
}

impl Progress {
    fn touch(&self) {
        *self.0.lock().expect("not poisoned") = Instant::now();
    }

    fn last(&self) -> Instant {
        *self.0.lock().expect("not poisoned")
    }

    /// Resolves once nothing has moved for `limit`.
    async fn stalled(&self, limit: Duration) {
        loop {
            let deadline = self.last() + limit;
            tokio::time::sleep_until(deadline).await;
            if self.last() + limit <= Instant::now() {
                return;
            }
        }
    }
}

/// Passes the source through, failing it when it yields more or fewer
/// bytes than the declared `Content-Length`, and keeps the failure so the
/// caller can report it instead of the transport's generic error. Ends
/// after its first error. Every chunk handed on counts as progress.
struct ExactLength {
    source: Pin<Box<dyn Stream<Item = Result<Bytes, PortError>> + Send>>,
    declared: u64,
    seen: u64,
    failure: Arc<Mutex<Option<PortError>>>,
    failed: bool,
    progress: Progress,
}

impl ExactLength {
    fn new(
        source: Pin<Box<dyn Stream<Item = Result<Bytes, PortError>> + Send>>,
        declared: u64,
        failure: Arc<Mutex<Option<PortError>>>,
        progress: Progress,
    ) -> Self {
        ExactLength {
            source,
            declared,
            seen: 0,
            failure,
            failed: false,
            progress,
        }
    }

    fn fail(&mut self, err: PortError) -> Poll<Option<Result<Bytes, PortError>>> {
        *self.failure.lock().expect("not poisoned") = Some(err.clone());
        self.failed = true;
        Poll::Ready(Some(Err(err)))
    }
}

impl Stream for ExactLength {
    type Item = Result<Bytes, PortError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.failed {
            return Poll::Ready(None);
        }
        match self.source.as_mut().poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(chunk))) => {
                self.progress.touch();
                self.seen += chunk.len() as u64;
                if self.seen > self.declared {
                    let declared = self.declared;
                    return self.fail(PortError::new(
                        ErrorKind::InvalidResponse,
                        format!("upload source yielded more than the declared {declared} bytes"),
                    ));
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(err))) => self.fail(err),
            Poll::Ready(None) if self.seen < self.declared => {
                let (seen, declared) = (self.seen, self.declared);
                self.fail(PortError::new(
                    ErrorKind::InvalidResponse,
                    format!("upload source ended after {seen} of the declared {declared} bytes"),
                ))
            }
            Poll::Ready(None) => Poll::Ready(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::{StreamExt, stream};

    use super::*;

    #[test]
    fn external_uploads_go_to_the_write_url_unchanged() {
        let write = "https://blob.x/c/1?sig=a%2Bb&key=k";
        assert_eq!(upload_target(write, None).unwrap(), write);
    }

    #[test]
    fn cluster_local_uploads_use_the_decoded_key_re_encoded_like_encode_uri_component() {
        let write =
            "https://blob.x/c/1?sv=1&key=acme%2F98306_ENG%2F65538%3A%3Aatt+1%20(x)*~'!&sig=s";
        assert_eq!(
            upload_target(write, Some("http://ingestion:8091/scoped/upload")).unwrap(),
            "http://ingestion:8091/scoped/upload?key=acme%2F98306_ENG%2F65538%3A%3Aatt%201%20(x)*~'!"
        );
    }

    #[test]
    fn a_write_url_without_key_fails_the_item() {
        let err =
            upload_target("https://blob.x/c/1?sig=s", Some("http://i/scoped/upload")).unwrap_err();
        assert_eq!(err.context(), "writeUrl is missing key parameter");
        assert_eq!(err.kind(), ErrorKind::InvalidResponse);
    }

    fn checked(
        chunks: Vec<Result<Bytes, PortError>>,
        declared: u64,
    ) -> (ExactLength, Arc<Mutex<Option<PortError>>>) {
        let failure = Arc::new(Mutex::new(None));
        let stream = ExactLength::new(
            Box::pin(stream::iter(chunks)),
            declared,
            Arc::clone(&failure),
            Progress::default(),
        );
        (stream, failure)
    }

    #[tokio::test(start_paused = true)]
    async fn a_stall_is_measured_from_the_last_progress() {
        let progress = Progress::default();
        let limit = Duration::from_secs(10);
        let watched = progress.clone();
        let stalled = tokio::spawn(async move {
            watched.stalled(limit).await;
            Instant::now()
        });
        let start = Instant::now();
        tokio::time::sleep(Duration::from_secs(6)).await;
        progress.touch();
        tokio::time::sleep(Duration::from_secs(6)).await;
        progress.touch();
        let at = stalled.await.unwrap();
        // Two touches six seconds apart keep it alive; ten quiet seconds
        // after the last one end it.
        assert_eq!(at - start, Duration::from_secs(22));
    }

    #[tokio::test]
    async fn sources_must_yield_exactly_the_declared_length() {
        let chunk = || Ok(Bytes::from_static(b"abc"));
        let (exact, _) = checked(vec![chunk(), chunk()], 6);
        assert!(exact.collect::<Vec<_>>().await.iter().all(Result::is_ok));

        let (long, failure) = checked(vec![chunk(), chunk(), chunk()], 5);
        let results = long.collect::<Vec<_>>().await;
        assert_eq!(results.len(), 2, "the stream ends after its error");
        assert!(
            results[1]
                .as_ref()
                .unwrap_err()
                .context()
                .contains("more than the declared 5")
        );
        assert!(failure.lock().unwrap().is_some());

        let (short, _) = checked(vec![chunk()], 6);
        let results = short.collect::<Vec<_>>().await;
        assert!(
            results[1]
                .as_ref()
                .unwrap_err()
                .context()
                .contains("after 3 of the declared 6")
        );
    }
}
