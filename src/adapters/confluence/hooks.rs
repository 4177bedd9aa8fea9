//! Cross-cutting behaviour of every Confluence request, as the inner value
//! and `ClientHooks` of the generated clients (build.rs sets
//! `inner_type` to [`RequestHooks`] for both Confluence subsets):
//!
//! * `pre`: the `Authorization` header (skipped for the applinks manifest
//!   and the token endpoint), the per-attempt timeout, and removal of
//!   progenitor's `api-version` header, which is not part of the contract.
//! * `exec`: per attempt, one token of the tenant's GCRA limiter (retries
//!   included, ours §5.11) and the points-quota pacer; retries on 429, 5xx
//!   and connection errors with the policy's backoff and `Retry-After`;
//!   one retry with a fresh token after a 401 (ours §4.3); observations.
//!
//! Links the server hands out (`_links.next`, Data Center download links)
//! are followed through `RequestHooks::get`, which runs the same two
//! steps on a URL taken verbatim.

use std::{
    cell::RefCell,
    fmt,
    future::Future,
    num::NonZeroU32,
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, SystemTime},
};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use progenitor_client::{ClientHooks, ClientInfo, Error, OperationInfo};
use reqwest::{
    Response, StatusCode,
    header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderValue},
};
use tokio::time::Instant;

use super::auth::Authenticator;
use crate::{
    adapters::generated::{confluence_cloud, confluence_dc},
    domain::backoff::{RetryPolicy, parse_retry_after},
    ports::PortError,
};

/// Operations sent without `Authorization` (PROTOCOL §4, §5.9).
const UNAUTHENTICATED: &[&str] = &["get_applinks_manifest", "request_access_token"];
/// Operations whose body is streamed: no whole-exchange timeout.
const STREAMED: &[&str] = &["download_attachment"];

/// Receives what the tenant's Confluence traffic experiences as it
/// happens, for the metrics of PROTOCOL §11.3. The daemon installs one per
/// tenant with [`ConfluenceObservations::set_recorder`].
pub trait RequestRecorder: Send + Sync + fmt::Debug {
    /// One logical API request ended (retries included). `path` is the URL
    /// path of the request (ids and all: the recorder makes the label
    /// bounded); `status` is the final answer's, `None` when none arrived.
    fn request(&self, operation: &'static str, path: &str, duration: Duration, status: Option<u16>);
    /// Confluence answered HTTP 429 (every attempt counts).
    fn throttled_by_server(&self);
    /// A request had to wait for the tenant's own limiter.
    fn throttled_locally(&self);
}

/// Counters of what the tenant's Confluence traffic experienced, for the
/// metrics exporter. The hooks are the one place that observes requests.
#[derive(Debug, Default)]
pub struct ConfluenceObservations {
    attempts: AtomicU64,
    retries: AtomicU64,
    throttled_by_server: AtomicU64,
    throttled_locally: AtomicU64,
    quota_paced: AtomicU64,
    token_refreshes_after_401: AtomicU64,
    recorder: OnceLock<Arc<dyn RequestRecorder>>,
}

/// A copy of [`ConfluenceObservations`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ObservationSnapshot {
    /// HTTP attempts sent to Confluence (token requests included).
    pub attempts: u64,
    /// Attempts that were retries.
    pub retries: u64,
    /// HTTP 429 answers received (`cfc_confluence_api_throttle_events_total`, §13 #4).
    pub throttled_by_server: u64,
    /// Requests that had to wait for the tenant's own limiter.
    pub throttled_locally: u64,
    /// Requests delayed because the points quota ran low (§5.13).
    pub quota_paced: u64,
    /// Fresh tokens fetched because a request was answered 401.
    pub token_refreshes_after_401: u64,
}

impl ConfluenceObservations {
    /// Installs the recorder that sees every request from now on. Only the
    /// first installation counts; `false` if one was installed already.
    pub fn set_recorder(&self, recorder: Arc<dyn RequestRecorder>) -> bool {
        self.recorder.set(recorder).is_ok()
    }

    fn recorder(&self) -> Option<&dyn RequestRecorder> {
        self.recorder.get().map(|recorder| &**recorder)
    }

    pub fn snapshot(&self) -> ObservationSnapshot {
        ObservationSnapshot {
            attempts: self.attempts.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            throttled_by_server: self.throttled_by_server.load(Ordering::Relaxed),
            throttled_locally: self.throttled_locally.load(Ordering::Relaxed),
            quota_paced: self.quota_paced.load(Ordering::Relaxed),
            token_refreshes_after_401: self.token_refreshes_after_401.load(Ordering::Relaxed),
        }
    }
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// The inner value of the generated Confluence clients: what all requests
/// of one tenant (or its token endpoint) share. Cheap to clone.
#[derive(Clone)]
pub struct RequestHooks(Arc<HookState>);

struct HookState {
    role: Role,
    policy: RetryPolicy,
    request_timeout: Duration,
    observations: Arc<ConfluenceObservations>,
}

enum Role {
    /// Confluence API requests: throttled and authenticated.
    Api {
        throttle: Throttle,
        auth: Arc<Authenticator>,
    },
    /// The OAuth token endpoint: neither throttled nor authenticated.
    TokenEndpoint,
}

impl fmt::Debug for RequestHooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let role = match self.0.role {
            Role::Api { .. } => "api",
            Role::TokenEndpoint => "token_endpoint",
        };
        f.debug_struct("RequestHooks")
            .field("role", &role)
            .field("policy", &self.0.policy)
            .finish_non_exhaustive()
    }
}

impl RequestHooks {
    /// Hooks of API requests: `rate_per_minute` GCRA limiter (burst equal
    /// to the rate), `auth` for the `Authorization` header.
    pub(super) fn api(
        rate_per_minute: NonZeroU32,
        auth: Arc<Authenticator>,
        policy: RetryPolicy,
        request_timeout: Duration,
        observations: Arc<ConfluenceObservations>,
    ) -> Self {
        let throttle = Throttle {
            limiter: RateLimiter::direct(Quota::per_minute(rate_per_minute)),
            queue: tokio::sync::Mutex::new(()),
            pacer: QuotaPacer::default(),
        };
        RequestHooks(Arc::new(HookState {
            role: Role::Api { throttle, auth },
            policy,
            request_timeout,
            observations,
        }))
    }

    /// Hooks of the token endpoint: retries only.
    pub(crate) fn token_endpoint(
        policy: RetryPolicy,
        request_timeout: Duration,
        observations: Arc<ConfluenceObservations>,
    ) -> Self {
        RequestHooks(Arc::new(HookState {
            role: Role::TokenEndpoint,
            policy,
            request_timeout,
            observations,
        }))
    }

    /// `pre` step: see the module documentation.
    async fn prepare(
        &self,
        request: &mut reqwest::Request,
        info: &OperationInfo,
    ) -> Result<(), PortError> {
        request.headers_mut().remove("api-version");
        if !STREAMED.contains(&info.operation_id) {
            *request.timeout_mut() = Some(self.0.request_timeout);
        }
        if let Role::Api { auth, .. } = &self.0.role
            && !UNAUTHENTICATED.contains(&info.operation_id)
        {
            let header = auth.header().await?;
            request.headers_mut().insert(AUTHORIZATION, header);
        }
        Ok(())
    }

    /// `exec` step: see the module documentation. Returns the last answer
    /// (or connection error) once it is final or retries are used up, and
    /// reports API requests (not token requests) to the recorder.
    async fn execute(
        &self,
        http: &reqwest::Client,
        request: reqwest::Request,
        info: &OperationInfo,
    ) -> reqwest::Result<Response> {
        let recorder = match self.0.role {
            Role::Api { .. } => self.0.observations.recorder(),
            Role::TokenEndpoint => None,
        };
        let Some(recorder) = recorder else {
            return self.attempts(http, request, info).await;
        };
        let path = request.url().path().to_owned();
        let started = std::time::Instant::now();
        let outcome = self.attempts(http, request, info).await;
        let status = outcome.as_ref().ok().map(|r| r.status().as_u16());
        recorder.request(info.operation_id, &path, started.elapsed(), status);
        outcome
    }

    async fn attempts(
        &self,
        http: &reqwest::Client,
        mut request: reqwest::Request,
        info: &OperationInfo,
    ) -> reqwest::Result<Response> {
        let state = &*self.0;
        let mut refreshed = false;
        let mut retry = 0;
        loop {
            if let Role::Api { throttle, .. } = &state.role {
                throttle.acquire(&state.observations).await;
            }
            let attempt = request
                .try_clone()
                .expect("Confluence requests have no streaming body, so they can be cloned");
            bump(&state.observations.attempts);
            let outcome = http.execute(attempt).await;
            let wait = match &outcome {
                Ok(response) => {
                    self.observe(response);
                    if response.status() == StatusCode::UNAUTHORIZED && !refreshed {
                        refreshed = true;
                        if self.refresh_credentials(&mut request, info).await {
                            continue;
                        }
                        return outcome;
                    }
                    retryable_status(response.status()).then(|| retry_after(response.headers()))
                }
                Err(error) => retryable_error(error).then_some(None),
            };
            let Some(hint) = wait else {
                return outcome;
            };
            if !state.policy.allows(retry + 1) {
                return outcome;
            }
            retry += 1;
            bump(&state.observations.retries);
            let delay = state.policy.delay(retry, hint, rand::random::<f64>());
            tracing::debug!(
                operation = info.operation_id,
                retry,
                wait_ms = delay.as_millis() as u64,
                status = outcome.as_ref().ok().map(|r| r.status().as_u16()),
                "retrying Confluence request"
            );
            drop(outcome);
            tokio::time::sleep(delay).await;
        }
    }

    /// After a 401: drops the token that was refused and puts a fresh one
    /// on `request`. `false` when there is nothing to refresh (static
    /// credentials, unauthenticated operation) or the refresh failed; the
    /// failure is kept for the caller (see [`call`]).
    async fn refresh_credentials(
        &self,
        request: &mut reqwest::Request,
        info: &OperationInfo,
    ) -> bool {
        let Role::Api { auth, .. } = &self.0.role else {
            return false;
        };
        if !auth.is_refreshable() || UNAUTHENTICATED.contains(&info.operation_id) {
            return false;
        }
        if let Some(refused) = request.headers().get(AUTHORIZATION) {
            auth.invalidate(refused).await;
        }
        bump(&self.0.observations.token_refreshes_after_401);
        match auth.header().await {
            Ok(header) => {
                request.headers_mut().insert(AUTHORIZATION, header);
                true
            }
            Err(error) => {
                remember_failure(error);
                false
            }
        }
    }

    fn observe(&self, response: &Response) {
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            bump(&self.0.observations.throttled_by_server);
            if let Some(recorder) = self.0.observations.recorder() {
                recorder.throttled_by_server();
            }
        }
        if let Role::Api { throttle, .. } = &self.0.role {
            throttle
                .pacer
                .observe(response.headers(), SystemTime::now());
        }
    }

    /// GETs `url` (a link from a previous answer, taken verbatim) through
    /// the same `pre`/`exec` steps as the generated operation `operation`.
    ///
    /// # Errors
    /// As the generated operations: a non-2xx final answer is
    /// `Error::UnexpectedResponse`.
    pub(super) async fn get(
        &self,
        http: &reqwest::Client,
        url: &str,
        operation: &'static str,
    ) -> Result<Response, Error> {
        let info = OperationInfo {
            operation_id: operation,
        };
        let mut builder = http.get(url);
        // JSON answers are asked for as such (ours, §4); downloads take any type.
        if !STREAMED.contains(&operation) {
            builder = builder.header(ACCEPT, HeaderValue::from_static("application/json"));
        }
        let mut request = builder.build()?;
        self.prepare(&mut request, &info)
            .await
            .map_err(|error| custom_error(&error))?;
        let response = self.execute(http, request, &info).await?;
        if response.status().is_success() {
            Ok(response)
        } else {
            Err(Error::UnexpectedResponse(response))
        }
    }
}

/// Generated-client glue: both Confluence clients delegate to the same
/// [`RequestHooks`] steps.
macro_rules! confluence_client_hooks {
    ($client:ty) => {
        impl ClientHooks<RequestHooks> for $client {
            async fn pre<E>(
                &self,
                request: &mut reqwest::Request,
                info: &OperationInfo,
            ) -> Result<(), Error<E>> {
                self.inner()
                    .prepare(request, info)
                    .await
                    .map_err(|error| custom_error(&error))
            }

            async fn exec(
                &self,
                request: reqwest::Request,
                info: &OperationInfo,
            ) -> reqwest::Result<Response> {
                self.inner().execute(self.client(), request, info).await
            }
        }
    };
}

confluence_client_hooks!(confluence_cloud::Client);
confluence_client_hooks!(confluence_dc::Client);

/// A hook failure for progenitor, which only carries text; the typed
/// error goes to the caller through [`call`].
fn custom_error<E>(error: &PortError) -> Error<E> {
    remember_failure(error.clone());
    Error::Custom(error.to_string())
}

fn retryable_status(status: StatusCode) -> bool {
    matches!(status.as_u16(), 429 | 500 | 502 | 503 | 504)
}

/// Connection-level failures worth another attempt (§5.12): connect and
/// DNS errors, resets, timeouts. Redirect loops and builder errors are not.
fn retryable_error(error: &reqwest::Error) -> bool {
    !(error.is_builder() || error.is_redirect() || error.is_status() || error.is_decode())
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()))
}

tokio::task_local! {
    /// The typed error behind a hook failure of the call in progress.
    static HOOK_FAILURE: RefCell<Option<PortError>>;
}

fn remember_failure(error: PortError) {
    // Outside `call` there is no slot; the text in `Error::Custom` remains.
    let _ = HOOK_FAILURE.try_with(|slot| *slot.borrow_mut() = Some(error));
}

/// Runs one generated (or [`RequestHooks::get`]) call and returns its
/// result plus the typed error of a hook failure, if one happened: the
/// token request failing in `pre`, or the refresh after a 401.
pub(super) async fn call<T>(
    operation: impl Future<Output = Result<T, Error>> + Send,
) -> (Result<T, Error>, Option<PortError>) {
    HOOK_FAILURE
        .scope(RefCell::new(None), async {
            let result = operation.await;
            let failure = HOOK_FAILURE.with(|slot| slot.borrow_mut().take());
            (result, failure)
        })
        .await
}

/// The tenant's limiter, FIFO among waiters, followed by the quota pacer.
struct Throttle {
    limiter: DefaultDirectRateLimiter,
    /// Tokio's mutex is fair: waiters take limiter tokens in arrival order.
    queue: tokio::sync::Mutex<()>,
    pacer: QuotaPacer,
}

impl Throttle {
    async fn acquire(&self, observations: &ConfluenceObservations) {
        let _turn = self.queue.lock().await;
        if self.limiter.check().is_err() {
            bump(&observations.throttled_locally);
            if let Some(recorder) = observations.recorder() {
                recorder.throttled_locally();
            }
            self.limiter.until_ready().await;
        }
        if self.pacer.wait().await {
            bump(&observations.quota_paced);
        }
    }
}

/// Spreads the rest of a nearly used-up points quota (Cloud
/// `X-RateLimit-*` headers, §5.13) evenly until its reset.
#[derive(Debug, Default)]
struct QuotaPacer {
    pace: Mutex<Option<Pace>>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Pace {
    interval: Duration,
    next: Instant,
    until: Instant,
}

/// Paces only when less than this share of the quota remains.
const QUOTA_LOW_WATERMARK: f64 = 0.1;
/// A reset further away than this is not believed (a misread epoch).
const QUOTA_MAX_RESET: Duration = Duration::from_secs(3600);

impl QuotaPacer {
    fn observe(&self, headers: &HeaderMap, now: SystemTime) {
        let Some(quota) = QuotaHeaders::parse(headers, now) else {
            return;
        };
        // The latest answer is the best estimate: the `remaining` requests
        // are spread over the time to the reset, the first one `interval`
        // from now, so the last one lands on the reset.
        *self.pace.lock().expect("pacer lock") = pacing_interval(quota).map(|interval| {
            let now = Instant::now();
            Pace {
                interval,
                next: now + interval,
                until: now + quota.reset_in,
            }
        });
    }

    /// Waits for the next paced slot; `true` if it had to wait.
    async fn wait(&self) -> bool {
        let slot = {
            let mut pace = self.pace.lock().expect("pacer lock");
            let now = Instant::now();
            match *pace {
                Some(p) if now < p.until => {
                    let slot = p.next.max(now);
                    *pace = Some(Pace {
                        next: slot + p.interval,
                        ..p
                    });
                    slot
                }
                _ => {
                    *pace = None;
                    return false;
                }
            }
        };
        let waits = slot > Instant::now();
        tokio::time::sleep_until(slot).await;
        waits
    }
}

/// The points-quota headers of one answer.
#[derive(Debug, Clone, Copy, PartialEq)]
struct QuotaHeaders {
    limit: u64,
    remaining: u64,
    reset_in: Duration,
}

impl QuotaHeaders {
    fn parse(headers: &HeaderMap, now: SystemTime) -> Option<QuotaHeaders> {
        let text = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
        };
        let limit = text("x-ratelimit-limit")?.parse().ok()?;
        let remaining = text("x-ratelimit-remaining")?.parse().ok()?;
        let reset = text("x-ratelimit-reset")?;
        let reset_in = match chrono::DateTime::parse_from_rfc3339(reset) {
            Ok(at) => SystemTime::from(at).duration_since(now).unwrap_or_default(),
            Err(_) => parse_retry_after(reset, now)?,
        };
        (reset_in <= QUOTA_MAX_RESET).then_some(QuotaHeaders {
            limit,
            remaining,
            reset_in,
        })
    }
}

/// The spacing that makes the remaining quota last until the reset, when
/// less than 10 % of it remains; `None` otherwise.
fn pacing_interval(quota: QuotaHeaders) -> Option<Duration> {
    let low = (quota.remaining as f64) < quota.limit as f64 * QUOTA_LOW_WATERMARK;
    (low && !quota.reset_in.is_zero()).then(|| {
        quota.reset_in / (quota.remaining.saturating_add(1)).min(u64::from(u32::MAX)) as u32
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(limit: &str, remaining: &str, reset: &str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert("x-ratelimit-limit", HeaderValue::from_str(limit).unwrap());
        map.insert(
            "x-ratelimit-remaining",
            HeaderValue::from_str(remaining).unwrap(),
        );
        map.insert("x-ratelimit-reset", HeaderValue::from_str(reset).unwrap());
        map
    }

    #[test]
    fn quota_headers_accept_rfc3339_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600);
        let iso = headers("100", "5", "2026-01-01T00:01:00.000Z");
        let parsed = QuotaHeaders::parse(&iso, now).unwrap();
        assert_eq!(
            parsed,
            QuotaHeaders {
                limit: 100,
                remaining: 5,
                reset_in: Duration::from_secs(60)
            }
        );
        let http_date = headers(
            "100",
            "5",
            &httpdate::fmt_http_date(now + Duration::from_secs(30)),
        );
        assert_eq!(
            QuotaHeaders::parse(&http_date, now).unwrap().reset_in,
            Duration::from_secs(30)
        );
        assert_eq!(QuotaHeaders::parse(&headers("100", "x", "10"), now), None);
        // An epoch in seconds read as a delay would pace for decades.
        assert_eq!(
            QuotaHeaders::parse(&headers("100", "5", "1767225600"), now),
            None
        );
    }

    #[test]
    fn pacing_starts_below_ten_percent_and_spreads_the_rest_until_reset() {
        let quota = |remaining| QuotaHeaders {
            limit: 100,
            remaining,
            reset_in: Duration::from_secs(60),
        };
        assert_eq!(pacing_interval(quota(10)), None);
        assert_eq!(pacing_interval(quota(9)), Some(Duration::from_secs(6)));
        assert_eq!(pacing_interval(quota(0)), Some(Duration::from_secs(60)));
    }

    #[tokio::test(start_paused = true)]
    async fn the_pacer_spaces_requests_and_stops_at_the_reset() {
        let pacer = QuotaPacer::default();
        let reset =
            chrono::DateTime::<chrono::Utc>::from(SystemTime::now() + Duration::from_secs(10));
        pacer.observe(&headers("100", "4", &reset.to_rfc3339()), SystemTime::now());
        let start = Instant::now();
        assert!(pacer.wait().await);
        assert!(pacer.wait().await);
        let elapsed = start.elapsed();
        // Four remaining requests over ten seconds: one every two seconds.
        assert!(
            elapsed >= Duration::from_millis(3900) && elapsed <= Duration::from_secs(4),
            "{elapsed:?}"
        );
        tokio::time::advance(Duration::from_secs(20)).await;
        assert!(!pacer.wait().await, "past the reset nothing is paced");
    }

    #[test]
    fn connection_failures_are_retryable_but_status_errors_are_not_reinterpreted() {
        assert!(retryable_status(StatusCode::TOO_MANY_REQUESTS));
        assert!(retryable_status(StatusCode::BAD_GATEWAY));
        assert!(!retryable_status(StatusCode::NOT_FOUND));
        assert!(!retryable_status(StatusCode::NOT_IMPLEMENTED));
    }
}
