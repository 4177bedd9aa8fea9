//! confluence-connector: keeps a Unique knowledge base in sync with labelled
//! Confluence pages, on Confluence Cloud and Data Center.
//!
//! The crate is laid out as ports and adapters (see `ADR/0001`):
//!
//! * [`domain`]: pure rules (no I/O, no async, no tokio/reqwest/tracing).
//! * [`ports`]: the traits the application needs from the outside world.
//! * [`adapters`]: Confluence and Unique clients over build-time generated code.
//! * [`app`]: the CLI and the composition root.
//! * [`config`]: process environment and tenant YAML, raw → validated.
//! * [`telemetry`]: logging setup and the diagnostics (conceal/disclose) policy.
//!
//! The wire and behaviour contract is `PROTOCOL.md` (shared with the
//! TypeScript connector this binary replaces).

pub mod adapters;
pub mod app;
pub mod config;
pub mod domain;
pub mod ports;
pub mod sim;
pub mod telemetry;
