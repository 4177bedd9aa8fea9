//! The only include site of build-time generated code (`build.rs`).
//!
//! Generated from `schemas/`; never edit the output. Behaviour (auth, rate
//! limits, retries, metrics) belongs in the adapters around these modules,
//! not here. The `allow`s are scoped to the wrapper modules: generated code
//! re-exports and imports more than any one adapter uses.

/// Confluence Cloud: v1 REST through the Atlassian API gateway and v2
/// attachments (`schemas/confluence-cloud.yaml`).
#[allow(unused_imports, dead_code, missing_debug_implementations, clippy::all)]
pub mod confluence_cloud {
    include!(concat!(env!("OUT_DIR"), "/confluence_cloud.rs"));
}

/// Confluence Data Center v1 REST (`schemas/confluence-dc.yaml`).
#[allow(unused_imports, dead_code, missing_debug_implementations, clippy::all)]
pub mod confluence_dc {
    include!(concat!(env!("OUT_DIR"), "/confluence_dc.rs"));
}

/// Unique ingestion REST: the file-diff (`schemas/unique-ingestion.yaml`).
#[allow(unused_imports, dead_code, missing_debug_implementations, clippy::all)]
pub mod unique_ingestion {
    include!(concat!(env!("OUT_DIR"), "/unique_ingestion.rs"));
}

/// Unique GraphQL operations, one module per file of `schemas/unique/`
/// (`schemas/unique.graphql` is the schema they are checked against).
#[allow(unused_imports, dead_code, missing_debug_implementations, clippy::all)]
pub mod unique_graphql {
    include!(concat!(env!("OUT_DIR"), "/unique_graphql.rs"));
}

/// Rust types for the custom scalars of `schemas/unique.graphql`.
pub mod graphql_scalars {
    /// Arbitrary JSON (`metadata`, `ingestionConfig`).
    pub type JSON = serde_json::Value;
    /// ISO-8601 timestamps, kept as the server sent them.
    pub type DateTime = String;
}
