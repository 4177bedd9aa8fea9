//! The simulator's public data: what tests seed, and the snapshot they and
//! `demo` read back.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde_json::Value;

/// `updatedAt` of seeded content unless set: the §12 harness page version.
pub const DEFAULT_UPDATED_AT: &str = "2026-05-01T10:00:00.000Z";

/// An access right on a scope (GraphQL enum `AccessType`).
#[derive(async_graphql::Enum, Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[graphql(name = "AccessType")]
pub enum AccessType {
    Manage,
    Read,
    Write,
}

/// A scope to create before (or between) runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedScope {
    pub id: String,
    pub name: String,
    pub parent_id: Option<String>,
    pub external_id: Option<String>,
    /// `(user id, access)` entries on this scope.
    pub grants: Vec<(String, AccessType)>,
}

impl SeedScope {
    /// A top-level scope without external id or grants.
    pub fn new(id: impl Into<String>, name: impl Into<String>) -> Self {
        SeedScope {
            id: id.into(),
            name: name.into(),
            parent_id: None,
            external_id: None,
            grants: Vec::new(),
        }
    }

    pub fn parent(mut self, parent_id: impl Into<String>) -> Self {
        self.parent_id = Some(parent_id.into());
        self
    }

    pub fn external_id(mut self, external_id: impl Into<String>) -> Self {
        self.external_id = Some(external_id.into());
        self
    }

    /// Gives `user_id` the given accesses on this scope (and so on its
    /// subtree, since checks look at ancestors).
    pub fn grant(mut self, user_id: impl Into<String>, accesses: &[AccessType]) -> Self {
        let user_id = user_id.into();
        self.grants
            .extend(accesses.iter().map(|access| (user_id.clone(), *access)));
        self
    }
}

/// Content to create before (or between) runs, as if it had been upserted
/// and uploaded at `updated_at`.
#[derive(Debug, Clone, PartialEq)]
pub struct SeedContent {
    pub key: String,
    pub owner_scope_id: String,
    pub title: String,
    pub mime_type: String,
    /// RFC 3339; defaults to [`DEFAULT_UPDATED_AT`].
    pub updated_at: String,
    pub metadata: Option<Value>,
    pub ingestion_config: Option<Value>,
    /// Stored bytes (kept whatever the settings' body limit).
    pub body: Bytes,
}

impl SeedContent {
    /// `text/html` content titled like its key, with an empty body.
    pub fn new(key: impl Into<String>, owner_scope_id: impl Into<String>) -> Self {
        let key = key.into();
        SeedContent {
            title: key.clone(),
            key,
            owner_scope_id: owner_scope_id.into(),
            mime_type: "text/html".to_owned(),
            updated_at: DEFAULT_UPDATED_AT.to_owned(),
            metadata: None,
            ingestion_config: None,
            body: Bytes::new(),
        }
    }

    pub fn updated_at(mut self, updated_at: impl Into<String>) -> Self {
        self.updated_at = updated_at.into();
        self
    }

    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = title.into();
        self
    }

    pub fn mime_type(mut self, mime_type: impl Into<String>) -> Self {
        self.mime_type = mime_type.into();
        self
    }

    pub fn metadata(mut self, metadata: Value) -> Self {
        self.metadata = Some(metadata);
        self
    }

    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }
}

/// Everything the simulator holds, at one instant.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UniqueSnapshot {
    /// In creation order.
    pub scopes: Vec<ScopeSnapshot>,
    /// In creation order.
    pub contents: Vec<ContentSnapshot>,
    /// Every accepted blob PUT, in arrival order.
    pub uploads: Vec<UploadRecord>,
}

impl UniqueSnapshot {
    pub fn scope(&self, id: &str) -> Option<&ScopeSnapshot> {
        self.scopes.iter().find(|scope| scope.id == id)
    }

    /// The scope at `path`, e.g. `/Confluence/SP`.
    pub fn scope_at(&self, path: &str) -> Option<&ScopeSnapshot> {
        self.scopes.iter().find(|scope| scope.path == path)
    }

    /// All scope paths, sorted.
    pub fn scope_paths(&self) -> Vec<&str> {
        let mut paths: Vec<&str> = self
            .scopes
            .iter()
            .map(|scope| scope.path.as_str())
            .collect();
        paths.sort_unstable();
        paths
    }

    pub fn content(&self, key: &str) -> Option<&ContentSnapshot> {
        self.contents.iter().find(|content| content.key == key)
    }

    /// All content keys, sorted.
    pub fn content_keys(&self) -> Vec<&str> {
        let mut keys: Vec<&str> = self
            .contents
            .iter()
            .map(|content| content.key.as_str())
            .collect();
        keys.sort_unstable();
        keys
    }
}

/// A scope as the simulator holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeSnapshot {
    pub id: String,
    pub name: String,
    pub parent_id: Option<String>,
    pub external_id: Option<String>,
    /// `/` + names from the top-level ancestor down, joined by `/`.
    pub path: String,
    /// `(entity id, access)` entries on this scope itself.
    pub grants: Vec<(String, AccessType)>,
}

/// A content item as the simulator holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct ContentSnapshot {
    pub id: String,
    pub key: String,
    pub title: Option<String>,
    pub mime_type: String,
    pub owner_type: String,
    /// The owning scope's id.
    pub owner_id: String,
    /// The owning scope's path, while the scope exists.
    pub owner_path: Option<String>,
    pub url: Option<String>,
    /// As declared by the last upsert (not necessarily the uploaded size).
    pub byte_size: Option<i64>,
    pub metadata: Option<Value>,
    pub ingestion_config: Option<Value>,
    pub source_kind: Option<String>,
    pub source_name: Option<String>,
    pub source_owner_type: Option<String>,
    pub base_url: Option<String>,
    pub store_internally: Option<bool>,
    /// RFC 3339 with milliseconds.
    pub created_at: String,
    /// Time of the last upsert (either phase), RFC 3339 with milliseconds.
    pub updated_at: String,
    /// Whether the last upsert was a finalize (phase 3) rather than a
    /// register (phase 1).
    pub finalized: bool,
    /// The bytes last uploaded for it, if any.
    pub blob: Option<BlobSnapshot>,
}

/// Uploaded bytes: always size and hash, the bytes themselves only up to
/// the settings' `keep_bodies_up_to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobSnapshot {
    pub size: u64,
    /// Lower-case hex.
    pub sha256: String,
    pub body: Option<Bytes>,
}

impl BlobSnapshot {
    /// The kept body as UTF-8 text (page HTML), if kept and valid.
    pub fn text(&self) -> Option<&str> {
        std::str::from_utf8(self.body.as_deref()?).ok()
    }
}

/// Where a PUT arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UploadVia {
    /// The pre-signed `writeUrl` (external mode).
    BlobStorage,
    /// `{ingestion}/scoped/upload?key=` (cluster-local rewrite, §6.3).
    ScopedUpload,
}

/// One accepted blob PUT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRecord {
    pub via: UploadVia,
    /// The decoded `key` query parameter.
    pub key: String,
    /// Request headers (lower-case names), `host` left out.
    pub headers: BTreeMap<String, String>,
    pub size: u64,
    pub sha256: String,
}
