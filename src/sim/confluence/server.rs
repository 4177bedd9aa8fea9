//! The HTTP side of the simulator: routes of both flavours, the gate every
//! request passes (rate limit, quota, auth, faults), JSON rendering of
//! pages and attachments, pagination, and the media host.

use std::{
    collections::{BTreeSet, HashMap},
    convert::Infallible,
    sync::{Arc, Mutex, MutexGuard, atomic::Ordering},
    time::{Duration, Instant, SystemTime},
};

use axum::{
    Router,
    body::{Body, Bytes},
    extract::{Path, Query, Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use base64::prelude::{BASE64_STANDARD, Engine as _};
use futures::StreamExt as _;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter, clock::Clock as _};
use rand::{RngExt, SeedableRng, rngs::StdRng};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    control::{
        Counters, EarlyEnd, EditTrigger, Fault, Flavor, Quirk, RateLimit, Route, RouteFaults,
        SimSettings,
    },
    cql,
    dataset::{Dataset, SimAttachment, SimPage},
};

/// Inline attachments per page, as Confluence does (PROTOCOL §5.5).
const INLINE_ATTACHMENTS: usize = 25;
/// Modification date placed in download links (opaque to clients).
const MODIFICATION_DATE: &str = "1767225600000";

/// Everything the handlers share.
#[derive(Debug)]
pub(super) struct Shared {
    pub(super) settings: SimSettings,
    /// `http://127.0.0.1:{port}` of the media host.
    pub(super) media_origin: String,
    /// `http://127.0.0.1:{port}` of the main listener.
    pub(super) origin: String,
    pub(super) counters: Counters,
    pub(super) state: Mutex<SimState>,
}

/// Mutable simulator state, behind one lock that no handler holds across
/// an `await`.
#[derive(Debug)]
pub(super) struct SimState {
    pub(super) dataset: Dataset,
    pub(super) quirks: BTreeSet<Quirk>,
    pub(super) faults: HashMap<Route, RouteFaults>,
    pub(super) rng: StdRng,
    tokens: HashMap<String, Instant>,
    pub(super) reject_tokens: bool,
    pub(super) revoke_tokens_at_api_request: Option<u64>,
    /// Discovery searches serve only this many matches, then end as said
    /// ([`SimHandle::end_listings_early`](super::SimHandle::end_listings_early)).
    pub(super) listing_cutoff: Option<(usize, EarlyEnd)>,
    api_requests: u64,
    limiter: Option<DefaultDirectRateLimiter>,
    quota_window: Option<(Instant, u32)>,
    /// Dataset changes waiting for their trigger (edits mid-cycle).
    pub(super) edits: Vec<(EditTrigger, DatasetChange)>,
    /// Pages whose body the answer being built carries.
    served_bodies: Vec<String>,
}

/// A change to the served content, applied once.
pub(super) struct DatasetChange(pub(super) Box<dyn FnOnce(&mut Dataset) + Send>);

impl std::fmt::Debug for DatasetChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DatasetChange")
    }
}

impl SimState {
    pub(super) fn new(dataset: Dataset, seed: u64) -> Self {
        SimState {
            dataset,
            quirks: BTreeSet::new(),
            faults: HashMap::new(),
            rng: StdRng::seed_from_u64(seed),
            tokens: HashMap::new(),
            reject_tokens: false,
            revoke_tokens_at_api_request: None,
            listing_cutoff: None,
            api_requests: 0,
            limiter: None,
            quota_window: None,
            edits: Vec::new(),
            served_bodies: Vec::new(),
        }
    }

    pub(super) fn set_rate_limit(&mut self, limit: Option<RateLimit>) {
        self.limiter = limit.map(|l| {
            let burst = l.per_minute.saturating_add(l.slack);
            RateLimiter::direct(Quota::per_minute(l.per_minute).allow_burst(burst))
        });
    }

    pub(super) fn revoke_tokens(&mut self) {
        self.tokens.clear();
    }

    /// Applies the edits whose trigger the answer just built (on `route`)
    /// meets; the client receives the answer as it was before them.
    fn fire_edits(&mut self, route: Route) {
        let served = std::mem::take(&mut self.served_bodies);
        let (fired, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.edits)
            .into_iter()
            .partition(|(trigger, _)| match trigger {
                EditTrigger::BodyServed(id) => served.contains(id),
                EditTrigger::AnswerOn(on) => *on == route,
            });
        self.edits = waiting;
        for (_, DatasetChange(change)) in fired {
            change(&mut self.dataset);
        }
    }

    fn quirk(&self, quirk: Quirk) -> bool {
        self.quirks.contains(&quirk)
    }

    fn next_fault(&mut self, route: Route) -> Option<Fault> {
        let faults = self.faults.get_mut(&route)?;
        if let Some(fault) = faults.queued.pop_front() {
            return Some(fault);
        }
        let (probability, fault) = faults.random.clone()?;
        self.rng.random_bool(probability).then_some(fault)
    }
}

impl Shared {
    pub(super) fn lock(&self) -> MutexGuard<'_, SimState> {
        self.state.lock().expect("simulator state lock")
    }

    fn api_prefix(&self) -> String {
        match self.settings.flavor {
            Flavor::Cloud => format!("/ex/confluence/{}", self.settings.cloud_id),
            Flavor::DataCenter => self.settings.context_path.clone(),
        }
    }

    /// Runs one request through the gate, then `handler` (under the state
    /// lock), then applies post-processing faults and records the outcome.
    async fn serve<F>(&self, route: Route, headers: &HeaderMap, handler: F) -> Response
    where
        F: FnOnce(&mut SimState, &Shared) -> Response,
    {
        let fault = self.lock().next_fault(route);
        if let Some(Fault::Delay(wait)) = &fault {
            tokio::time::sleep(*wait).await;
        }
        let gated = {
            let mut state = self.lock();
            self.gate(&mut state, route, headers)
        };
        let response = match gated {
            Err(refusal) => refusal.into_response(),
            Ok(extra_headers) => {
                let mut response = match fault {
                    Some(Fault::Status(status)) => error(status, "injected fault"),
                    Some(Fault::Html) => html_page(),
                    _ => {
                        let mut state = self.lock();
                        let response = handler(&mut state, self);
                        state.fire_edits(route);
                        response
                    }
                };
                if fault == Some(Fault::TruncatedJson) {
                    response = truncate(response).await;
                }
                if fault == Some(Fault::ResetMidBody) {
                    response = reset_mid_body(response).await;
                }
                response.headers_mut().extend(extra_headers);
                response
            }
        };
        self.counters.record(route, response.status().as_u16());
        response
    }

    /// Rate limit, points quota and authentication. `Ok` carries headers
    /// to add to the answer (the quota headers).
    fn gate(
        &self,
        state: &mut SimState,
        route: Route,
        headers: &HeaderMap,
    ) -> Result<HeaderMap, Refusal> {
        if !route.is_api() {
            return Ok(HeaderMap::new());
        }
        state.api_requests += 1;
        let without_retry_after = state.quirk(Quirk::RateLimitWithoutRetryAfter);
        if let Some(limiter) = &state.limiter
            && let Err(not_until) = limiter.check()
        {
            self.counters.over_limit.fetch_add(1, Ordering::SeqCst);
            let wait = not_until.wait_time_from(governor::clock::DefaultClock::default().now());
            return Err(Refusal::TooManyRequests {
                wait,
                without_retry_after,
            });
        }
        let quota_headers =
            if self.settings.flavor == Flavor::Cloud && state.quirk(Quirk::PointsQuotaHeaders) {
                self.charge_quota(state, without_retry_after)?
            } else {
                HeaderMap::new()
            };
        if state.revoke_tokens_at_api_request == Some(state.api_requests) {
            state.revoke_tokens();
        }
        if route != Route::Manifest && !self.authorized(state, headers) {
            return Err(Refusal::Unauthorized);
        }
        Ok(quota_headers)
    }

    fn charge_quota(
        &self,
        state: &mut SimState,
        without_retry_after: bool,
    ) -> Result<HeaderMap, Refusal> {
        let quota = self.settings.points_quota;
        let now = Instant::now();
        let (start, used) = match state.quota_window {
            Some((start, used)) if now < start + quota.window => (start, used),
            _ => (now, 0),
        };
        let reset_in = (start + quota.window).saturating_duration_since(now);
        if used >= quota.limit {
            state.quota_window = Some((start, used));
            self.counters.over_quota.fetch_add(1, Ordering::SeqCst);
            return Err(Refusal::TooManyRequests {
                wait: reset_in,
                without_retry_after,
            });
        }
        state.quota_window = Some((start, used + 1));
        // Rounded up to the millisecond the header shows, so a client that
        // waits for the reset never arrives before the window ends.
        let reset_at = chrono::DateTime::<chrono::Utc>::from(
            SystemTime::now() + reset_in + Duration::from_millis(1),
        );
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("x-ratelimit-limit", quota.limit.to_string()),
            (
                "x-ratelimit-remaining",
                (quota.limit - used - 1).to_string(),
            ),
            (
                "x-ratelimit-reset",
                reset_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            ),
        ] {
            headers.insert(
                name,
                HeaderValue::from_str(&value).expect("ASCII header value"),
            );
        }
        Ok(headers)
    }

    fn authorized(&self, state: &SimState, headers: &HeaderMap) -> bool {
        let Some(value) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        let auth = &self.settings.auth;
        if let Some(token) = value.strip_prefix("Bearer ") {
            let personal = self.settings.flavor == Flavor::DataCenter
                && auth.personal_tokens.iter().any(|t| t == token);
            let issued = !state.reject_tokens
                && state
                    .tokens
                    .get(token)
                    .is_some_and(|expiry| Instant::now() < *expiry);
            return personal || issued;
        }
        if let Some(encoded) = value.strip_prefix("Basic ")
            && self.settings.flavor == Flavor::DataCenter
            && let Ok(decoded) = BASE64_STANDARD.decode(encoded)
            && let Ok(decoded) = String::from_utf8(decoded)
            && let Some((user, password)) = decoded.split_once(':')
        {
            return auth
                .basic_users
                .iter()
                .any(|(u, p)| u == user && p == password);
        }
        false
    }

    /// Issues a token when `client_id`/`client_secret` match a known client.
    fn issue_token(&self, state: &mut SimState, client_id: &str, client_secret: &str) -> Response {
        let auth = &self.settings.auth;
        if !auth
            .oauth_clients
            .iter()
            .any(|(id, secret)| id == client_id && secret == client_secret)
        {
            return (
                StatusCode::UNAUTHORIZED,
                axum::Json(json!({"error": "access_denied", "error_description": "Unauthorized"})),
            )
                .into_response();
        }
        let issued = self.counters.tokens_issued.fetch_add(1, Ordering::SeqCst) + 1;
        let token = format!("tok-{issued}-{:016x}", state.rng.random::<u64>());
        state
            .tokens
            .insert(token.clone(), Instant::now() + auth.token_lifetime);
        axum::Json(json!({
            "access_token": token,
            "expires_in": auth.token_lifetime.as_secs(),
            "token_type": "Bearer",
            "scope": "READ",
        }))
        .into_response()
    }
}

/// The routers of the main listener and of the media host.
pub(super) fn routers(shared: Arc<Shared>) -> (Router, Router) {
    let api = match shared.settings.flavor {
        Flavor::Cloud => cloud_routes(),
        Flavor::DataCenter => {
            let routes = data_center_routes();
            match shared.settings.context_path.as_str() {
                "" => routes,
                context => Router::new().nest(context, routes),
            }
        }
    };
    let main = api
        .fallback(unknown_route)
        .layer(middleware::from_fn_with_state(Arc::clone(&shared), track))
        .with_state(Arc::clone(&shared));
    let media = Router::new()
        .route("/file/{page}/{attachment}", get(media_download))
        .fallback(unknown_route)
        .layer(middleware::from_fn_with_state(Arc::clone(&shared), track))
        .with_state(shared);
    (main, media)
}

fn cloud_routes() -> Router<Arc<Shared>> {
    let site = "/ex/confluence/{cloud_id}/wiki";
    Router::new()
        .route("/oauth/token", post(cloud_token))
        .route(
            &format!("{site}/rest/api/content/search"),
            get(cloud_search),
        )
        .route(
            &format!("{site}/rest/api/content"),
            get(cloud_content_by_title),
        )
        .route(
            &format!("{site}/rest/api/content/{{id}}/child/attachment"),
            get(cloud_child_attachments),
        )
        .route(
            &format!("{site}/rest/api/content/{{id}}/child/attachment/{{attachment}}/download"),
            get(cloud_download),
        )
        .route(
            &format!("{site}/api/v2/pages/{{id}}/attachments"),
            get(cloud_attachments_v2),
        )
        .route(
            &format!("{site}/download/attachments/{{page}}/{{file}}"),
            get(cloud_gateway_download),
        )
}

fn data_center_routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/rest/oauth2/latest/token", post(dc_token))
        .route("/rest/api/content/search", get(dc_search))
        .route("/rest/api/content", get(dc_content_by_title))
        .route("/rest/api/content/{id}", get(dc_content_by_id))
        .route(
            "/rest/api/content/{id}/child/attachment",
            get(dc_child_attachments),
        )
        .route("/download/attachments/{page}/{file}", get(dc_download))
        .route("/rest/applinks/1.0/manifest", get(dc_manifest))
}

/// Counts methods other than GET (token endpoints excepted) and the peak
/// number of requests in progress.
async fn track(State(sim): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let _in_flight = sim.counters.enter();
    let path = request.uri().path();
    let token_endpoint =
        path.ends_with("/oauth/token") || path.ends_with("/rest/oauth2/latest/token");
    if request.method() != Method::GET && !token_endpoint {
        sim.counters.non_get.fetch_add(1, Ordering::SeqCst);
    }
    next.run(request).await
}

async fn unknown_route(State(sim): State<Arc<Shared>>) -> Response {
    sim.counters.record(Route::Unknown, 404);
    error(404, "No route")
}

// ---------------------------------------------------------------- tokens

#[derive(Debug, Deserialize)]
struct TokenRequest {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    scope: Option<String>,
}

async fn cloud_token(State(sim): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let request = serde_json::from_slice::<TokenRequest>(&body).ok();
    token(&sim, &headers, request, false).await
}

async fn dc_token(State(sim): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let fields: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let request = TokenRequest {
        grant_type: fields.get("grant_type").cloned(),
        client_id: fields.get("client_id").cloned(),
        client_secret: fields.get("client_secret").cloned(),
        scope: fields.get("scope").cloned(),
    };
    token(&sim, &headers, Some(request), true).await
}

async fn token(
    sim: &Shared,
    headers: &HeaderMap,
    request: Option<TokenRequest>,
    needs_read_scope: bool,
) -> Response {
    sim.serve(Route::Token, headers, |state, sim| {
        let Some(request) = request else {
            return error(400, "invalid_request");
        };
        if request.grant_type.as_deref() != Some("client_credentials") {
            return error(400, "unsupported_grant_type");
        }
        if needs_read_scope && request.scope.as_deref() != Some("READ") {
            return error(400, "invalid_scope");
        }
        sim.issue_token(
            state,
            request.client_id.as_deref().unwrap_or_default(),
            request.client_secret.as_deref().unwrap_or_default(),
        )
    })
    .await
}

// ---------------------------------------------------------------- search

#[derive(Debug, Deserialize)]
struct SearchParams {
    cql: Option<String>,
    expand: Option<String>,
    limit: Option<usize>,
    start: Option<usize>,
    cursor: Option<String>,
}

async fn cloud_search(
    State(sim): State<Arc<Shared>>,
    Path(cloud_id): Path<String>,
    Query(params): Query<SearchParams>,
    headers: HeaderMap,
) -> Response {
    if cloud_id != sim.settings.cloud_id {
        return unknown_site(&sim, Route::Search);
    }
    sim.serve(Route::Search, &headers, |state, sim| {
        search(state, sim, &params)
    })
    .await
}

async fn dc_search(
    State(sim): State<Arc<Shared>>,
    Query(params): Query<SearchParams>,
    headers: HeaderMap,
) -> Response {
    sim.serve(Route::Search, &headers, |state, sim| {
        search(state, sim, &params)
    })
    .await
}

fn search(state: &mut SimState, sim: &Shared, params: &SearchParams) -> Response {
    let Some(text) = &params.cql else {
        return error(400, "cql is required");
    };
    let query = match cql::parse(text) {
        Ok(query) => query,
        Err(e) => return error(400, &e.to_string()),
    };
    let expand = Expand::parse(params.expand.as_deref());
    let dataset = &state.dataset;
    let matches: Vec<&SimPage> = dataset
        .pages()
        .iter()
        .filter(|p| query.matches(dataset, p))
        .collect();
    let expands_body = expand.has("body.storage");
    if expands_body
        && state.quirk(Quirk::BodyExpansionFailure)
        && matches.iter().any(|p| p.body_expansion_fails)
    {
        return error(500, "body expansion failed");
    }
    let start = match (&params.cursor, sim.settings.flavor) {
        (Some(cursor), Flavor::Cloud) => match decode_cursor(cursor) {
            Some(start) => start,
            None => return error(400, "invalid cursor"),
        },
        _ => params.start.unwrap_or(0),
    };
    let max_limit = if expands_body { 50 } else { 200 };
    let mut window = Window::new(
        state,
        sim.settings.flavor,
        sim.settings.capped_page_size,
        matches.len(),
        start,
        params.limit.unwrap_or(25),
        max_limit,
    );
    // Body fetches search too; only discovery listings end early.
    if let Some((cutoff, how)) = state.listing_cutoff.filter(|_| !expands_body) {
        window.end_early_at(cutoff, how);
    }
    let results: Vec<Value> = matches[window.range()]
        .iter()
        .map(|p| render_content(state, sim, p, &expand))
        .collect();
    if expands_body {
        let served = matches[window.range()].iter().map(|p| p.id.clone());
        state.served_bodies.extend(served);
    }
    let next = window.next_start.map(|next| {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        match sim.settings.flavor {
            Flavor::Cloud => {
                query
                    .append_pair("next", "true")
                    .append_pair("cursor", &encode_cursor(next));
            }
            Flavor::DataCenter => {}
        }
        query
            .append_pair("expand", params.expand.as_deref().unwrap_or_default())
            .append_pair("limit", &window.requested_limit.to_string())
            .append_pair("start", &next.to_string())
            .append_pair("cql", text);
        format!(
            "{}/rest/api/content/search?{}",
            v1_link_prefix(state, sim),
            query.finish()
        )
    });
    list_body(sim, results, &window, next)
}

/// Where v1 `next` links start: `/wiki/rest/…` on Cloud (`/rest/…` under
/// the relative-link quirk), `/rest/…` on Data Center.
fn v1_link_prefix(state: &SimState, sim: &Shared) -> &'static str {
    match sim.settings.flavor {
        Flavor::Cloud if !state.quirk(Quirk::NextLinkWithoutWikiPrefix) => "/wiki",
        _ => "",
    }
}

/// One page of a listing: which items, and where the next page starts.
struct Window {
    start: usize,
    len: usize,
    requested_limit: usize,
    limit: usize,
    /// `start` as the answer reports it (wrong under the capped-page quirk).
    reported_start: usize,
    next_start: Option<usize>,
}

impl Window {
    fn new(
        state: &SimState,
        flavor: Flavor,
        cap: usize,
        total: usize,
        start: usize,
        requested_limit: usize,
        max_limit: usize,
    ) -> Self {
        let limit = requested_limit.clamp(1, max_limit);
        let available = total.saturating_sub(start);
        let capped = flavor == Flavor::DataCenter && state.quirk(Quirk::CappedPageSize);
        let (len, reported_start, mut next_start) = if capped {
            // Fewer than asked, `next` advanced by the requested limit.
            let len = available.min(limit).min(cap.max(1));
            let more = start + len < total;
            (len, 0, more.then_some(start + limit))
        } else {
            let len = available.min(limit);
            (len, start, (start + len < total).then_some(start + len))
        };
        if next_start.is_none() && state.quirk(Quirk::EmptyPageWithNext) {
            next_start = Some(total.max(start) + limit);
        }
        if next_start.is_none() && len > 0 && state.quirk(Quirk::PaginationCycle) {
            next_start = Some(0);
        }
        // Past the end (an empty page): an empty range at the end.
        let start = start.min(total);
        Window {
            start,
            len,
            requested_limit: limit,
            limit,
            reported_start,
            next_start,
        }
    }

    /// Serves nothing from `cutoff` on. The page reaching it stops there
    /// and, with [`EarlyEnd::EmptyPageWithNext`], points at the next one,
    /// which is empty and points further; with [`EarlyEnd::Silently`] it is
    /// the last page.
    fn end_early_at(&mut self, cutoff: usize, how: EarlyEnd) {
        let onward = |start: usize| match how {
            EarlyEnd::EmptyPageWithNext => Some(start),
            EarlyEnd::Silently => None,
        };
        if self.start >= cutoff {
            self.len = 0;
            self.next_start = onward(self.start + self.limit);
        } else if self.start + self.len >= cutoff {
            self.len = cutoff - self.start;
            self.next_start = onward(cutoff);
        }
    }

    fn range(&self) -> std::ops::Range<usize> {
        self.start..self.start + self.len
    }
}

fn list_body(sim: &Shared, results: Vec<Value>, window: &Window, next: Option<String>) -> Response {
    let context = match sim.settings.flavor {
        Flavor::Cloud => "/wiki".to_owned(),
        Flavor::DataCenter => sim.settings.context_path.clone(),
    };
    let mut links = json!({
        "base": format!("{}{}{}", sim.origin, sim.api_prefix(), if sim.settings.flavor == Flavor::Cloud { "/wiki" } else { "" }),
        "context": context,
    });
    if let Some(next) = next {
        links["next"] = Value::String(next);
    }
    axum::Json(json!({
        "results": results,
        "start": window.reported_start,
        "limit": window.limit,
        "size": window.len,
        "_links": links,
    }))
    .into_response()
}

fn encode_cursor(start: usize) -> String {
    format!("c{:x}", start ^ 0x5a5a)
}

fn decode_cursor(cursor: &str) -> Option<usize> {
    let hex = cursor.strip_prefix('c')?;
    usize::from_str_radix(hex, 16).ok().map(|n| n ^ 0x5a5a)
}

// ------------------------------------------------------- content by id/title

#[derive(Debug, Deserialize)]
struct ContentParams {
    expand: Option<String>,
}

async fn dc_content_by_id(
    State(sim): State<Arc<Shared>>,
    Path(id): Path<String>,
    Query(params): Query<ContentParams>,
    headers: HeaderMap,
) -> Response {
    sim.serve(Route::ContentById, &headers, |state, sim| {
        let expand = Expand::parse(params.expand.as_deref());
        match state.dataset.page_by_id(&id) {
            Some(page)
                if page.body_expansion_fails
                    && expand.has("body.storage")
                    && state.quirk(Quirk::BodyExpansionFailure) =>
            {
                error(500, "body expansion failed")
            }
            Some(page) => {
                let answer = axum::Json(render_content(state, sim, page, &expand)).into_response();
                if expand.has("body.storage") {
                    state.served_bodies.push(page.id.clone());
                }
                answer
            }
            None => error(
                404,
                &format!("No content found with id: ContentId{{id={id}}}"),
            ),
        }
    })
    .await
}

#[derive(Debug, Deserialize)]
struct TitleParams {
    #[serde(rename = "spaceKey")]
    space_key: Option<String>,
    title: Option<String>,
    #[serde(rename = "type")]
    content_type: Option<String>,
    expand: Option<String>,
}

async fn cloud_content_by_title(
    State(sim): State<Arc<Shared>>,
    Path(cloud_id): Path<String>,
    Query(params): Query<TitleParams>,
    headers: HeaderMap,
) -> Response {
    if cloud_id != sim.settings.cloud_id {
        return unknown_site(&sim, Route::ContentByTitle);
    }
    sim.serve(Route::ContentByTitle, &headers, |state, sim| {
        content_by_title(state, sim, &params)
    })
    .await
}

async fn dc_content_by_title(
    State(sim): State<Arc<Shared>>,
    Query(params): Query<TitleParams>,
    headers: HeaderMap,
) -> Response {
    sim.serve(Route::ContentByTitle, &headers, |state, sim| {
        content_by_title(state, sim, &params)
    })
    .await
}

fn content_by_title(state: &mut SimState, sim: &Shared, params: &TitleParams) -> Response {
    let expand = Expand::parse(params.expand.as_deref());
    let wanted_type = params.content_type.as_deref().unwrap_or("page");
    let results: Vec<Value> = state
        .dataset
        .pages()
        .iter()
        .filter(|p| {
            Some(p.space_key.as_str()) == params.space_key.as_deref()
                && Some(p.title.as_str()) == params.title.as_deref()
                && p.content_type == wanted_type
        })
        .map(|p| render_content(state, sim, p, &expand))
        .collect();
    let window = Window {
        start: 0,
        len: results.len(),
        requested_limit: 25,
        limit: 25,
        reported_start: 0,
        next_start: None,
    };
    list_body(sim, results, &window, None)
}

// ---------------------------------------------------------------- attachments

#[derive(Debug, Deserialize)]
struct ListParams {
    limit: Option<usize>,
    start: Option<usize>,
    cursor: Option<String>,
}

async fn cloud_child_attachments(State(sim): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    // The v1 continuation is gone on Cloud (PROTOCOL §5.5).
    sim.serve(Route::ChildAttachments, &headers, |_, _| error(410, "Gone"))
        .await
}

async fn dc_child_attachments(
    State(sim): State<Arc<Shared>>,
    Path(id): Path<String>,
    Query(params): Query<ListParams>,
    headers: HeaderMap,
) -> Response {
    sim.serve(Route::ChildAttachments, &headers, |state, sim| {
        let Some(page) = state.dataset.page_by_id(&id) else {
            return error(404, "No content found");
        };
        let window = Window::new(
            state,
            Flavor::DataCenter,
            sim.settings.capped_page_size,
            page.attachments.len(),
            params.start.unwrap_or(0),
            params.limit.unwrap_or(25),
            200,
        );
        let results: Vec<Value> = page.attachments[window.range()]
            .iter()
            .map(|a| render_attachment_v1(page, a, true, true))
            .collect();
        let next = window.next_start.map(|next| {
            format!(
                "/rest/api/content/{id}/child/attachment?limit={}&start={next}",
                window.requested_limit
            )
        });
        list_body(sim, results, &window, next)
    })
    .await
}

async fn cloud_attachments_v2(
    State(sim): State<Arc<Shared>>,
    Path((cloud_id, id)): Path<(String, String)>,
    Query(params): Query<ListParams>,
    headers: HeaderMap,
) -> Response {
    if cloud_id != sim.settings.cloud_id {
        return unknown_site(&sim, Route::AttachmentsV2);
    }
    sim.serve(Route::AttachmentsV2, &headers, |state, sim| {
        let Some(page) = state.dataset.page_by_id(&id) else {
            return error(404, "Page not found");
        };
        let start = match params.cursor.as_deref().map(decode_cursor) {
            Some(Some(start)) => start,
            Some(None) => return error(400, "invalid cursor"),
            None => 0,
        };
        let window = Window::new(
            state,
            Flavor::Cloud,
            sim.settings.capped_page_size,
            page.attachments.len(),
            start,
            params.limit.unwrap_or(50),
            250,
        );
        let results: Vec<Value> = page.attachments[window.range()]
            .iter()
            .map(|a| render_attachment_v2(page, a))
            .collect();
        let mut links = json!({ "base": format!("{}{}/wiki", sim.origin, sim.api_prefix()) });
        if let Some(next) = window.next_start {
            links["next"] = Value::String(format!(
                "/wiki/api/v2/pages/{id}/attachments?cursor={}&limit={}",
                encode_cursor(next),
                window.requested_limit
            ));
        }
        axum::Json(json!({ "results": results, "_links": links })).into_response()
    })
    .await
}

// ---------------------------------------------------------------- downloads

async fn cloud_download(
    State(sim): State<Arc<Shared>>,
    Path((cloud_id, page_id, attachment_id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    if cloud_id != sim.settings.cloud_id {
        return unknown_site(&sim, Route::Download);
    }
    sim.serve(Route::Download, &headers, |state, sim| {
        let Some(attachment) = find_attachment(&state.dataset, &page_id, |a| a.id == attachment_id)
        else {
            return error(404, "Attachment not found");
        };
        if state.quirk(Quirk::DownloadRedirectToMediaHost) {
            let location = format!("{}/file/{page_id}/{attachment_id}", sim.media_origin);
            return (StatusCode::FOUND, [(header::LOCATION, location)]).into_response();
        }
        stream_attachment(&attachment)
    })
    .await
}

async fn cloud_gateway_download(
    State(sim): State<Arc<Shared>>,
    Path((_, page_id, file)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    sim.serve(Route::GatewayDownload, &headers, |state, _| {
        if state.quirk(Quirk::GatewayDownloadLinkFails) {
            return error(500, "Internal server error");
        }
        match find_attachment(&state.dataset, &page_id, |a| a.title == file) {
            Some(attachment) => stream_attachment(&attachment),
            None => error(404, "Attachment not found"),
        }
    })
    .await
}

async fn dc_download(
    State(sim): State<Arc<Shared>>,
    Path((page_id, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    sim.serve(Route::Download, &headers, |state, _| match find_attachment(
        &state.dataset,
        &page_id,
        |a| a.title == file,
    ) {
        Some(attachment) => stream_attachment(&attachment),
        None => error(404, "Attachment not found"),
    })
    .await
}

async fn media_download(
    State(sim): State<Arc<Shared>>,
    Path((page_id, attachment_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if headers.contains_key(header::AUTHORIZATION) {
        sim.counters
            .media_with_authorization
            .fetch_add(1, Ordering::SeqCst);
    }
    sim.serve(Route::Media, &headers, |state, _| {
        match find_attachment(&state.dataset, &page_id, |a| a.id == attachment_id) {
            Some(attachment) => stream_attachment(&attachment),
            None => error(404, "Not found"),
        }
    })
    .await
}

fn find_attachment(
    dataset: &Dataset,
    page_id: &str,
    wanted: impl Fn(&SimAttachment) -> bool,
) -> Option<SimAttachment> {
    dataset
        .page_by_id(page_id)?
        .attachments
        .iter()
        .find(|a| wanted(a))
        .cloned()
}

/// Streams generated bytes with a `Content-Length`, never holding more than
/// one block.
fn stream_attachment(attachment: &SimAttachment) -> Response {
    let content = attachment.content();
    let body = Body::from_stream(content.stream().map(Ok::<_, Infallible>));
    (
        [
            (header::CONTENT_TYPE, attachment.media_type.clone()),
            (header::CONTENT_LENGTH, attachment.size.to_string()),
        ],
        body,
    )
        .into_response()
}

// ---------------------------------------------------------------- manifest

async fn dc_manifest(State(sim): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    sim.serve(Route::Manifest, &headers, |_, sim| {
        let id = &sim.settings.instance_id;
        if wants_json {
            axum::Json(json!({
                "id": id,
                "name": "Confluence",
                "typeId": "confluence",
                "version": "8.5.4",
                "buildNumber": 9012,
                "applinksVersion": "9.1.2",
                "url": format!("{}{}", sim.origin, sim.settings.context_path),
                "publicSignup": false,
            }))
            .into_response()
        } else {
            // Data Center answers XML unless asked for JSON.
            let xml = format!("<manifest><id>{id}</id><name>Confluence</name></manifest>");
            ([(header::CONTENT_TYPE, "application/xml")], xml).into_response()
        }
    })
    .await
}

// ---------------------------------------------------------------- rendering

/// The `expand` parameter as a set of paths.
struct Expand(BTreeSet<String>);

impl Expand {
    fn parse(value: Option<&str>) -> Self {
        Expand(
            value
                .unwrap_or_default()
                .split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect(),
        )
    }

    fn has(&self, path: &str) -> bool {
        self.0.contains(path)
    }
}

fn render_content(state: &SimState, sim: &Shared, page: &SimPage, expand: &Expand) -> Value {
    let flavor = sim.settings.flavor;
    let webui = match flavor {
        Flavor::Cloud => format!("/spaces/{}/pages/{}", page.space_key, page.id),
        Flavor::DataCenter => format!("/pages/viewpage.action?pageId={}", page.id),
    };
    let mut content = json!({
        "id": page.id,
        "type": page.content_type,
        "status": "current",
        "title": page.title,
        "_links": { "webui": webui, "self": format!("{}{}/rest/api/content/{}", sim.origin, sim.api_prefix(), page.id) },
    });
    if expand.has("space")
        && let Some(space) = state.dataset.space_by_key(&page.space_key)
    {
        // Data Center sends numeric space ids as numbers.
        let id = match (flavor, space.id.parse::<u64>()) {
            (Flavor::DataCenter, Ok(n)) => json!(n),
            _ => json!(space.id),
        };
        content["space"] = json!({ "id": id, "key": space.key, "name": space.name, "type": space.space_type.as_str() });
    }
    if expand.has("version") {
        content["version"] = json!({ "when": page.version_when, "number": 1 });
    }
    if expand.has("metadata.labels") {
        let labels: Vec<Value> = page
            .labels
            .iter()
            .enumerate()
            .map(|(n, name)| json!({ "prefix": "global", "name": name, "id": (n + 1).to_string() }))
            .collect();
        content["metadata"] = json!({ "labels": { "results": labels, "start": 0, "limit": 200, "size": page.labels.len() } });
    }
    if expand.has("body.storage") {
        content["body"] = json!({ "storage": { "value": page.body, "representation": "storage" } });
    }
    if expand.has("children.attachment") {
        content["children"] =
            json!({ "attachment": render_inline_attachments(state, flavor, page, expand) });
    }
    content
}

fn render_inline_attachments(
    state: &SimState,
    flavor: Flavor,
    page: &SimPage,
    expand: &Expand,
) -> Value {
    let with_version = expand.has("children.attachment.version");
    let with_extensions = expand.has("children.attachment.extensions");
    let inline = &page.attachments[..page.attachments.len().min(INLINE_ATTACHMENTS)];
    let results: Vec<Value> = inline
        .iter()
        .map(|a| render_attachment_v1(page, a, with_version, with_extensions))
        .collect();
    let mut links = json!({});
    let capped = page.attachments.len() > INLINE_ATTACHMENTS;
    let continuation = match flavor {
        Flavor::DataCenter => capped,
        Flavor::Cloud => capped && state.quirk(Quirk::AttachmentContinuationGone),
    };
    if continuation {
        links["next"] = Value::String(format!(
            "/rest/api/content/{}/child/attachment?limit={INLINE_ATTACHMENTS}&start={INLINE_ATTACHMENTS}",
            page.id
        ));
    }
    json!({ "results": results, "start": 0, "limit": INLINE_ATTACHMENTS, "size": inline.len(), "_links": links })
}

fn download_link(page: &SimPage, attachment: &SimAttachment) -> String {
    let file: String = url::form_urlencoded::byte_serialize(attachment.title.as_bytes())
        .collect::<String>()
        .replace('+', "%20");
    format!(
        "/download/attachments/{}/{file}?version=1&modificationDate={MODIFICATION_DATE}&api=v2",
        page.id
    )
}

fn render_attachment_v1(
    page: &SimPage,
    attachment: &SimAttachment,
    with_version: bool,
    with_extensions: bool,
) -> Value {
    let mut value = json!({
        "id": attachment.id,
        "type": "attachment",
        "status": "current",
        "title": attachment.title,
        "_links": { "download": download_link(page, attachment), "webui": format!("/pages/viewpageattachments.action?pageId={}", page.id) },
    });
    if with_extensions {
        value["extensions"] = json!({ "mediaType": attachment.media_type, "fileSize": attachment.size, "comment": "" });
    }
    if with_version && let Some(when) = &attachment.version_when {
        value["version"] = json!({ "when": when, "number": 1 });
    }
    value
}

fn render_attachment_v2(page: &SimPage, attachment: &SimAttachment) -> Value {
    let mut value = json!({
        "id": attachment.id,
        "status": "current",
        "title": attachment.title,
        "pageId": page.id,
        "mediaType": attachment.media_type,
        "fileSize": attachment.size,
        "downloadLink": download_link(page, attachment),
        "webuiLink": format!("/pages/viewpageattachments.action?pageId={}", page.id),
    });
    if let Some(when) = &attachment.version_when {
        value["createdAt"] = json!(when);
        value["version"] = json!({ "createdAt": when, "number": 1 });
    }
    value
}

// ---------------------------------------------------------------- answers

fn error(status: u16, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        axum::Json(json!({ "statusCode": status.as_u16(), "message": message })),
    )
        .into_response()
}

fn unknown_site(sim: &Shared, route: Route) -> Response {
    sim.counters.record(route, 404);
    error(404, "Site not found")
}

/// Why the gate turned a request away.
enum Refusal {
    /// Over the rate limit or the points quota.
    TooManyRequests {
        wait: Duration,
        without_retry_after: bool,
    },
    /// No valid credentials.
    Unauthorized,
}

impl Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::TooManyRequests {
                wait,
                without_retry_after,
            } => too_many_requests(wait, without_retry_after),
            Refusal::Unauthorized => error(401, "Unauthorized; scope does not match"),
        }
    }
}

fn too_many_requests(wait: Duration, without_retry_after: bool) -> Response {
    let mut response = error(429, "Rate limit exceeded");
    if !without_retry_after {
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
    }
    response
}

fn html_page() -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        "<!DOCTYPE html><html><head><title>Log in</title></head><body>Please log in</body></html>",
    )
        .into_response()
}

/// The answer's status and headers (its `Content-Length` included), the
/// first half of its body, then a broken stream: the server drops the
/// connection mid-body, as a reset or a crashed proxy does.
async fn reset_mid_body(response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    parts
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    let half = bytes.slice(..bytes.len() / 2);
    // The break comes a moment after the first half, so the status line,
    // headers and half the bytes are on the wire before the connection
    // drops (an immediate error would drop them unsent, which a client
    // sees as a connection error before any answer and simply retries).
    let chunks = futures::stream::unfold(Some(half), |half| async move {
        match half {
            Some(half) => Some((Ok(half), None)),
            None => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                Some((
                    Err(std::io::Error::new(
                        std::io::ErrorKind::ConnectionReset,
                        "injected reset mid-body",
                    )),
                    None,
                ))
            }
        }
    });
    Response::from_parts(parts, Body::from_stream(chunks))
}

async fn truncate(response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let cut = bytes.slice(..bytes.len() / 2);
    parts
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(cut.len()));
    Response::from_parts(parts, Body::from(cut))
}
