//! Identifiers shared with Unique (PROTOCOL §8.1): partial keys, content
//! keys, and the external ids that mark scopes as ours. They must stay
//! byte-identical to the TypeScript connector's, or already-ingested content
//! would look deleted.

use std::fmt;

use super::model::InstanceType;

/// Prefix of every external id the connector writes.
const MARK_PREFIX: &str = "confc:";

/// Which content-key layout a tenant uses (`ingestion.useV1KeyFormat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyFormat {
    /// `{tenantName}/{spaceId}_{spaceKey}`.
    #[default]
    Current,
    /// `{spaceId}_{spaceKey}`.
    V1,
}

/// The per-space key prefix used with file-diff and in every content key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartialKey(String);

impl PartialKey {
    pub fn new(format: KeyFormat, tenant: &str, space_id: &str, space_key: &str) -> Self {
        PartialKey(match format {
            KeyFormat::Current => format!("{tenant}/{space_id}_{space_key}"),
            KeyFormat::V1 => format!("{space_id}_{space_key}"),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The full content key of an item of this space.
    pub fn content_key(&self, item: &ItemKey) -> String {
        format!("{}/{item}", self.0)
    }

    /// The prefix every content key of this space starts with (with the
    /// trailing `/`, so `…/1_A` never matches `…/1_AB`).
    pub fn key_prefix(&self) -> String {
        format!("{}/", self.0)
    }
}

impl fmt::Display for PartialKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The per-item (relative) key below a partial key, as file-diff uses it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ItemKey {
    /// `{pageId}`
    Page { page_id: String },
    /// `{pageId}::{attachmentId}`
    Attachment {
        page_id: String,
        attachment_id: String,
    },
}

impl ItemKey {
    pub fn page(page_id: impl Into<String>) -> Self {
        ItemKey::Page {
            page_id: page_id.into(),
        }
    }

    pub fn attachment(page_id: impl Into<String>, attachment_id: impl Into<String>) -> Self {
        ItemKey::Attachment {
            page_id: page_id.into(),
            attachment_id: attachment_id.into(),
        }
    }

    /// Parses a relative key as file-diff returns it. Keys are not escaped,
    /// so the first `::` separates page and attachment (page ids never
    /// contain `:`).
    pub fn parse(relative: &str) -> Option<ItemKey> {
        if relative.is_empty() {
            return None;
        }
        match relative.split_once("::") {
            None => Some(ItemKey::page(relative)),
            Some((page, attachment)) if !page.is_empty() && !attachment.is_empty() => {
                Some(ItemKey::attachment(page, attachment))
            }
            Some(_) => None,
        }
    }

    pub fn page_id(&self) -> &str {
        match self {
            ItemKey::Page { page_id } | ItemKey::Attachment { page_id, .. } => page_id,
        }
    }
}

impl fmt::Display for ItemKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ItemKey::Page { page_id } => f.write_str(page_id),
            ItemKey::Attachment {
                page_id,
                attachment_id,
            } => write!(f, "{page_id}::{attachment_id}"),
        }
    }
}

/// `confc:{tenantName}:{spaceId}:{spaceKey}`: marks a space scope.
/// Independent of the key format.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SpaceScopeId {
    pub tenant: String,
    pub space_id: String,
    pub space_key: String,
}

impl SpaceScopeId {
    /// Parses an external id; `None` for anything that is not exactly
    /// `confc:` followed by three `:`-separated parts (a root mark has two
    /// and is never mistaken for a space).
    pub fn parse(external_id: &str) -> Option<SpaceScopeId> {
        let rest = external_id.strip_prefix(MARK_PREFIX)?;
        let mut parts = rest.split(':');
        let (tenant, space_id, space_key) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        Some(SpaceScopeId {
            tenant: tenant.to_owned(),
            space_id: space_id.to_owned(),
            space_key: space_key.to_owned(),
        })
    }
}

impl fmt::Display for SpaceScopeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{MARK_PREFIX}{}:{}:{}",
            self.tenant, self.space_id, self.space_key
        )
    }
}

/// `confc:{instanceType}:{instanceId}`: the ownership mark of a root scope.
pub fn root_mark(instance_type: InstanceType, instance_id: &str) -> String {
    format!("{MARK_PREFIX}{instance_type}:{instance_id}")
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn keys_have_the_reference_shapes() {
        let current = PartialKey::new(KeyFormat::Current, "tenant1", "space-1", "SP");
        assert_eq!(current.as_str(), "tenant1/space-1_SP");
        assert_eq!(
            current.content_key(&ItemKey::page("p1")),
            "tenant1/space-1_SP/p1"
        );
        assert_eq!(
            current.content_key(&ItemKey::attachment("p1", "att-1")),
            "tenant1/space-1_SP/p1::att-1"
        );
        assert_eq!(current.key_prefix(), "tenant1/space-1_SP/");
        let v1 = PartialKey::new(KeyFormat::V1, "acme", "98305", "ENG");
        assert_eq!(v1.content_key(&ItemKey::page("7")), "98305_ENG/7");
        let space = SpaceScopeId {
            tenant: "tenant1".into(),
            space_id: "space-1".into(),
            space_key: "SP".into(),
        };
        assert_eq!(space.to_string(), "confc:tenant1:space-1:SP");
        assert_eq!(
            root_mark(InstanceType::Cloud, "cloud-1"),
            "confc:cloud:cloud-1"
        );
        assert_eq!(
            root_mark(InstanceType::DataCenter, "B1C2"),
            "confc:data-center:B1C2"
        );
    }

    #[test]
    fn only_three_part_marks_are_space_scopes() {
        assert_eq!(SpaceScopeId::parse("confc:cloud:cloud-1"), None);
        assert_eq!(SpaceScopeId::parse("confc:a:b:c:d"), None);
        assert_eq!(SpaceScopeId::parse("other:a:b:c"), None);
        assert_eq!(SpaceScopeId::parse(""), None);
        assert!(SpaceScopeId::parse("confc:t:1:SP").is_some());
    }

    #[test]
    fn malformed_relative_keys_are_rejected() {
        assert_eq!(ItemKey::parse(""), None);
        assert_eq!(ItemKey::parse("::att"), None);
        assert_eq!(ItemKey::parse("p1::"), None);
        assert_eq!(ItemKey::parse("p1"), Some(ItemKey::page("p1")));
    }

    fn id() -> impl Strategy<Value = String> {
        "[0-9A-Za-z_-]{1,12}"
    }

    proptest! {
        #[test]
        fn item_keys_parse_back_from_their_display(page in id(), attachment in proptest::option::of(id())) {
            let key = match attachment {
                Some(attachment) => ItemKey::attachment(page, attachment),
                None => ItemKey::page(page),
            };
            prop_assert_eq!(ItemKey::parse(&key.to_string()), Some(key));
        }

        #[test]
        fn space_scope_ids_parse_back_from_their_display(
            tenant in "[a-z0-9]{1,8}(-[a-z0-9]{1,8}){0,2}",
            space_id in id(),
            space_key in "[A-Z0-9~]{1,10}",
        ) {
            let scope = SpaceScopeId { tenant, space_id, space_key };
            prop_assert_eq!(SpaceScopeId::parse(&scope.to_string()), Some(scope));
        }
    }
}
