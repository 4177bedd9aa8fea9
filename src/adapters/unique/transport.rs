//! What every Unique API call shares: the HTTP client, authentication, the
//! three rate-limit reservoirs (PROTOCOL §6.4) and the bound on concurrent
//! calls; plus the mapping of transport failures to [`PortError`].

use std::{
    fmt,
    future::Future,
    num::{NonZeroU32, NonZeroUsize},
    sync::{Arc, OnceLock},
    time::{Duration, SystemTime},
};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::{StatusCode, header::RETRY_AFTER};
use tokio::sync::Semaphore;

use super::{UniqueRetries, auth::Auth};
use crate::{
    domain::backoff::parse_retry_after,
    ports::{ErrorKind, PortError},
};

/// The tenant's three independent reservoirs, each `apiRateLimitPerMinute`
/// requests per minute. Compat keeps three buckets (so the effective ceiling
/// is up to three times the configured value, §13 #23). Every attempt takes
/// a token, retries and the re-send after a 401 included. governor's GCRA
/// allows a burst of the whole minute's budget, then one request every
/// `60 s / limit`: never more than the limit in any minute, and smoother
/// than the reference's fixed window.
#[derive(Debug)]
pub(super) struct Limiters {
    pub ingestion_graphql: DefaultDirectRateLimiter,
    pub scope_management_graphql: DefaultDirectRateLimiter,
    pub ingestion_rest: DefaultDirectRateLimiter,
}

impl Limiters {
    pub fn new(per_minute: NonZeroU32) -> Self {
        let limiter = || RateLimiter::direct(Quota::per_minute(per_minute));
        Limiters {
            ingestion_graphql: limiter(),
            scope_management_graphql: limiter(),
            ingestion_rest: limiter(),
        }
    }
}

/// Receives every Unique API call (one HTTP exchange) as it ends, for the
/// metrics of PROTOCOL §11.3. The daemon installs one per tenant with
/// [`UniqueKnowledgeBase::set_call_recorder`](super::UniqueKnowledgeBase::set_call_recorder).
pub trait CallRecorder: Send + Sync + fmt::Debug {
    /// `operation` is a bounded label value (`graphql:{target}:{Name}` or a
    /// REST route template), `target` `ingestion` or `scopeManagement`,
    /// `status` the HTTP status when an answer arrived, `ok` whether the
    /// call succeeded (GraphQL errors in a 200 answer are failures).
    fn call(
        &self,
        operation: &str,
        target: &'static str,
        duration: Duration,
        status: Option<u16>,
        ok: bool,
    );
    /// A Zitadel token was acquired.
    fn token_refreshed(&self);
}

/// Where the recorder is installed once, after construction; shared by the
/// transport and the Zitadel token cache.
pub(super) type RecorderSlot = Arc<OnceLock<Arc<dyn CallRecorder>>>;

/// Shared by the adapter and the per-call hooks of the generated ingestion
/// client.
#[derive(Debug)]
pub(super) struct Transport {
    pub(super) api: reqwest::Client,
    pub(super) auth: Auth,
    pub(super) limiters: Limiters,
    /// Per attempt, see [`UniqueSettings::request_timeout`](super::UniqueSettings::request_timeout).
    pub(super) request_timeout: Duration,
    pub(super) retries: UniqueRetries,
    permits: Semaphore,
    pub(super) recorder: RecorderSlot,
}

impl Transport {
    pub(super) fn new(
        api: reqwest::Client,
        auth: Auth,
        per_minute: NonZeroU32,
        max_concurrent: NonZeroUsize,
        request_timeout: Duration,
        retries: UniqueRetries,
        recorder: RecorderSlot,
    ) -> Self {
        Transport {
            api,
            auth,
            limiters: Limiters::new(per_minute),
            request_timeout,
            retries,
            permits: Semaphore::new(max_concurrent.get()),
            recorder,
        }
    }

    /// Reports one finished call to the recorder, if one is installed.
    pub(super) fn record<T>(
        &self,
        operation: impl FnOnce() -> String,
        target: &'static str,
        duration: Duration,
        result: &Result<T, PortError>,
    ) {
        if let Some(recorder) = self.recorder.get() {
            let (status, ok) = match result {
                Ok(_) => (Some(200), true),
                Err(err) => (err.status(), false),
            };
            recorder.call(&operation(), target, duration, status, ok);
        }
    }

    /// Runs one HTTP exchange once `limiter` grants a token and a
    /// concurrency permit is free. The token is taken first, so a call
    /// waiting for its reservoir does not hold a permit others could use.
    pub(super) async fn throttled<T>(
        &self,
        limiter: &DefaultDirectRateLimiter,
        exchange: impl Future<Output = T>,
    ) -> T {
        limiter.until_ready().await;
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("the semaphore is never closed");
        exchange.await
    }
}

/// A request that got no usable answer: connection refused or reset,
/// timeout, broken body. Worth retrying, except requests we could not even
/// build.
pub(super) fn transport_error(context: impl Into<String>, err: reqwest::Error) -> PortError {
    let kind = if err.is_builder() {
        ErrorKind::Internal
    } else {
        ErrorKind::Transient
    };
    PortError::new(kind, context).with_source(err)
}

/// An error answer: kind by status, with the server's `Retry-After`.
pub(super) fn status_error(
    context: impl Into<String>,
    status: StatusCode,
    headers: &reqwest::header::HeaderMap,
) -> PortError {
    let retry_after = headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()));
    PortError::new(ErrorKind::from_status(status.as_u16()), context)
        .with_status(status.as_u16())
        .with_retry_after(retry_after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_reservoir_holds_one_minute_of_requests() {
        let limiters = Limiters::new(NonZeroU32::new(3).unwrap());
        for limiter in [
            &limiters.ingestion_graphql,
            &limiters.scope_management_graphql,
            &limiters.ingestion_rest,
        ] {
            assert!((0..3).all(|_| limiter.check().is_ok()));
            assert!(
                limiter.check().is_err(),
                "a fourth request within the minute must wait"
            );
        }
    }

    #[test]
    fn error_answers_keep_status_and_retry_hint() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(RETRY_AFTER, "7".parse().unwrap());
        let err = status_error("POST file-diff", StatusCode::TOO_MANY_REQUESTS, &headers);
        assert_eq!(err.kind(), ErrorKind::RateLimited);
        assert_eq!(err.status(), Some(429));
        assert_eq!(err.retry_after(), Some(std::time::Duration::from_secs(7)));
    }
}
