//! The knobs and gauges of the simulator: which flavour it plays, the
//! credentials it accepts, the quirks of PROTOCOL §5.13, injected faults,
//! its rate limit, and the counters tests read.

use std::{
    collections::{BTreeMap, VecDeque},
    fmt,
    num::NonZeroU32,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

/// Which product the simulator plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flavor {
    /// API under `/ex/confluence/{cloudId}` plus the gateway token endpoint.
    Cloud,
    /// API under the base URL (with its context path).
    DataCenter,
}

/// Every route the simulator serves, for counters and fault injection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Route {
    /// OAuth token endpoint (Cloud gateway or Data Center).
    Token,
    /// v1 CQL content search (C1, C2, C3 Cloud, batched bodies).
    Search,
    /// Data Center content by id (C3).
    ContentById,
    /// Content by space key and title (C6).
    ContentByTitle,
    /// v1 `child/attachment` listing (C5; 410 on Cloud).
    ChildAttachments,
    /// Cloud v2 attachment listing (C4).
    AttachmentsV2,
    /// Cloud C7 download or Data Center `_links.download`.
    Download,
    /// Cloud attachment `_links.download` through the gateway (never used).
    GatewayDownload,
    /// Data Center applinks manifest (C8).
    Manifest,
    /// The media host a Cloud download redirects to.
    Media,
    /// Anything else (answered 404).
    Unknown,
}

impl Route {
    pub fn as_str(self) -> &'static str {
        match self {
            Route::Token => "token",
            Route::Search => "search",
            Route::ContentById => "content_by_id",
            Route::ContentByTitle => "content_by_title",
            Route::ChildAttachments => "child_attachments",
            Route::AttachmentsV2 => "attachments_v2",
            Route::Download => "download",
            Route::GatewayDownload => "gateway_download",
            Route::Manifest => "manifest",
            Route::Media => "media",
            Route::Unknown => "unknown",
        }
    }

    /// Routes that count against the Confluence rate limit and need auth.
    pub(super) fn is_api(self) -> bool {
        !matches!(self, Route::Token | Route::Media | Route::Unknown)
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Behaviours of real servers (PROTOCOL §5.13, §13 #21), each off by default.
/// "Content deleted mid-cycle" needs no switch: remove the page with
/// [`SimHandle::update_dataset`](super::SimHandle::update_dataset).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Quirk {
    /// Data Center: list pages hold at most [`SimSettings::capped_page_size`]
    /// results whatever `limit` asks, the `next` link advances by the
    /// requested limit (skipping items) and `start` in the body is wrong.
    CappedPageSize,
    /// Both: the last page of a listing is followed by an empty page that
    /// still carries a `next` link (to another empty page).
    EmptyPageWithNext,
    /// Cloud: inline `children.attachment` carries a v1 `next` link, which
    /// answers 410 Gone.
    AttachmentContinuationGone,
    /// Cloud: an attachment's `_links.download` through the gateway answers 500.
    GatewayDownloadLinkFails,
    /// Cloud: C7 answers 302 to the media host instead of the bytes.
    DownloadRedirectToMediaHost,
    /// Both: 429 answers carry no `Retry-After`.
    RateLimitWithoutRetryAfter,
    /// Cloud: answers carry `X-RateLimit-Limit/Remaining/Reset` for a points
    /// quota of [`SimSettings::points_quota`]; requests over it get 429.
    PointsQuotaHeaders,
    /// A search expanding `body.storage` that would return a page marked
    /// `body_expansion_fails` answers 500 for the whole request (seen on
    /// Cloud); so does a Data Center content-by-id fetch of such a page, so
    /// that one page's body can fail on both flavours.
    BodyExpansionFailure,
    /// Cloud: v1 `_links.next` is relative to `/wiki` (starts `/rest/…`), as
    /// real Cloud answers are; off, it starts with `/wiki/` (PROTOCOL §5.1).
    NextLinkWithoutWikiPrefix,
    /// Both: the last page of a listing carries a `next` link back to its
    /// first page (A→B→A), as a server with a broken cursor does. Cloud
    /// clients follow links verbatim and must detect the loop; Data Center
    /// clients compute offsets themselves and reach the end.
    PaginationCycle,
}

/// When a change set with [`SimHandle::edit_when`](super::SimHandle::edit_when)
/// is applied: right after the simulator built the triggering answer, so
/// the client sees the content as it was before the change (an edit made
/// between two of the client's requests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EditTrigger {
    /// After an answer carrying this page's storage body (the batched body
    /// search, or a single fetch).
    BodyServed(String),
    /// After the next answer on this route (e.g. the discovery listing).
    AnswerOn(Route),
}

/// How a discovery listing that ends early ends
/// ([`SimHandle::end_listings_early`](super::SimHandle::end_listings_early)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EarlyEnd {
    /// The page reaching the cut stops there and points to a next page,
    /// which is empty and points further (as Cloud's search sometimes
    /// answers mid-listing): the client can tell.
    EmptyPageWithNext,
    /// The page reaching the cut is the last one, without `next` (a lagging
    /// index, a label query that matches less): the client cannot tell.
    Silently,
}

/// What an injected fault does to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status and a small JSON error body.
    Status(u16),
    /// Answer 200 with an HTML page (a proxy or login page).
    Html,
    /// Answer 200 with the normal JSON body cut in half.
    TruncatedJson,
    /// Wait this long, then answer normally (for client timeouts).
    Delay(Duration),
    /// Answer with the normal status and headers and half of the body,
    /// then drop the connection (a reset mid-body).
    ResetMidBody,
}

/// The credentials the simulator accepts.
#[derive(Debug, Clone)]
pub struct SimAuth {
    /// OAuth client-credentials clients: `(client_id, client_secret)`.
    pub oauth_clients: Vec<(String, String)>,
    /// `expires_in` of issued tokens.
    pub token_lifetime: Duration,
    /// Data Center personal access tokens.
    pub personal_tokens: Vec<String>,
    /// Data Center basic-auth users: `(username, password)`.
    pub basic_users: Vec<(String, String)>,
}

impl Default for SimAuth {
    /// Client `client`/`secret`, one-hour tokens, PAT `pat-token`, user `user`/`password`.
    fn default() -> Self {
        SimAuth {
            oauth_clients: vec![("client".into(), "secret".into())],
            token_lifetime: Duration::from_secs(3600),
            personal_tokens: vec!["pat-token".into()],
            basic_users: vec![("user".into(), "password".into())],
        }
    }
}

/// A points quota (quirk [`Quirk::PointsQuotaHeaders`]): `limit` requests per
/// fixed `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PointsQuota {
    pub limit: u32,
    pub window: Duration,
}

/// The simulator's rate limit: GCRA at `per_minute` with a burst of
/// `per_minute + slack`. The slack absorbs loopback jitter: a client pacing
/// at exactly `per_minute` may have two requests arrive closer together than
/// it sent them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub per_minute: NonZeroU32,
    pub slack: u32,
}

/// Start-up settings of a simulator.
#[derive(Debug, Clone)]
pub struct SimSettings {
    pub flavor: Flavor,
    /// Cloud: the site id in `/ex/confluence/{cloudId}`.
    pub cloud_id: String,
    /// Data Center: the context path (`""` or e.g. `/confluence`).
    pub context_path: String,
    /// Data Center: the applinks manifest `id`.
    pub instance_id: String,
    pub auth: SimAuth,
    /// Seed of the RNG behind probabilistic faults and token values.
    pub seed: u64,
    /// Results per page under [`Quirk::CappedPageSize`].
    pub capped_page_size: usize,
    pub points_quota: PointsQuota,
}

impl SimSettings {
    /// Cloud with cloud id `cloud-1` (the §12 harness default).
    pub fn cloud() -> Self {
        SimSettings::new(Flavor::Cloud)
    }

    /// Data Center under the context path `/confluence`.
    pub fn data_center() -> Self {
        SimSettings::new(Flavor::DataCenter)
    }

    /// [`cloud`](Self::cloud) or [`data_center`](Self::data_center).
    pub fn for_flavor(flavor: Flavor) -> Self {
        SimSettings::new(flavor)
    }

    fn new(flavor: Flavor) -> Self {
        SimSettings {
            flavor,
            cloud_id: "cloud-1".into(),
            context_path: "/confluence".into(),
            instance_id: "dc-instance-1".into(),
            auth: SimAuth::default(),
            seed: 1,
            capped_page_size: 25,
            points_quota: PointsQuota {
                limit: 1000,
                window: Duration::from_secs(60),
            },
        }
    }
}

/// Faults queued or drawn for one route.
#[derive(Debug, Default)]
pub(super) struct RouteFaults {
    pub(super) queued: VecDeque<Fault>,
    pub(super) random: Option<(f64, Fault)>,
}

/// What tests read back. Cheap to take at any time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimCounters {
    /// Requests per route and answered status.
    pub by_route: BTreeMap<(Route, u16), u64>,
    /// Requests with a method other than GET, token endpoints excluded.
    pub non_get: u64,
    /// Most requests in progress at once.
    pub peak_concurrency: u64,
    /// Requests that arrived above the configured rate limit (answered 429).
    pub over_limit: u64,
    /// Requests answered 429 because the points quota was used up.
    pub over_quota: u64,
    /// Access tokens issued.
    pub tokens_issued: u64,
    /// Media-host requests that carried an `Authorization` header.
    pub media_requests_with_authorization: u64,
}

impl SimCounters {
    /// Requests to `route`, any status.
    pub fn requests(&self, route: Route) -> u64 {
        self.by_route
            .iter()
            .filter(|((r, _), _)| *r == route)
            .map(|(_, n)| n)
            .sum()
    }

    /// Requests to `route` answered with `status`.
    pub fn requests_with_status(&self, route: Route, status: u16) -> u64 {
        self.by_route.get(&(route, status)).copied().unwrap_or(0)
    }

    /// Requests answered with `status`, any route.
    pub fn with_status(&self, status: u16) -> u64 {
        self.by_route
            .iter()
            .filter(|((_, s), _)| *s == status)
            .map(|(_, n)| n)
            .sum()
    }

    /// All rate-limited API requests (token endpoint and media host excluded).
    pub fn api_requests(&self) -> u64 {
        self.by_route
            .iter()
            .filter(|((r, _), _)| r.is_api())
            .map(|(_, n)| n)
            .sum()
    }
}

/// Lock-free counters updated by the handlers.
#[derive(Debug, Default)]
pub(super) struct Counters {
    by_route: Mutex<BTreeMap<(Route, u16), u64>>,
    pub(super) non_get: AtomicU64,
    in_flight: AtomicU64,
    peak: AtomicU64,
    pub(super) over_limit: AtomicU64,
    pub(super) over_quota: AtomicU64,
    pub(super) tokens_issued: AtomicU64,
    pub(super) media_with_authorization: AtomicU64,
}

impl Counters {
    pub(super) fn record(&self, route: Route, status: u16) {
        *self
            .by_route
            .lock()
            .expect("counter lock")
            .entry((route, status))
            .or_default() += 1;
    }

    /// Marks a request as started; the guard marks it finished.
    pub(super) fn enter(&self) -> InFlight<'_> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        InFlight(self)
    }

    pub(super) fn snapshot(&self) -> SimCounters {
        SimCounters {
            by_route: self.by_route.lock().expect("counter lock").clone(),
            non_get: self.non_get.load(Ordering::SeqCst),
            peak_concurrency: self.peak.load(Ordering::SeqCst),
            over_limit: self.over_limit.load(Ordering::SeqCst),
            over_quota: self.over_quota.load(Ordering::SeqCst),
            tokens_issued: self.tokens_issued.load(Ordering::SeqCst),
            media_requests_with_authorization: self.media_with_authorization.load(Ordering::SeqCst),
        }
    }
}

pub(super) struct InFlight<'a>(&'a Counters);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}
