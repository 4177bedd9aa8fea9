//! Logging setup and the handling of sensitive and diagnostic values.
//!
//! * [`LogLevel`] and [`LogFormat`]: from `LOG_LEVEL` / `NODE_ENV` (PROTOCOL §2.1).
//! * [`diagnostics`]: the conceal/disclose policy for titles, names and paths
//!   (PROTOCOL §11.4).
//! * [`metrics`]: the Prometheus metrics of PROTOCOL §11.3, defined once.

pub mod diagnostics;
mod logging;
pub mod metrics;

pub use diagnostics::DiagnosticsPolicy;
pub use logging::{LogFormat, LogLevel, init};
