//! The GraphQL face of the simulator (async-graphql): the SDL subset of
//! PROTOCOL §7.2, resolvers translating to [`State`] calls. The ingestion
//! schema serves everything but `me`; the scope-management schema serves
//! only `me`, so a client posting to the wrong service fails validation.

use std::sync::Arc;

use async_graphql::{
    Context, EmptyMutation, EmptySubscription, ErrorExtensions, InputObject, InputValueError,
    InputValueResult, Json, MaybeUndefined, Object, Scalar, ScalarType, Schema, SimpleObject,
    Value,
};

use super::{
    model::AccessType,
    server::Shared,
    state::{self, SimError, State},
};

pub(super) type IngestionSchema = Schema<IngestionQuery, IngestionMutation, EmptySubscription>;
pub(super) type ScopeManagementSchema =
    Schema<ScopeManagementQuery, EmptyMutation, EmptySubscription>;

pub(super) fn ingestion_schema() -> IngestionSchema {
    Schema::new(IngestionQuery, IngestionMutation, EmptySubscription)
}

pub(super) fn scope_management_schema() -> ScopeManagementSchema {
    Schema::new(ScopeManagementQuery, EmptyMutation, EmptySubscription)
}

impl From<SimError> for async_graphql::Error {
    fn from(error: SimError) -> Self {
        async_graphql::Error::new(error.message).extend_with(|_, extensions| {
            extensions.set("code", error.code);
            extensions.set(
                "response",
                async_graphql::value!({ "statusCode": error.status, "message": error.code }),
            );
        })
    }
}

/// The simulator behind a request (added as request data by the server).
fn shared<'a>(ctx: &Context<'a>) -> &'a Arc<Shared> {
    ctx.data_unchecked::<Arc<Shared>>()
}

/// ISO-8601 timestamps, passed as strings.
#[derive(Debug, Clone)]
pub(super) struct DateTime(String);

#[Scalar(name = "DateTime")]
impl ScalarType for DateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        match value {
            Value::String(text) => Ok(DateTime(text)),
            other => Err(InputValueError::expected_type(other)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.clone())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum)]
#[graphql(name = "EntityType")]
pub(super) enum EntityType {
    User,
    Group,
}

#[derive(Debug, InputObject)]
pub(super) struct StringFilter {
    equals: Option<String>,
    #[graphql(name = "in")]
    any_of: Option<Vec<String>>,
    starts_with: Option<String>,
}

impl From<StringFilter> for state::StringFilter {
    fn from(filter: StringFilter) -> Self {
        state::StringFilter {
            equals: filter.equals,
            any_of: filter.any_of,
            starts_with: filter.starts_with,
        }
    }
}

#[derive(Debug, InputObject)]
pub(super) struct ScopeWhereInput {
    id: Option<StringFilter>,
    name: Option<StringFilter>,
    parent_id: Option<StringFilter>,
    external_id: Option<StringFilter>,
}

#[derive(Debug, InputObject)]
pub(super) struct ContentWhereInput {
    key: Option<StringFilter>,
    owner_id: Option<StringFilter>,
    owner_type: Option<StringFilter>,
}

#[derive(Debug, InputObject)]
pub(super) struct ScopeAccessChangeDto {
    access_type: AccessType,
    entity_id: String,
    entity_type: EntityType,
}

/// `externalId: null` clears; an absent `externalId` changes nothing.
#[derive(Debug, InputObject)]
pub(super) struct ScopeUpdateInput {
    external_id: MaybeUndefined<String>,
}

#[derive(Debug, InputObject)]
pub(super) struct BulkMoveInput {
    scope_ids: Vec<String>,
    target_scope_id: String,
}

#[derive(Debug, InputObject)]
pub(super) struct ContentCreateInput {
    key: String,
    title: Option<String>,
    mime_type: String,
    owner_type: String,
    url: Option<String>,
    byte_size: Option<i64>,
    file_access: Option<Vec<String>>,
    ingestion_config: Option<Json<serde_json::Value>>,
    metadata: Option<Json<serde_json::Value>>,
    expires_at: Option<DateTime>,
}

#[derive(Debug, SimpleObject)]
pub(super) struct MeUser {
    id: String,
}

#[derive(Debug, SimpleObject)]
pub(super) struct Me {
    user: MeUser,
}

#[derive(Debug, SimpleObject)]
pub(super) struct Scope {
    id: String,
    name: String,
    parent_id: Option<String>,
    external_id: Option<String>,
}

impl From<&state::Scope> for Scope {
    fn from(scope: &state::Scope) -> Self {
        Scope {
            id: scope.id.clone(),
            name: scope.name.clone(),
            parent_id: scope.parent_id.clone(),
            external_id: scope.external_id.clone(),
        }
    }
}

#[derive(Debug, SimpleObject)]
pub(super) struct PaginatedScope {
    total_count: i64,
    nodes: Vec<Scope>,
}

#[derive(Debug, SimpleObject)]
pub(super) struct BulkMoveResult {
    scope_ids: Vec<String>,
    async_metadata_rebuild: bool,
    job_id: Option<String>,
    affected_files: Option<i64>,
    message: Option<String>,
}

#[derive(Debug, SimpleObject)]
pub(super) struct FolderRef {
    id: String,
    name: String,
    path: String,
}

#[derive(Debug, SimpleObject)]
pub(super) struct FailedFolder {
    id: String,
    name: String,
    path: String,
    fail_reason: String,
}

#[derive(Debug, SimpleObject)]
pub(super) struct DeleteFolderResult {
    success_folders: Vec<FolderRef>,
    failed_folders: Vec<FailedFolder>,
}

#[derive(Debug, SimpleObject)]
pub(super) struct ContentSource {
    kind: Option<String>,
    name: Option<String>,
}

#[derive(Debug, SimpleObject)]
pub(super) struct Content {
    id: String,
    key: String,
    title: Option<String>,
    byte_size: Option<i64>,
    mime_type: Option<String>,
    owner_type: Option<String>,
    owner_id: Option<String>,
    write_url: Option<String>,
    read_url: Option<String>,
    created_at: Option<DateTime>,
    internally_stored_at: Option<DateTime>,
    source: Option<ContentSource>,
    file_access: Option<Vec<String>>,
    metadata: Option<Json<serde_json::Value>>,
    expires_at: Option<DateTime>,
    ingestion_state: Option<String>,
}

impl From<&state::Content> for Content {
    fn from(content: &state::Content) -> Self {
        Content {
            id: content.id.clone(),
            key: content.key.clone(),
            title: content.title.clone(),
            byte_size: content.byte_size,
            mime_type: Some(content.mime_type.clone()),
            owner_type: Some(content.owner_type.clone()),
            owner_id: Some(content.owner_id.clone()),
            write_url: content.write_url.clone(),
            read_url: content.read_url.clone(),
            created_at: Some(DateTime(state::timestamp(content.created_at))),
            internally_stored_at: None,
            source: Some(ContentSource {
                kind: content.source_kind.clone(),
                name: content.source_name.clone(),
            }),
            file_access: None,
            metadata: content.metadata.clone().map(Json),
            expires_at: None,
            ingestion_state: None,
        }
    }
}

#[derive(Debug, SimpleObject)]
pub(super) struct PaginatedContent {
    total_count: i64,
    nodes: Vec<Content>,
}

#[derive(Debug, SimpleObject)]
pub(super) struct DeletedContent {
    id: String,
}

/// `skip`/`take` paging; a missing `take` means "all".
fn page<T>(items: Vec<T>, skip: i64, take: Option<i64>) -> Result<Vec<T>, SimError> {
    let bad = || SimError {
        status: 400,
        code: "BAD_USER_INPUT",
        message: format!("skip ({skip}) and take ({take:?}) must not be negative"),
    };
    let skip = usize::try_from(skip).map_err(|_| bad())?;
    let take = match take {
        Some(take) => usize::try_from(take).map_err(|_| bad())?,
        None => usize::MAX,
    };
    Ok(items.into_iter().skip(skip).take(take).collect())
}

fn filter(filter: Option<StringFilter>) -> Option<state::StringFilter> {
    filter.map(Into::into)
}

/// Runs `f` on the locked state.
fn with_state<T>(ctx: &Context<'_>, f: impl FnOnce(&mut State) -> T) -> T {
    f(&mut shared(ctx).state())
}

fn user<'a>(ctx: &Context<'a>) -> &'a str {
    &shared(ctx).settings.service_user_id
}

pub(super) struct ScopeManagementQuery;

#[Object]
impl ScopeManagementQuery {
    async fn me(&self, ctx: &Context<'_>) -> Me {
        Me {
            user: MeUser {
                id: user(ctx).to_owned(),
            },
        }
    }
}

pub(super) struct IngestionQuery;

#[Object]
impl IngestionQuery {
    async fn paginated_scope(
        &self,
        ctx: &Context<'_>,
        skip: i64,
        take: i64,
        #[graphql(name = "where")] condition: ScopeWhereInput,
    ) -> async_graphql::Result<PaginatedScope> {
        let condition = state::ScopeFilter {
            id: filter(condition.id),
            name: filter(condition.name),
            parent_id: filter(condition.parent_id),
            external_id: filter(condition.external_id),
        };
        with_state(ctx, |state| {
            let all: Vec<Scope> = state
                .scopes_matching(&condition)
                .into_iter()
                .map(Scope::from)
                .collect();
            let total_count = all.len() as i64;
            Ok(PaginatedScope {
                total_count,
                nodes: page(all, skip, Some(take))?,
            })
        })
    }

    async fn paginated_content(
        &self,
        ctx: &Context<'_>,
        skip: Option<i64>,
        take: Option<i64>,
        #[graphql(name = "where")] condition: Option<ContentWhereInput>,
    ) -> async_graphql::Result<PaginatedContent> {
        let condition =
            condition.map_or_else(state::ContentFilter::default, |c| state::ContentFilter {
                key: filter(c.key),
                owner_id: filter(c.owner_id),
                owner_type: filter(c.owner_type),
            });
        with_state(ctx, |state| {
            let all: Vec<Content> = state
                .contents_matching(&condition)
                .into_iter()
                .map(Content::from)
                .collect();
            let total_count = all.len() as i64;
            Ok(PaginatedContent {
                total_count,
                nodes: page(all, skip.unwrap_or(0), take)?,
            })
        })
    }
}

pub(super) struct IngestionMutation;

#[Object]
impl IngestionMutation {
    async fn create_scope_accesses(
        &self,
        ctx: &Context<'_>,
        scope_accesses: Vec<ScopeAccessChangeDto>,
        scope_id: String,
        apply_to_sub_scopes: Option<bool>,
        skip_file_access_propagation: Option<bool>,
    ) -> async_graphql::Result<bool> {
        // File access propagation has no observable effect here.
        let _ = skip_file_access_propagation;
        let grants: Vec<(String, AccessType)> = scope_accesses
            .into_iter()
            .map(|dto| {
                let entity = match dto.entity_type {
                    EntityType::User => dto.entity_id,
                    EntityType::Group => format!("group:{}", dto.entity_id),
                };
                (entity, dto.access_type)
            })
            .collect();
        with_state(ctx, |state| {
            state.create_scope_accesses(&scope_id, &grants, apply_to_sub_scopes.unwrap_or(false))
        })?;
        Ok(true)
    }

    async fn update_scope(
        &self,
        ctx: &Context<'_>,
        id: String,
        input: ScopeUpdateInput,
    ) -> async_graphql::Result<Scope> {
        let external_id = match input.external_id {
            MaybeUndefined::Undefined => None,
            MaybeUndefined::Null => Some(None),
            MaybeUndefined::Value(value) => Some(Some(value)),
        };
        let scope = with_state(ctx, |state| state.update_scope(user(ctx), &id, external_id))?;
        Ok(Scope::from(&scope))
    }

    async fn generate_scopes_based_on_paths(
        &self,
        ctx: &Context<'_>,
        paths: Vec<String>,
        inherit_access: Option<bool>,
    ) -> async_graphql::Result<Vec<Scope>> {
        let leaves = with_state(ctx, |state| {
            state.generate_scopes(user(ctx), &paths, inherit_access.unwrap_or(false))
        })?;
        Ok(leaves.iter().map(Scope::from).collect())
    }

    async fn bulk_move(
        &self,
        ctx: &Context<'_>,
        input: BulkMoveInput,
    ) -> async_graphql::Result<BulkMoveResult> {
        let affected = with_state(ctx, |state| {
            state.bulk_move(user(ctx), &input.scope_ids, &input.target_scope_id)
        })?;
        Ok(BulkMoveResult {
            message: Some(format!("Moved {} scopes", input.scope_ids.len())),
            scope_ids: input.scope_ids,
            async_metadata_rebuild: false,
            job_id: None,
            affected_files: Some(affected as i64),
        })
    }

    async fn delete_folder(
        &self,
        ctx: &Context<'_>,
        scope_id: String,
        recursive: bool,
    ) -> async_graphql::Result<DeleteFolderResult> {
        let strict = shared(ctx).settings.strict_folder_delete;
        let result = with_state(ctx, |state| {
            state.delete_folder(user(ctx), &scope_id, recursive, strict)
        })?;
        Ok(DeleteFolderResult {
            success_folders: result
                .success
                .into_iter()
                .map(|folder| FolderRef {
                    id: folder.id,
                    name: folder.name,
                    path: folder.path,
                })
                .collect(),
            failed_folders: result
                .failed
                .into_iter()
                .map(|(folder, reason)| FailedFolder {
                    id: folder.id,
                    name: folder.name,
                    path: folder.path,
                    fail_reason: reason,
                })
                .collect(),
        })
    }

    #[allow(clippy::too_many_arguments)]
    async fn content_upsert(
        &self,
        ctx: &Context<'_>,
        input: ContentCreateInput,
        file_url: Option<String>,
        chat_id: Option<String>,
        scope_id: Option<String>,
        source_owner_type: Option<String>,
        source_name: Option<String>,
        source_kind: Option<String>,
        store_internally: Option<bool>,
        base_url: Option<String>,
    ) -> async_graphql::Result<Content> {
        if chat_id.is_some() || input.file_access.is_some() || input.expires_at.is_some() {
            return Err(SimError {
                status: 400,
                code: "BAD_USER_INPUT",
                message: "chatId, fileAccess and expiresAt are not used by connectors".to_owned(),
            }
            .into());
        }
        let upsert = state::Upsert {
            key: input.key,
            title: input.title,
            mime_type: input.mime_type,
            owner_type: input.owner_type,
            url: input.url,
            byte_size: input.byte_size,
            metadata: input.metadata.map(|json| json.0),
            ingestion_config: input.ingestion_config.map(|json| json.0),
            scope_id,
            source_kind,
            source_name,
            source_owner_type,
            base_url,
            store_internally,
            file_url,
        };
        let content = with_state(ctx, |state| state.upsert(user(ctx), upsert))?;
        Ok(Content::from(&content))
    }

    async fn content_delete_by_content_ids(
        &self,
        ctx: &Context<'_>,
        content_ids: Vec<String>,
    ) -> async_graphql::Result<Vec<DeletedContent>> {
        let deleted = with_state(ctx, |state| state.delete_contents(user(ctx), &content_ids));
        Ok(deleted
            .into_iter()
            .map(|id| DeletedContent { id })
            .collect())
    }
}
