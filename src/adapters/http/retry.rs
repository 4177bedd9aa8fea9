//! Runs an operation under a [`RetryPolicy`]: retryable errors (transient,
//! rate limited) are tried again after the policy's wait, other errors and
//! the last failure are returned as they are.

use std::future::Future;

use crate::{domain::backoff::RetryPolicy, ports::PortError};

/// Calls `attempt(n)` for n = 0, 1, … until it succeeds, fails with an error
/// that is not retryable, or the policy's retries are used up. The closure
/// gets the attempt number so it can label metrics or take a rate-limit
/// token per attempt.
pub async fn with_retries<T, F, Fut>(policy: &RetryPolicy, mut attempt: F) -> Result<T, PortError>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, PortError>>,
{
    let mut retry = 0;
    loop {
        match attempt(retry).await {
            Ok(value) => return Ok(value),
            Err(err) if err.is_retryable() && policy.allows(retry + 1) => {
                retry += 1;
                let wait = policy.delay(retry, err.retry_after(), rand::random::<f64>());
                tracing::debug!(
                    retry,
                    wait_ms = wait.as_millis() as u64,
                    error = %err,
                    "retrying after a transient error"
                );
                tokio::time::sleep(wait).await;
            }
            Err(err) => return Err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{
        sync::atomic::{AtomicU32, Ordering},
        time::Duration,
    };

    use super::*;
    use crate::ports::ErrorKind;

    const FAST: RetryPolicy = RetryPolicy {
        max_retries: 3,
        base: Duration::from_millis(1),
        cap: Duration::from_millis(4),
        retry_after_cap: Duration::from_millis(5),
        jitter: 0.0,
    };

    #[tokio::test]
    async fn transient_errors_are_retried_until_success() {
        let calls = AtomicU32::new(0);
        let result = with_retries(&FAST, |_| async {
            if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                Err(PortError::new(ErrorKind::Transient, "flaky"))
            } else {
                Ok("done")
            }
        })
        .await;
        assert_eq!(result.unwrap(), "done");
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn retries_are_bounded_and_the_last_error_is_returned() {
        let calls = AtomicU32::new(0);
        let result: Result<(), _> = with_retries(&FAST, |n| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move {
                Err(PortError::new(
                    ErrorKind::RateLimited,
                    format!("attempt {n}"),
                ))
            }
        })
        .await;
        let err = result.unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 4, "1 attempt + 3 retries");
        assert_eq!(err.context(), "attempt 3");
    }

    #[tokio::test]
    async fn errors_that_cannot_improve_are_not_retried() {
        let calls = AtomicU32::new(0);
        let result: Result<(), _> = with_retries(&FAST, |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err(PortError::new(ErrorKind::NotFound, "gone")) }
        })
        .await;
        assert_eq!(result.unwrap_err().kind(), ErrorKind::NotFound);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
