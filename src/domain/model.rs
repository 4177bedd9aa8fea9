//! What the sync knows about Confluence content: metadata only. Bodies and
//! attachment bytes never live in these types; they stream through the ports.

use std::fmt;

/// Confluence flavour of a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InstanceType {
    Cloud,
    DataCenter,
}

impl InstanceType {
    /// The spelling used in tenant files and ownership marks
    /// (`confc:{instanceType}:{instanceId}`).
    pub fn as_str(self) -> &'static str {
        match self {
            InstanceType::Cloud => "cloud",
            InstanceType::DataCenter => "data-center",
        }
    }

    /// `sourceKind` sent to Unique (PROTOCOL §7.1, §7.3).
    pub fn source_kind(self) -> &'static str {
        match self {
            InstanceType::Cloud => "ATLASSIAN_CONFLUENCE_CLOUD",
            InstanceType::DataCenter => "ATLASSIAN_CONFLUENCE_ONPREM",
        }
    }
}

impl fmt::Display for InstanceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Confluence content types (PROTOCOL §5.6). Unknown values are kept as
/// [`ContentType::Other`] and skipped like `database` (ours, §13 #2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ContentType {
    Page,
    BlogPost,
    Folder,
    Database,
    Whiteboard,
    Embed,
    Other(String),
}

impl ContentType {
    pub fn parse(value: &str) -> ContentType {
        match value {
            "page" => ContentType::Page,
            "blogpost" => ContentType::BlogPost,
            "folder" => ContentType::Folder,
            "database" => ContentType::Database,
            "whiteboard" => ContentType::Whiteboard,
            "embed" => ContentType::Embed,
            other => ContentType::Other(other.to_owned()),
        }
    }

    /// Pages and blog posts are ingested; every other type is only used as
    /// an ancestor root for descendant discovery (folders included, §13 #3).
    pub fn is_ingested(&self) -> bool {
        matches!(self, ContentType::Page | ContentType::BlogPost)
    }
}

/// The space a piece of content belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Space {
    /// Decimal string (Data Center sends a number; adapters convert).
    pub id: String,
    pub key: String,
    pub name: String,
}

/// One attachment as discovery reports it (PROTOCOL §5.4, both v1 and v2
/// shapes map to this).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentMeta {
    pub id: String,
    pub title: String,
    /// Raw media type as Confluence reports it (may carry `; charset=…`).
    pub media_type: String,
    pub file_size: u64,
    /// `version.when` (v1) or `version.createdAt` (v2), verbatim.
    pub version_when: Option<String>,
    /// Data Center `_links.download` (path plus query, relative to the base
    /// URL); Cloud's `downloadLink`. Cloud downloads do not use it (§5.2 C7).
    pub download_path: String,
}

/// A page, blog post or other content found by discovery, with its
/// complete attachment list (inline ones plus completion, §5.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveredContent {
    pub id: String,
    pub title: String,
    pub content_type: ContentType,
    pub space: Space,
    /// `version.when`, verbatim.
    pub version_when: String,
    /// `_links.webui` (relative; the Cloud page URL is built from it).
    pub web_ui: String,
    /// Label names, in the order Confluence lists them.
    pub labels: Vec<String>,
    /// Empty when attachments are disabled for the tenant.
    pub attachments: Vec<AttachmentMeta>,
    /// The page was deleted while discovery listed it: its attachment
    /// listing answered 404/410 (ours, §9.3 step 7). Discovery skips it
    /// with a reason instead of failing the cycle.
    pub vanished: bool,
}

/// The body of a page (C3 or the batched body fetch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageBody {
    pub id: String,
    /// `body.storage.value`; empty when Confluence has none.
    pub storage: String,
    /// Labels as of the body fetch (used for `confluenceLabels` metadata).
    pub labels: Vec<String>,
    /// `version.when` of the body, when the answer carried one: what the
    /// repair journal records as uploaded, and how a body older than
    /// discovery's version (a lagging search index) is recognised.
    pub version_when: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_content_types_are_kept_and_not_ingested() {
        assert_eq!(ContentType::parse("page"), ContentType::Page);
        assert_eq!(ContentType::parse("blogpost"), ContentType::BlogPost);
        let other = ContentType::parse("smart-link");
        assert_eq!(other, ContentType::Other("smart-link".into()));
        assert!(!other.is_ingested());
        assert!(!ContentType::Folder.is_ingested());
        assert!(ContentType::BlogPost.is_ingested());
    }

    #[test]
    fn instance_types_name_their_source_kind() {
        assert_eq!(InstanceType::Cloud.as_str(), "cloud");
        assert_eq!(InstanceType::DataCenter.to_string(), "data-center");
        assert_eq!(
            InstanceType::DataCenter.source_kind(),
            "ATLASSIAN_CONFLUENCE_ONPREM"
        );
    }
}
