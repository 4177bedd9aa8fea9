//! [`KnowledgeBase`] over the generated operations: variables in, port
//! types out, plus the client-side algorithms of PROTOCOL §7.4 (paging,
//! chunking).

use std::future::Future;

use graphql_client::GraphQLQuery;

use super::{
    UniqueKnowledgeBase, file_diff,
    graphql::{self, Endpoint, Retry},
    settings::SLOW_CALL_TIMEOUT,
    upload,
};
use crate::{
    adapters::generated::unique_graphql::{
        bulk_move::{BulkMove, bulk_move},
        content_delete_by_content_ids::{ContentDeleteByContentIds, content_delete_by_content_ids},
        content_upsert::{ContentUpsert, content_upsert},
        create_scope_accesses::{CreateScopeAccesses, create_scope_accesses},
        delete_folder::{DeleteFolder, delete_folder},
        generate_scopes_based_on_paths::{
            GenerateScopesBasedOnPaths, generate_scopes_based_on_paths,
        },
        paginated_content::{PaginatedContent, paginated_content},
        paginated_content_count::{PaginatedContentCount, paginated_content_count},
        paginated_scope::{PaginatedScope, paginated_scope},
        update_scope::{UpdateScope, update_scope},
        user::{User, user},
    },
    ports::{
        ErrorKind, KnowledgeBase, PortError,
        knowledge_base::{
            ContentDeletion, ContentUpsert as Upsert, DeleteFolderOutcome, FileDiff,
            FileDiffRequest, PAGE_SIZE, RegisteredContent, Scope, ScopeAccess, StoredContent,
            UploadBody,
        },
    },
};

/// `target` label values (§11.3).
pub(super) const TARGET_INGESTION: &str = "ingestion";
pub(super) const TARGET_SCOPE_MANAGEMENT: &str = "scopeManagement";

/// Keys per `PaginatedContent` lookup (ours, §7.4: the reference resends
/// the whole list on every page). At most a page, see `content_by_keys`.
const KEYS_PER_LOOKUP: usize = 100;
const _: () = assert!(KEYS_PER_LOOKUP <= PAGE_SIZE);
/// Ids per `ContentDeleteByContentIds` call (§7.2).
const IDS_PER_DELETE: usize = 20;
/// Paths per `GenerateScopesBasedOnPaths` call (§7.2).
const PATHS_PER_GENERATE: usize = 100;

impl UniqueKnowledgeBase {
    /// An operation on the ingestion service.
    async fn ingestion<Q: GraphQLQuery>(
        &self,
        variables: Q::Variables,
        retry: Retry,
    ) -> Result<Q::ResponseData, PortError> {
        self.ingestion_within::<Q>(variables, retry, self.transport.request_timeout)
            .await
    }

    /// A deletion on the ingestion service, whose work grows with the data
    /// ([`SLOW_CALL_TIMEOUT`]).
    async fn slow_ingestion<Q: GraphQLQuery>(
        &self,
        variables: Q::Variables,
    ) -> Result<Q::ResponseData, PortError> {
        self.ingestion_within::<Q>(variables, Retry::Never, SLOW_CALL_TIMEOUT)
            .await
    }

    async fn ingestion_within<Q: GraphQLQuery>(
        &self,
        variables: Q::Variables,
        retry: Retry,
        timeout: std::time::Duration,
    ) -> Result<Q::ResponseData, PortError> {
        let endpoint = Endpoint {
            url: &self.endpoints.ingestion_graphql,
            limiter: &self.transport.limiters.ingestion_graphql,
            target: TARGET_INGESTION,
            timeout,
        };
        graphql::execute::<Q>(&self.transport, endpoint, variables, retry).await
    }

    async fn scopes_where(
        &self,
        filter: paginated_scope::ScopeWhereInput,
        skip: usize,
        take: usize,
    ) -> Result<Vec<Scope>, PortError> {
        let data = self
            .ingestion::<PaginatedScope>(
                paginated_scope::Variables {
                    skip: skip as i64,
                    take: take as i64,
                    where_: filter,
                },
                Retry::Idempotent,
            )
            .await?;
        Ok(data
            .paginated_scope
            .nodes
            .into_iter()
            .map(|node| Scope {
                id: node.id,
                name: node.name,
                parent_id: node.parent_id,
                external_id: node.external_id,
            })
            .collect())
    }

    async fn content_page(
        &self,
        filter: paginated_content::ContentWhereInput,
        skip: usize,
    ) -> Result<Vec<StoredContent>, PortError> {
        let data = self
            .ingestion::<PaginatedContent>(
                paginated_content::Variables {
                    skip: skip as i64,
                    take: PAGE_SIZE as i64,
                    where_: Some(filter),
                },
                Retry::Idempotent,
            )
            .await?;
        Ok(data
            .paginated_content
            .nodes
            .into_iter()
            .map(stored_content)
            .collect())
    }

    /// `PaginatedContentCount`: how many content items match.
    async fn count(&self, variables: paginated_content_count::Variables) -> Result<u64, PortError> {
        let total = self
            .ingestion::<PaginatedContentCount>(variables, Retry::Idempotent)
            .await?
            .paginated_content
            .total_count;
        u64::try_from(total).map_err(|_| {
            PortError::new(
                ErrorKind::InvalidResponse,
                format!("GraphQL PaginatedContentCount: negative totalCount {total}"),
            )
        })
    }

    async fn upsert(
        &self,
        content: &Upsert,
        file_url: Option<&str>,
    ) -> Result<content_upsert::ContentUpsertContentUpsert, PortError> {
        let variables = upsert_variables(content, file_url)?;
        Ok(self
            .ingestion::<ContentUpsert>(variables, Retry::Never)
            .await?
            .content_upsert)
    }
}

impl KnowledgeBase for UniqueKnowledgeBase {
    async fn current_user_id(&self) -> Result<String, PortError> {
        let endpoint = Endpoint {
            url: &self.endpoints.scope_management_graphql,
            limiter: &self.transport.limiters.scope_management_graphql,
            target: TARGET_SCOPE_MANAGEMENT,
            timeout: self.transport.request_timeout,
        };
        let data = graphql::execute::<User>(
            &self.transport,
            endpoint,
            user::Variables,
            Retry::Idempotent,
        )
        .await?;
        non_empty(
            data.me.user.id,
            "GraphQL User: the service user id is empty",
        )
    }

    async fn grant_scope_access(
        &self,
        scope_id: &str,
        user_id: &str,
        accesses: &[ScopeAccess],
    ) -> Result<(), PortError> {
        use create_scope_accesses::{AccessType, EntityType, ScopeAccessChangeDto, Variables};
        let scope_accesses = accesses
            .iter()
            .map(|access| ScopeAccessChangeDto {
                access_type: match access {
                    ScopeAccess::Manage => AccessType::MANAGE,
                    ScopeAccess::Read => AccessType::READ,
                    ScopeAccess::Write => AccessType::WRITE,
                },
                entity_id: user_id.to_owned(),
                entity_type: EntityType::USER,
            })
            .collect();
        let variables = Variables {
            scope_accesses,
            scope_id: scope_id.to_owned(),
            apply_to_sub_scopes: Some(false),
            skip_file_access_propagation: Some(true),
        };
        let granted = self
            .ingestion::<CreateScopeAccesses>(variables, Retry::Idempotent)
            .await?
            .create_scope_accesses;
        if granted {
            Ok(())
        } else {
            Err(PortError::new(
                ErrorKind::Rejected,
                format!(
                    "GraphQL CreateScopeAccesses: Unique answered false for scope `{scope_id}`"
                ),
            ))
        }
    }

    async fn scope_by_id(&self, id: &str) -> Result<Option<Scope>, PortError> {
        let filter = paginated_scope::ScopeWhereInput {
            id: Some(equals_scope(id)),
            ..no_scope_filter()
        };
        Ok(self.scopes_where(filter, 0, 1).await?.into_iter().next())
    }

    async fn scope_by_external_id(&self, external_id: &str) -> Result<Option<Scope>, PortError> {
        let filter = paginated_scope::ScopeWhereInput {
            external_id: Some(equals_scope(external_id)),
            ..no_scope_filter()
        };
        Ok(self.scopes_where(filter, 0, 1).await?.into_iter().next())
    }

    async fn child_scopes(&self, parent_id: &str) -> Result<Vec<Scope>, PortError> {
        let what = format!("GraphQL PaginatedScope (children of `{parent_id}`)");
        all_pages(&what, |skip| {
            let filter = paginated_scope::ScopeWhereInput {
                parent_id: Some(equals_scope(parent_id)),
                ..no_scope_filter()
            };
            self.scopes_where(filter, skip, PAGE_SIZE)
        })
        .await
    }

    async fn set_scope_external_id(
        &self,
        scope_id: &str,
        external_id: Option<String>,
    ) -> Result<Scope, PortError> {
        let variables = update_scope::Variables {
            id: scope_id.to_owned(),
            input: update_scope::ScopeUpdateInput { external_id },
        };
        let scope = self
            .ingestion::<UpdateScope>(variables, Retry::Idempotent)
            .await?
            .update_scope;
        Ok(Scope {
            id: scope.id,
            name: scope.name,
            parent_id: scope.parent_id,
            external_id: scope.external_id,
        })
    }

    async fn ensure_scope_paths(&self, paths: &[String]) -> Result<Vec<Scope>, PortError> {
        let mut leaves = Vec::with_capacity(paths.len());
        for chunk in paths.chunks(PATHS_PER_GENERATE) {
            let variables = generate_scopes_based_on_paths::Variables {
                paths: chunk.to_vec(),
                inherit_access: Some(true),
            };
            let scopes = self
                .ingestion::<GenerateScopesBasedOnPaths>(variables, Retry::Never)
                .await?
                .generate_scopes_based_on_paths;
            if scopes.len() != chunk.len() {
                return Err(PortError::new(
                    ErrorKind::InvalidResponse,
                    format!(
                        "GraphQL GenerateScopesBasedOnPaths: {} scopes returned for {} paths",
                        scopes.len(),
                        chunk.len()
                    ),
                ));
            }
            leaves.extend(scopes.into_iter().map(|scope| Scope {
                id: scope.id,
                name: scope.name,
                parent_id: scope.parent_id,
                external_id: scope.external_id,
            }));
        }
        Ok(leaves)
    }

    async fn move_scopes(
        &self,
        scope_ids: &[String],
        target_scope_id: &str,
    ) -> Result<(), PortError> {
        let variables = bulk_move::Variables {
            input: bulk_move::BulkMoveInput {
                scope_ids: scope_ids.to_vec(),
                target_scope_id: target_scope_id.to_owned(),
            },
        };
        self.ingestion::<BulkMove>(variables, Retry::Never).await?;
        Ok(())
    }

    async fn delete_scope(
        &self,
        scope_id: &str,
        recursive: bool,
    ) -> Result<DeleteFolderOutcome, PortError> {
        let variables = delete_folder::Variables {
            scope_id: scope_id.to_owned(),
            recursive,
        };
        let result = self
            .slow_ingestion::<DeleteFolder>(variables)
            .await?
            .delete_folder;
        Ok(DeleteFolderOutcome {
            deleted: result
                .success_folders
                .into_iter()
                .map(|folder| folder.id)
                .collect(),
            failed: result
                .failed_folders
                .into_iter()
                .map(|folder| (folder.id, folder.fail_reason))
                .collect(),
        })
    }

    async fn file_diff(&self, request: &FileDiffRequest) -> Result<FileDiff, PortError> {
        file_diff::file_diff(&self.transport, &self.endpoints.file_diff_base, request).await
    }

    async fn register_content(&self, content: &Upsert) -> Result<RegisteredContent, PortError> {
        let registered = self.upsert(content, None).await?;
        let url = |value: Option<String>, name: &str| {
            value.filter(|url| !url.is_empty()).ok_or_else(|| {
                PortError::new(
                    ErrorKind::InvalidResponse,
                    format!(
                        "GraphQL ContentUpsert (register `{}`): no {name} returned",
                        content.key
                    ),
                )
            })
        };
        Ok(RegisteredContent {
            write_url: url(registered.write_url, "writeUrl")?,
            read_url: url(registered.read_url, "readUrl")?,
            id: non_empty(
                registered.id,
                &format!(
                    "GraphQL ContentUpsert (register `{}`): empty id",
                    content.key
                ),
            )?,
        })
    }

    async fn upload_content(
        &self,
        registered: &RegisteredContent,
        mime_type: &str,
        body: UploadBody,
    ) -> Result<(), PortError> {
        let target = upload::upload_target(&registered.write_url, self.scoped_upload.as_deref())?;
        upload::put(
            &self.upload_client,
            &target,
            mime_type,
            body,
            self.upload_stall,
        )
        .await
    }

    async fn finalize_content(
        &self,
        content: &Upsert,
        read_url: &str,
    ) -> Result<String, PortError> {
        let finalized = self.upsert(content, Some(read_url)).await?;
        non_empty(
            finalized.id,
            &format!(
                "GraphQL ContentUpsert (finalize `{}`): empty id",
                content.key
            ),
        )
    }

    async fn content_by_keys(&self, keys: &[String]) -> Result<Vec<StoredContent>, PortError> {
        // Keys are unique in Unique, so a chunk of at most a page of keys
        // matches at most one page of content: one query per chunk, no
        // paging.
        let mut found = Vec::new();
        for chunk in keys.chunks(KEYS_PER_LOOKUP) {
            let filter = paginated_content::ContentWhereInput {
                key: Some(paginated_content::StringFilter {
                    equals: None,
                    in_: Some(chunk.to_vec()),
                    starts_with: None,
                }),
                owner_id: None,
                owner_type: None,
            };
            found.extend(self.content_page(filter, 0).await?);
        }
        Ok(found)
    }

    async fn content_with_key_prefix(&self, prefix: &str) -> Result<Vec<StoredContent>, PortError> {
        let filter = paginated_content::ContentWhereInput {
            key: Some(paginated_content::StringFilter {
                equals: None,
                in_: None,
                starts_with: Some(prefix.to_owned()),
            }),
            owner_id: None,
            owner_type: None,
        };
        self.content_page(filter, 0).await
    }

    async fn count_with_key_prefix(&self, prefix: &str) -> Result<u64, PortError> {
        let variables = paginated_content_count::Variables {
            where_: Some(paginated_content_count::ContentWhereInput {
                key: Some(paginated_content_count::StringFilter {
                    equals: None,
                    in_: None,
                    starts_with: Some(prefix.to_owned()),
                }),
                owner_id: None,
                owner_type: None,
            }),
        };
        self.count(variables).await
    }

    async fn content_in_scope(&self, scope_id: &str) -> Result<Vec<StoredContent>, PortError> {
        let what = format!("GraphQL PaginatedContent (content in scope `{scope_id}`)");
        all_pages(&what, |skip| async move {
            let filter = paginated_content::ContentWhereInput {
                key: None,
                owner_id: Some(paginated_content::StringFilter {
                    equals: Some(scope_id.to_owned()),
                    in_: None,
                    starts_with: None,
                }),
                owner_type: Some(paginated_content::StringFilter {
                    equals: Some("SCOPE".to_owned()),
                    in_: None,
                    starts_with: None,
                }),
            };
            self.content_page(filter, skip).await
        })
        .await
    }

    async fn count_in_scope(
        &self,
        scope_id: &str,
        key_prefix: Option<String>,
    ) -> Result<u64, PortError> {
        let equals = |value: &str| paginated_content_count::StringFilter {
            equals: Some(value.to_owned()),
            in_: None,
            starts_with: None,
        };
        let variables = paginated_content_count::Variables {
            where_: Some(paginated_content_count::ContentWhereInput {
                key: key_prefix.map(|prefix| paginated_content_count::StringFilter {
                    equals: None,
                    in_: None,
                    starts_with: Some(prefix),
                }),
                owner_id: Some(equals(scope_id)),
                owner_type: Some(equals("SCOPE")),
            }),
        };
        self.count(variables).await
    }

    async fn delete_content(&self, ids: &[String]) -> ContentDeletion {
        let mut outcome = ContentDeletion::default();
        for chunk in ids.chunks(IDS_PER_DELETE) {
            let variables = content_delete_by_content_ids::Variables {
                content_ids: chunk.to_vec(),
            };
            match self
                .slow_ingestion::<ContentDeleteByContentIds>(variables)
                .await
            {
                Ok(data) => outcome.confirmed.extend(
                    data.content_delete_by_content_ids
                        .into_iter()
                        .map(|deleted| deleted.id),
                ),
                Err(err) => {
                    outcome.error = Some(err);
                    break;
                }
            }
        }
        outcome
    }
}

/// Most pages one "list until short page" walk may take: a million
/// entries, far beyond any tenant; only a server that keeps answering full
/// pages (ignoring `skip`) gets there, and the walk then fails instead of
/// looping forever.
const MAX_PAGES: usize = 10_000;

/// "List until short page" (§7.2): `skip` grows by [`PAGE_SIZE`] while a
/// page comes back full, at most [`MAX_PAGES`] times. `what` names the
/// listing in the error.
async fn all_pages<T, F, Fut>(what: &str, mut page: F) -> Result<Vec<T>, PortError>
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = Result<Vec<T>, PortError>>,
{
    let mut all = Vec::new();
    let mut skip = 0;
    loop {
        if skip >= MAX_PAGES * PAGE_SIZE {
            return Err(PortError::new(
                ErrorKind::InvalidResponse,
                format!(
                    "{what}: still full pages after {MAX_PAGES} pages (skip {skip}); the listing does not end"
                ),
            ));
        }
        let nodes = page(skip).await?;
        let full = nodes.len() == PAGE_SIZE;
        all.extend(nodes);
        if !full {
            return Ok(all);
        }
        skip += PAGE_SIZE;
    }
}

fn upsert_variables(
    content: &Upsert,
    file_url: Option<&str>,
) -> Result<content_upsert::Variables, PortError> {
    let byte_size = i64::try_from(content.byte_size).map_err(|_| {
        PortError::new(
            ErrorKind::Internal,
            format!("ContentUpsert `{}`: byte size out of range", content.key),
        )
    })?;
    Ok(content_upsert::Variables {
        input: content_upsert::ContentCreateInput {
            key: content.key.clone(),
            title: Some(content.title.clone()),
            mime_type: content.mime_type.clone(),
            owner_type: "SCOPE".to_owned(),
            url: Some(content.url.clone()),
            byte_size: Some(byte_size),
            file_access: None,
            ingestion_config: content.ingestion_config.clone(),
            metadata: Some(content.metadata.clone()),
            expires_at: None,
        },
        file_url: file_url.map(str::to_owned),
        chat_id: None,
        scope_id: Some(content.scope_id.clone()),
        source_owner_type: Some("COMPANY".to_owned()),
        source_name: Some(content.source_name.clone()),
        source_kind: Some(content.source_kind.clone()),
        store_internally: Some(content.store_internally),
        // `baseUrl` is `confluence.baseUrl`, which is also the source name.
        base_url: Some(content.source_name.clone()),
    })
}

fn stored_content(node: paginated_content::PaginatedContentPaginatedContentNodes) -> StoredContent {
    StoredContent {
        id: node.id,
        key: node.key,
        owner_id: node.owner_id,
        byte_size: node.byte_size.and_then(|size| u64::try_from(size).ok()),
        metadata: node.metadata,
    }
}

fn equals_scope(value: &str) -> paginated_scope::StringFilter {
    paginated_scope::StringFilter {
        equals: Some(value.to_owned()),
        in_: None,
        starts_with: None,
    }
}

fn no_scope_filter() -> paginated_scope::ScopeWhereInput {
    paginated_scope::ScopeWhereInput {
        id: None,
        name: None,
        parent_id: None,
        external_id: None,
    }
}

fn non_empty(value: String, context: &str) -> Result<String, PortError> {
    if value.is_empty() {
        Err(PortError::new(ErrorKind::InvalidResponse, context))
    } else {
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn a_listing_of_full_pages_forever_fails_after_the_bound() {
        let pages = AtomicUsize::new(0);
        let err = all_pages("GraphQL PaginatedScope (children of `s`)", |_| {
            pages.fetch_add(1, Ordering::Relaxed);
            async { Ok(vec![(); PAGE_SIZE]) }
        })
        .await
        .unwrap_err();
        assert_eq!(pages.load(Ordering::Relaxed), MAX_PAGES);
        assert_eq!(err.kind(), ErrorKind::InvalidResponse);
        assert!(
            err.context().starts_with(
                "GraphQL PaginatedScope (children of `s`): still full pages after 10000 pages"
            ),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_short_page_ends_the_listing() {
        let all = all_pages("x", |skip| async move {
            Ok(if skip == 0 {
                vec![1; PAGE_SIZE]
            } else {
                vec![2; 3]
            })
        })
        .await
        .unwrap();
        assert_eq!(all.len(), PAGE_SIZE + 3);
    }
}
