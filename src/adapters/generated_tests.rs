//! Contract tests of the build-time generated clients (`generated.rs`).
//!
//! Each Confluence operation is called against a loopback stub that answers
//! with a realistic body from `tests/fixtures/` and records what the client
//! sent, so a test pins both halves of the contract: the request the subset
//! makes the client build (path, query, body) and the decoding of what real
//! servers answer (extra fields, nulls, numeric DC space ids, unknown content
//! types). The file-diff client needs the Unique adapter's hook context and
//! GraphQL operations have no client of their own, so their tests check the
//! request body the generated types serialize to and decode a response body.
//!
//! A failure here after editing `schemas/` means the subset no longer matches
//! the wire format in PROTOCOL §4–§7; see `schemas/README.md`.

/// A fixture body, embedded at compile time so a missing file fails the build.
macro_rules! fixture {
    ($path:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/",
            $path
        ))
    };
}

mod support {
    use std::{
        sync::{Arc, Mutex},
        time::Duration,
    };

    use axum::{
        Router,
        body::Bytes,
        extract::State,
        http::{HeaderMap, Method, StatusCode, Uri, header},
        response::{IntoResponse, Response},
    };
    use futures::TryStreamExt;
    use tokio::{net::TcpListener, task::JoinHandle};

    use crate::{adapters::confluence::RequestHooks, domain::backoff::RetryPolicy};

    /// The canned `200` answer of a [`StubServer`], given only to requests
    /// whose method and raw (still percent-encoded) path match.
    #[derive(Debug)]
    pub struct Reply {
        method: Method,
        path: String,
        content_type: &'static str,
        body: Bytes,
    }

    impl Reply {
        pub fn new(
            method: Method,
            path: impl Into<String>,
            content_type: &'static str,
            body: impl Into<Bytes>,
        ) -> Self {
            Self {
                method,
                path: path.into(),
                content_type,
                body: body.into(),
            }
        }

        /// A JSON body as Confluence labels it (with a charset parameter).
        pub fn json(method: Method, path: impl Into<String>, body: &'static str) -> Self {
            Self::new(method, path, "application/json;charset=UTF-8", body)
        }
    }

    /// A request as the stub received it.
    #[derive(Debug, Clone)]
    pub struct SeenRequest {
        /// Raw path, percent-encoding preserved.
        pub path: String,
        /// Raw query string, empty when there was none.
        pub query: String,
        pub headers: HeaderMap,
        pub body: Bytes,
    }

    impl SeenRequest {
        /// Decoded query parameters, sorted: the generated client's
        /// parameter order is an implementation detail.
        pub fn query_pairs(&self) -> Vec<(String, String)> {
            sorted_pairs(&self.query)
        }

        pub fn header(&self, name: header::HeaderName) -> Option<&str> {
            self.headers.get(name).and_then(|v| v.to_str().ok())
        }
    }

    /// Decodes an `application/x-www-form-urlencoded` string into sorted pairs.
    pub fn sorted_pairs(encoded: &str) -> Vec<(String, String)> {
        let mut pairs: Vec<_> = url::form_urlencoded::parse(encoded.as_bytes())
            .into_owned()
            .collect();
        pairs.sort();
        pairs
    }

    /// Expected query parameters in the shape of [`SeenRequest::query_pairs`].
    pub fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut pairs: Vec<_> = expected
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        pairs.sort();
        pairs
    }

    #[derive(Debug)]
    struct StubState {
        reply: Reply,
        seen: Mutex<Vec<SeenRequest>>,
    }

    /// An HTTP/1 server on `127.0.0.1:0`. It is accepting as soon as
    /// [`StubServer::start`] returns (the listener is bound before the
    /// accept loop is spawned), and dropping it aborts the server task, so
    /// every test shuts its server down even when an assertion panics.
    #[derive(Debug)]
    pub struct StubServer {
        origin: String,
        state: Arc<StubState>,
        task: JoinHandle<()>,
    }

    impl StubServer {
        pub async fn start(reply: Reply) -> Self {
            let listener = TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind a loopback port");
            let origin = format!(
                "http://{}",
                listener
                    .local_addr()
                    .expect("bound listener has an address")
            );
            let state = Arc::new(StubState {
                reply,
                seen: Mutex::default(),
            });
            let app = Router::new()
                .fallback(record_and_reply)
                .with_state(Arc::clone(&state));
            let task = tokio::spawn(async move {
                axum::serve(listener, app)
                    .await
                    .expect("stub server stopped with an error");
            });
            Self {
                origin,
                state,
                task,
            }
        }

        /// `http://127.0.0.1:{port}` followed by `path`.
        pub fn url(&self, path: &str) -> String {
            format!("{}{path}", self.origin)
        }

        pub fn requests(&self) -> Vec<SeenRequest> {
            self.state.seen.lock().expect("not poisoned").clone()
        }

        /// The one request the test expected the client to send.
        pub fn only_request(&self) -> SeenRequest {
            let mut seen = self.requests();
            assert_eq!(seen.len(), 1, "expected exactly one request: {seen:#?}");
            seen.remove(0)
        }
    }

    impl Drop for StubServer {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    async fn record_and_reply(
        State(state): State<Arc<StubState>>,
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> Response {
        let matches = method == state.reply.method && uri.path() == state.reply.path;
        state.seen.lock().expect("not poisoned").push(SeenRequest {
            path: uri.path().to_owned(),
            query: uri.query().unwrap_or_default().to_owned(),
            headers,
            body,
        });
        if !matches {
            return StatusCode::NOT_FOUND.into_response();
        }
        let reply = &state.reply;
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, reply.content_type)],
            reply.body.clone(),
        )
            .into_response()
    }

    /// The client handed to `Client::new_with_client`, as the adapters do.
    /// reqwest is built with `rustls-no-provider`, so a crypto provider is
    /// installed first; the attempts of later tests fail harmlessly.
    pub fn http_client() -> reqwest::Client {
        let _ = rustls::crypto::ring::default_provider().install_default();
        reqwest::Client::new()
    }

    /// The inner value of the generated Confluence clients: the hooks of
    /// the token endpoint, which neither authenticate nor throttle, with
    /// retries off, so each test sees exactly one request. The timeout only
    /// bounds a hung exchange; loopback answers never come near it.
    pub fn hooks() -> RequestHooks {
        let once = RetryPolicy {
            max_retries: 0,
            ..RetryPolicy::CONFLUENCE
        };
        RequestHooks::token_endpoint(once, Duration::from_secs(30), Arc::default())
    }

    /// Drains a generated `ByteStream` response.
    pub async fn collect(stream: progenitor_client::ByteStream) -> Vec<u8> {
        stream
            .into_inner()
            .map_ok(|chunk| chunk.to_vec())
            .try_concat()
            .await
            .expect("stream the body")
    }
}

/// Expansions of discovery and title lookups with attachments enabled
/// (PROTOCOL §5.2, `{ATT}` included).
const DISCOVERY_EXPAND: &str = "metadata.labels,version,space,children.attachment,children.attachment.version,children.attachment.extensions";

/// Expansions of the body fetch (C3).
const BODY_EXPAND: &str = "body.storage,version,space,metadata.labels";

mod confluence_cloud {
    use axum::http::{Method, StatusCode, header};
    use serde_json::json;

    use super::{
        BODY_EXPAND, DISCOVERY_EXPAND,
        support::{Reply, StubServer, collect, hooks, http_client, pairs, sorted_pairs},
    };
    use crate::adapters::generated::confluence_cloud::{Client, types};

    /// The site part of the API base `{apiGatewayUrl}/ex/confluence/{cloudId}`.
    const SITE: &str = "/ex/confluence/a1b2c3d4-5e6f-4a7b-8c9d-0e1f2a3b4c5d";

    /// Q1c with the example labels of PROTOCOL §3.8.
    const DISCOVERY_CQL: &str = r#"((label="ai-ingest") OR (label="ai-ingest-all")) AND (space.type=global OR space.type=collaboration) AND type != attachment"#;

    fn client(server: &StubServer) -> Client {
        Client::new_with_client(&server.url(SITE), http_client(), hooks())
    }

    fn search_path() -> String {
        format!("{SITE}/wiki/rest/api/content/search")
    }

    #[tokio::test]
    async fn search_content_sends_discovery_query_and_decodes_pages() {
        let server = StubServer::start(Reply::json(
            Method::GET,
            search_path(),
            fixture!("confluence/cloud/search_discovery.json"),
        ))
        .await;

        let page = client(&server)
            .search_content()
            .cql(DISCOVERY_CQL)
            .expand(DISCOVERY_EXPAND)
            .limit(100)
            .start(0)
            .send()
            .await
            .expect("C1 answer decodes")
            .into_inner();

        let sent = server.only_request();
        assert_eq!(sent.path, search_path());
        assert_eq!(
            sent.query_pairs(),
            pairs(&[
                ("cql", DISCOVERY_CQL),
                ("expand", DISCOVERY_EXPAND),
                ("limit", "100"),
                ("start", "0"),
            ])
        );
        // The reference sends expand's commas literally (PROTOCOL §5.2); the
        // generated client percent-encodes them, which Confluence decodes.
        assert!(
            sent.query
                .contains("expand=metadata.labels%2Cversion%2Cspace%2C"),
            "{}",
            sent.query
        );
        assert_eq!(sent.header(header::ACCEPT), Some("application/json"));

        assert_eq!(page.size, Some(3));
        let next = page
            .links
            .next
            .as_deref()
            .expect("first page links onwards");
        assert!(next.starts_with("/rest/api/content/search?next=true&cursor="));

        let [labelled, blogpost, whiteboard] = page.results.as_slice() else {
            panic!("three results expected: {:#?}", page.results);
        };

        assert_eq!(labelled.id, "65538");
        assert_eq!(labelled.type_, "page");
        assert_eq!(labelled.title, "Onboarding Guide");
        let space = labelled.space.as_ref().expect("space expanded");
        assert_eq!(space.key, "ENG");
        assert_eq!(space.name.as_deref(), Some("Engineering"));
        assert!(matches!(&space.id, Some(types::SpaceId::String(id)) if id == "98306"));
        assert_eq!(
            labelled.version.as_ref().and_then(|v| v.when.as_deref()),
            Some("2025-01-14T09:21:44.512Z")
        );
        let labels: Vec<_> = labelled
            .metadata
            .as_ref()
            .and_then(|m| m.labels.as_ref())
            .expect("labels expanded")
            .results
            .iter()
            .map(|label| label.name.as_str())
            .collect();
        assert_eq!(labels, ["ai-ingest", "onboarding"]);
        assert_eq!(
            labelled.links.as_ref().and_then(|l| l.webui.as_deref()),
            Some("/spaces/ENG/pages/65538/Onboarding+Guide")
        );

        let attachments = labelled
            .children
            .as_ref()
            .and_then(|c| c.attachment.as_ref())
            .expect("attachments expanded");
        assert_eq!((attachments.size, attachments.limit), (Some(2), Some(25)));
        assert_eq!(attachments.links.next, None);
        let [diagram, checklist] = attachments.results.as_slice() else {
            panic!("two inline attachments expected");
        };
        assert_eq!(diagram.id, "att65601");
        assert_eq!(diagram.title, "welcome-diagram.png");
        let extensions = diagram.extensions.as_ref().expect("extensions expanded");
        assert_eq!(extensions.media_type, "image/png");
        assert_eq!(extensions.file_size, 48213);
        assert_eq!(
            diagram.version.as_ref().and_then(|v| v.when.as_deref()),
            Some("2025-01-10T15:02:11.903Z")
        );
        assert_eq!(
            diagram.links.download,
            "/download/attachments/65538/welcome-diagram.png?version=1&modificationDate=1736521331903&cacheVersion=1&api=v2"
        );
        // Real servers send `null` for an empty comment and version message.
        assert_eq!(
            checklist
                .extensions
                .as_ref()
                .and_then(|e| e.comment.clone()),
            None
        );
        assert_eq!(
            checklist.version.as_ref().and_then(|v| v.message.clone()),
            None
        );

        assert_eq!(blogpost.type_, "blogpost");
        let empty = blogpost
            .children
            .as_ref()
            .and_then(|c| c.attachment.as_ref())
            .expect("attachments expanded");
        assert!(empty.results.is_empty());

        // An unexpanded child list and an unknown content type both parse.
        assert_eq!(whiteboard.type_, "whiteboard");
        assert!(whiteboard.children.is_none());
        assert!(whiteboard.body.is_none());
    }

    /// Every parameter a Cloud `_links.next` carries is declared, so the
    /// adapter can replay the link through the generated client unchanged.
    #[tokio::test]
    async fn search_content_replays_a_next_link() {
        let first: types::ContentArray =
            serde_json::from_str(fixture!("confluence/cloud/search_discovery.json"))
                .expect("fixture decodes");
        let next = first.links.next.expect("fixture has a next link");
        let (path, query) = next.split_once('?').expect("next link has a query");
        // Relative to `_links.context` (`/wiki`), PROTOCOL §5.1.
        assert_eq!(path, "/rest/api/content/search");

        let server = StubServer::start(Reply::json(
            Method::GET,
            search_path(),
            fixture!("confluence/cloud/search_body.json"),
        ))
        .await;
        let client = client(&server);
        let mut request = client.search_content();
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()).into_owned() {
            request = match name.as_str() {
                "cql" => request.cql(value),
                "cursor" => request.cursor(value),
                "expand" => request.expand(value),
                "limit" => request.limit(value.parse::<i32>().expect("numeric limit")),
                "start" => request.start(value.parse::<i32>().expect("numeric start")),
                "next" => request.next(value.parse::<bool>().expect("boolean next")),
                other => panic!("next link carries an undeclared parameter `{other}`"),
            };
        }
        request.send().await.expect("replayed page decodes");

        let sent = server.only_request();
        assert_eq!(sent.path, search_path());
        assert_eq!(sent.query_pairs(), sorted_pairs(query));
        let cursor = sent
            .query_pairs()
            .into_iter()
            .find(|(name, _)| name == "cursor")
            .map(|(_, value)| value);
        assert_eq!(
            cursor.as_deref(),
            Some("_f_MTAw_sa_WyJcdDY1NTM4IDt3JWxvbWZ8Vk0oLU0rIFxcIF0=")
        );
    }

    #[tokio::test]
    async fn search_content_fetches_a_page_body_by_id() {
        let server = StubServer::start(Reply::json(
            Method::GET,
            search_path(),
            fixture!("confluence/cloud/search_body.json"),
        ))
        .await;

        let page = client(&server)
            .search_content()
            .cql("id=65538")
            .expand(BODY_EXPAND)
            .send()
            .await
            .expect("C3 answer decodes")
            .into_inner();

        assert_eq!(
            server.only_request().query_pairs(),
            pairs(&[("cql", "id=65538"), ("expand", BODY_EXPAND)])
        );
        assert_eq!(page.links.next, None);
        let content = page.results.first().expect("the page");
        let storage = content
            .body
            .as_ref()
            .and_then(|b| b.storage.as_ref())
            .expect("body.storage expanded");
        assert_eq!(storage.representation.as_deref(), Some("storage"));
        assert!(storage.value.starts_with("<h1>Welcome</h1>"));
        assert!(
            storage
                .value
                .contains(r#"ri:filename="welcome-diagram.png""#)
        );
    }

    #[tokio::test]
    async fn get_content_finds_a_page_by_space_key_and_title() {
        let path = format!("{SITE}/wiki/rest/api/content");
        let server = StubServer::start(Reply::json(
            Method::GET,
            path.clone(),
            fixture!("confluence/cloud/content_by_title.json"),
        ))
        .await;

        let page = client(&server)
            .get_content()
            .space_key("HR")
            .title("Benefits")
            .type_("page")
            .expand(DISCOVERY_EXPAND)
            .send()
            .await
            .expect("C6 answer decodes")
            .into_inner();

        let sent = server.only_request();
        assert_eq!(sent.path, path);
        assert_eq!(
            sent.query_pairs(),
            pairs(&[
                ("spaceKey", "HR"),
                ("title", "Benefits"),
                ("type", "page"),
                ("expand", DISCOVERY_EXPAND),
            ])
        );
        let found = page.results.first().expect("C6 uses the first result");
        assert_eq!(
            (found.id.as_str(), found.title.as_str()),
            ("229377", "Benefits")
        );
        let space = found.space.as_ref().expect("space expanded");
        assert_eq!(space.name.as_deref(), Some("People & Culture"));
        let labels = found.metadata.as_ref().and_then(|m| m.labels.as_ref());
        assert!(labels.expect("labels expanded").results.is_empty());
        let attachment = &found
            .children
            .as_ref()
            .and_then(|c| c.attachment.as_ref())
            .expect("attachments expanded")
            .results[0];
        assert_eq!(attachment.id, "att229401");
        assert_eq!(
            attachment
                .extensions
                .as_ref()
                .map(|e| e.media_type.as_str()),
            Some("image/jpeg")
        );
    }

    #[tokio::test]
    async fn get_page_attachments_lists_v2_attachments_and_follows_the_cursor() {
        let path = format!("{SITE}/wiki/api/v2/pages/65538/attachments");
        let server = StubServer::start(Reply::json(
            Method::GET,
            path.clone(),
            fixture!("confluence/cloud/page_attachments_v2.json"),
        ))
        .await;
        let client = client(&server);

        let first = client
            .get_page_attachments()
            .id("65538")
            .limit(250)
            .send()
            .await
            .expect("C4 answer decodes")
            .into_inner();

        let [diagram, sheet] = first.results.as_slice() else {
            panic!("two attachments expected");
        };
        assert_eq!(diagram.id, "att65601");
        assert_eq!(diagram.title, "welcome-diagram.png");
        assert_eq!(diagram.media_type, "image/png");
        assert_eq!(diagram.file_size, 48213);
        assert_eq!(diagram.page_id.as_deref(), Some("65538"));
        assert_eq!(
            diagram.download_link,
            "/download/attachments/65538/welcome-diagram.png?version=1&modificationDate=1736521331903&cacheVersion=1&api=v2"
        );
        assert_eq!(
            diagram
                .version
                .as_ref()
                .and_then(|v| v.created_at.as_deref()),
            Some("2025-01-10T15:02:11.903Z")
        );
        assert_eq!(sheet.title, "Org chart (draft).xlsx");
        assert_eq!(sheet.comment, None);

        // v2 next links are absolute below the site (`/wiki/api/v2/...`).
        let next = first.links.next.expect("first page links onwards");
        let (next_path, next_query) = next.split_once('?').expect("next link has a query");
        assert_eq!(next_path, "/wiki/api/v2/pages/65538/attachments");
        let next_params = sorted_pairs(next_query);
        let cursor = &next_params
            .iter()
            .find(|(name, _)| name == "cursor")
            .expect("next link carries a cursor")
            .1;
        client
            .get_page_attachments()
            .id("65538")
            .cursor(cursor.as_str())
            .limit(250)
            .send()
            .await
            .expect("second page decodes");

        let sent = server.requests();
        assert_eq!(sent.len(), 2);
        assert!(sent.iter().all(|request| request.path == path));
        assert_eq!(sent[0].query_pairs(), pairs(&[("limit", "250")]));
        assert_eq!(sent[1].query_pairs(), next_params);
    }

    #[tokio::test]
    async fn download_attachment_streams_the_bytes() {
        const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0";
        let path = format!("{SITE}/wiki/rest/api/content/65538/child/attachment/att65601/download");
        let server =
            StubServer::start(Reply::new(Method::GET, path.clone(), "image/png", PNG)).await;

        let response = client(&server)
            .download_attachment()
            .id("65538")
            .attachment_id("att65601")
            .send()
            .await
            .expect("C7 answers 200");

        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(collect(response.into_inner()).await, PNG);
        let sent = server.only_request();
        assert_eq!(sent.path, path);
        assert_eq!(sent.query, "");
    }

    #[tokio::test]
    async fn request_access_token_posts_client_credentials_as_json() {
        let server = StubServer::start(Reply::json(
            Method::POST,
            "/oauth/token",
            fixture!("confluence/cloud/oauth_token.json"),
        ))
        .await;
        // The token endpoint lives at the gateway root, not under the site.
        let token_client = Client::new_with_client(&server.url(""), http_client(), hooks());

        let token = token_client
            .request_access_token()
            .body(types::TokenRequest {
                grant_type: "client_credentials".to_owned(),
                client_id: "xK3p9QeT2mZ7".to_owned(),
                client_secret: "ATOAsecret+/=".to_owned(),
            })
            .send()
            .await
            .expect("token answer decodes")
            .into_inner();

        assert!(token.access_token.starts_with("eyJ"));
        assert_eq!(token.expires_in, 3600);
        assert_eq!(token.token_type.as_deref(), Some("Bearer"));

        let sent = server.only_request();
        assert_eq!(sent.path, "/oauth/token");
        assert_eq!(sent.header(header::CONTENT_TYPE), Some("application/json"));
        let body: serde_json::Value = serde_json::from_slice(&sent.body).expect("JSON body");
        assert_eq!(
            body,
            json!({
                "grant_type": "client_credentials",
                "client_id": "xK3p9QeT2mZ7",
                "client_secret": "ATOAsecret+/=",
            })
        );
    }
}

mod confluence_dc {
    use axum::http::{Method, header};

    use super::{
        BODY_EXPAND, DISCOVERY_EXPAND,
        support::{Reply, StubServer, collect, hooks, http_client, pairs, sorted_pairs},
    };
    use crate::adapters::generated::confluence_dc::{Client, types};

    /// The context path of the tenant's `baseUrl`.
    const CONTEXT: &str = "/confluence";

    /// Q1d with the example labels of PROTOCOL §3.8.
    const DISCOVERY_CQL: &str = r#"((label="ai-ingest") OR (label="ai-ingest-all")) AND space.type=global AND type != attachment"#;

    fn client(server: &StubServer) -> Client {
        Client::new_with_client(&server.url(CONTEXT), http_client(), hooks())
    }

    fn discovery_fixture() -> types::ContentArray {
        serde_json::from_str(fixture!("confluence/dc/search_discovery.json"))
            .expect("fixture decodes")
    }

    #[tokio::test]
    async fn search_content_decodes_numeric_space_ids_and_capped_attachments() {
        let path = format!("{CONTEXT}/rest/api/content/search");
        let server = StubServer::start(Reply::json(
            Method::GET,
            path.clone(),
            fixture!("confluence/dc/search_discovery.json"),
        ))
        .await;

        let page = client(&server)
            .search_content()
            .cql(DISCOVERY_CQL)
            .expand(DISCOVERY_EXPAND)
            .limit(100)
            .start(0)
            .send()
            .await
            .expect("C1 answer decodes")
            .into_inner();

        let sent = server.only_request();
        assert_eq!(sent.path, path);
        assert_eq!(
            sent.query_pairs(),
            pairs(&[
                ("cql", DISCOVERY_CQL),
                ("expand", DISCOVERY_EXPAND),
                ("limit", "100"),
                ("start", "0"),
            ])
        );
        assert_eq!(sent.header(header::ACCEPT), Some("application/json"));

        let next = page
            .links
            .next
            .as_deref()
            .expect("first page links onwards");
        assert!(next.starts_with("/rest/api/content/search?"));
        assert!(next.ends_with("&limit=100&start=100"));

        let [scans, report] = page.results.as_slice() else {
            panic!("two results expected");
        };
        let space = scans.space.as_ref().expect("space expanded");
        assert!(matches!(space.id, Some(types::SpaceId::Int64(1_769_474))));
        assert_eq!(
            space.id.as_ref().map(ToString::to_string).as_deref(),
            Some("1769474")
        );
        assert_eq!(space.key, "LEGAL");
        // DC timestamps carry an offset; they are passed on verbatim.
        assert_eq!(
            scans.version.as_ref().and_then(|v| v.when.as_deref()),
            Some("2024-10-25T18:02:33.410+02:00")
        );

        let capped = scans
            .children
            .as_ref()
            .and_then(|c| c.attachment.as_ref())
            .expect("attachments expanded");
        assert_eq!(
            (capped.size, capped.limit, capped.start),
            (Some(25), Some(25), Some(0))
        );
        assert_eq!(capped.results.len(), 25);
        assert_eq!(
            capped.links.next.as_deref(),
            Some("/rest/api/content/1048577/child/attachment?limit=25&start=25")
        );

        assert_eq!(report.title, "Quarterly Report");
        let labels: Vec<_> = report
            .metadata
            .as_ref()
            .and_then(|m| m.labels.as_ref())
            .expect("labels expanded")
            .results
            .iter()
            .map(|label| label.name.as_str())
            .collect();
        assert_eq!(labels, ["ai-ingest-all", "finance"]);
        let pdf = &report
            .children
            .as_ref()
            .and_then(|c| c.attachment.as_ref())
            .expect("attachments expanded")
            .results[0];
        assert_eq!(pdf.id, "att1048690");
        let extensions = pdf.extensions.as_ref().expect("extensions expanded");
        assert_eq!(
            (extensions.media_type.as_str(), extensions.file_size),
            ("application/pdf", 734_003)
        );
        assert_eq!(
            pdf.links.download,
            "/download/attachments/1048590/Quarterly%20Report.pdf?version=2&modificationDate=1738338012345&api=v2"
        );
    }

    #[tokio::test]
    async fn get_content_by_id_returns_the_page_with_its_body() {
        let path = format!("{CONTEXT}/rest/api/content/1048590");
        let server = StubServer::start(Reply::json(
            Method::GET,
            path.clone(),
            fixture!("confluence/dc/content_by_id.json"),
        ))
        .await;

        let page = client(&server)
            .get_content_by_id()
            .id("1048590")
            .expand(BODY_EXPAND)
            .send()
            .await
            .expect("C3 answer decodes")
            .into_inner();

        let sent = server.only_request();
        assert_eq!(sent.path, path);
        assert_eq!(sent.query_pairs(), pairs(&[("expand", BODY_EXPAND)]));
        assert_eq!(page.id, "1048590");
        assert!(matches!(
            page.space.as_ref().and_then(|s| s.id.as_ref()),
            Some(types::SpaceId::Int64(1_769_475))
        ));
        let storage = page
            .body
            .as_ref()
            .and_then(|b| b.storage.as_ref())
            .expect("body.storage expanded");
        assert!(storage.value.starts_with("<p>Revenue grew"));
        assert_eq!(
            page.metadata
                .as_ref()
                .and_then(|m| m.labels.as_ref())
                .map(|l| l.results.len()),
            Some(2)
        );
    }

    #[tokio::test]
    async fn get_content_finds_a_page_by_space_key_and_title() {
        let path = format!("{CONTEXT}/rest/api/content");
        let server = StubServer::start(Reply::json(
            Method::GET,
            path.clone(),
            fixture!("confluence/dc/content_by_title.json"),
        ))
        .await;

        let page = client(&server)
            .get_content()
            .space_key("LEGAL")
            .title("Signing policy")
            .type_("page")
            .expand(DISCOVERY_EXPAND)
            .send()
            .await
            .expect("C6 answer decodes")
            .into_inner();

        let sent = server.only_request();
        assert_eq!(sent.path, path);
        assert_eq!(
            sent.query_pairs(),
            pairs(&[
                ("spaceKey", "LEGAL"),
                ("title", "Signing policy"),
                ("type", "page"),
                ("expand", DISCOVERY_EXPAND),
            ])
        );
        let found = page.results.first().expect("C6 uses the first result");
        assert_eq!(
            (found.id.as_str(), found.title.as_str()),
            ("1048611", "Signing policy")
        );
    }

    /// C5: the inline list's `_links.next` is replayed through the generated
    /// operation.
    #[tokio::test]
    async fn get_content_attachments_replays_the_continuation_link() {
        let scans = discovery_fixture().results.remove(0);
        let next = scans
            .children
            .and_then(|c| c.attachment)
            .and_then(|a| a.links.next)
            .expect("capped list has a next link");
        let (path, query) = next.split_once('?').expect("next link has a query");
        let page_id = path
            .strip_prefix("/rest/api/content/")
            .and_then(|rest| rest.strip_suffix("/child/attachment"))
            .expect("continuation is a child-attachment listing");

        let server = StubServer::start(Reply::json(
            Method::GET,
            format!("{CONTEXT}{path}"),
            fixture!("confluence/dc/child_attachments.json"),
        ))
        .await;
        let client = client(&server);
        let mut request = client.get_content_attachments().id(page_id);
        for (name, value) in sorted_pairs(query) {
            let value: i32 = value.parse().expect("numeric offset parameter");
            request = match name.as_str() {
                "limit" => request.limit(value),
                "start" => request.start(value),
                other => panic!("continuation carries an undeclared parameter `{other}`"),
            };
        }
        let rest = request
            .send()
            .await
            .expect("C5 answer decodes")
            .into_inner();

        let sent = server.only_request();
        assert_eq!(
            sent.path,
            format!("{CONTEXT}/rest/api/content/1048577/child/attachment")
        );
        assert_eq!(
            sent.query_pairs(),
            pairs(&[("limit", "25"), ("start", "25")])
        );
        assert_eq!((rest.start, rest.size), (Some(25), Some(3)));
        assert_eq!(rest.links.next, None);
        let ids: Vec<_> = rest.results.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["att1048626", "att1048627", "att1048628"]);
    }

    /// C7 on DC replays the attachment's `_links.download`, path and query.
    #[tokio::test]
    async fn download_attachment_replays_the_download_link() {
        const PDF: &[u8] = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n";
        let report = discovery_fixture().results.remove(1);
        let pdf = report
            .children
            .and_then(|c| c.attachment)
            .map(|a| a.results)
            .and_then(|results| results.into_iter().next())
            .expect("the report's attachment");
        let (link_path, link_query) = pdf
            .links
            .download
            .split_once('?')
            .expect("download link has a query");

        let server = StubServer::start(Reply::new(
            Method::GET,
            format!("{CONTEXT}{link_path}"),
            "application/pdf",
            PDF,
        ))
        .await;
        let client = client(&server);
        let mut request = client
            .download_attachment()
            .page_id("1048590")
            .file_name(pdf.title.as_str());
        for (name, value) in sorted_pairs(link_query) {
            request = match name.as_str() {
                "version" => request.version(value),
                "modificationDate" => request.modification_date(value),
                "api" => request.api(value),
                other => panic!("download link carries an undeclared parameter `{other}`"),
            };
        }
        let response = request.send().await.expect("C7 answers 200");

        assert_eq!(collect(response.into_inner()).await, PDF);
        let sent = server.only_request();
        // The file name is percent-encoded again exactly as in the link.
        assert_eq!(sent.path, format!("{CONTEXT}{link_path}"));
        assert_eq!(sent.query_pairs(), sorted_pairs(link_query));
    }

    #[tokio::test]
    async fn request_access_token_posts_a_form() {
        let path = format!("{CONTEXT}/rest/oauth2/latest/token");
        let server = StubServer::start(Reply::json(
            Method::POST,
            path.clone(),
            fixture!("confluence/dc/oauth_token.json"),
        ))
        .await;

        let token = client(&server)
            .request_access_token()
            .body(types::TokenRequest {
                grant_type: "client_credentials".to_owned(),
                client_id: "3f6e0c1b9a".to_owned(),
                client_secret: "s3cr3t/+= &x".to_owned(),
                scope: Some("READ".to_owned()),
            })
            .send()
            .await
            .expect("token answer decodes")
            .into_inner();

        assert_eq!(token.expires_in, 3600);
        assert!(!token.access_token.is_empty());

        let sent = server.only_request();
        assert_eq!(sent.path, path);
        assert_eq!(
            sent.header(header::CONTENT_TYPE),
            Some("application/x-www-form-urlencoded")
        );
        // typify orders struct fields alphabetically, so the form is not in
        // PROTOCOL §4.2's order; OAuth servers do not depend on field order.
        assert_eq!(
            std::str::from_utf8(&sent.body).expect("form is ASCII"),
            "client_id=3f6e0c1b9a&client_secret=s3cr3t%2F%2B%3D+%26x&grant_type=client_credentials&scope=READ"
        );
    }

    #[tokio::test]
    async fn get_applinks_manifest_reads_the_instance_id() {
        let path = format!("{CONTEXT}/rest/applinks/1.0/manifest");
        let server = StubServer::start(Reply::json(
            Method::GET,
            path.clone(),
            fixture!("confluence/dc/applinks_manifest.json"),
        ))
        .await;

        let manifest = client(&server)
            .get_applinks_manifest()
            .send()
            .await
            .expect("C8 answer decodes")
            .into_inner();

        assert_eq!(manifest.id, "4c2f8a1e-7b3d-3e5f-9a6c-0d1e2f3a4b5c");
        assert_eq!(manifest.build_number, Some(9012));
        let sent = server.only_request();
        assert_eq!(sent.path, path);
        // The resource can also answer XML; C8 asks for JSON (PROTOCOL §5.2).
        assert_eq!(sent.header(header::ACCEPT), Some("application/json"));
    }
}

/// The generated file-diff client takes the adapter's `CallContext`
/// (credentials, REST reservoir) as its inner value, so it cannot run here
/// without the adapter; these tests pin its body and answer types to the
/// wire format (PROTOCOL §7.1) instead.
mod unique_ingestion {
    use serde_json::json;

    use crate::adapters::generated::unique_ingestion::types;

    const PAGE_URL: &str =
        "https://acme.atlassian.net/wiki/spaces/ENG/pages/65538/Onboarding+Guide";
    const ATTACHMENT_URL: &str = "https://acme.atlassian.net/wiki/pages/viewpageattachments.action\
        ?pageId=65538&preview=%2F65538%2F65627%2FOrg%20chart%20(draft).xlsx";

    #[test]
    fn file_diff_request_serializes_the_item_list() {
        let request = types::FileDiffRequest {
            partial_key: "acme/98306_ENG".to_owned(),
            source_kind: "ATLASSIAN_CONFLUENCE_CLOUD".to_owned(),
            source_name: "https://acme.atlassian.net".to_owned(),
            file_list: vec![
                types::FileDiffItem {
                    key: "65538".to_owned(),
                    url: PAGE_URL.to_owned(),
                    updated_at: "2025-01-14T09:21:44.512Z".to_owned(),
                },
                types::FileDiffItem {
                    key: "65538::att65627".to_owned(),
                    url: ATTACHMENT_URL.to_owned(),
                    updated_at: "2025-01-13T11:30:00.250Z".to_owned(),
                },
            ],
        };

        assert_eq!(
            serde_json::to_value(&request).expect("body serializes"),
            json!({
                "partialKey": "acme/98306_ENG",
                "sourceKind": "ATLASSIAN_CONFLUENCE_CLOUD",
                "sourceName": "https://acme.atlassian.net",
                "fileList": [
                    {
                        "key": "65538",
                        "url": PAGE_URL,
                        "updatedAt": "2025-01-14T09:21:44.512Z",
                    },
                    {
                        "key": "65538::att65627",
                        "url": ATTACHMENT_URL,
                        "updatedAt": "2025-01-13T11:30:00.250Z",
                    },
                ],
            })
        );
    }

    /// Unknown members of the answer are ignored.
    #[test]
    fn file_diff_answer_decodes_all_four_categories() {
        let diff: types::FileDiffResponse =
            serde_json::from_str(fixture!("unique/file_diff.json")).expect("answer decodes");

        assert_eq!(diff.new_files, ["65538::att65627"]);
        assert_eq!(diff.updated_files, ["65538"]);
        assert!(diff.moved_files.is_empty());
        assert_eq!(diff.deleted_files, ["65001", "65001::att65002"]);
    }
}

mod unique_graphql {
    use graphql_client::{GraphQLQuery, Response};
    use serde_json::{Value, json};

    use crate::adapters::generated::unique_graphql;

    /// The JSON body an adapter posts for `variables`.
    fn request_body<Q: GraphQLQuery>(variables: Q::Variables) -> Value {
        serde_json::to_value(Q::build_query(variables)).expect("query body serializes")
    }

    fn decode<Q: GraphQLQuery>(body: &str) -> Response<Q::ResponseData> {
        serde_json::from_str(body).expect("GraphQL response decodes")
    }

    /// `data` of a response that must carry no `errors`.
    fn data<Q: GraphQLQuery>(body: &str) -> Q::ResponseData {
        let response = decode::<Q>(body);
        assert_eq!(response.errors, None);
        response.data.expect("data present")
    }

    #[test]
    fn user_sends_no_variables_and_reads_the_user_id() {
        use unique_graphql::user::{User, user};

        // A variable-less operation serializes its unit `Variables` as null.
        assert_eq!(
            request_body::<User>(user::Variables),
            json!({ "operationName": "User", "query": user::QUERY, "variables": null })
        );
        let data = data::<User>(fixture!("unique/user.json"));
        assert_eq!(data.me.user.id, "281936472659472385");
    }

    #[test]
    fn create_scope_accesses_sends_self_grants() {
        use unique_graphql::create_scope_accesses::{
            CreateScopeAccesses, create_scope_accesses as op,
        };

        let grant = |access_type| op::ScopeAccessChangeDto {
            access_type,
            entity_id: "281936472659472385".to_owned(),
            entity_type: op::EntityType::USER,
        };
        let body = request_body::<CreateScopeAccesses>(op::Variables {
            scope_accesses: vec![
                grant(op::AccessType::MANAGE),
                grant(op::AccessType::READ),
                grant(op::AccessType::WRITE),
            ],
            scope_id: "scope_root4f9e2d1c0b8a7".to_owned(),
            apply_to_sub_scopes: Some(false),
            skip_file_access_propagation: Some(true),
        });
        let dto = |access: &str| {
            json!({
                "accessType": access,
                "entityId": "281936472659472385",
                "entityType": "USER",
            })
        };
        assert_eq!(
            body,
            json!({
                "operationName": "CreateScopeAccesses",
                "query": op::QUERY,
                "variables": {
                    "scopeAccesses": [dto("MANAGE"), dto("READ"), dto("WRITE")],
                    "scopeId": "scope_root4f9e2d1c0b8a7",
                    "applyToSubScopes": false,
                    "skipFileAccessPropagation": true,
                },
            })
        );
        assert!(
            data::<CreateScopeAccesses>(fixture!("unique/create_scope_accesses.json"))
                .create_scope_accesses
        );
    }

    #[test]
    fn paginated_scope_lists_children_of_a_parent() {
        use unique_graphql::paginated_scope::{PaginatedScope, paginated_scope as op};

        let body = request_body::<PaginatedScope>(op::Variables {
            skip: 0,
            take: 100,
            where_: op::ScopeWhereInput {
                id: None,
                name: None,
                parent_id: Some(op::StringFilter {
                    equals: Some("scope_root4f9e2d1c0b8a7".to_owned()),
                    in_: None,
                    starts_with: None,
                }),
                external_id: None,
            },
        });
        assert_eq!(
            body,
            json!({
                "operationName": "PaginatedScope",
                "query": op::QUERY,
                "variables": {
                    "skip": 0,
                    "take": 100,
                    "where": { "parentId": { "equals": "scope_root4f9e2d1c0b8a7" } },
                },
            })
        );

        let page = data::<PaginatedScope>(fixture!("unique/paginated_scope.json")).paginated_scope;
        assert_eq!(page.total_count, 2);
        assert_eq!(page.nodes[0].name, "ENG");
        assert_eq!(
            page.nodes[0].external_id.as_deref(),
            Some("confc:acme:98306:ENG")
        );
        assert_eq!(page.nodes[1].external_id, None);
    }

    #[test]
    fn update_scope_sets_an_external_id() {
        use unique_graphql::update_scope::{UpdateScope, update_scope as op};

        let body = request_body::<UpdateScope>(op::Variables {
            id: "scope_root4f9e2d1c0b8a7".to_owned(),
            input: op::ScopeUpdateInput {
                external_id: Some("confc:cloud:a1b2c3d4-5e6f-4a7b-8c9d-0e1f2a3b4c5d".to_owned()),
            },
        });
        assert_eq!(body["operationName"], "UpdateScope");
        assert_eq!(
            body["variables"],
            json!({
                "id": "scope_root4f9e2d1c0b8a7",
                "input": { "externalId": "confc:cloud:a1b2c3d4-5e6f-4a7b-8c9d-0e1f2a3b4c5d" },
            })
        );
    }

    /// Clearing is an explicit `null`, never an omitted field (PROTOCOL §7.2).
    #[test]
    fn update_scope_clears_an_external_id_with_an_explicit_null() {
        use unique_graphql::update_scope::{UpdateScope, update_scope as op};

        let body = request_body::<UpdateScope>(op::Variables {
            id: "scope_root4f9e2d1c0b8a7".to_owned(),
            input: op::ScopeUpdateInput { external_id: None },
        });
        assert_eq!(
            body,
            json!({
                "operationName": "UpdateScope",
                "query": op::QUERY,
                "variables": {
                    "id": "scope_root4f9e2d1c0b8a7",
                    "input": { "externalId": null },
                },
            })
        );

        let scope = data::<UpdateScope>(fixture!("unique/update_scope.json")).update_scope;
        assert_eq!(scope.id, "scope_root4f9e2d1c0b8a7");
        assert_eq!(scope.name, "Confluence");
        assert_eq!(scope.external_id, None);
        assert_eq!(scope.parent_id.as_deref(), Some("scope_top1a2b3c4d5e6f7"));
    }

    /// A uniqueness conflict arrives as `errors` with `data: null`; the
    /// status used for metrics sits in `extensions.response.statusCode`.
    #[test]
    fn update_scope_conflict_decodes_the_error() {
        use unique_graphql::update_scope::UpdateScope;

        let response = decode::<UpdateScope>(fixture!("unique/update_scope_conflict.json"));
        assert_eq!(response.data, None);
        let errors = response.errors.expect("errors present");
        assert!(errors[0].message.contains("already exists"));
        let status = errors[0]
            .extensions
            .as_ref()
            .and_then(|extensions| extensions.get("response"))
            .and_then(|response| response.get("statusCode"))
            .and_then(Value::as_u64);
        assert_eq!(status, Some(409));
    }

    #[test]
    fn generate_scopes_based_on_paths_returns_one_leaf_per_path() {
        use unique_graphql::generate_scopes_based_on_paths::{
            GenerateScopesBasedOnPaths, generate_scopes_based_on_paths as op,
        };

        let body = request_body::<GenerateScopesBasedOnPaths>(op::Variables {
            paths: vec!["/Confluence/ENG".to_owned(), "/Confluence/PRD".to_owned()],
            inherit_access: Some(true),
        });
        assert_eq!(body["operationName"], "GenerateScopesBasedOnPaths");
        assert_eq!(
            body["variables"],
            json!({ "paths": ["/Confluence/ENG", "/Confluence/PRD"], "inheritAccess": true })
        );

        let scopes = data::<GenerateScopesBasedOnPaths>(fixture!(
            "unique/generate_scopes_based_on_paths.json"
        ))
        .generate_scopes_based_on_paths;
        let names: Vec<_> = scopes.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["ENG", "PRD"]);
        assert_eq!(scopes[1].external_id, None);
        assert_eq!(
            scopes[1].parent_id.as_deref(),
            Some("scope_root4f9e2d1c0b8a7")
        );
    }

    #[test]
    fn bulk_move_moves_scopes_under_a_new_root() {
        use unique_graphql::bulk_move::{BulkMove, bulk_move as op};

        let body = request_body::<BulkMove>(op::Variables {
            input: op::BulkMoveInput {
                scope_ids: vec![
                    "scope_u3k7b1q9x2m4n8p0r6t5".to_owned(),
                    "scope_n5p9r3t7v1x5z9b3d7f1".to_owned(),
                ],
                target_scope_id: "scope_root4f9e2d1c0b8a7".to_owned(),
            },
        });
        assert_eq!(body["operationName"], "BulkMove");
        assert_eq!(
            body["variables"],
            json!({
                "input": {
                    "scopeIds": ["scope_u3k7b1q9x2m4n8p0r6t5", "scope_n5p9r3t7v1x5z9b3d7f1"],
                    "targetScopeId": "scope_root4f9e2d1c0b8a7",
                },
            })
        );

        let moved = data::<BulkMove>(fixture!("unique/bulk_move.json")).bulk_move;
        assert_eq!(moved.scope_ids.len(), 2);
        assert!(moved.async_metadata_rebuild);
        assert_eq!(moved.job_id.as_deref(), Some("bulk-move-7f3e9a21"));
        assert_eq!(moved.affected_files, Some(318));
    }

    #[test]
    fn delete_folder_reports_successes_and_failures() {
        use unique_graphql::delete_folder::{DeleteFolder, delete_folder as op};

        let body = request_body::<DeleteFolder>(op::Variables {
            scope_id: "scope_oldroot9z8y7x6w5v4u".to_owned(),
            recursive: false,
        });
        assert_eq!(body["operationName"], "DeleteFolder");
        assert_eq!(
            body["variables"],
            json!({ "scopeId": "scope_oldroot9z8y7x6w5v4u", "recursive": false })
        );

        let result = data::<DeleteFolder>(fixture!("unique/delete_folder.json")).delete_folder;
        assert_eq!(result.success_folders[0].path, "/Confluence-old");
        assert_eq!(result.failed_folders[0].fail_reason, "MISSING_PERMISSION");
    }

    /// Phase 1 (register): `fileUrl` and every other unset variable is
    /// omitted, not sent as null (PROTOCOL §7.2, §7.3).
    #[test]
    fn content_upsert_registers_without_unset_variables() {
        use unique_graphql::content_upsert::{ContentUpsert, content_upsert as op};

        let body = request_body::<ContentUpsert>(op::Variables {
            input: op::ContentCreateInput {
                key: "acme/98306_ENG/65538".to_owned(),
                title: Some("Onboarding Guide".to_owned()),
                mime_type: "text/html".to_owned(),
                owner_type: "SCOPE".to_owned(),
                url: Some(
                    "https://acme.atlassian.net/wiki/spaces/ENG/pages/65538/Onboarding+Guide"
                        .to_owned(),
                ),
                byte_size: Some(312),
                file_access: None,
                ingestion_config: None,
                metadata: Some(json!({
                    "confluenceLabels": ["onboarding"],
                    "spaceKey": "ENG",
                    "spaceName": "Engineering",
                })),
                expires_at: None,
            },
            file_url: None,
            chat_id: None,
            scope_id: Some("scope_u3k7b1q9x2m4n8p0r6t5".to_owned()),
            source_owner_type: Some("COMPANY".to_owned()),
            source_name: Some("https://acme.atlassian.net".to_owned()),
            source_kind: Some("ATLASSIAN_CONFLUENCE_CLOUD".to_owned()),
            store_internally: Some(false),
            base_url: Some("https://acme.atlassian.net".to_owned()),
        });
        assert_eq!(
            body,
            json!({
                "operationName": "ContentUpsert",
                "query": op::QUERY,
                "variables": {
                    "input": {
                        "key": "acme/98306_ENG/65538",
                        "title": "Onboarding Guide",
                        "mimeType": "text/html",
                        "ownerType": "SCOPE",
                        "url": "https://acme.atlassian.net/wiki/spaces/ENG/pages/65538/Onboarding+Guide",
                        "byteSize": 312,
                        "metadata": {
                            "confluenceLabels": ["onboarding"],
                            "spaceKey": "ENG",
                            "spaceName": "Engineering",
                        },
                    },
                    "scopeId": "scope_u3k7b1q9x2m4n8p0r6t5",
                    "sourceOwnerType": "COMPANY",
                    "sourceName": "https://acme.atlassian.net",
                    "sourceKind": "ATLASSIAN_CONFLUENCE_CLOUD",
                    "storeInternally": false,
                    "baseUrl": "https://acme.atlassian.net",
                },
            })
        );

        let content = data::<ContentUpsert>(fixture!("unique/content_upsert.json")).content_upsert;
        assert_eq!(content.id, "cont_k9m3p7s1v5y9b3e7h1k5");
        assert_eq!(content.key, "acme/98306_ENG/65538");
        assert!(
            content
                .write_url
                .as_deref()
                .is_some_and(|url| url.contains("&key=acme%2F98306_ENG%2F65538"))
        );
        assert!(content.read_url.is_some());
        assert_eq!(content.internally_stored_at, None);
        let source = content.source.expect("source selected");
        assert_eq!(source.kind.as_deref(), Some("ATLASSIAN_CONFLUENCE_CLOUD"));
    }

    #[test]
    fn paginated_content_finds_content_by_keys() {
        use unique_graphql::paginated_content::{PaginatedContent, paginated_content as op};

        let body = request_body::<PaginatedContent>(op::Variables {
            skip: 0,
            take: 100,
            where_: Some(op::ContentWhereInput {
                key: Some(op::StringFilter {
                    equals: None,
                    in_: Some(vec![
                        "acme/98306_ENG/65538".to_owned(),
                        "acme/98306_ENG/65538::att65601".to_owned(),
                    ]),
                    starts_with: None,
                }),
                owner_id: None,
                owner_type: None,
            }),
        });
        assert_eq!(body["operationName"], "PaginatedContent");
        assert_eq!(body["query"], op::QUERY);
        assert_eq!(
            body["variables"],
            json!({
                "skip": 0,
                "take": 100,
                "where": {
                    "key": { "in": ["acme/98306_ENG/65538", "acme/98306_ENG/65538::att65601"] },
                },
            })
        );

        let page =
            data::<PaginatedContent>(fixture!("unique/paginated_content.json")).paginated_content;
        assert_eq!(page.total_count, 2);
        let [page_node, attachment_node] = page.nodes.as_slice() else {
            panic!("two nodes expected");
        };
        assert_eq!(page_node.key, "acme/98306_ENG/65538");
        assert_eq!(
            page_node.metadata.as_ref().map(|m| &m["spaceKey"]),
            Some(&json!("ENG"))
        );
        assert_eq!(page_node.ingestion_state.as_deref(), Some("FINISHED"));
        assert_eq!(attachment_node.file_access, None);
        assert_eq!(attachment_node.metadata, None);
        assert_eq!(attachment_node.byte_size, Some(48213));
    }

    #[test]
    fn paginated_content_count_counts_a_key_prefix() {
        use unique_graphql::paginated_content_count::{
            PaginatedContentCount, paginated_content_count as op,
        };

        let body = request_body::<PaginatedContentCount>(op::Variables {
            where_: Some(op::ContentWhereInput {
                key: Some(op::StringFilter {
                    equals: None,
                    in_: None,
                    starts_with: Some("acme/98306_ENG/".to_owned()),
                }),
                owner_id: None,
                owner_type: None,
            }),
        });
        assert_eq!(body["operationName"], "PaginatedContentCount");
        assert_eq!(
            body["variables"],
            json!({ "where": { "key": { "startsWith": "acme/98306_ENG/" } } })
        );

        let count = data::<PaginatedContentCount>(fixture!("unique/paginated_content_count.json"));
        assert_eq!(count.paginated_content.total_count, 1287);
    }

    #[test]
    fn content_delete_by_content_ids_returns_the_deleted_ids() {
        use unique_graphql::content_delete_by_content_ids::{
            ContentDeleteByContentIds, content_delete_by_content_ids as op,
        };

        let body = request_body::<ContentDeleteByContentIds>(op::Variables {
            content_ids: vec![
                "cont_k9m3p7s1v5y9b3e7h1k5".to_owned(),
                "cont_b2d6f0h4j8l2n6p0r4t8".to_owned(),
            ],
        });
        assert_eq!(body["operationName"], "ContentDeleteByContentIds");
        assert_eq!(
            body["variables"],
            json!({ "contentIds": ["cont_k9m3p7s1v5y9b3e7h1k5", "cont_b2d6f0h4j8l2n6p0r4t8"] })
        );

        let deleted = data::<ContentDeleteByContentIds>(fixture!(
            "unique/content_delete_by_content_ids.json"
        ))
        .content_delete_by_content_ids;
        assert_eq!(deleted.len(), 2);
        assert_eq!(deleted[0].id, "cont_k9m3p7s1v5y9b3e7h1k5");
    }
}
