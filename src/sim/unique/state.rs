//! The simulated knowledge base and its semantics (PROTOCOL §7): the scope
//! tree with access checks, content with unique keys and two-phase upsert,
//! the file-diff, and blob slots. Synchronous and free of HTTP, so the
//! rules can be read (and unit tested) on their own.
//!
//! Access rules (simulator choices, documented in the module docs): a
//! caller has an access on a scope when the scope or one of its ancestors
//! grants it to the caller. Structure changes (creating children,
//! `updateScope`, `deleteFolder`, `bulkMove`) need `MANAGE`, content
//! changes (`contentUpsert`, deletion) need `WRITE`, reads need nothing,
//! and `createScopeAccesses` is always allowed on an existing scope (the
//! service user is a company administrator).

use std::collections::{BTreeMap, HashMap, HashSet};

use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

use super::model::{
    AccessType, BlobSnapshot, ContentSnapshot, ScopeSnapshot, SeedContent, SeedScope,
    UniqueSnapshot, UploadRecord,
};

/// A refusal, shaped like Unique's GraphQL errors: message, Apollo code and
/// the HTTP-ish status in `extensions.response.statusCode`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SimError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl SimError {
    fn not_found(message: String) -> Self {
        SimError {
            status: 404,
            code: "NOT_FOUND",
            message,
        }
    }

    fn forbidden(message: String) -> Self {
        SimError {
            status: 403,
            code: "FORBIDDEN",
            message,
        }
    }

    fn bad_input(message: String) -> Self {
        SimError {
            status: 400,
            code: "BAD_USER_INPUT",
            message,
        }
    }

    fn conflict(message: String) -> Self {
        SimError {
            status: 409,
            code: "CONFLICT",
            message,
        }
    }
}

/// `equals`, `in` and `startsWith`; every condition present must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct StringFilter {
    pub equals: Option<String>,
    pub any_of: Option<Vec<String>>,
    pub starts_with: Option<String>,
}

impl StringFilter {
    fn matches(&self, value: Option<&str>) -> bool {
        let equals = self
            .equals
            .as_deref()
            .is_none_or(|wanted| value == Some(wanted));
        let any_of = self
            .any_of
            .as_ref()
            .is_none_or(|wanted| value.is_some_and(|v| wanted.iter().any(|w| w == v)));
        let starts_with = self
            .starts_with
            .as_deref()
            .is_none_or(|prefix| value.is_some_and(|v| v.starts_with(prefix)));
        equals && any_of && starts_with
    }
}

fn matches(filter: Option<&StringFilter>, value: Option<&str>) -> bool {
    filter.is_none_or(|filter| filter.matches(value))
}

#[derive(Debug, Clone, Default)]
pub(super) struct ScopeFilter {
    pub id: Option<StringFilter>,
    pub name: Option<StringFilter>,
    pub parent_id: Option<StringFilter>,
    pub external_id: Option<StringFilter>,
}

#[derive(Debug, Clone, Default)]
pub(super) struct ContentFilter {
    pub key: Option<StringFilter>,
    pub owner_id: Option<StringFilter>,
    pub owner_type: Option<StringFilter>,
}

#[derive(Debug, Clone)]
pub(super) struct Scope {
    pub id: String,
    pub name: String,
    pub parent_id: Option<String>,
    pub external_id: Option<String>,
    grants: Vec<(String, AccessType)>,
}

/// Uploaded bytes of one blob.
#[derive(Debug, Clone)]
pub(super) struct Blob {
    pub size: u64,
    pub sha256: String,
    pub body: Option<Bytes>,
}

#[derive(Debug, Clone)]
pub(super) struct Content {
    pub id: String,
    pub key: String,
    pub title: Option<String>,
    pub mime_type: String,
    pub owner_type: String,
    pub owner_id: String,
    pub url: Option<String>,
    pub byte_size: Option<i64>,
    pub metadata: Option<Value>,
    pub ingestion_config: Option<Value>,
    pub source_kind: Option<String>,
    pub source_name: Option<String>,
    pub source_owner_type: Option<String>,
    pub base_url: Option<String>,
    pub store_internally: Option<bool>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finalized: bool,
    pub blob: Option<Blob>,
    /// Write and read URLs of the last registration.
    pub write_url: Option<String>,
    pub read_url: Option<String>,
}

/// A `contentUpsert` call, both phases.
#[derive(Debug, Clone)]
pub(super) struct Upsert {
    pub key: String,
    pub title: Option<String>,
    pub mime_type: String,
    pub owner_type: String,
    pub url: Option<String>,
    pub byte_size: Option<i64>,
    pub metadata: Option<Value>,
    pub ingestion_config: Option<Value>,
    pub scope_id: Option<String>,
    pub source_kind: Option<String>,
    pub source_name: Option<String>,
    pub source_owner_type: Option<String>,
    pub base_url: Option<String>,
    pub store_internally: Option<bool>,
    /// Absent: register (phase 1). Present: finalize (phase 3).
    pub file_url: Option<String>,
}

/// A blob PUT target issued by a registration.
#[derive(Debug, Clone)]
struct BlobSlot {
    content_id: String,
    uploaded: Option<Blob>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct FolderRef {
    pub id: String,
    pub name: String,
    pub path: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct DeleteFolderResult {
    pub success: Vec<FolderRef>,
    /// `(folder, reason)`.
    pub failed: Vec<(FolderRef, String)>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct FileDiffAnswer {
    pub new: Vec<String>,
    pub updated: Vec<String>,
    pub moved: Vec<String>,
    pub deleted: Vec<String>,
}

/// One submitted file-diff entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct DiffItem {
    pub key: String,
    pub updated_at: String,
}

/// The whole simulated knowledge base.
#[derive(Debug)]
pub(super) struct State {
    /// Base of issued blob URLs (`http://127.0.0.1:{port}`).
    origin: String,
    /// By creation sequence number, so listings have a stable order.
    scopes: BTreeMap<u64, Scope>,
    scope_seq: HashMap<String, u64>,
    contents: BTreeMap<u64, Content>,
    content_by_key: HashMap<String, u64>,
    content_by_id: HashMap<String, u64>,
    blobs: HashMap<String, BlobSlot>,
    uploads: Vec<UploadRecord>,
    next_seq: u64,
    next_id: u64,
    /// When set, "now" for every timestamp; wall clock otherwise.
    pinned_now: Option<DateTime<Utc>>,
}

impl State {
    pub fn new(origin: String) -> Self {
        State {
            origin,
            scopes: BTreeMap::new(),
            scope_seq: HashMap::new(),
            contents: BTreeMap::new(),
            content_by_key: HashMap::new(),
            content_by_id: HashMap::new(),
            blobs: HashMap::new(),
            uploads: Vec::new(),
            next_seq: 0,
            next_id: 0,
            pinned_now: None,
        }
    }

    pub fn pin_now(&mut self, now: Option<DateTime<Utc>>) {
        self.pinned_now = now;
    }

    fn now(&self) -> DateTime<Utc> {
        self.pinned_now.unwrap_or_else(Utc::now)
    }

    fn next(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// `{prefix}_{n}`, skipping ids a test seeded.
    fn fresh_id(&mut self, prefix: &str) -> String {
        loop {
            self.next_id += 1;
            let id = format!("{prefix}_{}", self.next_id);
            if !self.scope_seq.contains_key(&id) && !self.content_by_id.contains_key(&id) {
                return id;
            }
        }
    }

    // ---- scopes --------------------------------------------------------

    pub fn scope(&self, id: &str) -> Option<&Scope> {
        self.scope_seq.get(id).and_then(|seq| self.scopes.get(seq))
    }

    fn scope_mut(&mut self, id: &str) -> Option<&mut Scope> {
        self.scope_seq
            .get(id)
            .and_then(|seq| self.scopes.get_mut(seq))
    }

    fn existing_scope(&self, id: &str) -> Result<&Scope, SimError> {
        self.scope(id)
            .ok_or_else(|| SimError::not_found(format!("Scope with id {id} not found")))
    }

    /// The scope and its ancestors, nearest first. Stops on a cycle rather
    /// than spinning (a cycle cannot be built through the API).
    fn lineage(&self, id: &str) -> Vec<&Scope> {
        let mut lineage = Vec::new();
        let mut next = self.scope(id);
        while let Some(scope) = next {
            if lineage.iter().any(|seen: &&Scope| seen.id == scope.id) {
                break;
            }
            lineage.push(scope);
            next = scope
                .parent_id
                .as_deref()
                .and_then(|parent| self.scope(parent));
        }
        lineage
    }

    pub fn path(&self, id: &str) -> String {
        let names: Vec<&str> = self
            .lineage(id)
            .iter()
            .rev()
            .map(|scope| scope.name.as_str())
            .collect();
        format!("/{}", names.join("/"))
    }

    fn has_access(&self, user: &str, scope_id: &str, access: AccessType) -> bool {
        self.lineage(scope_id).iter().any(|scope| {
            scope
                .grants
                .iter()
                .any(|(who, what)| who == user && *what == access)
        })
    }

    fn require(&self, user: &str, scope_id: &str, access: AccessType) -> Result<(), SimError> {
        if self.has_access(user, scope_id, access) {
            Ok(())
        } else {
            Err(SimError::forbidden(format!(
                "User {user} lacks {access:?} access on scope {scope_id} or its ancestors"
            )))
        }
    }

    fn children(&self, id: &str) -> impl Iterator<Item = &Scope> {
        self.scopes
            .values()
            .filter(move |scope| scope.parent_id.as_deref() == Some(id))
    }

    /// The scope and everything below it, parents before children.
    fn subtree(&self, id: &str) -> Vec<String> {
        let mut ids = vec![id.to_owned()];
        let mut index = 0;
        while index < ids.len() {
            let children: Vec<String> = self
                .children(&ids[index])
                .map(|child| child.id.clone())
                .collect();
            ids.extend(children);
            index += 1;
        }
        ids
    }

    pub fn scopes_matching(&self, filter: &ScopeFilter) -> Vec<&Scope> {
        self.scopes
            .values()
            .filter(|scope| {
                matches(filter.id.as_ref(), Some(&scope.id))
                    && matches(filter.name.as_ref(), Some(&scope.name))
                    && matches(filter.parent_id.as_ref(), scope.parent_id.as_deref())
                    && matches(filter.external_id.as_ref(), scope.external_id.as_deref())
            })
            .collect()
    }

    fn insert_scope(&mut self, scope: Scope) {
        let seq = self.next();
        self.scope_seq.insert(scope.id.clone(), seq);
        self.scopes.insert(seq, scope);
    }

    /// `createScopeAccesses`: adds `(entity, access)` grants to the scope
    /// (and to its subtree when `apply_to_sub_scopes`).
    pub fn create_scope_accesses(
        &mut self,
        scope_id: &str,
        grants: &[(String, AccessType)],
        apply_to_sub_scopes: bool,
    ) -> Result<(), SimError> {
        self.existing_scope(scope_id)?;
        let targets = if apply_to_sub_scopes {
            self.subtree(scope_id)
        } else {
            vec![scope_id.to_owned()]
        };
        for target in targets {
            let scope = self.scope_mut(&target).expect("subtree ids exist");
            for grant in grants {
                if !scope.grants.contains(grant) {
                    scope.grants.push(grant.clone());
                }
            }
        }
        Ok(())
    }

    /// `updateScope`: `Some(Some(v))` sets, `Some(None)` clears, `None`
    /// leaves the external id alone. A value another scope carries is a
    /// conflict; clearing never conflicts.
    pub fn update_scope(
        &mut self,
        user: &str,
        id: &str,
        external_id: Option<Option<String>>,
    ) -> Result<Scope, SimError> {
        self.existing_scope(id)?;
        self.require(user, id, AccessType::Manage)?;
        if let Some(Some(wanted)) = &external_id
            && let Some(holder) = self
                .scopes
                .values()
                .find(|scope| scope.id != id && scope.external_id.as_ref() == Some(wanted))
        {
            return Err(SimError::conflict(format!(
                "A scope with externalId {wanted} already exists ({})",
                holder.id
            )));
        }
        let scope = self.scope_mut(id).expect("checked above");
        if let Some(external_id) = external_id {
            scope.external_id = external_id;
        }
        Ok(scope.clone())
    }

    /// `generateScopesBasedOnPaths`: walks each path from the top level by
    /// name, creating missing segments (no external id; the parent's
    /// grants copied when `inherit_access`), and returns the leaves in
    /// input order. Creating needs `MANAGE` on the parent, so a path whose
    /// first segment does not exist is refused. Not transactional: scopes
    /// created before a refusal stay.
    pub fn generate_scopes(
        &mut self,
        user: &str,
        paths: &[String],
        inherit_access: bool,
    ) -> Result<Vec<Scope>, SimError> {
        let mut leaves = Vec::with_capacity(paths.len());
        for path in paths {
            let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
            if segments.is_empty() {
                return Err(SimError::bad_input(format!("Path `{path}` names no scope")));
            }
            let mut parent: Option<String> = None;
            for segment in segments {
                let existing = self
                    .scopes
                    .values()
                    .find(|scope| scope.parent_id == parent && scope.name == segment)
                    .map(|scope| scope.id.clone());
                let id = match existing {
                    Some(id) => id,
                    None => self.create_child(user, parent.as_deref(), segment, inherit_access)?,
                };
                parent = Some(id);
            }
            let leaf = parent.expect("at least one segment");
            leaves.push(self.scope(&leaf).expect("just walked").clone());
        }
        Ok(leaves)
    }

    fn create_child(
        &mut self,
        user: &str,
        parent: Option<&str>,
        name: &str,
        inherit_access: bool,
    ) -> Result<String, SimError> {
        let Some(parent) = parent else {
            return Err(SimError::forbidden(format!(
                "User {user} may not create the top-level scope `{name}`"
            )));
        };
        self.require(user, parent, AccessType::Manage)?;
        let grants = if inherit_access {
            self.scope(parent)
                .map(|p| p.grants.clone())
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        let id = self.fresh_id("scope");
        self.insert_scope(Scope {
            id: id.clone(),
            name: name.to_owned(),
            parent_id: Some(parent.to_owned()),
            external_id: None,
            grants,
        });
        Ok(id)
    }

    /// `bulkMove`: reparents the scopes (their content follows); returns
    /// how many content items moved with them.
    pub fn bulk_move(
        &mut self,
        user: &str,
        scope_ids: &[String],
        target: &str,
    ) -> Result<usize, SimError> {
        self.existing_scope(target)?;
        self.require(user, target, AccessType::Manage)?;
        let mut moved_scopes = Vec::new();
        for id in scope_ids {
            self.existing_scope(id)?;
            self.require(user, id, AccessType::Manage)?;
            let subtree = self.subtree(id);
            if subtree.iter().any(|s| s == target) {
                return Err(SimError::bad_input(format!(
                    "Cannot move scope {id} into its own subtree ({target})"
                )));
            }
            moved_scopes.extend(subtree);
        }
        for id in scope_ids {
            self.scope_mut(id).expect("checked above").parent_id = Some(target.to_owned());
        }
        Ok(self
            .contents
            .values()
            .filter(|content| moved_scopes.contains(&content.owner_id))
            .count())
    }

    fn folder_ref(&self, id: &str) -> FolderRef {
        FolderRef {
            id: id.to_owned(),
            name: self.scope(id).map(|s| s.name.clone()).unwrap_or_default(),
            path: self.path(id),
        }
    }

    /// `deleteFolder`: removes the scope with its subtree and all content
    /// they own. Without `recursive` in strict mode, a scope with children
    /// or content is refused in `failed` instead.
    pub fn delete_folder(
        &mut self,
        user: &str,
        id: &str,
        recursive: bool,
        strict: bool,
    ) -> Result<DeleteFolderResult, SimError> {
        self.existing_scope(id)?;
        if !self.has_access(user, id, AccessType::Manage) {
            let reason = format!("User {user} lacks MANAGE access");
            return Ok(DeleteFolderResult {
                success: Vec::new(),
                failed: vec![(self.folder_ref(id), reason)],
            });
        }
        let subtree = self.subtree(id);
        let owns_content = self.contents.values().any(|content| content.owner_id == id);
        if !recursive && strict && (subtree.len() > 1 || owns_content) {
            return Ok(DeleteFolderResult {
                success: Vec::new(),
                failed: vec![(self.folder_ref(id), "Folder is not empty".to_owned())],
            });
        }
        let success: Vec<FolderRef> = subtree.iter().map(|scope| self.folder_ref(scope)).collect();
        let doomed: Vec<String> = self
            .contents
            .values()
            .filter(|content| subtree.contains(&content.owner_id))
            .map(|content| content.id.clone())
            .collect();
        for content_id in doomed {
            self.remove_content(&content_id);
        }
        for scope in &subtree {
            if let Some(seq) = self.scope_seq.remove(scope) {
                self.scopes.remove(&seq);
            }
        }
        Ok(DeleteFolderResult {
            success,
            failed: Vec::new(),
        })
    }

    // ---- content -------------------------------------------------------

    pub fn contents_matching(&self, filter: &ContentFilter) -> Vec<&Content> {
        self.contents
            .values()
            .filter(|content| {
                matches(filter.key.as_ref(), Some(&content.key))
                    && matches(filter.owner_id.as_ref(), Some(&content.owner_id))
                    && matches(filter.owner_type.as_ref(), Some(&content.owner_type))
            })
            .collect()
    }

    fn content_mut(&mut self, id: &str) -> Option<&mut Content> {
        self.content_by_id
            .get(id)
            .and_then(|seq| self.contents.get_mut(seq))
    }

    fn remove_content(&mut self, id: &str) -> Option<Content> {
        let seq = self.content_by_id.remove(id)?;
        let content = self.contents.remove(&seq)?;
        self.content_by_key.remove(&content.key);
        Some(content)
    }

    /// `contentUpsert`, an upsert by key: an existing key keeps its id and
    /// gets every field overwritten and `updatedAt = now`. Registering
    /// (no `fileUrl`) issues fresh write/read URLs whose `key` parameter
    /// names a new blob slot; finalizing needs a `fileUrl` whose slot
    /// belongs to this content and has received its bytes.
    pub fn upsert(&mut self, user: &str, upsert: Upsert) -> Result<Content, SimError> {
        let scope_id = upsert
            .scope_id
            .clone()
            .ok_or_else(|| SimError::bad_input("contentUpsert needs a scopeId".to_owned()))?;
        self.existing_scope(&scope_id)?;
        self.require(user, &scope_id, AccessType::Write)?;
        let now = self.now();
        let existing = self.content_by_key.get(&upsert.key).copied();
        let id = match existing {
            Some(seq) => self.contents[&seq].id.clone(),
            None => self.fresh_id("cont"),
        };
        let uploaded = match &upsert.file_url {
            Some(file_url) => Some(self.uploaded_blob(&id, file_url)?),
            None => None,
        };
        if existing.is_none() {
            let seq = self.next();
            self.content_by_key.insert(upsert.key.clone(), seq);
            self.content_by_id.insert(id.clone(), seq);
            self.contents
                .insert(seq, new_content(&id, &upsert.key, now));
        }
        let (write_url, read_url) = match &upsert.file_url {
            None => {
                let (write, read) = self.issue_blob_urls(&id, &upsert.key);
                (Some(write), Some(read))
            }
            Some(file_url) => (None, Some(file_url.clone())),
        };
        let content = self.content_mut(&id).expect("inserted above");
        content.title = upsert.title;
        content.mime_type = upsert.mime_type;
        content.owner_type = upsert.owner_type;
        content.owner_id = scope_id;
        content.url = upsert.url;
        content.byte_size = upsert.byte_size;
        content.metadata = upsert.metadata;
        content.ingestion_config = upsert.ingestion_config;
        content.source_kind = upsert.source_kind;
        content.source_name = upsert.source_name;
        content.source_owner_type = upsert.source_owner_type;
        content.base_url = upsert.base_url;
        content.store_internally = upsert.store_internally;
        content.updated_at = now;
        content.finalized = uploaded.is_some();
        if let Some(blob) = uploaded {
            content.blob = Some(blob);
        }
        content.write_url = write_url;
        content.read_url = read_url;
        Ok(content.clone())
    }

    fn issue_blob_urls(&mut self, content_id: &str, key: &str) -> (String, String) {
        let blob_key = format!("{key}/{}", self.next());
        self.blobs.insert(
            blob_key.clone(),
            BlobSlot {
                content_id: content_id.to_owned(),
                uploaded: None,
            },
        );
        let encoded: String = url::form_urlencoded::byte_serialize(blob_key.as_bytes()).collect();
        let base = format!(
            "{}/blob/{content_id}?sv=2024-11-04&se=2099-01-01T00%3A00%3A00Z",
            self.origin
        );
        (
            format!("{base}&sp=cw&sig=sim-write&key={encoded}"),
            format!("{base}&sp=r&sig=sim-read&key={encoded}"),
        )
    }

    fn uploaded_blob(&self, content_id: &str, file_url: &str) -> Result<Blob, SimError> {
        let refuse = |why: &str| SimError::bad_input(format!("fileUrl {file_url} {why}"));
        let key = url::Url::parse(file_url)
            .ok()
            .and_then(|url| {
                url.query_pairs()
                    .find(|(name, _)| name == "key")
                    .map(|(_, v)| v.into_owned())
            })
            .ok_or_else(|| refuse("is not a read URL issued by this service"))?;
        let slot = self
            .blobs
            .get(&key)
            .ok_or_else(|| refuse("names no known blob"))?;
        if slot.content_id != content_id {
            return Err(refuse("belongs to other content"));
        }
        slot.uploaded
            .clone()
            .ok_or_else(|| refuse("has no uploaded bytes"))
    }

    /// `contentDeleteByContentIds`: deletes the ids that exist and that the
    /// caller may write; returns those, in request order.
    pub fn delete_contents(&mut self, user: &str, ids: &[String]) -> Vec<String> {
        let mut deleted = Vec::new();
        for id in ids {
            let allowed = self
                .content_by_id
                .get(id)
                .and_then(|seq| self.contents.get(seq))
                .is_some_and(|content| self.has_access(user, &content.owner_id, AccessType::Write));
            if allowed && self.remove_content(id).is_some() {
                deleted.push(id.clone());
            }
        }
        deleted
    }

    /// The file-diff of §7.1 against content under `{partial_key}/`.
    /// Changes nothing.
    pub fn file_diff(&self, partial_key: &str, items: &[DiffItem]) -> FileDiffAnswer {
        let prefix = format!("{partial_key}/");
        // Spaces of benchmarks hold thousands of items: index both sides.
        let stored: Vec<(&str, &Content)> = self
            .contents
            .values()
            .filter_map(|content| {
                content
                    .key
                    .strip_prefix(&prefix)
                    .map(|relative| (relative, content))
            })
            .collect();
        let by_relative: HashMap<&str, &Content> = stored.iter().copied().collect();
        let submitted: HashSet<&str> = items.iter().map(|item| item.key.as_str()).collect();
        let mut answer = FileDiffAnswer::default();
        for item in items {
            match by_relative.get(item.key.as_str()) {
                None => answer.new.push(item.key.clone()),
                Some(content) if is_earlier(content.updated_at, &item.updated_at) => {
                    answer.updated.push(item.key.clone());
                }
                Some(_) => {}
            }
        }
        answer.deleted = stored
            .iter()
            .filter(|(relative, _)| !submitted.contains(relative))
            .map(|(relative, _)| (*relative).to_owned())
            .collect();
        answer
    }

    // ---- blobs ---------------------------------------------------------

    /// Whether a PUT for `blob_key` has somewhere to land.
    pub fn knows_blob(&self, blob_key: &str) -> bool {
        self.blobs.contains_key(blob_key)
    }

    /// Records a completed PUT: the slot gets the bytes, and so does its
    /// content if it still exists.
    pub fn finish_upload(&mut self, record: UploadRecord, body: Option<Bytes>) {
        let blob = Blob {
            size: record.size,
            sha256: record.sha256.clone(),
            body,
        };
        if let Some(slot) = self.blobs.get_mut(&record.key) {
            slot.uploaded = Some(blob.clone());
            let content_id = slot.content_id.clone();
            if let Some(content) = self.content_mut(&content_id) {
                content.blob = Some(blob);
            }
        }
        self.uploads.push(record);
    }

    // ---- seeding and snapshot -----------------------------------------

    /// # Panics
    /// When the id is taken or the parent does not exist (test setup bug).
    pub fn seed_external_id(&mut self, scope_id: &str, external_id: Option<String>) {
        self.scope_mut(scope_id)
            .unwrap_or_else(|| panic!("seed: scope {scope_id} does not exist"))
            .external_id = external_id;
    }

    pub fn seed_grants(&mut self, scope_id: &str, user: &str, accesses: &[AccessType]) {
        let scope = self
            .scope_mut(scope_id)
            .unwrap_or_else(|| panic!("seed: scope {scope_id} does not exist"));
        for access in accesses {
            let grant = (user.to_owned(), *access);
            if !scope.grants.contains(&grant) {
                scope.grants.push(grant);
            }
        }
    }

    pub fn seed_scope(&mut self, seed: SeedScope) {
        assert!(
            self.scope(&seed.id).is_none(),
            "seed: scope id {} is taken",
            seed.id
        );
        if let Some(parent) = &seed.parent_id {
            assert!(
                self.scope(parent).is_some(),
                "seed: parent scope {parent} of {} does not exist",
                seed.id
            );
        }
        self.insert_scope(Scope {
            id: seed.id,
            name: seed.name,
            parent_id: seed.parent_id,
            external_id: seed.external_id,
            grants: seed.grants,
        });
    }

    /// Returns the new content id.
    ///
    /// # Panics
    /// When the key is taken, the owner scope does not exist or
    /// `updated_at` is not RFC 3339 (test setup bugs).
    pub fn seed_content(&mut self, seed: SeedContent) -> String {
        assert!(
            !self.content_by_key.contains_key(&seed.key),
            "seed: content key {} is taken",
            seed.key
        );
        assert!(
            self.scope(&seed.owner_scope_id).is_some(),
            "seed: owner scope {} of {} does not exist",
            seed.owner_scope_id,
            seed.key
        );
        let updated_at = DateTime::parse_from_rfc3339(&seed.updated_at)
            .unwrap_or_else(|e| {
                panic!("seed: updatedAt `{}` of {}: {e}", seed.updated_at, seed.key)
            })
            .with_timezone(&Utc);
        let id = self.fresh_id("cont");
        let seq = self.next();
        let mut content = new_content(&id, &seed.key, updated_at);
        content.title = Some(seed.title);
        content.mime_type = seed.mime_type;
        content.owner_id = seed.owner_scope_id;
        content.byte_size = Some(seed.body.len() as i64);
        content.metadata = seed.metadata;
        content.ingestion_config = seed.ingestion_config;
        content.finalized = true;
        content.blob = Some(Blob {
            size: seed.body.len() as u64,
            sha256: sha256_hex(&seed.body),
            body: Some(seed.body),
        });
        self.content_by_key.insert(seed.key, seq);
        self.content_by_id.insert(id.clone(), seq);
        self.contents.insert(seq, content);
        id
    }

    pub fn snapshot(&self) -> UniqueSnapshot {
        let scopes = self
            .scopes
            .values()
            .map(|scope| ScopeSnapshot {
                id: scope.id.clone(),
                name: scope.name.clone(),
                parent_id: scope.parent_id.clone(),
                external_id: scope.external_id.clone(),
                path: self.path(&scope.id),
                grants: scope.grants.clone(),
            })
            .collect();
        let contents = self
            .contents
            .values()
            .map(|content| ContentSnapshot {
                id: content.id.clone(),
                key: content.key.clone(),
                title: content.title.clone(),
                mime_type: content.mime_type.clone(),
                owner_type: content.owner_type.clone(),
                owner_id: content.owner_id.clone(),
                owner_path: self
                    .scope(&content.owner_id)
                    .map(|scope| self.path(&scope.id)),
                url: content.url.clone(),
                byte_size: content.byte_size,
                metadata: content.metadata.clone(),
                ingestion_config: content.ingestion_config.clone(),
                source_kind: content.source_kind.clone(),
                source_name: content.source_name.clone(),
                source_owner_type: content.source_owner_type.clone(),
                base_url: content.base_url.clone(),
                store_internally: content.store_internally,
                created_at: timestamp(content.created_at),
                updated_at: timestamp(content.updated_at),
                finalized: content.finalized,
                blob: content.blob.as_ref().map(|blob| BlobSnapshot {
                    size: blob.size,
                    sha256: blob.sha256.clone(),
                    body: blob.body.clone(),
                }),
            })
            .collect();
        UniqueSnapshot {
            scopes,
            contents,
            uploads: self.uploads.clone(),
        }
    }
}

fn new_content(id: &str, key: &str, now: DateTime<Utc>) -> Content {
    Content {
        id: id.to_owned(),
        key: key.to_owned(),
        title: None,
        mime_type: String::new(),
        owner_type: "SCOPE".to_owned(),
        owner_id: String::new(),
        url: None,
        byte_size: None,
        metadata: None,
        ingestion_config: None,
        source_kind: None,
        source_name: None,
        source_owner_type: None,
        base_url: None,
        store_internally: None,
        created_at: now,
        updated_at: now,
        finalized: false,
        blob: None,
        write_url: None,
        read_url: None,
    }
}

/// Whether the stored `updatedAt` is earlier than the submitted one:
/// instant-wise when the submission is RFC 3339, lexicographically on the
/// millisecond form otherwise (§7.1).
fn is_earlier(stored: DateTime<Utc>, submitted: &str) -> bool {
    match DateTime::parse_from_rfc3339(submitted) {
        Ok(submitted) => stored < submitted,
        Err(_) => timestamp(stored).as_str() < submitted,
    }
}

/// RFC 3339 in UTC with milliseconds, as Unique and Confluence write it.
pub(super) fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub(super) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex(&sha2::Sha256::digest(bytes))
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER: &str = "u1";

    fn state() -> State {
        let mut state = State::new("http://sim".to_owned());
        state.seed_scope(
            SeedScope::new("root", "Confluence")
                .grant(USER, &[AccessType::Manage, AccessType::Write]),
        );
        state
    }

    fn register(state: &mut State, key: &str, scope: &str) -> Result<Content, SimError> {
        state.upsert(
            USER,
            Upsert {
                key: key.to_owned(),
                title: Some("t".to_owned()),
                mime_type: "text/html".to_owned(),
                owner_type: "SCOPE".to_owned(),
                url: None,
                byte_size: Some(3),
                metadata: None,
                ingestion_config: None,
                scope_id: Some(scope.to_owned()),
                source_kind: None,
                source_name: None,
                source_owner_type: None,
                base_url: None,
                store_internally: None,
                file_url: None,
            },
        )
    }

    #[test]
    fn paths_walk_by_name_create_missing_segments_and_return_leaves_in_order() {
        let mut state = state();
        let paths = [
            "/Confluence/SP".to_owned(),
            "Confluence//ENG/".to_owned(),
            "/Confluence/SP".to_owned(),
        ];
        let leaves = state.generate_scopes(USER, &paths, true).unwrap();
        assert_eq!(leaves[0].name, "SP");
        assert_eq!(leaves[1].name, "ENG");
        assert_eq!(
            leaves[0].id, leaves[2].id,
            "an existing path is returned, not recreated"
        );
        assert_eq!(leaves[0].parent_id.as_deref(), Some("root"));
        assert_eq!(state.path(&leaves[1].id), "/Confluence/ENG");
        // Inherited grants let the caller write below the new scope.
        assert!(state.has_access(USER, &leaves[0].id, AccessType::Write));
        let refused = state
            .generate_scopes(USER, &["/Elsewhere/X".to_owned()], true)
            .unwrap_err();
        assert_eq!(refused.status, 403);
    }

    #[test]
    fn external_ids_are_unique_but_null_never_conflicts() {
        let mut state = state();
        state.seed_scope(SeedScope::new("a", "A").parent("root").external_id("mark"));
        state.seed_scope(SeedScope::new("b", "B").parent("root"));
        let conflict = state
            .update_scope(USER, "b", Some(Some("mark".to_owned())))
            .unwrap_err();
        assert_eq!((conflict.status, conflict.code), (409, "CONFLICT"));
        assert_eq!(
            state
                .update_scope(USER, "a", Some(Some("mark".to_owned())))
                .unwrap()
                .external_id
                .as_deref(),
            Some("mark")
        );
        state.update_scope(USER, "a", Some(None)).unwrap();
        state.update_scope(USER, "b", Some(None)).unwrap();
        assert_eq!(state.scope("a").unwrap().external_id, None);
        assert_eq!(
            state.update_scope(USER, "b", None).unwrap().external_id,
            None
        );
    }

    #[test]
    fn writes_need_access_on_the_scope_or_an_ancestor() {
        let mut state = state();
        state.seed_scope(SeedScope::new("other", "Other"));
        assert_eq!(register(&mut state, "k", "other").unwrap_err().status, 403);
        assert_eq!(
            state
                .update_scope(USER, "other", Some(None))
                .unwrap_err()
                .status,
            403
        );
        state
            .create_scope_accesses("other", &[(USER.to_owned(), AccessType::Write)], false)
            .unwrap();
        assert!(register(&mut state, "k", "other").is_ok());
        assert_eq!(
            state
                .create_scope_accesses("nope", &[], false)
                .unwrap_err()
                .status,
            404
        );
    }

    #[test]
    fn upserts_are_by_key_and_finalize_needs_uploaded_bytes() {
        let mut state = state();
        let first = register(&mut state, "t/s/p1", "root").unwrap();
        let write_url = first.write_url.clone().unwrap();
        let read_url = first.read_url.clone().unwrap();
        let again = register(&mut state, "t/s/p1", "root").unwrap();
        assert_eq!(first.id, again.id);
        assert_ne!(
            again.write_url.as_deref(),
            Some(write_url.as_str()),
            "each registration gets fresh URLs"
        );

        let finalize = Upsert {
            file_url: Some(read_url.clone()),
            scope_id: Some("root".to_owned()),
            ..upsert_of(&again)
        };
        let refused = state.upsert(USER, finalize.clone()).unwrap_err();
        assert!(refused.message.contains("no uploaded bytes"), "{refused:?}");
        let key = url::Url::parse(&write_url)
            .unwrap()
            .query_pairs()
            .find(|(n, _)| n == "key")
            .unwrap()
            .1
            .into_owned();
        assert!(key.starts_with("t/s/p1/"));
        state.finish_upload(
            UploadRecord {
                via: super::super::model::UploadVia::BlobStorage,
                key,
                headers: BTreeMap::new(),
                size: 3,
                sha256: sha256_hex(b"abc"),
            },
            Some(Bytes::from_static(b"abc")),
        );
        let finalized = state.upsert(USER, finalize).unwrap();
        assert!(finalized.finalized);
        assert_eq!(finalized.blob.unwrap().size, 3);
    }

    fn upsert_of(content: &Content) -> Upsert {
        Upsert {
            key: content.key.clone(),
            title: content.title.clone(),
            mime_type: content.mime_type.clone(),
            owner_type: content.owner_type.clone(),
            url: None,
            byte_size: content.byte_size,
            metadata: None,
            ingestion_config: None,
            scope_id: None,
            source_kind: None,
            source_name: None,
            source_owner_type: None,
            base_url: None,
            store_internally: None,
            file_url: None,
        }
    }

    #[test]
    fn file_diff_reports_new_updated_and_deleted_per_partial_key_and_changes_nothing() {
        let mut state = state();
        state.seed_content(
            SeedContent::new("t/s_SP/up-to-date", "root").updated_at("2026-05-01T10:00:00.000Z"),
        );
        state.seed_content(
            SeedContent::new("t/s_SP/stale", "root").updated_at("2026-01-01T00:00:00.000Z"),
        );
        state.seed_content(SeedContent::new("t/s_SP/gone", "root"));
        state.seed_content(SeedContent::new("t/other_X/p", "root"));
        let item = |key: &str| DiffItem {
            key: key.to_owned(),
            updated_at: "2026-05-01T10:00:00.000Z".to_owned(),
        };
        let before = state.snapshot();
        let answer = state.file_diff(
            "t/s_SP",
            &[item("stale"), item("up-to-date"), item("fresh"), item("p")],
        );
        assert_eq!(answer.new, ["fresh", "p"]);
        assert_eq!(answer.updated, ["stale"]);
        assert_eq!(answer.deleted, ["gone"]);
        assert!(answer.moved.is_empty());
        assert_eq!(state.snapshot(), before);
        assert_eq!(
            state.file_diff("t/s_SP", &[]).deleted.len(),
            3,
            "an empty list deletes everything"
        );
    }

    #[test]
    fn folder_deletion_takes_the_subtree_and_its_content_unless_strict() {
        let mut state = state();
        state.seed_scope(SeedScope::new("sp", "SP").parent("root"));
        state.seed_scope(SeedScope::new("deep", "Deep").parent("sp"));
        state.seed_content(SeedContent::new("k1", "deep"));
        state.seed_content(SeedContent::new("k2", "root"));
        let strict = state.delete_folder(USER, "sp", false, true).unwrap();
        assert_eq!(strict.failed[0].1, "Folder is not empty");
        let result = state.delete_folder(USER, "sp", true, true).unwrap();
        let deleted: Vec<&str> = result.success.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(deleted, ["/Confluence/SP", "/Confluence/SP/Deep"]);
        assert_eq!(state.snapshot().content_keys(), ["k2"]);
        assert!(state.scope("deep").is_none());
    }

    #[test]
    fn bulk_move_reparents_and_refuses_cycles() {
        let mut state = state();
        state.seed_scope(SeedScope::new("old", "Old").parent("root"));
        state.seed_scope(SeedScope::new("a", "A").parent("old"));
        state.seed_content(SeedContent::new("k", "a"));
        state.seed_scope(SeedScope::new("new", "New").parent("root"));
        assert_eq!(state.bulk_move(USER, &["a".to_owned()], "new").unwrap(), 1);
        assert_eq!(state.path("a"), "/Confluence/New/A");
        assert_eq!(
            state
                .bulk_move(USER, &["new".to_owned()], "a")
                .unwrap_err()
                .status,
            400
        );
    }

    #[test]
    fn filters_combine_equals_in_and_starts_with() {
        let filter = StringFilter {
            equals: None,
            any_of: Some(vec!["a/1".to_owned(), "b/1".to_owned()]),
            starts_with: Some("a/".to_owned()),
        };
        assert!(filter.matches(Some("a/1")));
        assert!(!filter.matches(Some("b/1")));
        assert!(!filter.matches(None));
        assert!(StringFilter::default().matches(None));
    }
}
