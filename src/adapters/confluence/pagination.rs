//! Where the next page of a list is (PROTOCOL §5.1, §5.13). Pure URL
//! arithmetic; the flavours send the requests.
//!
//! * Cloud: `{api}` + `_links.next`, with `/wiki` inserted when a v1 link
//!   is relative to `_links.context` (ours, §13 #21).
//! * Data Center: `{baseUrl}` + `_links.next` with its `start` replaced by
//!   the request's own start plus the results received, because a capped
//!   server builds `next` from the limit it was asked for (§5.13).
//! * Both: a page with no results ends the list even if it has a `next`.
//! * Both (ours): a listing is bounded. A `next` that leads back to a page
//!   already requested (A→B→A) or a listing longer than [`MAX_PAGES`]
//!   fails with the URL, instead of looping forever.

use std::collections::HashSet;

/// Most result pages one listing may take: a million results at 100 per
/// page, far beyond any real space, so only a server that never stops
/// handing out new links reaches it.
pub(super) const MAX_PAGES: usize = 10_000;

/// The pages one listing has requested so far.
#[derive(Debug, Default)]
pub(super) struct Visited {
    urls: HashSet<String>,
}

impl Visited {
    /// Records that `url` is about to be requested.
    ///
    /// # Errors
    /// `url` was requested before in this listing (a pagination cycle), or
    /// the listing has reached [`MAX_PAGES`] pages. The message names the
    /// URL, with secret-looking query values redacted.
    pub(super) fn visit(&mut self, url: &str) -> Result<(), String> {
        if self.urls.len() >= MAX_PAGES {
            return Err(format!(
                "pagination did not end after {MAX_PAGES} pages; the next link was {}",
                redacted(url)
            ));
        }
        if !self.urls.insert(url.to_owned()) {
            return Err(format!(
                "pagination loops: `_links.next` leads back to {}, which this listing already requested",
                redacted(url)
            ));
        }
        Ok(())
    }
}

/// Query parameters whose values are never printed: links handed out by a
/// server or a gateway may carry signatures or tokens.
const SECRET_PARAMETERS: &[&str] = &[
    "access_token",
    "token",
    "sig",
    "signature",
    "secret",
    "password",
    "api_key",
    "apikey",
    "x-amz-signature",
];

/// `url` with user information and the values of [`SECRET_PARAMETERS`]
/// replaced by `[Redacted]`; everything else verbatim.
pub(super) fn redacted(url: &str) -> String {
    let (before, query) = url.split_once('?').unwrap_or((url, ""));
    let before = match before.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            match authority.rsplit_once('@') {
                Some((_, host)) => format!("{scheme}://[Redacted]@{host}{path}"),
                None => before.to_owned(),
            }
        }
        None => before.to_owned(),
    };
    if query.is_empty() {
        return before;
    }
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if SECRET_PARAMETERS.contains(&name.to_ascii_lowercase().as_str()) => {
                format!("{name}=[Redacted]")
            }
            _ => pair.to_owned(),
        })
        .collect();
    format!("{before}?{}", pairs.join("&"))
}

/// What to request after a page that returned `returned` results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Next {
    Url(String),
    Done,
}

/// Cloud: the page after one that returned `returned` results. Loops are
/// caught by [`Visited`].
pub(super) fn cloud(api: &str, next: Option<&str>, returned: usize) -> Next {
    let Some(next) = next.filter(|n| !n.is_empty()) else {
        return Next::Done;
    };
    if returned == 0 {
        tracing::debug!(next, "empty result page with a next link; stopping");
        return Next::Done;
    }
    let url = if next.starts_with("/wiki/") {
        format!("{api}{next}")
    } else if next.starts_with('/') {
        format!("{api}/wiki{next}")
    } else {
        format!("{api}/wiki/{next}")
    };
    Next::Url(url)
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
        assert_eq!(
            cloud(API, Some("/wiki/rest/api/content/search?cursor=a"), 5),
            Next::Url(format!("{API}/wiki/rest/api/content/search?cursor=a"))
        );
        assert_eq!(
            cloud(API, Some("/rest/api/content/search?cursor=a"), 5),
            Next::Url(format!("{API}/wiki/rest/api/content/search?cursor=a"))
        );
        assert_eq!(cloud(API, None, 5), Next::Done);
        assert_eq!(cloud(API, Some(""), 5), Next::Done);
    }

    #[test]
    fn a_link_back_to_a_requested_page_is_a_loop_named_by_its_url() {
        let mut visited = Visited::default();
        let a = format!("{API}/wiki/rest/api/content/search?cursor=a");
        let b = format!("{API}/wiki/rest/api/content/search?cursor=b");
        visited.visit(&a).unwrap();
        visited.visit(&b).unwrap();
        let err = visited.visit(&a).unwrap_err();
        assert!(err.contains("pagination loops"), "{err}");
        assert!(err.contains(&a), "{err}");
    }

    #[test]
    fn a_listing_that_never_ends_stops_at_the_page_bound() {
        let mut visited = Visited::default();
        for n in 0..MAX_PAGES {
            visited.visit(&format!("https://dc/x?start={n}")).unwrap();
        }
        let err = visited.visit("https://dc/x?start=last").unwrap_err();
        assert!(err.contains("did not end after 10000 pages"), "{err}");
        assert!(err.contains("https://dc/x?start=last"), "{err}");
    }

    #[test]
    fn secrets_in_links_are_redacted_and_the_rest_kept() {
        assert_eq!(
            redacted("https://u:p@gw/x?cursor=a&sig=abc&Token=t&limit=5"),
            "https://[Redacted]@gw/x?cursor=a&sig=[Redacted]&Token=[Redacted]&limit=5"
        );
        assert_eq!(redacted("https://gw/a@b/x"), "https://gw/a@b/x");
        assert_eq!(redacted("/rest/api/x"), "/rest/api/x");
    }

    #[test]
    fn an_empty_page_ends_the_list() {
        assert_eq!(cloud(API, Some("/wiki/x?cursor=b"), 0), Next::Done);
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
