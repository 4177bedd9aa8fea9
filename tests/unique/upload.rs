//! Blob uploads: the cluster-local rewrite, exact headers, streaming with
//! `Content-Length`, and every way an upload can fail.

use bytes::Bytes;
use confluence_connector::{
    ports::{
        ByteStream, ErrorKind, KnowledgeBase, PortError,
        knowledge_base::{RegisteredContent, UploadBody},
    },
    sim::unique::{Operation, UniqueFault, UploadVia},
};
use futures::stream;
use sha2::{Digest, Sha256};

use crate::support::{Harness, ROOT, page};

const KEY: &str = "tenant1/space-1_SP/p1::att-1";

async fn registered(h: &Harness) -> RegisteredContent {
    h.kb.register_content(&page(KEY, ROOT, 11)).await.unwrap()
}

fn chunks(parts: Vec<Result<Bytes, PortError>>, length: u64) -> UploadBody {
    UploadBody::Stream {
        length,
        stream: ByteStream {
            content_length: Some(length),
            chunks: Box::pin(stream::iter(parts)),
        },
    }
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The `key` query parameter of a URL, decoded.
fn key_of(url: &str) -> String {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(name, _)| name == "key")
        .unwrap()
        .1
        .into_owned()
}

const UNIQUE_AUTH_HEADERS: [&str; 4] =
    ["authorization", "x-service-id", "x-company-id", "x-user-id"];

#[tokio::test]
async fn cluster_local_uploads_go_to_the_scoped_upload_without_service_headers() {
    let h = Harness::cluster_local().await.granted().await;
    let registered = registered(&h).await;
    h.kb.upload_content(
        &registered,
        "application/pdf",
        UploadBody::Bytes(Bytes::from_static(b"%PDF-1.7 ok")),
    )
    .await
    .unwrap();

    let state = h.sim.snapshot();
    let [upload] = state.uploads.as_slice() else {
        panic!("one upload expected, got {:?}", state.uploads);
    };
    assert_eq!(upload.via, UploadVia::ScopedUpload);
    // The decoded key of writeUrl (it contains `/` and `::`) survived the
    // re-encoding.
    assert_eq!(upload.key, key_of(&registered.write_url));
    assert!(upload.key.starts_with(KEY));
    assert_eq!(upload.headers["content-type"], "application/pdf");
    assert_eq!(upload.headers["content-length"], "11");
    assert_eq!(upload.headers["x-ms-blob-type"], "BlockBlob");
    for name in UNIQUE_AUTH_HEADERS {
        assert!(
            !upload.headers.contains_key(name),
            "{name} must not reach the upload"
        );
    }
    assert_eq!(
        state.content(KEY).unwrap().blob.as_ref().unwrap().text(),
        Some("%PDF-1.7 ok")
    );
}

#[tokio::test]
async fn external_uploads_go_to_the_write_url_without_the_bearer_token() {
    let h = Harness::external().await.granted().await;
    let registered = registered(&h).await;
    h.kb.upload_content(
        &registered,
        "text/html",
        UploadBody::Bytes(Bytes::from_static(b"<p>hello</p>")),
    )
    .await
    .unwrap();
    let state = h.sim.snapshot();
    assert_eq!(state.uploads.len(), 1);
    assert_eq!(state.uploads[0].via, UploadVia::BlobStorage);
    for name in UNIQUE_AUTH_HEADERS {
        assert!(
            !state.uploads[0].headers.contains_key(name),
            "{name} must not reach the upload"
        );
    }
}

#[tokio::test]
async fn streams_are_sent_with_content_length_not_chunked() {
    let h = Harness::external().await.granted().await;
    let registered = registered(&h).await;
    let parts = [&b"first "[..], b"second ", b"third"];
    let whole: Vec<u8> = parts.concat();
    let body = chunks(
        parts
            .iter()
            .map(|p| Ok(Bytes::copy_from_slice(p)))
            .collect(),
        whole.len() as u64,
    );
    h.kb.upload_content(&registered, "text/plain; charset=UTF-8", body)
        .await
        .unwrap();
    let state = h.sim.snapshot();
    let upload = &state.uploads[0];
    assert_eq!(upload.headers["content-length"], whole.len().to_string());
    assert_eq!(upload.headers["content-type"], "text/plain; charset=UTF-8");
    assert!(!upload.headers.contains_key("transfer-encoding"));
    assert_eq!(upload.sha256, hex_sha256(&whole));
    assert_eq!(h.sim.counters().upload_bytes, whole.len() as u64);
}

#[tokio::test]
async fn refused_uploads_are_typed_errors_and_never_retried() {
    let h = Harness::cluster_local().await.granted().await;
    let registered = registered(&h).await;
    let body = || UploadBody::Bytes(Bytes::from_static(b"%PDF-1.7 ok"));

    h.sim
        .fail_next(Operation::Upload, 1, UniqueFault::status(413));
    let too_large =
        h.kb.upload_content(&registered, "application/pdf", body())
            .await
            .unwrap_err();
    assert_eq!(too_large.context(), "Upload failed with status 413");
    assert_eq!(
        (too_large.kind(), too_large.status()),
        (ErrorKind::Rejected, Some(413))
    );

    h.sim
        .fail_next(Operation::Upload, 1, UniqueFault::status(503));
    let unavailable =
        h.kb.upload_content(&registered, "application/pdf", body())
            .await
            .unwrap_err();
    assert_eq!(unavailable.context(), "Upload failed with status 503");
    assert_eq!(unavailable.kind(), ErrorKind::Transient);

    assert_eq!(
        h.sim.counters().calls(Operation::Upload),
        2,
        "one attempt each"
    );
    assert!(h.sim.snapshot().uploads.is_empty());
}

#[tokio::test]
async fn redirects_are_not_followed_on_upload() {
    let h = Harness::external().await.granted().await;
    let registered = registered(&h).await;
    h.sim.fail_next(Operation::Upload, 1, UniqueFault::Redirect);
    let err =
        h.kb.upload_content(
            &registered,
            "application/pdf",
            UploadBody::Bytes(Bytes::from_static(b"x")),
        )
        .await
        .unwrap_err();
    assert_eq!(err.context(), "Upload failed with status 302");
    assert_eq!(h.sim.counters().calls(Operation::Upload), 1);
}

#[tokio::test]
async fn a_failing_source_fails_the_upload_with_the_source_error() {
    let h = Harness::external().await.granted().await;
    let registered = registered(&h).await;
    let body = chunks(
        vec![
            Ok(Bytes::from_static(b"first part")),
            Err(PortError::new(
                ErrorKind::NotFound,
                "GET attachment att-1 download",
            )),
        ],
        100,
    );
    let err =
        h.kb.upload_content(&registered, "application/pdf", body)
            .await
            .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(err.context(), "GET attachment att-1 download");
    assert!(h.sim.snapshot().uploads.is_empty(), "nothing landed");
}

#[tokio::test]
async fn a_source_shorter_than_declared_fails_the_upload() {
    let h = Harness::external().await.granted().await;
    let registered = registered(&h).await;
    let body = chunks(vec![Ok(Bytes::from_static(b"12345"))], 10);
    let err =
        h.kb.upload_content(&registered, "application/pdf", body)
            .await
            .unwrap_err();
    assert_eq!(
        err.context(),
        "upload source ended after 5 of the declared 10 bytes"
    );
    assert!(h.sim.snapshot().uploads.is_empty());
}

#[tokio::test]
async fn a_cluster_local_write_url_without_key_fails_the_item() {
    let h = Harness::cluster_local().await.granted().await;
    let mut registered = registered(&h).await;
    registered.write_url = format!("{}/blob/cont_1?sp=cw&sig=s", h.sim.origin());
    let err =
        h.kb.upload_content(
            &registered,
            "text/html",
            UploadBody::Bytes(Bytes::from_static(b"x")),
        )
        .await
        .unwrap_err();
    assert_eq!(err.context(), "writeUrl is missing key parameter");
    assert_eq!(
        h.sim.counters().calls(Operation::Upload),
        0,
        "nothing was sent"
    );
}
