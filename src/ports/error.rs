//! The error every port returns: a small kind the application decides on,
//! a human context, the underlying cause, and an optional retry hint.

use std::{fmt, sync::Arc, time::Duration};

/// What went wrong, as far as the sync needs to know to decide between
/// skipping an item, retrying later and aborting the tenant's cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The object does not exist (HTTP 404/410, content deleted mid-cycle).
    /// Items: skip. Discovery: abort.
    NotFound,
    /// Credentials were refused even after a fresh token (HTTP 401).
    Unauthorized,
    /// Authenticated but not allowed (HTTP 403).
    Forbidden,
    /// The remote asked us to slow down and retries are exhausted (HTTP 429).
    RateLimited,
    /// Worth retrying later: 5xx, connection errors, timeouts.
    Transient,
    /// The remote answered something we cannot use: HTML instead of JSON,
    /// a truncated body, a missing required field, GraphQL `errors`.
    InvalidResponse,
    /// The remote rejected the request itself (other 4xx, a GraphQL
    /// validation error, a conflicting external id).
    Rejected,
    /// A local failure: a bug, a misconfiguration found late, a closed channel.
    Internal,
}

impl ErrorKind {
    /// Stable lower-case name, for logs and bounded metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not_found",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Transient => "transient",
            ErrorKind::InvalidResponse => "invalid_response",
            ErrorKind::Rejected => "rejected",
            ErrorKind::Internal => "internal",
        }
    }

    /// The kind an HTTP status maps to, for statuses that are errors.
    pub fn from_status(status: u16) -> ErrorKind {
        match status {
            401 => ErrorKind::Unauthorized,
            403 => ErrorKind::Forbidden,
            404 | 410 => ErrorKind::NotFound,
            429 => ErrorKind::RateLimited,
            408 | 500..=599 => ErrorKind::Transient,
            _ => ErrorKind::Rejected,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error of a port operation. Cheap to clone (the source is shared), so one
/// failed fetch can be reported to every waiter.
#[derive(Debug, Clone)]
pub struct PortError {
    kind: ErrorKind,
    context: String,
    status: Option<u16>,
    retry_after: Option<Duration>,
    source: Option<Arc<anyhow::Error>>,
}

impl PortError {
    /// A new error of `kind`; `context` says what was being done, e.g.
    /// "GET /wiki/rest/api/content/search".
    pub fn new(kind: ErrorKind, context: impl Into<String>) -> Self {
        PortError {
            kind,
            context: context.into(),
            status: None,
            retry_after: None,
            source: None,
        }
    }

    /// Attaches the underlying cause.
    pub fn with_source(mut self, source: impl Into<anyhow::Error>) -> Self {
        self.source = Some(Arc::new(source.into()));
        self
    }

    /// Records the HTTP status that caused the error.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    /// Records the server's `Retry-After` hint.
    pub fn with_retry_after(mut self, retry_after: Option<Duration>) -> Self {
        self.retry_after = retry_after;
        self
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn context(&self) -> &str {
        &self.context
    }

    /// The HTTP status, when the error came from a response.
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// Whether trying the same operation again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self.kind, ErrorKind::Transient | ErrorKind::RateLimited)
    }
}

impl fmt::Display for PortError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.context, self.kind)?;
        if let Some(status) = self.status {
            write!(f, " (HTTP {status})")?;
        }
        if let Some(source) = &self.source {
            write!(f, ": {source:#}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PortError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e.as_ref() as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_the_kind_the_sync_decides_on() {
        assert_eq!(ErrorKind::from_status(404), ErrorKind::NotFound);
        assert_eq!(ErrorKind::from_status(410), ErrorKind::NotFound);
        assert_eq!(ErrorKind::from_status(401), ErrorKind::Unauthorized);
        assert_eq!(ErrorKind::from_status(403), ErrorKind::Forbidden);
        assert_eq!(ErrorKind::from_status(429), ErrorKind::RateLimited);
        assert_eq!(ErrorKind::from_status(503), ErrorKind::Transient);
        assert_eq!(ErrorKind::from_status(400), ErrorKind::Rejected);
    }

    #[test]
    fn display_names_context_kind_status_and_cause() {
        let err = PortError::new(ErrorKind::Transient, "GET /rest/api/content/search")
            .with_status(503)
            .with_source(anyhow::anyhow!("service unavailable"));
        assert_eq!(
            err.to_string(),
            "GET /rest/api/content/search: transient (HTTP 503): service unavailable"
        );
        assert!(err.is_retryable());
        assert!(!PortError::new(ErrorKind::NotFound, "x").is_retryable());
    }
}
