//! Turning what Confluence returned into the items a cycle works on
//! (PROTOCOL §9.3 steps 2–6, §9.4 steps 1–3): ingest-all roots, merging and
//! de-duplication, content-type and `maxItemsToScan` cuts, attachment
//! filters, and grouping by space.

use std::collections::{HashMap, HashSet};

use super::{
    attachment::{self, AttachmentRules},
    keys::ItemKey,
    model::{AttachmentMeta, ContentType, DiscoveredContent, Space},
};

/// A page (or blog post) the cycle tracks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageItem {
    pub id: String,
    pub title: String,
    pub space: Space,
    pub version_when: String,
    pub web_ui: String,
    pub labels: Vec<String>,
}

/// An attachment the cycle tracks, with its owning page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentItem {
    pub page_id: String,
    pub space: Space,
    pub meta: AttachmentMeta,
    /// Its own version, else its page's (§5.7).
    pub version_when: String,
}

/// Why discovered content was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiscoverySkip {
    /// database, whiteboard, embed, folder, or a type we do not know.
    ContentType { id: String, content_type: String },
    /// Deleted while discovery listed it (its attachment listing answered
    /// 404/410): neither the page nor its attachments are tracked.
    Vanished { id: String },
    Attachment {
        page_id: String,
        attachment_id: String,
        reason: attachment::AttachmentSkip,
    },
}

/// The tenant settings discovery depends on.
#[derive(Debug, Clone)]
pub struct DiscoveryRules {
    pub ingest_all_label: String,
    /// `maxItemsToScan`; `None` = unlimited.
    pub max_items: Option<usize>,
    /// `None` when attachments are disabled.
    pub attachments: Option<AttachmentRules>,
}

/// Accepted items, in discovery order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Discovery {
    pub pages: Vec<PageItem>,
    pub attachments: Vec<AttachmentItem>,
    pub skipped: Vec<DiscoverySkip>,
    /// Pages and attachments left out because `maxItemsToScan` was reached.
    pub cut_by_capacity: usize,
}

/// Whether a content id is safe to put into CQL (`ancestor IN (…)`, `id in
/// (…)`) unquoted (ours, §5.2): Confluence ids are numeric strings.
pub fn is_cql_safe_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Ids of labelled content carrying the ingest-all label, any content type
/// (a labelled database still roots a subtree, §5.6). Ids not safe for CQL
/// are left out; the caller logs them.
pub fn ingest_all_roots(labeled: &[DiscoveredContent], ingest_all_label: &str) -> Vec<String> {
    labeled
        .iter()
        .filter(|content| content.labels.iter().any(|label| label == ingest_all_label))
        .filter(|content| is_cql_safe_id(&content.id))
        .map(|content| content.id.clone())
        .collect()
}

/// Merges labelled content and descendants (first occurrence of an id
/// wins, labelled content first) and applies the cuts of §9.3.
pub fn select(
    labeled: Vec<DiscoveredContent>,
    descendants: Vec<DiscoveredContent>,
    rules: &DiscoveryRules,
) -> Discovery {
    let mut seen = HashSet::new();
    let mut discovery = Discovery::default();
    let mut accepted = Vec::new();
    for content in labeled.into_iter().chain(descendants) {
        if !seen.insert(content.id.clone()) {
            continue;
        }
        if content.vanished {
            discovery
                .skipped
                .push(DiscoverySkip::Vanished { id: content.id });
            continue;
        }
        if !content.content_type.is_ingested() {
            discovery.skipped.push(DiscoverySkip::ContentType {
                content_type: content_type_name(&content.content_type),
                id: content.id,
            });
            continue;
        }
        if rules.max_items.is_some_and(|max| accepted.len() >= max) {
            discovery.cut_by_capacity += 1 + content.attachments.len();
            continue;
        }
        accepted.push(content);
    }

    let mut capacity = rules.max_items.map(|max| max - accepted.len());
    for content in accepted {
        if let Some(rules) = &rules.attachments {
            for meta in &content.attachments {
                if capacity == Some(0) {
                    discovery.cut_by_capacity += 1;
                    continue;
                }
                if let Err(reason) = rules.admit(&meta.media_type, meta.file_size) {
                    discovery.skipped.push(DiscoverySkip::Attachment {
                        page_id: content.id.clone(),
                        attachment_id: meta.id.clone(),
                        reason,
                    });
                    continue;
                }
                capacity = capacity.map(|c| c - 1);
                discovery.attachments.push(AttachmentItem {
                    page_id: content.id.clone(),
                    space: content.space.clone(),
                    version_when: meta
                        .version_when
                        .clone()
                        .unwrap_or_else(|| content.version_when.clone()),
                    meta: meta.clone(),
                });
            }
        }
        discovery.pages.push(PageItem {
            id: content.id,
            title: content.title,
            space: content.space,
            version_when: content.version_when,
            web_ui: content.web_ui,
            labels: content.labels,
        });
    }
    discovery
}

fn content_type_name(content_type: &ContentType) -> String {
    match content_type {
        ContentType::Page => "page",
        ContentType::BlogPost => "blogpost",
        ContentType::Folder => "folder",
        ContentType::Database => "database",
        ContentType::Whiteboard => "whiteboard",
        ContentType::Embed => "embed",
        ContentType::Other(other) => other,
    }
    .to_owned()
}

/// The items of one space, in discovery order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpaceGroup<'a> {
    /// Id, key and name of the space as first seen (page, else attachment).
    pub space: Space,
    pub pages: Vec<&'a PageItem>,
    pub attachments: Vec<&'a AttachmentItem>,
}

impl SpaceGroup<'_> {
    /// Each item's relative key with the version it is diffed and repaired
    /// by (its own `version.when`), pages first, in discovery order: the
    /// order the file-diff is submitted in.
    pub fn item_versions(&self) -> impl Iterator<Item = (ItemKey, &str)> {
        let pages = self
            .pages
            .iter()
            .map(|page| (ItemKey::page(&page.id), page.version_when.as_str()));
        let attachments = self.attachments.iter().map(|item| {
            (
                ItemKey::attachment(&item.page_id, &item.meta.id),
                item.version_when.as_str(),
            )
        });
        pages.chain(attachments)
    }
}

/// Groups pages and the tracked attachments by space key, in first-seen
/// order (§9.4). With image inlining on, image attachments are folded into
/// their pages and not tracked on their own.
pub fn group_by_space(discovery: &Discovery, inline_images: bool) -> Vec<SpaceGroup<'_>> {
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut groups: Vec<SpaceGroup<'_>> = Vec::new();
    for page in &discovery.pages {
        let i = group_index(&mut index, &mut groups, &page.space);
        groups[i].pages.push(page);
    }
    for item in &discovery.attachments {
        if inline_images && attachment::is_image(&item.meta.media_type) {
            continue;
        }
        let i = group_index(&mut index, &mut groups, &item.space);
        groups[i].attachments.push(item);
    }
    groups
}

fn group_index<'a>(
    index: &mut HashMap<&'a str, usize>,
    groups: &mut Vec<SpaceGroup<'a>>,
    space: &'a Space,
) -> usize {
    *index.entry(space.key.as_str()).or_insert_with(|| {
        groups.push(SpaceGroup {
            space: space.clone(),
            pages: Vec::new(),
            attachments: Vec::new(),
        });
        groups.len() - 1
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::domain::attachment::{AttachmentSkip, MIB};

    fn space(key: &str) -> Space {
        Space {
            id: format!("id-{key}"),
            key: key.into(),
            name: format!("Space {key}"),
        }
    }

    fn content(id: &str, kind: &str, space_key: &str, labels: &[&str]) -> DiscoveredContent {
        DiscoveredContent {
            id: id.into(),
            title: format!("Title {id}"),
            content_type: ContentType::parse(kind),
            space: space(space_key),
            version_when: "2026-05-01T10:00:00.000Z".into(),
            web_ui: format!("/pages/{id}"),
            labels: labels.iter().map(|l| l.to_string()).collect(),
            attachments: Vec::new(),
            vanished: false,
        }
    }

    fn attachment(id: &str, media_type: &str, size: u64, when: Option<&str>) -> AttachmentMeta {
        AttachmentMeta {
            id: id.into(),
            title: format!("{id}.bin"),
            media_type: media_type.into(),
            file_size: size,
            version_when: when.map(Into::into),
            download_path: format!("/download/{id}"),
        }
    }

    fn rules(max_items: Option<usize>) -> DiscoveryRules {
        DiscoveryRules {
            ingest_all_label: "ai-ingest-all".into(),
            max_items,
            attachments: Some(AttachmentRules {
                allowed_mime_types: vec!["application/pdf".into(), "image/png".into()],
                max_file_size_bytes: MIB,
            }),
        }
    }

    #[test]
    fn roots_include_skipped_types_but_not_unsafe_ids() {
        let labeled = vec![
            content("1", "page", "SP", &["ai-ingest-all"]),
            content("2", "database", "SP", &["ai-ingest-all"]),
            content("3", "page", "SP", &["ai-ingest"]),
            content("4\" OR x", "page", "SP", &["ai-ingest-all"]),
        ];
        assert_eq!(ingest_all_roots(&labeled, "ai-ingest-all"), ["1", "2"]);
    }

    #[test]
    fn labelled_content_wins_over_descendants_and_skipped_types_are_dropped() {
        let mut from_c1 = content("root", "page", "SP", &["ai-ingest-all"]);
        from_c1.title = "from C1".into();
        let mut from_c2 = content("root", "page", "SP", &[]);
        from_c2.title = "from C2".into();
        let labeled = vec![
            from_c1,
            content("db", "database", "SP", &["ai-ingest-all"]),
            content("f", "folder", "SP", &["ai-ingest"]),
        ];
        let descendants = vec![
            from_c2,
            content("child", "blogpost", "SP", &[]),
            content("w", "smart-link", "SP", &[]),
        ];
        let discovery = select(labeled, descendants, &rules(None));
        let ids: Vec<_> = discovery.pages.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, ["root", "child"]);
        assert_eq!(discovery.pages[0].title, "from C1");
        assert_eq!(discovery.skipped.len(), 3);
    }

    #[test]
    fn a_page_that_vanished_during_discovery_is_skipped_with_its_attachments() {
        let mut gone = content("gone", "page", "SP", &["ai-ingest"]);
        gone.attachments = vec![attachment("att1", "application/pdf", 10, None)];
        gone.vanished = true;
        let labeled = vec![content("p1", "page", "SP", &["ai-ingest"]), gone];
        // A descendant listing of the same id cannot bring it back.
        let descendants = vec![content("gone", "page", "SP", &[])];
        let discovery = select(labeled, descendants, &rules(Some(10)));
        let ids: Vec<_> = discovery.pages.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, ["p1"]);
        assert!(discovery.attachments.is_empty());
        assert_eq!(
            discovery.skipped,
            [DiscoverySkip::Vanished { id: "gone".into() }]
        );
        assert_eq!(discovery.cut_by_capacity, 0, "it takes no capacity");
    }

    #[test]
    fn attachments_are_filtered_and_inherit_the_page_version() {
        let mut page = content("p1", "page", "SP", &["ai-ingest"]);
        page.attachments = vec![
            attachment("att1", "application/pdf", 10, None),
            attachment("att2", "image/svg+xml", 10, None),
            attachment("att3", "application/pdf", 2 * MIB, None),
            attachment("att4", "image/png", 10, Some("2026-06-01T00:00:00.000Z")),
        ];
        let discovery = select(vec![page], vec![], &rules(None));
        let kept: Vec<_> = discovery
            .attachments
            .iter()
            .map(|a| (a.meta.id.as_str(), a.version_when.as_str()))
            .collect();
        assert_eq!(
            kept,
            [
                ("att1", "2026-05-01T10:00:00.000Z"),
                ("att4", "2026-06-01T00:00:00.000Z")
            ]
        );
        assert!(discovery.skipped.contains(&DiscoverySkip::Attachment {
            page_id: "p1".into(),
            attachment_id: "att3".into(),
            reason: AttachmentSkip::TooLarge
        }));
    }

    #[test]
    fn max_items_caps_pages_first_then_attachments() {
        let mut p1 = content("p1", "page", "SP", &["ai-ingest"]);
        p1.attachments = vec![
            attachment("a1", "application/pdf", 1, None),
            attachment("a2", "application/pdf", 1, None),
        ];
        let p2 = content("p2", "page", "SP", &["ai-ingest"]);
        let p3 = content("p3", "page", "SP", &["ai-ingest"]);
        let discovery = select(vec![p1, p2, p3], vec![], &rules(Some(3)));
        assert_eq!(discovery.pages.len(), 3);
        assert!(discovery.attachments.is_empty());
        assert_eq!(discovery.cut_by_capacity, 2);
        let mut p1 = content("p1", "page", "SP", &["ai-ingest"]);
        p1.attachments = vec![
            attachment("a1", "application/pdf", 1, None),
            attachment("a2", "application/pdf", 1, None),
        ];
        let discovery = select(vec![p1], vec![], &rules(Some(2)));
        assert_eq!(discovery.attachments.len(), 1);
    }

    #[test]
    fn grouping_keeps_first_seen_order_and_folds_images_when_inlining() {
        let mut a = content("a", "page", "ENG", &["ai-ingest"]);
        a.attachments = vec![
            attachment("img", "image/png", 1, None),
            attachment("doc", "application/pdf", 1, None),
        ];
        let b = content("b", "page", "HR", &["ai-ingest"]);
        let c = content("c", "page", "ENG", &["ai-ingest"]);
        let discovery = select(vec![a, b, c], vec![], &rules(None));
        let groups = group_by_space(&discovery, false);
        assert_eq!(
            groups
                .iter()
                .map(|g| g.space.key.as_str())
                .collect::<Vec<_>>(),
            ["ENG", "HR"]
        );
        assert_eq!(groups[0].pages.len(), 2);
        assert_eq!(groups[0].attachments.len(), 2);
        let inlined = group_by_space(&discovery, true);
        assert_eq!(inlined[0].attachments.len(), 1);
        assert_eq!(inlined[0].attachments[0].meta.id, "doc");
    }

    proptest! {
        #[test]
        fn every_accepted_page_is_unique_and_ingestible(
            ids in proptest::collection::vec(("[a-e]", prop_oneof!["page", "blogpost", "folder", "database"]), 0..20),
            max in proptest::option::of(0usize..10),
        ) {
            let all: Vec<_> = ids.iter().map(|(id, kind)| content(id, kind, "SP", &[])).collect();
            let (labeled, descendants) = all.split_at(all.len() / 2);
            let discovery = select(labeled.to_vec(), descendants.to_vec(), &rules(max));
            let unique: HashSet<_> = discovery.pages.iter().map(|p| &p.id).collect();
            prop_assert_eq!(unique.len(), discovery.pages.len());
            if let Some(max) = max {
                prop_assert!(discovery.pages.len() <= max);
            }
        }
    }
}
