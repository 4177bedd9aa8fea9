//! Serde mirror of a tenant file (PROTOCOL §3), the first of two layers.
//!
//! The structure (sections and key names) is typed, so that `serde_ignored`
//! can report every unknown key with its path (`ADR/0003`). The leaves are
//! kept as the YAML values the operator wrote: typing them here would make
//! serde stop at the first wrong type, while `validate` checks every leaf
//! and reports all problems of a file together, each with its field path.
//!
//! None of these types implements `Debug`: leaves may hold literal secrets.

use std::{fmt, marker::PhantomData};

use serde::{
    Deserialize, Deserializer,
    de::{self, MapAccess, SeqAccess, Visitor, value::MapAccessDeserializer},
};
use serde_yaml::Value;

/// A YAML value as written; `None` when the key is absent or `null`.
pub(super) type Leaf = Option<Value>;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct RawTenant {
    pub status: Leaf,
    pub confluence: Section<RawConfluence>,
    pub unique: Section<RawUnique>,
    pub processing: Section<RawProcessing>,
    pub ingestion: Section<RawIngestion>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct RawConfluence {
    pub instance_type: Leaf,
    pub base_url: Leaf,
    pub cloud_id: Leaf,
    pub api_gateway_url: Leaf,
    pub api_rate_limit_per_minute: Leaf,
    pub ingest_single_label: Leaf,
    pub ingest_all_label: Leaf,
    pub auth: Section<RawConfluenceAuth>,
}

/// Union of the fields of every `mode`; `validate` picks the ones the mode uses.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct RawConfluenceAuth {
    pub mode: Leaf,
    pub client_id: Leaf,
    pub client_secret: Leaf,
    pub token: Leaf,
    pub username: Leaf,
    pub password: Leaf,
}

/// Union of the fields of both `serviceAuthMode`s.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct RawUnique {
    pub service_auth_mode: Leaf,
    pub ingestion_service_base_url: Leaf,
    pub scope_management_service_base_url: Leaf,
    pub api_rate_limit_per_minute: Leaf,
    pub ingestion_config: Leaf,
    pub service_extra_headers: Leaf,
    pub zitadel_oauth_token_url: Leaf,
    pub zitadel_project_id: Leaf,
    pub zitadel_client_id: Leaf,
    pub zitadel_client_secret: Leaf,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct RawProcessing {
    pub concurrency: Leaf,
    pub scan_interval_cron: Leaf,
    pub max_items_to_scan: Leaf,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct RawIngestion {
    pub ingestion_mode: Leaf,
    pub scope_id: Leaf,
    pub store_internally: Leaf,
    pub use_v1_key_format: Leaf,
    pub deletion_hold: Leaf,
    pub attachments: Section<RawAttachments>,
    pub page_ingestion_config: Leaf,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct RawAttachments {
    pub mode: Leaf,
    pub allowed_mime_types: Leaf,
    pub max_file_size_mb: Leaf,
    pub image_ocr: Leaf,
}

/// A nested mapping of the tenant file.
///
/// Anything other than a mapping is recorded instead of failing, so that the
/// validator reports it once at the section's path and still checks the rest
/// of the file. A mapping is handed to `T`'s derived `Deserialize` through
/// the same (`serde_ignored`-wrapped) map access, which keeps unknown-key
/// tracking working below this point.
#[derive(Default)]
pub(super) enum Section<T> {
    /// Absent, or YAML `null` (which the reference chart renders for an
    /// empty `processing` block, PROTOCOL §14.4 item 6).
    #[default]
    Absent,
    Present(T),
    /// Holds a description of what was found, e.g. "a list".
    NotAMapping(&'static str),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Section<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SectionVisitor(PhantomData))
    }
}

struct SectionVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for SectionVisitor<T> {
    type Value = Section<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map)).map(Section::Present)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Section::Absent)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Section::Absent)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Section::NotAMapping("a boolean"))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Section::NotAMapping("a number"))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Section::NotAMapping("a number"))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Section::NotAMapping("a number"))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Section::NotAMapping("a string"))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        // The elements must be consumed, and as `Value`s rather than
        // `IgnoredAny`: the latter would report each one as an unknown key.
        while seq.next_element::<Value>()?.is_some() {}
        Ok(Section::NotAMapping("a list"))
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<Self::Value, A::Error> {
        // serde_yaml presents a tagged value (`!tag ...`) as an enum.
        let (_, variant): (Value, _) = data.variant()?;
        de::VariantAccess::newtype_variant::<Value>(variant)?;
        Ok(Section::NotAMapping("a tagged value"))
    }
}

/// Describes a YAML value's kind for messages, without quoting it (it may be
/// a secret).
pub(super) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> (RawTenant, Vec<String>) {
        let value: Value = serde_yaml::from_str(yaml).unwrap();
        let mut unknown = Vec::new();
        let raw = serde_ignored::deserialize(value, |path| unknown.push(path.to_string())).unwrap();
        (raw, unknown)
    }

    #[test]
    fn unknown_keys_are_reported_with_their_path_at_every_level() {
        let (_, unknown) = parse(
            "extra: 1\n\
             confluence:\n  baseUrl: x\n  typo: 2\n  auth:\n    mode: pat\n    tokn: y\n\
             ingestion:\n  attachments:\n    sizeMb: 3\n",
        );
        assert_eq!(
            unknown,
            [
                "extra",
                "confluence.typo",
                "confluence.auth.tokn",
                "ingestion.attachments.sizeMb"
            ]
        );
    }

    #[test]
    fn free_form_maps_are_not_reported_as_unknown() {
        let (raw, unknown) = parse(
            "unique:\n  serviceExtraHeaders: {x-company-id: c, x-user-id: u}\n  ingestionConfig: {a: 1}\n\
             ingestion:\n  pageIngestionConfig: {htmlConfig: {x: 1}}\n",
        );
        assert!(unknown.is_empty(), "{unknown:?}");
        assert!(matches!(raw.unique, Section::Present(_)));
    }

    #[test]
    fn a_section_of_the_wrong_kind_is_recorded_not_fatal() {
        let (raw, unknown) =
            parse("confluence: [a, b]\nunique: text\nprocessing:\ningestion: !tag {a: 1}\n");
        assert!(matches!(raw.confluence, Section::NotAMapping("a list")));
        assert!(matches!(raw.unique, Section::NotAMapping("a string")));
        assert!(matches!(raw.processing, Section::Absent));
        assert!(matches!(
            raw.ingestion,
            Section::NotAMapping("a tagged value")
        ));
        assert!(unknown.is_empty(), "{unknown:?}");
    }
}
