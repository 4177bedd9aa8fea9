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

/// Whether `key` is a copy of an item of space `{space_id}_{space_key}`
/// that the connector wrote under *another* partial key than `current`: the
/// other key format (`{spaceId}_{spaceKey}/…` versus
/// `{tenant}/{spaceId}_{spaceKey}/…`) or another tenant name (a renamed
/// tenant file). Returns the copy's item key.
///
/// Anything else, including content that does not look like a connector
/// key at all (a file someone put into the space's folder by hand), is
/// `None` and never treated as a copy (ours, §3.7).
pub fn old_copy_item(
    key: &str,
    current: &PartialKey,
    space_id: &str,
    space_key: &str,
) -> Option<ItemKey> {
    if key.starts_with(&current.key_prefix()) {
        return None;
    }
    let (partial, item) = key.rsplit_once('/')?;
    let item = ItemKey::parse(item)?;
    let space = format!("{space_id}_{space_key}");
    let tenant = match partial.strip_suffix(&space) {
        Some("") => None,
        Some(tenant) => Some(tenant.strip_suffix('/')?),
        None => return None,
    };
    let tenant_is_valid = tenant.is_none_or(|tenant| {
        !tenant.is_empty() && !tenant.contains(['/', ':']) && tenant.is_ascii()
    });
    tenant_is_valid.then_some(item)
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

    #[test]
    fn old_copies_are_keys_of_the_same_space_under_another_prefix() {
        let current = PartialKey::new(KeyFormat::Current, "acme", "98305", "ENG");
        let copy = |key| old_copy_item(key, &current, "98305", "ENG");
        // The v1 copy, and the copy of a renamed tenant.
        assert_eq!(copy("98305_ENG/7"), Some(ItemKey::page("7")));
        assert_eq!(
            copy("old-acme/98305_ENG/7::att-1"),
            Some(ItemKey::attachment("7", "att-1"))
        );
        // Current keys, other spaces and foreign files are not copies.
        assert_eq!(copy("acme/98305_ENG/7"), None);
        assert_eq!(copy("acme/98306_ENG/7"), None);
        assert_eq!(copy("198305_ENG/7"), None);
        assert_eq!(copy("a/b/98305_ENG/7"), None);
        assert_eq!(copy("/98305_ENG/7"), None);
        assert_eq!(copy("98305_ENG/"), None);
        assert_eq!(copy("report.pdf"), None);
        let v1 = PartialKey::new(KeyFormat::V1, "acme", "98305", "ENG");
        assert_eq!(
            old_copy_item("acme/98305_ENG/7", &v1, "98305", "ENG"),
            Some(ItemKey::page("7"))
        );
        assert_eq!(old_copy_item("98305_ENG/7", &v1, "98305", "ENG"), None);
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
        fn a_key_under_one_format_is_an_old_copy_for_the_other(
            tenant in "[a-z0-9]{1,8}(-[a-z0-9]{1,8}){0,2}",
            space_id in "[0-9]{1,6}",
            space_key in "[A-Z0-9]{1,6}",
            page in id(),
        ) {
            let current = PartialKey::new(KeyFormat::Current, &tenant, &space_id, &space_key);
            let v1 = PartialKey::new(KeyFormat::V1, &tenant, &space_id, &space_key);
            let item = ItemKey::page(page);
            for (written, now) in [(&current, &v1), (&v1, &current)] {
                let key = written.content_key(&item);
                prop_assert_eq!(old_copy_item(&key, now, &space_id, &space_key), Some(item.clone()));
                prop_assert_eq!(old_copy_item(&key, written, &space_id, &space_key), None);
            }
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
