//! HTTP plumbing shared by the Confluence and Unique adapters: retries with
//! backoff, an OAuth token cache, the process's clients and the error
//! codes of health pings.

pub mod ping;
pub mod retry;
pub mod token;
pub mod transport;
