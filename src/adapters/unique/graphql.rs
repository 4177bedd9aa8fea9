//! Posts the build-time generated GraphQL operations
//! (`adapters::generated::unique_graphql`) with our own reqwest client, and
//! turns every way they can fail into a [`PortError`] (PROTOCOL §6.4).

use bytes::Bytes;
use governor::DefaultDirectRateLimiter;
use graphql_client::{GraphQLQuery, PathFragment};
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use serde_json::Value;

use super::{
    auth::Credentials,
    transport::{Transport, status_error, transport_error},
};
use crate::{
    adapters::http::retry::with_retries,
    ports::{ErrorKind, PortError},
};

/// Whether a failed call may be repeated. Only operations that are
/// idempotent by nature are: the queries, `CreateScopeAccesses` and
/// `UpdateScope` (ours, §6.4). Repeating an upsert or a delete after a lost
/// answer could register twice or act on a stale view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Retry {
    Idempotent,
    Never,
}

/// One GraphQL endpoint: its URL and its reservoir.
#[derive(Debug, Clone, Copy)]
pub(super) struct Endpoint<'a> {
    pub url: &'a str,
    pub limiter: &'a DefaultDirectRateLimiter,
    /// `ingestion` or `scopeManagement`: the `target` metric label.
    pub target: &'static str,
    /// Limit of one attempt (the wait for a token is not part of it).
    pub timeout: std::time::Duration,
}

/// Runs operation `Q` with `variables` and returns its `data`.
///
/// The body is serialized once and re-sent as is by retries and by the
/// re-send after a 401.
pub(super) async fn execute<Q: GraphQLQuery>(
    transport: &Transport,
    endpoint: Endpoint<'_>,
    variables: Q::Variables,
    retry: Retry,
) -> Result<Q::ResponseData, PortError> {
    let query = Q::build_query(variables);
    let operation = query.operation_name;
    let body = serde_json::to_vec(&query).map(Bytes::from).map_err(|e| {
        PortError::new(
            ErrorKind::Internal,
            format!("GraphQL {operation}: variables do not serialize"),
        )
        .with_source(e)
    })?;
    let attempt = |_| {
        transport.auth.authorized(|credentials| {
            post::<Q::ResponseData>(transport, endpoint, operation, body.clone(), credentials)
        })
    };
    match retry {
        Retry::Idempotent => {
            transport.auth.prepare().await?;
            with_retries(&transport.retries.idempotent_calls, attempt).await
        }
        Retry::Never => attempt(0).await,
    }
}

/// One attempt: POST, then decode. The concurrency permit is held until the
/// (small) answer is read.
async fn post<T: serde::de::DeserializeOwned>(
    transport: &Transport,
    endpoint: Endpoint<'_>,
    operation: &str,
    body: Bytes,
    credentials: Credentials,
) -> Result<T, PortError> {
    let context = || format!("GraphQL {operation} at {}", endpoint.url);
    let request = transport
        .api
        .post(endpoint.url)
        .headers(credentials.headers)
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .timeout(endpoint.timeout)
        .body(body);
    let mut started = None;
    let exchange = transport
        .throttled(endpoint.limiter, async {
            // Latency of the exchange itself, not of the wait for a token.
            started = Some(std::time::Instant::now());
            let response = request.send().await?;
            let status = response.status();
            let headers = response.headers().clone();
            Ok::<_, reqwest::Error>((status, headers, response.bytes().await?))
        })
        .await
        .map_err(|e| transport_error(context(), e));
    let result = answer_of::<T>(operation, &context(), exchange);
    transport.record(
        || crate::telemetry::metrics::unique_graphql_operation(endpoint.target, operation),
        endpoint.target,
        started.map(|at| at.elapsed()).unwrap_or_default(),
        &result,
    );
    result
}

/// The decoded `data` of one exchange, or why there is none.
fn answer_of<T: serde::de::DeserializeOwned>(
    operation: &str,
    context: &str,
    exchange: Result<(reqwest::StatusCode, reqwest::header::HeaderMap, Bytes), PortError>,
) -> Result<T, PortError> {
    let context = || context.to_owned();
    let (status, headers, answer) = exchange?;
    if !status.is_success() {
        let err = status_error(context(), status, &headers);
        // Validation failures come back as 400 with an `errors` array.
        return Err(
            match serde_json::from_slice::<graphql_client::Response<Value>>(&answer) {
                Ok(graphql_client::Response {
                    errors: Some(errors),
                    ..
                }) if !errors.is_empty() => {
                    log_errors(operation, &errors, false);
                    err.with_source(anyhow::anyhow!(messages(&errors)))
                }
                _ => err,
            },
        );
    }
    decode(operation, &context(), &answer)
}

/// Any `errors` fail the operation, even next to (partial) `data`.
fn decode<T: serde::de::DeserializeOwned>(
    operation: &str,
    context: &str,
    answer: &[u8],
) -> Result<T, PortError> {
    let response: graphql_client::Response<Value> =
        serde_json::from_slice(answer).map_err(|e| {
            PortError::new(
                ErrorKind::InvalidResponse,
                format!("{context}: answer is not a GraphQL response"),
            )
            .with_source(e)
        })?;
    if let Some(errors) = response.errors.filter(|errors| !errors.is_empty()) {
        let partial = response.data.as_ref().is_some_and(|data| !data.is_null());
        log_errors(operation, &errors, partial);
        return Err(graphql_failure(context, &errors));
    }
    let data = response.data.ok_or_else(|| {
        PortError::new(
            ErrorKind::InvalidResponse,
            format!("{context}: answer has neither data nor errors"),
        )
    })?;
    serde_json::from_value(data).map_err(|e| {
        PortError::new(
            ErrorKind::InvalidResponse,
            format!("{context}: data does not match the selection"),
        )
        .with_source(e)
    })
}

/// The error of a GraphQL `errors` array, classified by its first entry
/// (the entry the reference reads its metrics status from, §6.4).
fn graphql_failure(context: &str, errors: &[graphql_client::Error]) -> PortError {
    let first = &errors[0];
    let status = status_code(first);
    let kind = match (status, code(first)) {
        (Some(status), _) if status >= 400 => ErrorKind::from_status(status),
        (_, Some("UNAUTHENTICATED")) => ErrorKind::Unauthorized,
        (_, Some("FORBIDDEN")) => ErrorKind::Forbidden,
        (_, Some("NOT_FOUND")) => ErrorKind::NotFound,
        (
            _,
            Some(
                "BAD_USER_INPUT"
                | "BAD_REQUEST"
                | "CONFLICT"
                | "GRAPHQL_VALIDATION_FAILED"
                | "GRAPHQL_PARSE_FAILED",
            ),
        ) => ErrorKind::Rejected,
        // Apollo's code for anything a resolver threw: often a passing
        // database or upstream failure.
        (_, Some("INTERNAL_SERVER_ERROR")) => ErrorKind::Transient,
        _ => ErrorKind::InvalidResponse,
    };
    let err = PortError::new(kind, context).with_source(anyhow::anyhow!(messages(errors)));
    match status {
        Some(status) => err.with_status(status),
        None => err,
    }
}

/// Logs what the server said: operation, messages, paths and codes. Never
/// the variables, which carry titles, keys and metadata.
fn log_errors(operation: &str, errors: &[graphql_client::Error], partial_data: bool) {
    for error in errors {
        tracing::warn!(
            operation,
            message = %error.message,
            path = %path(error),
            code = code(error).unwrap_or(""),
            status = status_code(error).unwrap_or(0),
            partial_data,
            "Unique GraphQL error"
        );
    }
}

fn messages(errors: &[graphql_client::Error]) -> String {
    errors
        .iter()
        .map(|e| e.message.as_str())
        .collect::<Vec<_>>()
        .join("; ")
}

fn path(error: &graphql_client::Error) -> String {
    error
        .path
        .iter()
        .flatten()
        .map(|fragment| match fragment {
            PathFragment::Key(key) => key.clone(),
            PathFragment::Index(index) => index.to_string(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

fn extension<'a>(error: &'a graphql_client::Error, name: &str) -> Option<&'a Value> {
    error.extensions.as_ref()?.get(name)
}

fn code(error: &graphql_client::Error) -> Option<&str> {
    extension(error, "code")?.as_str()
}

/// `extensions.response.statusCode` (NestJS puts the HTTP-ish status there).
fn status_code(error: &graphql_client::Error) -> Option<u16> {
    extension(error, "response")?
        .get("statusCode")?
        .as_u64()
        .and_then(|s| u16::try_from(s).ok())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn decode_value(answer: Value) -> Result<Value, PortError> {
        decode("Op", "GraphQL Op", answer.to_string().as_bytes())
    }

    #[test]
    fn errors_fail_the_operation_even_with_partial_data() {
        let err = decode_value(json!({
            "data": {"updateScope": {"id": "s"}},
            "errors": [{"message": "half done", "path": ["updateScope", 0, "id"]}]
        }))
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidResponse);
        assert!(err.to_string().contains("half done"), "{err}");
    }

    #[test]
    fn errors_are_classified_by_status_then_code() {
        let kind_of = |extensions: Value| {
            decode_value(
                json!({"data": null, "errors": [{"message": "m", "extensions": extensions}]}),
            )
            .unwrap_err()
        };
        let conflict = kind_of(json!({"code": "CONFLICT", "response": {"statusCode": 409}}));
        assert_eq!(
            (conflict.kind(), conflict.status()),
            (ErrorKind::Rejected, Some(409))
        );
        assert_eq!(
            kind_of(json!({"response": {"statusCode": 503}})).kind(),
            ErrorKind::Transient
        );
        assert_eq!(
            kind_of(json!({"code": "UNAUTHENTICATED"})).kind(),
            ErrorKind::Unauthorized
        );
        assert_eq!(
            kind_of(json!({"code": "FORBIDDEN"})).kind(),
            ErrorKind::Forbidden
        );
        assert_eq!(
            kind_of(json!({"code": "INTERNAL_SERVER_ERROR"})).kind(),
            ErrorKind::Transient
        );
        assert_eq!(kind_of(json!({})).kind(), ErrorKind::InvalidResponse);
    }

    #[test]
    fn missing_or_mismatched_data_is_an_invalid_response() {
        assert_eq!(
            decode_value(json!({})).unwrap_err().kind(),
            ErrorKind::InvalidResponse
        );
        let err = decode::<u32>("Op", "GraphQL Op", br#"{"data": {"x": 1}}"#).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidResponse);
        assert!(err.context().contains("selection"));
        let err = decode_value(json!("<html>gateway error</html>")).unwrap_err();
        assert!(err.context().contains("not a GraphQL response"));
    }

    #[test]
    fn paths_join_keys_and_indexes() {
        let error: graphql_client::Error =
            serde_json::from_value(json!({"message": "m", "path": ["a", 2, "b"]})).unwrap();
        assert_eq!(path(&error), "a.2.b");
    }
}
