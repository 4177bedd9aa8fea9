//! Generated v1/v2 response types → the domain model (PROTOCOL §5.3, §5.4).
//!
//! The Cloud and Data Center subsets generate structurally identical v1
//! types in two modules; one macro maps both, so the rules live once.
//! Fields the sync relies on are checked here: a content item without one
//! fails the whole request (compat §5.3) rather than silently vanishing
//! from discovery, which would make the diff delete it.

use crate::domain::model::{AttachmentMeta, ContentType, DiscoveredContent, PageBody, Space};

/// A content item of a v1 list with its inline attachments, and how to
/// find the rest of them (§5.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Listed {
    /// `attachments` holds the inline list (empty when attachments are off).
    pub content: DiscoveredContent,
    pub inline: InlineAttachments,
}

/// What `children.attachment` said about completeness.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct InlineAttachments {
    /// `size >= limit`: Confluence capped the inline list.
    pub capped: bool,
    /// `_links.next` (Data Center continuation; Cloud's answers 410).
    pub next: Option<String>,
}

/// Why an item could not be mapped.
pub(super) type Missing = String;

fn required<T>(value: Option<T>, id: &str, field: &str) -> Result<T, Missing> {
    value.ok_or_else(|| format!("content {id} has no `{field}`"))
}

fn file_size(size: i64, id: &str) -> Result<u64, Missing> {
    u64::try_from(size).map_err(|_| format!("attachment {id} has a negative fileSize {size}"))
}

macro_rules! v1_mapping {
    ($flavor:ident) => {
        pub(super) mod $flavor {
            use super::*;
            use crate::adapters::generated::$flavor::types;

            /// A discovery result (C1, C2, C6).
            pub(in crate::adapters::confluence) fn listed(
                content: types::Content,
                attachments_enabled: bool,
            ) -> Result<Listed, Missing> {
                let id = content.id;
                let space = required(content.space, &id, "space")?;
                let space = Space {
                    id: required(space.id, &id, "space.id")?.to_string(),
                    name: required(space.name, &id, "space.name")?,
                    key: space.key,
                };
                let version_when = required(content.version.and_then(|v| v.when), &id, "version.when")?;
                let web_ui = required(content.links.and_then(|l| l.webui), &id, "_links.webui")?;
                let labels = required(content.metadata.and_then(|m| m.labels), &id, "metadata.labels")?
                    .results
                    .into_iter()
                    .map(|l| l.name)
                    .collect();
                let (attachments, inline) = match content.children.and_then(|c| c.attachment) {
                    Some(list) if attachments_enabled => {
                        let inline = InlineAttachments {
                            capped: matches!((list.size, list.limit), (Some(size), Some(limit)) if size >= limit),
                            next: list.links.next.filter(|n| !n.is_empty()),
                        };
                        let items = list.results.into_iter().map(attachment).collect::<Result<_, _>>()?;
                        (items, inline)
                    }
                    _ => (Vec::new(), InlineAttachments::default()),
                };
                Ok(Listed {
                    content: DiscoveredContent {
                        content_type: ContentType::parse(&content.type_),
                        title: content.title,
                        space,
                        version_when,
                        web_ui,
                        labels,
                        attachments,
                        id,
                        vanished: false,
                    },
                    inline,
                })
            }

            /// A v1 attachment (inline, or a Data Center C5 item).
            pub(in crate::adapters::confluence) fn attachment(
                attachment: types::Attachment,
            ) -> Result<AttachmentMeta, Missing> {
                let id = attachment.id;
                let extensions = required(attachment.extensions, &id, "extensions")?;
                Ok(AttachmentMeta {
                    file_size: file_size(extensions.file_size, &id)?,
                    media_type: extensions.media_type,
                    title: attachment.title,
                    version_when: attachment.version.and_then(|v| v.when),
                    download_path: attachment.links.download,
                    id,
                })
            }

            /// A body-fetch result (C3 or the batched fetch). Labels are
            /// optional here: discovery already has them.
            pub(in crate::adapters::confluence) fn body(content: types::Content) -> PageBody {
                PageBody {
                    storage: content
                        .body
                        .and_then(|b| b.storage)
                        .map(|s| s.value)
                        .unwrap_or_default(),
                    labels: content
                        .metadata
                        .and_then(|m| m.labels)
                        .map(|l| l.results.into_iter().map(|l| l.name).collect())
                        .unwrap_or_default(),
                    version_when: content.version.and_then(|v| v.when),
                    id: content.id,
                }
            }
        }
    };
}

v1_mapping!(confluence_cloud);
v1_mapping!(confluence_dc);

/// A Cloud v2 attachment (C4) in the v1 shape (§5.4).
pub(super) fn attachment_v2(
    attachment: crate::adapters::generated::confluence_cloud::types::AttachmentV2,
) -> Result<AttachmentMeta, Missing> {
    let id = attachment.id;
    Ok(AttachmentMeta {
        file_size: file_size(attachment.file_size, &id)?,
        media_type: attachment.media_type,
        title: attachment.title,
        version_when: attachment.version.and_then(|v| v.created_at),
        download_path: attachment.download_link,
        id,
    })
}

/// Keeps the first attachment of each id (ours, §5.5).
pub(super) fn dedupe_attachments(attachments: &mut Vec<AttachmentMeta>) {
    let mut seen = std::collections::HashSet::new();
    attachments.retain(|a| seen.insert(a.id.clone()));
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::adapters::generated;

    fn page(extra: serde_json::Value) -> serde_json::Value {
        let mut page = json!({
            "id": "42", "type": "page", "title": "T",
            "space": {"id": 98304, "key": "SP", "name": "Space"},
            "version": {"when": "2026-05-01T10:00:00.000Z"},
            "_links": {"webui": "/x"},
            "metadata": {"labels": {"results": [{"name": "ai-ingest"}]}},
        });
        for (k, v) in extra.as_object().unwrap() {
            page[k] = v.clone();
        }
        page
    }

    #[test]
    fn numeric_space_ids_become_decimal_strings_and_unknown_types_survive() {
        let content: generated::confluence_dc::types::Content =
            serde_json::from_value(page(json!({"type": "smart-link"}))).unwrap();
        let listed = confluence_dc::listed(content, true).unwrap();
        assert_eq!(listed.content.space.id, "98304");
        assert_eq!(
            listed.content.content_type,
            ContentType::Other("smart-link".into())
        );
        assert_eq!(listed.content.labels, ["ai-ingest"]);
    }

    #[test]
    fn capped_inline_attachments_are_detected_and_dropped_when_disabled() {
        let children = json!({"children": {"attachment": {
            "results": [{"id": "att1", "title": "a.pdf",
                "extensions": {"mediaType": "application/pdf", "fileSize": 3},
                "_links": {"download": "/download/attachments/42/a.pdf"}}],
            "size": 25, "limit": 25, "_links": {"next": "/rest/api/content/42/child/attachment?start=25"}}}});
        let content: generated::confluence_cloud::types::Content =
            serde_json::from_value(page(children)).unwrap();
        let listed = confluence_cloud::listed(content.clone(), true).unwrap();
        assert!(listed.inline.capped);
        assert_eq!(listed.content.attachments[0].file_size, 3);
        assert_eq!(listed.content.attachments[0].version_when, None);
        let without = confluence_cloud::listed(content, false).unwrap();
        assert!(without.content.attachments.is_empty());
        assert_eq!(without.inline, InlineAttachments::default());
    }

    #[test]
    fn a_missing_required_field_names_the_content_and_the_field() {
        let content: generated::confluence_dc::types::Content = serde_json::from_value(json!({
            "id": "7", "type": "page", "title": "T", "space": {"id": 1, "key": "SP", "name": "S"},
            "_links": {"webui": "/x"}, "metadata": {"labels": {"results": []}},
        }))
        .unwrap();
        assert_eq!(
            confluence_dc::listed(content, true).unwrap_err(),
            "content 7 has no `version.when`"
        );
    }

    #[test]
    fn attachments_are_deduplicated_by_id_keeping_the_first() {
        let meta = |id: &str, title: &str| AttachmentMeta {
            id: id.into(),
            title: title.into(),
            media_type: "text/plain".into(),
            file_size: 1,
            version_when: None,
            download_path: String::new(),
        };
        let mut list = vec![meta("a", "1"), meta("b", "2"), meta("a", "3")];
        dedupe_attachments(&mut list);
        assert_eq!(list, [meta("a", "1"), meta("b", "2")]);
    }
}
