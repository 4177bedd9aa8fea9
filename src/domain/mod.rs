//! Pure domain rules: no I/O, no async, and no imports of tokio, reqwest or
//! tracing (`tests/architecture.rs` checks this). Everything here is
//! deterministic and unit/property tested; time and randomness come in as
//! arguments.

pub mod ancestors;
pub mod attachment;
pub mod backoff;
pub mod cql;
pub mod discovery;
pub mod guards;
pub mod holds;
pub mod inline_images;
pub mod keys;
pub mod model;
pub mod ownership;
pub mod plan;
pub mod repair;
pub mod urls;
