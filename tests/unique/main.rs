//! The Unique adapter against the embedded Unique simulator, over real
//! HTTP on loopback: every port operation, both auth modes, faults and
//! retries, paging beyond one page, and uploads. Retry and token tests run
//! on tokio's paused clock; assertions read the simulator's counters and
//! state, never wall-clock time.

mod auth;
mod content;
mod faults;
mod scopes;
mod support;
mod upload;
