//! Web URLs sent to Unique as `url` (PROTOCOL §5.1). They are part of the
//! file-diff input, so they must match the reference exactly.

use super::model::InstanceType;

/// JavaScript `encodeURIComponent`: unreserved `A-Z a-z 0-9 - _ . ! ~ * ' ( )`
/// kept, every other UTF-8 byte as `%XX`.
pub fn encode_uri_component(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The page's web URL: Cloud `{baseUrl}/wiki{webui}`, Data Center
/// `{baseUrl}/pages/viewpage.action?pageId={id}`.
pub fn page_url(instance: InstanceType, base_url: &str, page_id: &str, web_ui: &str) -> String {
    match instance {
        InstanceType::Cloud => format!("{base_url}/wiki{web_ui}"),
        InstanceType::DataCenter => format!("{base_url}/pages/viewpage.action?pageId={page_id}"),
    }
}

/// The attachment's web URL (preview in the page's attachment list). Cloud
/// drops the `att` prefix of the attachment id in the preview path.
pub fn attachment_url(
    instance: InstanceType,
    base_url: &str,
    page_id: &str,
    attachment_id: &str,
    attachment_title: &str,
) -> String {
    let (prefix, id) = match instance {
        InstanceType::Cloud => (
            "/wiki",
            attachment_id.strip_prefix("att").unwrap_or(attachment_id),
        ),
        InstanceType::DataCenter => ("", attachment_id),
    };
    let preview = encode_uri_component(&format!("/{page_id}/{id}/{attachment_title}"));
    format!(
        "{base_url}{prefix}/pages/viewpageattachments.action?pageId={page_id}&preview={preview}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_javascript() {
        assert_eq!(
            encode_uri_component("a b/c?d=é!*'()~"),
            "a%20b%2Fc%3Fd%3D%C3%A9!*'()~"
        );
    }

    #[test]
    fn page_and_attachment_urls_per_flavour() {
        assert_eq!(
            page_url(
                InstanceType::Cloud,
                "https://t.atlassian.net",
                "1",
                "/spaces/SP/pages/1/T"
            ),
            "https://t.atlassian.net/wiki/spaces/SP/pages/1/T"
        );
        assert_eq!(
            page_url(
                InstanceType::DataCenter,
                "https://c.corp/confluence",
                "42",
                "/display/SP/T"
            ),
            "https://c.corp/confluence/pages/viewpage.action?pageId=42"
        );
        assert_eq!(
            attachment_url(
                InstanceType::Cloud,
                "https://t.atlassian.net",
                "1",
                "att99",
                "a b.pdf"
            ),
            "https://t.atlassian.net/wiki/pages/viewpageattachments.action?pageId=1&preview=%2F1%2F99%2Fa%20b.pdf"
        );
        assert_eq!(
            attachment_url(
                InstanceType::DataCenter,
                "https://c.corp",
                "1",
                "att99",
                "r.pdf"
            ),
            "https://c.corp/pages/viewpageattachments.action?pageId=1&preview=%2F1%2Fatt99%2Fr.pdf"
        );
    }
}
