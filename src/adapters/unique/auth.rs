//! Authentication of Unique API calls (PROTOCOL §6.2): service headers in
//! cluster-local mode, a Zitadel client-credentials bearer token in
//! external mode.

use std::{future::Future, time::Duration};

use base64::Engine as _;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use url::Url;

use super::{
    settings::{SERVICE_ID, UniqueAuth},
    transport::{RecorderSlot, transport_error},
};
use crate::{
    adapters::http::token::{CachedToken, IssuedToken, RefreshMargin, TokenCache},
    ports::{ErrorKind, PortError},
};

/// Zitadel tokens are refreshed this long before they expire (ours, §13 #14).
const ZITADEL_REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// A configured header name or value is not valid HTTP.
#[derive(Debug, thiserror::Error)]
#[error("unique.serviceExtraHeaders: `{name}` is not a valid HTTP header name or value")]
pub struct InvalidServiceHeader {
    pub name: String,
}

/// The tenant's way of authenticating API calls.
#[derive(Debug)]
pub(super) enum Auth {
    /// Fixed service headers, built once.
    ClusterLocal {
        headers: HeaderMap,
    },
    External(Zitadel),
}

/// The headers of one attempt, and the token they carry (external mode), so
/// that a 401 invalidates exactly that token.
#[derive(Debug, Clone)]
pub(super) struct Credentials {
    pub headers: HeaderMap,
    token: Option<CachedToken>,
}

impl Auth {
    /// `client` is used for token requests only; it must not follow
    /// redirects (§6.2). `timeout` bounds one token request.
    pub fn new(
        auth: UniqueAuth,
        client: reqwest::Client,
        timeout: Duration,
        recorder: RecorderSlot,
    ) -> Result<Self, InvalidServiceHeader> {
        Ok(match auth {
            UniqueAuth::ClusterLocal {
                service_extra_headers,
            } => Auth::ClusterLocal {
                headers: service_headers(&service_extra_headers)?,
            },
            UniqueAuth::External {
                token_url,
                project_id,
                client_id,
                client_secret,
            } => Auth::External(Zitadel::new(
                client,
                timeout,
                token_url,
                &project_id,
                &client_id,
                &client_secret,
                recorder,
            )),
        })
    }

    /// Runs `call` with credentials. In external mode, an `Unauthorized`
    /// answer invalidates the token used and `call` runs once more with a
    /// fresh one: a 401 means the request was not processed, so repeating
    /// it is safe even for mutations.
    pub async fn authorized<T, F, Fut>(&self, mut call: F) -> Result<T, PortError>
    where
        F: FnMut(Credentials) -> Fut,
        Fut: Future<Output = Result<T, PortError>>,
    {
        let credentials = self.credentials().await?;
        let used = credentials.token.clone();
        match (call(credentials).await, self, used) {
            (Err(err), Auth::External(zitadel), Some(used))
                if err.kind() == ErrorKind::Unauthorized =>
            {
                tracing::info!(error = %err, "Unique refused the token; retrying once with a fresh one");
                zitadel.cache.invalidate(&used).await;
                call(self.credentials().await?).await
            }
            (result, _, _) => result,
        }
    }

    /// Obtains the token before an operation's retry loop starts, so that a
    /// failing token request fails the operation at once instead of being
    /// repeated with the operation's retries (Zitadel requests are not
    /// retried, §6.2). Later attempts find the token cached.
    pub async fn prepare(&self) -> Result<(), PortError> {
        self.credentials().await.map(drop)
    }

    pub(super) async fn credentials(&self) -> Result<Credentials, PortError> {
        match self {
            Auth::ClusterLocal { headers } => Ok(Credentials {
                headers: headers.clone(),
                token: None,
            }),
            Auth::External(zitadel) => {
                let token = zitadel
                    .cache
                    .get(|| async {
                        let issued = zitadel.fetch().await;
                        if issued.is_ok()
                            && let Some(recorder) = zitadel.recorder.get()
                        {
                            recorder.token_refreshed();
                        }
                        issued
                    })
                    .await?;
                let mut headers = HeaderMap::with_capacity(1);
                headers.insert(AUTHORIZATION, bearer(&token.value)?);
                Ok(Credentials {
                    headers,
                    token: Some(token),
                })
            }
        }
    }
}

/// `x-service-id: confluence-connector`, then every configured entry
/// (which may replace `x-service-id`). Values are marked sensitive so they
/// never show in debug output of requests.
fn service_headers(
    extra: &std::collections::BTreeMap<String, String>,
) -> Result<HeaderMap, InvalidServiceHeader> {
    let mut headers = HeaderMap::with_capacity(extra.len() + 1);
    headers.insert(
        HeaderName::from_static("x-service-id"),
        HeaderValue::from_static(SERVICE_ID),
    );
    for (name, value) in extra {
        let invalid = || InvalidServiceHeader { name: name.clone() };
        let header_name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid())?;
        let mut header_value = HeaderValue::from_str(value).map_err(|_| invalid())?;
        header_value.set_sensitive(true);
        headers.insert(header_name, header_value);
    }
    Ok(headers)
}

fn bearer(token: &SecretString) -> Result<HeaderValue, PortError> {
    let mut value =
        HeaderValue::from_str(&format!("Bearer {}", token.expose_secret())).map_err(|_| {
            PortError::new(
                ErrorKind::InvalidResponse,
                "Zitadel issued a token that is not a valid header value",
            )
        })?;
    value.set_sensitive(true);
    Ok(value)
}

/// Zitadel client-credentials flow with a per-tenant, single-flight cache.
pub(super) struct Zitadel {
    client: reqwest::Client,
    timeout: Duration,
    token_url: Url,
    /// `Basic base64(clientId:clientSecret)`, sensitive.
    authorization: HeaderValue,
    /// The requested scopes; holds the project id, which §3.2 treats as a
    /// secret.
    scope: SecretString,
    cache: TokenCache,
    /// Counts successful acquisitions (§11.3).
    recorder: RecorderSlot,
}

impl std::fmt::Debug for Zitadel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Zitadel")
            .field("token_url", &self.token_url.as_str())
            .finish_non_exhaustive()
    }
}

impl Zitadel {
    fn new(
        client: reqwest::Client,
        timeout: Duration,
        mut token_url: Url,
        project_id: &SecretString,
        client_id: &str,
        client_secret: &SecretString,
        recorder: RecorderSlot,
    ) -> Self {
        // §6.2: scheme, host and path of the configured URL; no query.
        token_url.set_query(None);
        token_url.set_fragment(None);
        let basic = base64::engine::general_purpose::STANDARD
            .encode(format!("{client_id}:{}", client_secret.expose_secret()));
        let mut authorization = HeaderValue::from_str(&format!("Basic {basic}"))
            .expect("base64 text is a valid header value");
        authorization.set_sensitive(true);
        let scope = format!(
            "openid profile email urn:zitadel:iam:user:resourceowner \
             urn:zitadel:iam:org:projects:roles urn:zitadel:iam:org:project:id:{}:aud",
            project_id.expose_secret()
        );
        Zitadel {
            client,
            timeout,
            token_url,
            authorization,
            scope: SecretString::from(scope),
            cache: TokenCache::new(RefreshMargin::Fixed(ZITADEL_REFRESH_MARGIN)),
            recorder,
        }
    }

    /// One token request: no retry and not rate limited (§6.2); a failure
    /// reaches the calling operation and nothing is cached.
    async fn fetch(&self) -> Result<IssuedToken, PortError> {
        let context = "Zitadel token request";
        // Field order is part of the contract: scope, then grant_type.
        let form = [
            ("scope", self.scope.expose_secret()),
            ("grant_type", "client_credentials"),
        ];
        let response = self
            .client
            .post(self.token_url.clone())
            .header(AUTHORIZATION, self.authorization.clone())
            .timeout(self.timeout)
            .form(&form)
            .send()
            .await
            .map_err(|e| transport_error(context, e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(PortError::new(token_failure_kind(status.as_u16()), context)
                .with_status(status.as_u16()));
        }
        let body: Value = response.json().await.map_err(|e| {
            PortError::new(
                ErrorKind::InvalidResponse,
                format!("{context}: answer is not JSON"),
            )
            .with_source(e)
        })?;
        parse_token(&body).map_err(|problem| {
            PortError::new(ErrorKind::InvalidResponse, format!("{context}: {problem}"))
        })
    }
}

/// Refused client credentials (400 `invalid_client`, 401, 403) are an
/// authentication failure, not a malformed request of ours.
fn token_failure_kind(status: u16) -> ErrorKind {
    match status {
        400 | 401 | 403 => ErrorKind::Unauthorized,
        other => ErrorKind::from_status(other),
    }
}

/// Checks the §6.2 response rules: a non-empty `access_token` and a finite
/// `expires_in` above zero.
fn parse_token(body: &Value) -> Result<IssuedToken, &'static str> {
    let token = body
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or("answer has no non-empty `access_token`")?;
    let expires_in = body
        .get("expires_in")
        .and_then(Value::as_f64)
        .filter(|s| s.is_finite() && *s > 0.0)
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or("answer has no positive `expires_in`")?;
    Ok(IssuedToken {
        value: SecretString::from(token.to_owned()),
        expires_in,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;

    #[test]
    fn service_headers_default_the_service_id_and_let_config_override_it() {
        let mut extra = BTreeMap::new();
        extra.insert("x-company-id".to_owned(), "company-1".to_owned());
        extra.insert("x-user-id".to_owned(), "user-1".to_owned());
        let headers = service_headers(&extra).unwrap();
        assert_eq!(headers["x-service-id"], "confluence-connector");
        assert_eq!(headers["x-company-id"], "company-1");
        assert!(headers["x-user-id"].is_sensitive());

        extra.insert("x-service-id".to_owned(), "custom".to_owned());
        let headers = service_headers(&extra).unwrap();
        assert_eq!(headers.get_all("x-service-id").iter().count(), 1);
        assert_eq!(headers["x-service-id"], "custom");

        extra.insert("bad header".to_owned(), "x".to_owned());
        assert_eq!(service_headers(&extra).unwrap_err().name, "bad header");
    }

    #[test]
    fn token_answers_need_a_token_and_a_positive_lifetime() {
        let issued = parse_token(&json!({"access_token": "t", "expires_in": 43199.5})).unwrap();
        assert_eq!(issued.value.expose_secret(), "t");
        assert_eq!(issued.expires_in, Duration::from_millis(43_199_500));
        assert!(parse_token(&json!({"access_token": "", "expires_in": 10})).is_err());
        assert!(parse_token(&json!({"access_token": "t", "expires_in": 0})).is_err());
        assert!(parse_token(&json!({"access_token": "t", "expires_in": "10"})).is_err());
        assert!(parse_token(&json!({"expires_in": 10})).is_err());
    }

    #[test]
    fn refused_credentials_are_unauthorized_and_outages_transient() {
        assert_eq!(token_failure_kind(400), ErrorKind::Unauthorized);
        assert_eq!(token_failure_kind(401), ErrorKind::Unauthorized);
        assert_eq!(token_failure_kind(503), ErrorKind::Transient);
    }
}
