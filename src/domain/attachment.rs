//! Attachment rules (PROTOCOL §3.7, §9.3, §7.3): which attachments are
//! ingested, and with what settings.

use serde_json::{Value, json};

/// One mebibyte, the unit of `maxFileSizeMb`.
pub const MIB: u64 = 1024 * 1024;

/// The media type compared with the allow-list: the part before `;`,
/// trimmed, lower-cased.
pub fn normalize_media_type(raw: &str) -> String {
    raw.split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Why an attachment is not ingested.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachmentSkip {
    /// Its normalised type is not in `allowedMimeTypes`.
    TypeNotAllowed,
    /// Larger than `maxFileSizeMb` (equal is allowed).
    TooLarge,
    /// Zero bytes: skipped before registering (§7.3).
    Empty,
}

impl AttachmentSkip {
    pub fn as_str(self) -> &'static str {
        match self {
            AttachmentSkip::TypeNotAllowed => "type_not_allowed",
            AttachmentSkip::TooLarge => "too_large",
            AttachmentSkip::Empty => "empty",
        }
    }
}

/// The allow-list and size cap of a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentRules {
    /// Lower-cased media types.
    pub allowed_mime_types: Vec<String>,
    pub max_file_size_bytes: u64,
}

impl AttachmentRules {
    /// Discovery filter (§9.3 step 6): size cap and allow-list. Zero-byte
    /// attachments pass here and are skipped at ingestion instead, as the
    /// reference does (they still take discovery capacity).
    pub fn admit(&self, media_type: &str, file_size: u64) -> Result<(), AttachmentSkip> {
        if file_size > self.max_file_size_bytes {
            return Err(AttachmentSkip::TooLarge);
        }
        let normalized = normalize_media_type(media_type);
        if !self.allowed_mime_types.contains(&normalized) {
            return Err(AttachmentSkip::TypeNotAllowed);
        }
        Ok(())
    }
}

/// Whether the attachment is an image (folded into its page when inlining
/// is on, §9.4).
pub fn is_image(media_type: &str) -> bool {
    normalize_media_type(media_type).starts_with("image/")
}

/// `ingestionConfig` of a standalone attachment: OCR for exact JPEG/PNG when
/// `imageOcr` is enabled, else none (§3.7).
pub fn ingestion_config(media_type: &str, image_ocr: bool) -> Option<Value> {
    let normalized = normalize_media_type(media_type);
    (image_ocr && (normalized == "image/jpeg" || normalized == "image/png"))
        .then(|| json!({"jpgReadMode": "DOC_INTELLIGENCE_DEFAULT"}))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn rules() -> AttachmentRules {
        AttachmentRules {
            allowed_mime_types: vec!["application/pdf".into(), "image/png".into()],
            max_file_size_bytes: MIB,
        }
    }

    #[test]
    fn allow_list_and_size_cap() {
        let rules = rules();
        assert_eq!(rules.admit("application/pdf", 10), Ok(()));
        assert_eq!(rules.admit("Application/PDF; charset=binary", 10), Ok(()));
        assert_eq!(rules.admit("application/pdf", MIB), Ok(()));
        assert_eq!(
            rules.admit("application/pdf", MIB + 1),
            Err(AttachmentSkip::TooLarge)
        );
        assert_eq!(
            rules.admit("image/svg+xml", 10),
            Err(AttachmentSkip::TypeNotAllowed)
        );
        assert_eq!(rules.admit("application/pdf", 0), Ok(()));
    }

    #[test]
    fn ocr_only_for_exact_jpeg_and_png() {
        assert_eq!(
            ingestion_config("image/png", true),
            Some(json!({"jpgReadMode": "DOC_INTELLIGENCE_DEFAULT"}))
        );
        assert!(ingestion_config("IMAGE/JPEG; q=1", true).is_some());
        assert_eq!(ingestion_config("image/gif", true), None);
        assert_eq!(ingestion_config("image/png", false), None);
        assert!(is_image("image/svg+xml"));
        assert!(!is_image("application/pdf"));
    }

    proptest! {
        #[test]
        fn normalisation_is_idempotent(raw in "[ A-Za-z/+.;=-]{0,30}") {
            let once = normalize_media_type(&raw);
            prop_assert_eq!(normalize_media_type(&once), once.clone());
            prop_assert!(!once.contains(';'));
        }
    }
}
