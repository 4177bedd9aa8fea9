//! OAuth 2.0 access-token cache shared by the Confluence (client
//! credentials) and Unique (Zitadel) adapters.
//!
//! * Single flight: callers that find no valid token wait on one lock while
//!   the first of them fetches, then all use its result.
//! * Refreshed before expiry, by a margin that depends on the issuer.
//! * After a 401 the caller invalidates the token it used; a token that has
//!   already been replaced by a newer one is left alone.

use std::{future::Future, time::Duration};

use secrecy::SecretString;
use tokio::{sync::Mutex, time::Instant};

use crate::ports::PortError;

/// A freshly issued token and its lifetime (`expires_in`).
#[derive(Debug)]
pub struct IssuedToken {
    pub value: SecretString,
    pub expires_in: Duration,
}

/// How long before expiry a token is refreshed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshMargin {
    /// Confluence: `min(5 min, lifetime / 2)` (ours, PROTOCOL §4.3), so even
    /// short-lived tokens are reused for half their life.
    HalfLifeUpToFiveMinutes,
    /// A fixed margin (Zitadel: 60 s, PROTOCOL §13 #14).
    Fixed(Duration),
}

impl RefreshMargin {
    fn for_lifetime(self, lifetime: Duration) -> Duration {
        match self {
            RefreshMargin::HalfLifeUpToFiveMinutes => (lifetime / 2).min(Duration::from_secs(300)),
            RefreshMargin::Fixed(margin) => margin.min(lifetime),
        }
    }
}

/// A token handed to a caller; `generation` identifies which fetch issued it.
#[derive(Debug, Clone)]
pub struct CachedToken {
    pub value: SecretString,
    generation: u64,
}

#[derive(Debug)]
struct State {
    current: Option<(CachedToken, Instant)>,
    generation: u64,
}

/// Per-tenant token cache.
#[derive(Debug)]
pub struct TokenCache {
    margin: RefreshMargin,
    state: Mutex<State>,
}

impl TokenCache {
    pub fn new(margin: RefreshMargin) -> Self {
        TokenCache {
            margin,
            state: Mutex::new(State {
                current: None,
                generation: 0,
            }),
        }
    }

    /// Returns the cached token while it is fresh, otherwise calls `fetch`
    /// (once, however many callers wait) and caches its result. A failed
    /// fetch caches nothing and is returned to the caller.
    pub async fn get<F, Fut>(&self, fetch: F) -> Result<CachedToken, PortError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<IssuedToken, PortError>>,
    {
        let mut state = self.state.lock().await;
        if let Some((token, refresh_at)) = &state.current
            && Instant::now() < *refresh_at
        {
            return Ok(token.clone());
        }
        state.current = None;
        let issued = fetch().await?;
        state.generation += 1;
        let token = CachedToken {
            value: issued.value,
            generation: state.generation,
        };
        let refresh_at =
            Instant::now() + issued.expires_in - self.margin.for_lifetime(issued.expires_in);
        state.current = Some((token.clone(), refresh_at));
        Ok(token)
    }

    /// Drops `token` if it is still the cached one (after a 401), so the
    /// next [`get`](Self::get) fetches a new token.
    pub async fn invalidate(&self, token: &CachedToken) {
        let mut state = self.state.lock().await;
        if state
            .current
            .as_ref()
            .is_some_and(|(current, _)| current.generation == token.generation)
        {
            state.current = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    };

    use secrecy::ExposeSecret;

    use super::*;
    use crate::ports::ErrorKind;

    fn issue(n: u32, lifetime_secs: u64) -> IssuedToken {
        IssuedToken {
            value: SecretString::from(format!("token-{n}")),
            expires_in: Duration::from_secs(lifetime_secs),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_token_is_reused_until_its_refresh_margin() {
        let cache = TokenCache::new(RefreshMargin::HalfLifeUpToFiveMinutes);
        let fetches = AtomicU32::new(0);
        let fetch = || async {
            let n = fetches.fetch_add(1, Ordering::SeqCst) + 1;
            Ok(issue(n, 3600))
        };
        assert_eq!(
            cache.get(fetch).await.unwrap().value.expose_secret(),
            "token-1"
        );
        tokio::time::advance(Duration::from_secs(3600 - 301)).await;
        assert_eq!(
            cache.get(fetch).await.unwrap().value.expose_secret(),
            "token-1"
        );
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(
            cache.get(fetch).await.unwrap().value.expose_secret(),
            "token-2"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn short_lived_tokens_are_reused_for_half_their_life() {
        let cache = TokenCache::new(RefreshMargin::HalfLifeUpToFiveMinutes);
        let fetches = AtomicU32::new(0);
        let fetch = || async { Ok(issue(fetches.fetch_add(1, Ordering::SeqCst) + 1, 120)) };
        cache.get(fetch).await.unwrap();
        tokio::time::advance(Duration::from_secs(59)).await;
        cache.get(fetch).await.unwrap();
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        tokio::time::advance(Duration::from_secs(2)).await;
        cache.get(fetch).await.unwrap();
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_share_one_fetch() {
        let cache = Arc::new(TokenCache::new(RefreshMargin::Fixed(Duration::from_secs(
            60,
        ))));
        let fetches = Arc::new(AtomicU32::new(0));
        let callers: Vec<_> = (0..16)
            .map(|_| {
                let cache = Arc::clone(&cache);
                let fetches = Arc::clone(&fetches);
                tokio::spawn(async move {
                    cache
                        .get(|| async move {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            Ok(issue(fetches.fetch_add(1, Ordering::SeqCst) + 1, 3600))
                        })
                        .await
                        .unwrap()
                })
            })
            .collect();
        for caller in callers {
            assert_eq!(caller.await.unwrap().value.expose_secret(), "token-1");
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn invalidation_only_drops_the_token_that_failed() {
        let cache = TokenCache::new(RefreshMargin::Fixed(Duration::from_secs(60)));
        let fetches = AtomicU32::new(0);
        let fetch = || async { Ok(issue(fetches.fetch_add(1, Ordering::SeqCst) + 1, 3600)) };
        let first = cache.get(fetch).await.unwrap();
        cache.invalidate(&first).await;
        let second = cache.get(fetch).await.unwrap();
        assert_eq!(second.value.expose_secret(), "token-2");
        // A late 401 for the old token must not throw away the new one.
        cache.invalidate(&first).await;
        assert_eq!(
            cache.get(fetch).await.unwrap().value.expose_secret(),
            "token-2"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_fetch_caches_nothing() {
        let cache = TokenCache::new(RefreshMargin::Fixed(Duration::from_secs(60)));
        let err = cache
            .get(|| async { Err(PortError::new(ErrorKind::Unauthorized, "token endpoint")) })
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unauthorized);
        let token = cache.get(|| async { Ok(issue(7, 3600)) }).await.unwrap();
        assert_eq!(token.value.expose_secret(), "token-7");
    }
}
