//! The `Authorization` header of Confluence requests (PROTOCOL §4): OAuth
//! 2.0 client credentials (Cloud JSON through the gateway, Data Center
//! form with `scope=READ`) with a per-tenant token cache, or a static PAT
//! or basic header. Secrets are exposed only here, where the header value
//! or token request is built, and header values are marked sensitive.

use std::{future::Future, pin::Pin, sync::Mutex, time::Duration};

use base64::prelude::{BASE64_STANDARD, Engine as _};
use reqwest::header::HeaderValue;
use secrecy::{ExposeSecret, SecretString};

use super::{errors::map_error, hooks::call, settings::ClientCredentials};
use crate::{
    adapters::{
        generated::{confluence_cloud, confluence_dc},
        http::token::{CachedToken, IssuedToken, RefreshMargin, TokenCache},
    },
    ports::{ErrorKind, PortError},
};

/// Produces the `Authorization` header of one tenant.
pub(super) enum Authenticator {
    /// PAT (`Bearer`) or basic: the same header on every request.
    Static(HeaderValue),
    OAuth {
        cache: TokenCache,
        /// The token handed out last, to invalidate it after a 401.
        latest: Mutex<Option<CachedToken>>,
        endpoint: TokenEndpoint,
    },
}

/// Where and how OAuth tokens are requested.
pub(super) enum TokenEndpoint {
    /// `POST {apiGatewayUrl}/oauth/token`, JSON body (§4.1).
    Cloud {
        client: confluence_cloud::Client,
        credentials: ClientCredentials,
    },
    /// `POST {baseUrl}/rest/oauth2/latest/token`, form body (§4.2).
    DataCenter {
        client: confluence_dc::Client,
        credentials: ClientCredentials,
    },
}

impl Authenticator {
    pub(super) fn oauth(endpoint: TokenEndpoint) -> Self {
        Authenticator::OAuth {
            cache: TokenCache::new(RefreshMargin::HalfLifeUpToFiveMinutes),
            latest: Mutex::new(None),
            endpoint,
        }
    }

    /// Data Center personal access token: `Bearer {token}`.
    pub(super) fn personal_access_token(token: &SecretString) -> Self {
        Authenticator::Static(bearer(token))
    }

    /// Data Center basic login: `Basic base64(username:password)`.
    pub(super) fn basic(username: &SecretString, password: &SecretString) -> Self {
        Authenticator::Static(basic(username, password))
    }

    /// Whether a 401 can be cured by fetching a new token.
    pub(super) fn is_refreshable(&self) -> bool {
        matches!(self, Authenticator::OAuth { .. })
    }

    /// The header for the next request, fetching a token when the cached
    /// one is missing or due for refresh.
    ///
    /// # Errors
    /// The token request failed (after its retries) or its answer lacks
    /// `access_token`/`expires_in`.
    pub(super) async fn header(&self) -> Result<HeaderValue, PortError> {
        match self {
            Authenticator::Static(header) => Ok(header.clone()),
            Authenticator::OAuth {
                cache,
                latest,
                endpoint,
            } => {
                let token = cache.get(|| endpoint.fetch()).await?;
                let header = bearer(&token.value);
                *latest.lock().expect("token lock") = Some(token);
                Ok(header)
            }
        }
    }

    /// Forgets the token carried by `refused` (answered 401) unless a newer
    /// one has replaced it already.
    pub(super) async fn invalidate(&self, refused: &HeaderValue) {
        let Authenticator::OAuth { cache, latest, .. } = self else {
            return;
        };
        let token = latest.lock().expect("token lock").clone();
        if let Some(token) = token
            && bearer(&token.value) == refused
        {
            cache.invalidate(&token).await;
        }
    }
}

impl TokenEndpoint {
    /// Requests a token. Boxed because the request runs through the same
    /// hooks whose `pre` asks this endpoint for a token: without the box the
    /// future type would contain itself.
    fn fetch(&self) -> Pin<Box<dyn Future<Output = Result<IssuedToken, PortError>> + Send + '_>> {
        Box::pin(self.request())
    }

    async fn request(&self) -> Result<IssuedToken, PortError> {
        let (result, hook_failure, url) = match self {
            TokenEndpoint::Cloud {
                client,
                credentials,
            } => {
                let body = confluence_cloud::types::TokenRequest {
                    grant_type: "client_credentials".to_owned(),
                    client_id: credentials.client_id.clone(),
                    client_secret: credentials.client_secret.expose_secret().to_owned(),
                };
                let (result, failure) = call(client.request_access_token().body(body).send()).await;
                let result = result.map(|r| {
                    let token = r.into_inner();
                    (token.access_token, token.expires_in)
                });
                (result, failure, format!("{}/oauth/token", client.baseurl))
            }
            TokenEndpoint::DataCenter {
                client,
                credentials,
            } => {
                let body = confluence_dc::types::TokenRequest {
                    grant_type: "client_credentials".to_owned(),
                    client_id: credentials.client_id.clone(),
                    client_secret: credentials.client_secret.expose_secret().to_owned(),
                    scope: Some("READ".to_owned()),
                };
                let (result, failure) = call(client.request_access_token().body(body).send()).await;
                let result = result.map(|r| {
                    let token = r.into_inner();
                    (token.access_token, token.expires_in)
                });
                (
                    result,
                    failure,
                    format!("{}/rest/oauth2/latest/token", client.baseurl),
                )
            }
        };
        let context = format!("Confluence token request: POST {url}");
        let (access_token, expires_in) = match result {
            Ok(token) => token,
            Err(error) => return Err(map_error(context, error, hook_failure).await),
        };
        if access_token.is_empty() {
            return Err(PortError::new(
                ErrorKind::InvalidResponse,
                format!("{context}: empty access_token"),
            ));
        }
        Ok(IssuedToken {
            value: SecretString::from(access_token),
            expires_in: Duration::from_secs(u64::try_from(expires_in).unwrap_or(0)),
        })
    }
}

fn bearer(token: &SecretString) -> HeaderValue {
    sensitive(format!("Bearer {}", token.expose_secret()))
}

fn basic(username: &SecretString, password: &SecretString) -> HeaderValue {
    let pair = format!("{}:{}", username.expose_secret(), password.expose_secret());
    sensitive(format!("Basic {}", BASE64_STANDARD.encode(pair)))
}

/// A header value hidden from `Debug` output and HTTP/2 header tables.
/// Secrets are checked at config load to be printable; a value that is
/// not becomes an empty header and the server answers 401.
fn sensitive(value: String) -> HeaderValue {
    let mut header = HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""));
    header.set_sensitive(true);
    header
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_headers_are_sensitive_and_well_formed() {
        let Authenticator::Static(pat) =
            Authenticator::personal_access_token(&SecretString::from("abc"))
        else {
            panic!("a PAT is static");
        };
        assert_eq!(pat, "Bearer abc");
        assert!(pat.is_sensitive());
        assert!(!format!("{pat:?}").contains("abc"));
        let Authenticator::Static(basic) =
            Authenticator::basic(&SecretString::from("user"), &SecretString::from("pa:ss"))
        else {
            panic!("basic is static");
        };
        assert_eq!(
            basic,
            format!("Basic {}", BASE64_STANDARD.encode("user:pa:ss")).as_str()
        );
        assert!(basic.is_sensitive());
    }
}
