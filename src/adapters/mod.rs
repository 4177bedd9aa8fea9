//! Adapters: concrete clients of Confluence and Unique.
//!
//! Generated code lives in `OUT_DIR` and is included only by [`generated`];
//! everything here wraps it.

pub mod confluence;
pub mod generated;
pub mod http;
pub mod unique;

#[cfg(test)]
mod generated_tests;
