//! What the sync needs from Unique: scopes, the file-diff, the two-phase
//! content upsert and deletions (PROTOCOL §7).
//!
//! Paging, chunking (100 keys per lookup, 20 ids per delete, 100 paths per
//! scope generation), authentication, rate limiting and retries stay behind
//! the port.

use std::future::Future;

use serde_json::Value;

use super::{ByteStream, PortError};

/// A Unique scope (folder).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub id: String,
    pub name: String,
    pub parent_id: Option<String>,
    pub external_id: Option<String>,
}

/// Access levels of a self-grant (PROTOCOL §9.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeAccess {
    Manage,
    Read,
    Write,
}

/// Result of `deleteFolder`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeleteFolderOutcome {
    pub deleted: Vec<String>,
    /// `(scope id, reason)` of folders that could not be deleted.
    pub failed: Vec<(String, String)>,
}

/// One submitted item of a file-diff: relative key, web URL, `updatedAt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDiffItem {
    pub key: String,
    pub url: String,
    pub updated_at: String,
}

/// A per-space file-diff request (PROTOCOL §7.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDiffRequest {
    pub partial_key: String,
    pub source_kind: String,
    pub source_name: String,
    pub items: Vec<FileDiffItem>,
}

/// Relative keys by category, as Unique returns them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileDiff {
    pub new: Vec<String>,
    pub updated: Vec<String>,
    pub moved: Vec<String>,
    pub deleted: Vec<String>,
}

/// Everything `contentUpsert` needs besides `fileUrl` (PROTOCOL §7.3).
#[derive(Debug, Clone, PartialEq)]
pub struct ContentUpsert {
    pub key: String,
    pub title: String,
    pub mime_type: String,
    pub url: String,
    pub byte_size: u64,
    pub metadata: Value,
    pub ingestion_config: Option<Value>,
    pub scope_id: String,
    pub source_kind: String,
    pub source_name: String,
    pub store_internally: bool,
}

/// Phase-one result of an upsert: where to put the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredContent {
    pub id: String,
    pub write_url: String,
    pub read_url: String,
}

/// A stored content item (the fields the sync reads).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredContent {
    pub id: String,
    pub key: String,
    pub owner_id: Option<String>,
    pub byte_size: Option<u64>,
    pub metadata: Option<Value>,
}

/// Bytes to upload: a page body held in memory, or a stream.
#[derive(Debug)]
pub enum UploadBody {
    Bytes(bytes::Bytes),
    /// `length` is sent as `Content-Length`; the stream must yield exactly
    /// that many bytes, or the upload fails.
    Stream {
        length: u64,
        stream: ByteStream,
    },
}

/// Outcome of [`KnowledgeBase::delete_content`]: what Unique confirmed, and
/// the error that stopped the deletion early, if one did.
#[derive(Debug, Clone, Default)]
pub struct ContentDeletion {
    /// Ids Unique reported as deleted, in request order.
    pub confirmed: Vec<String>,
    /// The failure of the first chunk that failed; ids of that chunk and of
    /// the chunks after it were not (or not confirmed as) deleted.
    pub error: Option<PortError>,
}

/// Page size of every listing behind this port, and the most items
/// [`KnowledgeBase::content_with_key_prefix`] returns.
pub const PAGE_SIZE: usize = 100;

/// The Unique knowledge base as one tenant sees it.
#[cfg_attr(test, mockall::automock)]
pub trait KnowledgeBase: Send + Sync {
    /// The service user's id (`User` query on the scope-management service).
    ///
    /// # Errors
    /// The query fails, or the id is empty.
    fn current_user_id(&self) -> impl Future<Output = Result<String, PortError>> + Send;

    /// Grants `user_id` the given accesses on `scope_id` (one call;
    /// `applyToSubScopes: false`, `skipFileAccessPropagation: true`).
    ///
    /// # Errors
    /// The mutation fails.
    fn grant_scope_access(
        &self,
        scope_id: &str,
        user_id: &str,
        accesses: &[ScopeAccess],
    ) -> impl Future<Output = Result<(), PortError>> + Send;

    /// The scope with this id, if any.
    ///
    /// # Errors
    /// The query fails.
    fn scope_by_id(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<Scope>, PortError>> + Send;

    /// The scope carrying this external id, if any.
    ///
    /// # Errors
    /// The query fails.
    fn scope_by_external_id(
        &self,
        external_id: &str,
    ) -> impl Future<Output = Result<Option<Scope>, PortError>> + Send;

    /// All direct children of `parent_id` (paged by 100 until a short page).
    ///
    /// # Errors
    /// A page query fails.
    fn child_scopes(
        &self,
        parent_id: &str,
    ) -> impl Future<Output = Result<Vec<Scope>, PortError>> + Send;

    /// Sets (`Some`) or clears (`None`) a scope's external id; returns the
    /// scope as Unique now holds it.
    ///
    /// # Errors
    /// The mutation fails (e.g. the external id is used by another scope).
    fn set_scope_external_id(
        &self,
        scope_id: &str,
        // Owned: mockall cannot mock a borrowed `Option<&str>` argument.
        external_id: Option<String>,
    ) -> impl Future<Output = Result<Scope, PortError>> + Send;

    /// Creates or gets the scopes at `paths` (access inherited), returning
    /// the leaf of each path in input order.
    ///
    /// # Errors
    /// A mutation fails or returns a different number of scopes.
    fn ensure_scope_paths(
        &self,
        paths: &[String],
    ) -> impl Future<Output = Result<Vec<Scope>, PortError>> + Send;

    /// Moves `scope_ids` (with their content) under `target_scope_id`.
    ///
    /// # Errors
    /// The mutation fails.
    fn move_scopes(
        &self,
        scope_ids: &[String],
        target_scope_id: &str,
    ) -> impl Future<Output = Result<(), PortError>> + Send;

    /// Deletes a scope, with its subtree and content when `recursive`.
    ///
    /// # Errors
    /// The mutation fails (folders Unique refused are in the outcome).
    fn delete_scope(
        &self,
        scope_id: &str,
        recursive: bool,
    ) -> impl Future<Output = Result<DeleteFolderOutcome, PortError>> + Send;

    /// The file-diff of one space (PROTOCOL §7.1). Changes nothing.
    ///
    /// # Errors
    /// The request fails after retries, or the answer lacks a category.
    fn file_diff(
        &self,
        request: &FileDiffRequest,
    ) -> impl Future<Output = Result<FileDiff, PortError>> + Send;

    /// Phase one of an upsert: registers the item (no `fileUrl`).
    ///
    /// # Errors
    /// The mutation fails or returns no write/read URL.
    fn register_content(
        &self,
        content: &ContentUpsert,
    ) -> impl Future<Output = Result<RegisteredContent, PortError>> + Send;

    /// Phase two: streams the bytes to the registration's write URL.
    ///
    /// # Errors
    /// The upload is refused (e.g. 413) or the source stream fails.
    fn upload_content(
        &self,
        registered: &RegisteredContent,
        mime_type: &str,
        body: UploadBody,
    ) -> impl Future<Output = Result<(), PortError>> + Send;

    /// Phase three: finalizes the upsert with `fileUrl = read_url`; returns
    /// the content id.
    ///
    /// # Errors
    /// The mutation fails.
    fn finalize_content(
        &self,
        content: &ContentUpsert,
        read_url: &str,
    ) -> impl Future<Output = Result<String, PortError>> + Send;

    /// Stored content with these full keys (looked up 100 keys at a time).
    ///
    /// # Errors
    /// A query fails.
    fn content_by_keys(
        &self,
        keys: &[String],
    ) -> impl Future<Output = Result<Vec<StoredContent>, PortError>> + Send;

    /// The first page (at most 100) of content whose key starts with
    /// `prefix` (the prefix-deletion loop re-reads from the start).
    ///
    /// # Errors
    /// The query fails.
    fn content_with_key_prefix(
        &self,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<StoredContent>, PortError>> + Send;

    /// How many content items have a key starting with `prefix`.
    ///
    /// # Errors
    /// The query fails.
    fn count_with_key_prefix(
        &self,
        prefix: &str,
    ) -> impl Future<Output = Result<u64, PortError>> + Send;

    /// All content owned by `scope_id` (every page), with keys and owners:
    /// the purge and the old-key clean-up check each item's key before
    /// deleting it.
    ///
    /// # Errors
    /// A page query fails.
    fn content_in_scope(
        &self,
        scope_id: &str,
    ) -> impl Future<Output = Result<Vec<StoredContent>, PortError>> + Send;

    /// How many content items `scope_id` owns, only those whose key starts
    /// with `key_prefix` when one is given.
    ///
    /// # Errors
    /// The query fails.
    fn count_in_scope(
        &self,
        scope_id: &str,
        key_prefix: Option<String>,
    ) -> impl Future<Output = Result<u64, PortError>> + Send;

    /// Deletes content by id, 20 ids per call, sequentially, stopping at the
    /// first failed call. Never fails as a whole: the outcome carries the
    /// ids Unique confirmed (also those confirmed before a failure) and the
    /// error that stopped it, so callers count confirmed and failed
    /// deletions exactly (PROTOCOL §9.9, §9.12).
    fn delete_content(&self, ids: &[String]) -> impl Future<Output = ContentDeletion> + Send;
}
