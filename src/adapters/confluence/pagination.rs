//! Where the next page of a list is (PROTOCOL §5.1, §5.13). Pure URL
//! arithmetic; the flavours send the requests.
//!
//! * Cloud: `{api}` + `_links.next`, with `/wiki` inserted when a v1 link
//!   is relative to `_links.context` (ours, §13 #21).
//! * Data Center: `{baseUrl}` + `_links.next` with its `start` replaced by
//!   the request's own start plus the results received, because a capped
//!   server builds `next` from the limit it was asked for (§5.13).
//! * Both: a page with no results ends the list even if it has a `next`.

/// What to request after a page that returned `returned` results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Next {
    Url(String),
    Done,
}

/// Cloud: the page after `current` (absolute URL of the page just read).
///
/// # Errors
/// A `next` identical to the current request would loop forever.
pub(super) fn cloud(
    api: &str,
    current: &str,
    next: Option<&str>,
    returned: usize,
) -> Result<Next, String> {
    let Some(next) = next.filter(|n| !n.is_empty()) else {
        return Ok(Next::Done);
    };
    if returned == 0 {
        tracing::debug!(next, "empty result page with a next link; stopping");
        return Ok(Next::Done);
    }
    let url = if next.starts_with("/wiki/") {
        format!("{api}{next}")
    } else if next.starts_with('/') {
        format!("{api}/wiki{next}")
    } else {
        format!("{api}/wiki/{next}")
    };
    if url == current {
        return Err(format!(
            "`_links.next` repeats the current request {current}"
        ));
    }
    Ok(Next::Url(url))
}

/// Data Center: the page after `current`, which returned `returned`
/// results; the next offset is `start(current) + returned`.
pub(super) fn data_center(base: &str, current: &str, next: Option<&str>, returned: usize) -> Next {
    let Some(next) = next.filter(|n| !n.is_empty()) else {
        return Next::Done;
    };
    if returned == 0 {
        tracing::debug!(next, "empty result page with a next link; stopping");
        return Next::Done;
    }
    let start = start_of(current) + returned as u64;
    Next::Url(with_start(&format!("{base}{next}"), start))
}

/// The `start` query parameter of `url` (0 when absent or malformed).
pub(super) fn start_of(url: &str) -> u64 {
    query(url)
        .split('&')
        .find_map(|pair| pair.strip_prefix("start="))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// `url` with its `start` parameter set to `start` (appended if absent);
/// every other byte of the link is kept.
pub(super) fn with_start(url: &str, start: u64) -> String {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let mut pairs: Vec<String> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            if p.starts_with("start=") {
                format!("start={start}")
            } else {
                p.to_owned()
            }
        })
        .collect();
    if !pairs.iter().any(|p| p.starts_with("start=")) {
        pairs.push(format!("start={start}"));
    }
    format!("{path}?{}", pairs.join("&"))
}

fn query(url: &str) -> &str {
    url.split_once('?').map_or("", |(_, q)| q)
}

#[cfg(test)]
mod tests {
    use super::*;

    const API: &str = "https://gw/ex/confluence/c1";

    #[test]
    fn cloud_links_get_the_wiki_prefix_once() {
        let current = format!("{API}/wiki/rest/api/content/search?cql=x");
        assert_eq!(
            cloud(
                API,
                &current,
                Some("/wiki/rest/api/content/search?cursor=a"),
                5
            )
            .unwrap(),
            Next::Url(format!("{API}/wiki/rest/api/content/search?cursor=a"))
        );
        assert_eq!(
            cloud(API, &current, Some("/rest/api/content/search?cursor=a"), 5).unwrap(),
            Next::Url(format!("{API}/wiki/rest/api/content/search?cursor=a"))
        );
        assert_eq!(cloud(API, &current, None, 5).unwrap(), Next::Done);
        assert_eq!(cloud(API, &current, Some(""), 5).unwrap(), Next::Done);
    }

    #[test]
    fn an_empty_page_ends_the_list_and_a_repeated_link_is_an_error() {
        let current = format!("{API}/wiki/rest/api/content/search?cursor=a");
        assert_eq!(
            cloud(API, &current, Some("/wiki/x?cursor=b"), 0).unwrap(),
            Next::Done
        );
        assert!(
            cloud(
                API,
                &current,
                Some("/wiki/rest/api/content/search?cursor=a"),
                3
            )
            .is_err()
        );
        assert_eq!(
            data_center(
                "https://dc",
                "https://dc/x?start=0",
                Some("/x?start=100"),
                0
            ),
            Next::Done
        );
    }

    #[test]
    fn data_center_offsets_count_what_was_received() {
        let base = "https://dc/confluence";
        let current = format!("{base}/rest/api/content/search?cql=a&limit=100&start=0");
        // A capped server returned 25 and pointed at 100.
        assert_eq!(
            data_center(
                base,
                &current,
                Some("/rest/api/content/search?cql=a&limit=100&start=100"),
                25
            ),
            Next::Url(format!(
                "{base}/rest/api/content/search?cql=a&limit=100&start=25"
            ))
        );
        let second = format!("{base}/rest/api/content/search?cql=a&limit=100&start=25");
        assert_eq!(
            data_center(
                base,
                &second,
                Some("/rest/api/content/search?limit=100&cql=a"),
                25
            ),
            Next::Url(format!(
                "{base}/rest/api/content/search?limit=100&cql=a&start=50"
            ))
        );
    }

    #[test]
    fn start_parameters_are_read_and_replaced_without_touching_the_rest() {
        assert_eq!(start_of("/x?a=1&start=30&b=%2C"), 30);
        assert_eq!(start_of("/x?restart=5"), 0);
        assert_eq!(start_of("/x"), 0);
        assert_eq!(
            with_start("/x?a=%20&start=3&b=c", 9),
            "/x?a=%20&start=9&b=c"
        );
        assert_eq!(with_start("/x", 9), "/x?start=9");
    }
}
