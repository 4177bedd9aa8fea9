//! What the composition root hands the Unique adapter, and the endpoints
//! derived from it (PROTOCOL §6.1).

use std::{
    collections::BTreeMap,
    num::{NonZeroU32, NonZeroUsize},
    time::Duration,
};

use secrecy::SecretString;
use url::Url;

use crate::domain::backoff::RetryPolicy;

/// Default bound on concurrent Unique API calls (GraphQL and file-diff) of
/// one tenant. The sync issues about `processing.concurrency` calls at a
/// time (each item's register and finalize are sequential), and the
/// reference default concurrency is 1; 8 leaves room for several tenants'
/// worth of parallel items without letting one tenant flood Unique.
pub const DEFAULT_MAX_CONCURRENT_CALLS: NonZeroUsize = NonZeroUsize::new(8).unwrap();

/// Limit of one attempt of the calls whose work grows with the data: the
/// file-diff of a large space, and deletions (a recursive `DeleteFolder`
/// of a purged tenant, `ContentDeleteByContentIds`). They may take far
/// longer than [`UniqueSettings::request_timeout`] on a busy server, and a
/// deletion cut off by a timeout has an unknown outcome: it is reported as
/// a failure and the next cycle looks again.
pub const SLOW_CALL_TIMEOUT: Duration = Duration::from_secs(300);

/// `x-service-id` sent in cluster-local mode unless `serviceExtraHeaders`
/// overrides it (PROTOCOL §6.2).
pub const SERVICE_ID: &str = "confluence-connector";

/// Everything the Unique adapter of one tenant needs besides its HTTP
/// clients. (The tenant name is not part of it: callers run the adapter
/// inside their tenant span, which labels its logs.)
#[derive(Debug, Clone)]
pub struct UniqueSettings {
    /// `unique.ingestionServiceBaseUrl`: ingestion GraphQL, file-diff and
    /// the cluster-local scoped upload. May carry a gateway path prefix.
    pub ingestion_base_url: Url,
    /// `unique.scopeManagementServiceBaseUrl`: the `User` query only.
    pub scope_management_base_url: Url,
    pub auth: UniqueAuth,
    /// `unique.apiRateLimitPerMinute`, applied to each of the three
    /// reservoirs (ingestion GraphQL, scope-management GraphQL, file-diff).
    pub rate_limit_per_minute: NonZeroU32,
    /// Most Unique API calls in flight at once for this tenant
    /// ([`DEFAULT_MAX_CONCURRENT_CALLS`] unless the root chooses otherwise).
    /// Blob uploads are not counted: they are long streams whose number the
    /// sync already bounds by `processing.concurrency`.
    pub max_concurrent_calls: NonZeroUsize,
    /// Limit of one API exchange (GraphQL, token request), from sending
    /// until the small JSON answer is read: the 30 s headers timeout of
    /// §2.2 (`adapters::http::transport::HEADERS_TIMEOUT`). The file-diff
    /// and deletions take [`SLOW_CALL_TIMEOUT`] instead.
    /// Uploads have none: a large stream may take longer; they are bounded
    /// by [`upload_stall`](Self::upload_stall) instead.
    pub request_timeout: Duration,
    /// A blob upload fails once no byte has moved for this long
    /// (`UNIQUE_UPLOAD_STALL_TIMEOUT_SECONDS`).
    pub upload_stall: Duration,
    /// Retry schedules ([`UniqueRetries::PRODUCTION`] unless a test or
    /// benchmark shortens them).
    pub retries: UniqueRetries,
}

/// The retry schedules of the Unique calls that are retried at all (§6.4):
/// the file-diff, and idempotent GraphQL calls.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UniqueRetries {
    pub file_diff: RetryPolicy,
    pub idempotent_calls: RetryPolicy,
}

impl UniqueRetries {
    /// §6.4: file-diff 3 s, 6 s, 12 s; idempotent calls as Confluence GETs,
    /// at most 3 retries.
    pub const PRODUCTION: UniqueRetries = UniqueRetries {
        file_diff: RetryPolicy::UNIQUE_FILE_DIFF,
        idempotent_calls: RetryPolicy::IDEMPOTENT_CALLS,
    };
}

/// How the tenant authenticates to Unique (`unique.serviceAuthMode`).
#[derive(Debug, Clone)]
pub enum UniqueAuth {
    /// In-cluster: service headers on every call, no token. Uploads go to the
    /// ingestion service's scoped upload instead of the blob URL.
    ClusterLocal {
        /// `serviceExtraHeaders`, sent verbatim; an `x-service-id` entry
        /// replaces the default [`SERVICE_ID`].
        service_extra_headers: BTreeMap<String, String>,
    },
    /// Through a gateway: a Zitadel client-credentials bearer token.
    External {
        token_url: Url,
        project_id: SecretString,
        client_id: String,
        client_secret: SecretString,
    },
}

/// The URLs of §6.1, computed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Endpoints {
    pub ingestion_graphql: String,
    pub scope_management_graphql: String,
    /// Base handed to the generated ingestion client, which appends
    /// `/v2/content/file-diff`.
    pub file_diff_base: String,
    /// `{ingestionServiceBaseUrl}/scoped/upload`; the `key` query is added
    /// per upload.
    pub scoped_upload: String,
}

impl Endpoints {
    pub fn derive(ingestion: &Url, scope_management: &Url) -> Self {
        Endpoints {
            ingestion_graphql: append(ingestion, "/graphql"),
            scope_management_graphql: append(scope_management, "/graphql"),
            file_diff_base: file_diff_base(ingestion),
            scoped_upload: append(ingestion, "/scoped/upload"),
        }
    }
}

/// `{base}{suffix}`. The configured base has no trailing `/`, but a parsed
/// URL with an empty path serializes with one, so it is trimmed here.
fn append(base: &Url, suffix: &str) -> String {
    format!("{}{suffix}", base.as_str().trim_end_matches('/'))
}

/// The file-diff rule of §6.1: origin of the base plus its path with empty
/// segments removed and a single leading `/`; the base's query is dropped.
/// Gateways mount the ingestion service under a prefix, so the prefix stays.
fn file_diff_base(base: &Url) -> String {
    let segments: Vec<&str> = base.path().split('/').filter(|s| !s.is_empty()).collect();
    let origin = base.origin().ascii_serialization();
    if segments.is_empty() {
        origin
    } else {
        format!("{origin}/{}", segments.join("/"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoints(ingestion: &str) -> Endpoints {
        Endpoints::derive(
            &Url::parse(ingestion).unwrap(),
            &Url::parse("http://node-scope-management.unique:8094").unwrap(),
        )
    }

    #[test]
    fn cluster_local_bases_without_a_path_map_to_root_endpoints() {
        let e = endpoints("http://node-ingestion.unique:8091");
        assert_eq!(
            e.ingestion_graphql,
            "http://node-ingestion.unique:8091/graphql"
        );
        assert_eq!(
            e.scope_management_graphql,
            "http://node-scope-management.unique:8094/graphql"
        );
        assert_eq!(e.file_diff_base, "http://node-ingestion.unique:8091");
        assert_eq!(
            e.scoped_upload,
            "http://node-ingestion.unique:8091/scoped/upload"
        );
    }

    #[test]
    fn gateway_prefixes_are_kept_and_normalised_for_the_file_diff() {
        let e = endpoints("https://gw.x/ingestion/");
        assert_eq!(e.file_diff_base, "https://gw.x/ingestion");
        let e = endpoints("https://gw.x//api//ingestion?tenant=a");
        assert_eq!(e.file_diff_base, "https://gw.x/api/ingestion");
        let e = endpoints("https://gw.x:8443/ingestion");
        assert_eq!(e.ingestion_graphql, "https://gw.x:8443/ingestion/graphql");
        assert_eq!(e.file_diff_base, "https://gw.x:8443/ingestion");
    }
}
