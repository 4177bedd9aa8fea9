//! Embedded simulators of Confluence (Cloud and Data Center) and Unique,
//! served on 127.0.0.1 by axum. Used by the end-to-end tests, `demo`,
//! `simulate` and the benchmarks; never by the daemon's sync itself.

pub mod confluence;
pub mod tenant;
pub mod unique;
pub mod workload;
