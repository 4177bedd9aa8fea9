//! HTTP plumbing shared by the Confluence and Unique adapters: retries with
//! backoff and an OAuth token cache.

pub mod retry;
pub mod token;
pub mod transport;
