//! The file-diff (PROTOCOL §7.1) through the build-time generated ingestion
//! client (`adapters::generated::unique_ingestion`).
//!
//! The generated client calls our [`ClientHooks`]: `pre` adds the
//! credentials and the attempt's timeout, `exec` waits for the REST reservoir and a concurrency
//! permit. Credentials are obtained before the generated call and handed to
//! the hooks through the client's inner value ([`CallContext`]), because a
//! hook can only fail with a string (`Error::Custom`), which would lose
//! whether a token failure is worth retrying. A generated client is
//! therefore built per attempt; it is a base URL and two `Arc`s.

use std::sync::Arc;

use progenitor_client::{ClientHooks, ClientInfo, Error, OperationInfo, ResponseValue};
use reqwest::header::HeaderMap;

use super::transport::{Transport, status_error, transport_error};
use crate::{
    adapters::{
        generated::unique_ingestion::{Client, types},
        http::retry::with_retries,
    },
    ports::{
        ErrorKind, PortError,
        knowledge_base::{FileDiff, FileDiffRequest},
    },
};

/// The inner value of one generated client: the shared transport and the
/// credentials of this attempt.
#[derive(Debug, Clone)]
pub struct CallContext {
    transport: Arc<Transport>,
    credentials: HeaderMap,
}

impl ClientHooks<CallContext> for Client {
    async fn pre<E>(
        &self,
        request: &mut reqwest::Request,
        _info: &OperationInfo,
    ) -> Result<(), Error<E>> {
        let context = self.inner();
        request.headers_mut().extend(context.credentials.clone());
        // A large space's diff is slow work on the server's side.
        *request.timeout_mut() = Some(super::settings::SLOW_CALL_TIMEOUT);
        Ok(())
    }

    async fn exec(
        &self,
        request: reqwest::Request,
        _info: &OperationInfo,
    ) -> reqwest::Result<reqwest::Response> {
        let transport = &self.inner().transport;
        let method = request.method().as_str().to_owned();
        let path = request.url().path().to_owned();
        let outcome = transport
            .throttled(&transport.limiters.ingestion_rest, async {
                let started = std::time::Instant::now();
                let outcome = self.client().execute(request).await;
                (started.elapsed(), outcome)
            })
            .await;
        let (duration, outcome) = outcome;
        if let Some(recorder) = transport.recorder.get() {
            let status = outcome.as_ref().ok().map(|r| r.status().as_u16());
            recorder.call(
                &crate::telemetry::metrics::unique_rest_operation(&method, &path),
                super::knowledge_base::TARGET_INGESTION,
                duration,
                status,
                status.is_some_and(|s| (200..300).contains(&s)),
            );
        }
        outcome
    }
}

/// POSTs the file-diff of one space, retried on 429, 5xx and connection
/// errors with the §6.4 schedule (3 s, 6 s, 12 s; `Retry-After` up to 30 s).
/// The file-diff changes nothing on the server, so repeating it is safe.
pub(super) async fn file_diff(
    transport: &Arc<Transport>,
    base_url: &str,
    request: &FileDiffRequest,
) -> Result<FileDiff, PortError> {
    let body = types::FileDiffRequest {
        partial_key: request.partial_key.clone(),
        source_kind: request.source_kind.clone(),
        source_name: request.source_name.clone(),
        file_list: request
            .items
            .iter()
            .map(|item| types::FileDiffItem {
                key: item.key.clone(),
                url: item.url.clone(),
                updated_at: item.updated_at.clone(),
            })
            .collect(),
    };
    let context = format!("file-diff of `{}`", request.partial_key);
    transport.auth.prepare().await?;
    let answer = with_retries(&transport.retries.file_diff, |_| {
        transport.auth.authorized(|credentials| {
            let client = Client::new_with_client(
                base_url,
                transport.api.clone(),
                CallContext {
                    transport: Arc::clone(transport),
                    credentials: credentials.headers,
                },
            );
            let body = body.clone();
            let context = &context;
            async move {
                client
                    .file_diff()
                    .body(body)
                    .send()
                    .await
                    .map(ResponseValue::into_inner)
                    .map_err(|e| progenitor_error(context, e))
            }
        })
    })
    .await?;
    Ok(FileDiff {
        new: answer.new_files,
        updated: answer.updated_files,
        moved: answer.moved_files,
        deleted: answer.deleted_files,
    })
}

/// Maps what the generated client can fail with onto the port's kinds.
fn progenitor_error(context: &str, err: Error<()>) -> PortError {
    match err {
        Error::CommunicationError(e) | Error::ResponseBodyError(e) => transport_error(context, e),
        Error::UnexpectedResponse(response) => {
            status_error(context, response.status(), response.headers())
        }
        Error::ErrorResponse(response) => {
            status_error(context, response.status(), response.headers())
        }
        Error::InvalidResponsePayload(_, e) => PortError::new(
            ErrorKind::InvalidResponse,
            format!("{context}: answer lacks a category"),
        )
        .with_source(e),
        other @ (Error::InvalidRequest(_) | Error::InvalidUpgrade(_) | Error::Custom(_)) => {
            PortError::new(ErrorKind::Internal, context)
                .with_source(anyhow::anyhow!(other.to_string()))
        }
    }
}
