//! HTTP routes of the simulator: the two GraphQL services, the file-diff,
//! blob PUTs (pre-signed URL and scoped upload) and the token endpoint,
//! with auth checks, fault injection and counting in front of each.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use axum::{
    Json, Router,
    body::{Body, Bytes},
    extract::{DefaultBodyLimit, Path, Query, State as AxumState},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{post, put},
};
use base64::Engine as _;
use bytes::BytesMut;
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use super::{
    control::{Counters, Faults, Operation, UniqueFault, UniqueSimAuth, UniqueSimSettings},
    model::{UploadRecord, UploadVia},
    schema::{self, IngestionSchema, ScopeManagementSchema},
    state::{DiffItem, State, hex},
};

/// Everything the handlers share.
pub(super) struct Shared {
    pub settings: UniqueSimSettings,
    pub origin: String,
    state: Mutex<State>,
    pub faults: Mutex<Faults>,
    pub tokens: Mutex<Tokens>,
    pub counters: Counters,
    /// Set when the simulator shuts down: releases stalled requests.
    pub stopping: tokio::sync::watch::Sender<bool>,
    ingestion: IngestionSchema,
    scope_management: ScopeManagementSchema,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("origin", &self.origin)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Issued bearer tokens and when they stop being accepted.
#[derive(Debug, Default)]
pub(super) struct Tokens {
    valid_until: HashMap<String, Instant>,
    issued: u64,
}

impl Tokens {
    pub fn revoke_all(&mut self) {
        self.valid_until.clear();
    }

    fn issue(&mut self, lifetime: Duration) -> String {
        self.issued += 1;
        let token = format!("sim-token-{}", self.issued);
        self.valid_until
            .insert(token.clone(), Instant::now() + lifetime);
        token
    }

    fn accepts(&self, token: &str) -> bool {
        self.valid_until
            .get(token)
            .is_some_and(|until| Instant::now() < *until)
    }
}

impl Shared {
    pub fn new(settings: UniqueSimSettings, origin: String) -> Self {
        Shared {
            state: Mutex::new(State::new(origin.clone())),
            faults: Mutex::new(Faults::new(settings.seed)),
            tokens: Mutex::new(Tokens::default()),
            counters: Counters::default(),
            stopping: tokio::sync::watch::Sender::new(false),
            ingestion: schema::ingestion_schema(),
            scope_management: schema::scope_management_schema(),
            settings,
            origin,
        }
    }

    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("state lock not poisoned")
    }

    fn take_fault(&self, operation: Operation) -> Option<UniqueFault> {
        self.faults.lock().expect("not poisoned").take(operation)
    }

    /// Checks the credentials of a GraphQL or file-diff request; the 401
    /// answer when they are refused.
    fn refuse_unauthenticated(&self, headers: &HeaderMap) -> Option<Response> {
        let refusal = match &self.settings.auth {
            UniqueSimAuth::ClusterLocal { required_headers } => required_headers
                .iter()
                .find(|(name, value)| {
                    headers.get(name.as_str()).and_then(|v| v.to_str().ok()) != Some(value.as_str())
                })
                .map(|(name, _)| format!("missing or wrong service header {name}")),
            UniqueSimAuth::External { .. } => {
                let token = headers
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "));
                match token {
                    Some(token) if self.tokens.lock().expect("not poisoned").accepts(token) => None,
                    Some(_) => Some("token expired or unknown".to_owned()),
                    None => Some("no bearer token".to_owned()),
                }
            }
        };
        refusal.map(|message| {
            self.counters.unauthorized();
            (
                StatusCode::UNAUTHORIZED,
                Json(json!({"statusCode": 401, "message": message})),
            )
                .into_response()
        })
    }
}

pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/ingestion/graphql", post(ingestion_graphql))
        .route("/scope-management/graphql", post(scope_management_graphql))
        .route("/ingestion/v2/content/file-diff", post(file_diff))
        .route("/ingestion/scoped/upload", put(scoped_upload))
        .route("/blob/{content_id}", put(blob_upload))
        .route("/oauth/v2/token", post(token))
        // File-diff lists of large spaces exceed axum's 2 MB default;
        // uploads are streamed and never limited.
        .layer(DefaultBodyLimit::disable())
        .with_state(shared)
}

#[derive(Debug, Clone, Copy)]
enum Service {
    Ingestion,
    ScopeManagement,
}

async fn ingestion_graphql(
    AxumState(shared): AxumState<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    graphql(shared, Service::Ingestion, &headers, &body).await
}

async fn scope_management_graphql(
    AxumState(shared): AxumState<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    graphql(shared, Service::ScopeManagement, &headers, &body).await
}

/// A fault answer that replaces the real one, if the fault is of that kind;
/// delays are served here and the request then proceeds.
async fn short_circuit(fault: Option<&UniqueFault>, shared: &Shared) -> Option<Response> {
    match fault? {
        UniqueFault::Status { status, retry_after } => {
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut response = (status, Json(json!({"statusCode": status.as_u16(), "message": "injected fault"}))).into_response();
            if let Some(seconds) = retry_after {
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(*seconds));
            }
            Some(response)
        }
        UniqueFault::GraphqlError { code, status } => Some(
            Json(json!({
                "data": null,
                "errors": [{
                    "message": format!("injected {code}"),
                    "extensions": {"code": code, "response": {"statusCode": status, "message": code}},
                }],
            }))
            .into_response(),
        ),
        UniqueFault::Redirect => Some(
            (
                StatusCode::FOUND,
                [(header::LOCATION, format!("{}/blob/redirected", shared.origin))],
            )
                .into_response(),
        ),
        UniqueFault::Delay(wait) => {
            tokio::time::sleep(*wait).await;
            None
        }
        UniqueFault::Stall => {
            // Nothing more is read or sent until the simulator stops; the
            // client's own timeouts are what ends the request.
            let mut stopping = shared.stopping.subscribe();
            let _ = stopping.wait_for(|stopping| *stopping).await;
            Some(StatusCode::SERVICE_UNAVAILABLE.into_response())
        }
        UniqueFault::ResetMidUpload => Some(StatusCode::SERVICE_UNAVAILABLE.into_response()),
        UniqueFault::ErrorAfterData
        | UniqueFault::DiffIgnoresSubmission
        | UniqueFault::AnswerLost
        | UniqueFault::AnswerAfter(_)
        | UniqueFault::DeletionAcknowledgedNotDone
        | UniqueFault::Proceed => None,
    }
}

/// The answer of a request that was executed, unless the fault loses it
/// (`AnswerLost`) or holds it back for a while (`AnswerAfter`).
async fn after_execution(fault: Option<&UniqueFault>, answer: Response) -> Response {
    match fault {
        Some(UniqueFault::AnswerLost) => (
            StatusCode::GATEWAY_TIMEOUT,
            Json(json!({"statusCode": 504, "message": "upstream answer lost (injected)"})),
        )
            .into_response(),
        Some(UniqueFault::AnswerAfter(wait)) => {
            tokio::time::sleep(*wait).await;
            answer
        }
        _ => answer,
    }
}

async fn graphql(
    shared: Arc<Shared>,
    service: Service,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let mut request: async_graphql::Request = match serde_json::from_slice(body) {
        Ok(request) => request,
        Err(e) => {
            shared.counters.call(Operation::OtherGraphql);
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"errors": [{"message": e.to_string()}]})),
            )
                .into_response();
        }
    };
    let (operation, is_mutation) = describe(&mut request);
    shared.counters.call(operation);
    let _in_flight = shared.counters.enter();
    if let Some(refusal) = shared.refuse_unauthenticated(headers) {
        return refusal;
    }
    let fault = shared.take_fault(operation);
    if let Some(answer) = short_circuit(fault.as_ref(), &shared).await {
        return answer;
    }
    if fault == Some(UniqueFault::DeletionAcknowledgedNotDone)
        && operation == Operation::ContentDeleteByContentIds
    {
        let ids = serde_json::to_value(&request.variables)
            .ok()
            .and_then(|variables| variables.get("contentIds").cloned());
        let acknowledged: Vec<Value> = ids
            .as_ref()
            .and_then(Value::as_array)
            .map(|ids| ids.iter().map(|id| json!({"id": id})).collect())
            .unwrap_or_default();
        return Json(json!({"data": {"contentDeleteByContentIds": acknowledged}})).into_response();
    }
    let request = request.data(Arc::clone(&shared));
    let mut response = match service {
        Service::Ingestion => shared.ingestion.execute(request).await,
        Service::ScopeManagement => shared.scope_management.execute(request).await,
    };
    if is_mutation && response.errors.is_empty() {
        shared.counters.mutation();
    }
    if fault == Some(UniqueFault::ErrorAfterData) {
        response.errors.push(async_graphql::ServerError::new(
            "injected error after data",
            None,
        ));
    }
    after_execution(fault.as_ref(), Json(response).into_response()).await
}

/// The operation a request runs (by `operationName`, else the document's
/// only operation) and whether it is a mutation.
fn describe(request: &mut async_graphql::Request) -> (Operation, bool) {
    let wanted = request.operation_name.clone();
    let Ok(document) = request.parsed_query() else {
        return (Operation::OtherGraphql, false);
    };
    let found = document
        .operations
        .iter()
        .find(|(name, _)| match (&wanted, name) {
            (Some(wanted), Some(name)) => name.as_str() == wanted,
            (None, _) => true,
            (Some(_), None) => false,
        });
    match found {
        Some((name, definition)) => (
            name.map_or(Operation::OtherGraphql, |name| {
                Operation::from_graphql_name(name.as_str())
            }),
            definition.node.ty == async_graphql::parser::types::OperationType::Mutation,
        ),
        None => (Operation::OtherGraphql, false),
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FileDiffRequest {
    partial_key: String,
    #[allow(
        dead_code,
        reason = "required on the wire; Unique's filtering by it is not observable (§7.1)"
    )]
    source_kind: String,
    #[allow(
        dead_code,
        reason = "required on the wire; Unique's filtering by it is not observable (§7.1)"
    )]
    source_name: String,
    file_list: Vec<FileDiffEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FileDiffEntry {
    key: String,
    #[allow(dead_code, reason = "required on the wire, unused by the diff")]
    url: String,
    updated_at: String,
}

async fn file_diff(
    AxumState(shared): AxumState<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.counters.call(Operation::FileDiff);
    let _in_flight = shared.counters.enter();
    if let Some(refusal) = shared.refuse_unauthenticated(&headers) {
        return refusal;
    }
    let fault = shared.take_fault(Operation::FileDiff);
    if let Some(answer) = short_circuit(fault.as_ref(), &shared).await {
        return answer;
    }
    let request: FileDiffRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"statusCode": 400, "message": e.to_string()})),
            )
                .into_response();
        }
    };
    let submitted = if fault == Some(UniqueFault::DiffIgnoresSubmission) {
        Vec::new()
    } else {
        request.file_list
    };
    let items: Vec<DiffItem> = submitted
        .into_iter()
        .map(|entry| DiffItem {
            key: entry.key,
            updated_at: entry.updated_at,
        })
        .collect();
    let answer = shared.state().file_diff(&request.partial_key, &items);
    // NestJS answers a POST with 201.
    let answer = (
        StatusCode::CREATED,
        Json(json!({
            "newFiles": answer.new,
            "updatedFiles": answer.updated,
            "movedFiles": answer.moved,
            "deletedFiles": answer.deleted,
        })),
    )
        .into_response();
    after_execution(fault.as_ref(), answer).await
}

async fn blob_upload(
    AxumState(shared): AxumState<Arc<Shared>>,
    Path(_content_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    // Like a SAS token: the read URL does not grant writes.
    if query.get("sp").map(String::as_str) != Some("cw") {
        shared.counters.call(Operation::Upload);
        drain(body).await;
        return (StatusCode::FORBIDDEN, "AuthorizationPermissionMismatch").into_response();
    }
    receive_upload(
        &shared,
        UploadVia::BlobStorage,
        query.get("key"),
        &headers,
        body,
    )
    .await
}

async fn scoped_upload(
    AxumState(shared): AxumState<Arc<Shared>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    receive_upload(
        &shared,
        UploadVia::ScopedUpload,
        query.get("key"),
        &headers,
        body,
    )
    .await
}

/// Reads about half of the declared body, then drops the connection: the
/// handler unwinds, which ends the connection's task without an answer.
/// `resume_unwind` skips the panic hook, so nothing is printed.
async fn reset_mid_upload(headers: &HeaderMap, body: Body) -> ! {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    let mut stream = body.into_data_stream();
    let mut received = 0u64;
    while received < declared / 2 {
        match stream.next().await {
            Some(Ok(chunk)) => received += chunk.len() as u64,
            _ => break,
        }
    }
    std::panic::resume_unwind(Box::new("injected reset mid-upload"))
}

/// Reads and discards a body, so an early refusal reaches a client that is
/// still sending instead of a reset connection.
async fn drain(body: Body) {
    let mut stream = body.into_data_stream();
    while stream.next().await.is_some() {}
}

/// Stores one blob PUT: hashes it while it streams in, keeping the bytes
/// only up to the settings' limit, and records its headers.
async fn receive_upload(
    shared: &Shared,
    via: UploadVia,
    key: Option<&String>,
    headers: &HeaderMap,
    body: Body,
) -> Response {
    shared.counters.call(Operation::Upload);
    let fault = shared.take_fault(Operation::Upload);
    if fault == Some(UniqueFault::ResetMidUpload) {
        reset_mid_upload(headers, body).await;
    }
    if let Some(answer) = short_circuit(fault.as_ref(), shared).await {
        drain(body).await;
        return answer;
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let refusal = match (key, declared) {
        (None, _) => Some((StatusCode::BAD_REQUEST, "missing key parameter")),
        (Some(key), _) if !shared.state().knows_blob(key) => {
            Some((StatusCode::NOT_FOUND, "BlobNotFound"))
        }
        (_, None) => Some((StatusCode::LENGTH_REQUIRED, "MissingContentLengthHeader")),
        _ if headers.get("x-ms-blob-type").and_then(|v| v.to_str().ok()) != Some("BlockBlob") => {
            Some((
                StatusCode::BAD_REQUEST,
                "MissingRequiredHeader x-ms-blob-type",
            ))
        }
        _ => None,
    };
    if let Some(refusal) = refusal {
        drain(body).await;
        return refusal.into_response();
    }
    let (Some(key), Some(declared)) = (key, declared) else {
        unreachable!("refused above");
    };
    let keep_limit = shared.settings.keep_bodies_up_to;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut kept = (declared <= keep_limit).then(BytesMut::new);
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else {
            return (StatusCode::BAD_REQUEST, "body ended abnormally").into_response();
        };
        size += chunk.len() as u64;
        hasher.update(&chunk);
        if let Some(buffer) = kept.as_mut() {
            buffer.extend_from_slice(&chunk);
        }
    }
    if size != declared {
        return (
            StatusCode::BAD_REQUEST,
            "body length differs from Content-Length",
        )
            .into_response();
    }
    let record = UploadRecord {
        via,
        key: key.clone(),
        headers: headers
            .iter()
            .filter(|(name, _)| *name != header::HOST)
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect::<BTreeMap<_, _>>(),
        size,
        sha256: hex(&hasher.finalize()),
    };
    shared
        .state()
        .finish_upload(record, kept.map(BytesMut::freeze));
    shared.counters.upload(size);
    after_execution(fault.as_ref(), StatusCode::CREATED.into_response()).await
}

/// The Zitadel-like token endpoint: Basic client credentials, a form body
/// of exactly `scope` then `grant_type`, the project audience in `scope`.
async fn token(
    AxumState(shared): AxumState<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.counters.call(Operation::Token);
    if let Some(answer) = short_circuit(shared.take_fault(Operation::Token).as_ref(), &shared).await
    {
        return answer;
    }
    let UniqueSimAuth::External {
        client_id,
        client_secret,
        project_id,
        token_lifetime,
    } = &shared.settings.auth
    else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{client_id}:{client_secret}"));
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if authorization != Some(format!("Basic {basic}").as_str()) {
        return token_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    if form != Some("application/x-www-form-urlencoded") {
        return token_error(StatusCode::BAD_REQUEST, "invalid_request");
    }
    let scope = format!(
        "openid profile email urn:zitadel:iam:user:resourceowner urn:zitadel:iam:org:projects:roles \
         urn:zitadel:iam:org:project:id:{project_id}:aud"
    );
    let expected: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("scope", &scope)
        .append_pair("grant_type", "client_credentials")
        .finish();
    if body.as_ref() != expected.as_bytes() {
        return token_error(StatusCode::BAD_REQUEST, "invalid_scope");
    }
    let access_token = shared
        .tokens
        .lock()
        .expect("not poisoned")
        .issue(*token_lifetime);
    shared.counters.token_issued();
    Json(json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": token_lifetime.as_secs(),
    }))
    .into_response()
}

fn token_error(status: StatusCode, error: &str) -> Response {
    (status, Json(json!({"error": error}))).into_response()
}
