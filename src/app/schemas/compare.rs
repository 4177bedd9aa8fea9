//! Pure comparison of one of our OpenAPI subsets with a published OpenAPI
//! document: which operations, parameters and fields the connector relies on
//! have changed or vanished upstream, and the edits that bring the subset in
//! line again. No I/O; `super` reads and writes the files.
//!
//! Direction matters. For what the connector **sends** (parameters, request
//! bodies) our types must be a subset of upstream's: we must never send
//! something upstream does not accept. For what it **receives** (response
//! fields) upstream's types must be a subset of ours: we must be able to
//! parse whatever upstream documents. `integer` and `number` are distinct.
//! Only names, locations and types are compared: `required` lists,
//! descriptions and formats are ours to choose (schemas/README.md,
//! "Why most response fields are optional").

use std::{collections::BTreeSet, fmt};

use serde_yaml::{Mapping, Value};

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];
/// Deeper than any subset; stops recursive upstream schemas.
const MAX_DEPTH: usize = 16;
/// Longest `$ref` chain followed.
const MAX_REF_HOPS: usize = 32;

/// What changed upstream about something the subset relies on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FindingKind {
    /// No upstream operation with this method and path.
    OperationVanished,
    /// A parameter we send is not declared upstream (renamed or removed).
    ParameterVanished,
    /// A parameter we send has a type upstream does not accept.
    ParameterChanged,
    /// Upstream requires a parameter we do not declare, or declare optional.
    ParameterRequiredUpstream,
    /// A request body media type we send is not accepted upstream.
    RequestBodyVanished,
    /// A response status we rely on is not declared upstream.
    ResponseVanished,
    /// A field we read or send is not declared upstream.
    FieldVanished,
    /// A field's type changed incompatibly.
    FieldChanged,
}

impl FindingKind {
    /// Stable name used in finding keys and in `upstream-deviations.yaml`.
    pub fn name(self) -> &'static str {
        match self {
            Self::OperationVanished => "operation-vanished",
            Self::ParameterVanished => "parameter-vanished",
            Self::ParameterChanged => "parameter-changed",
            Self::ParameterRequiredUpstream => "parameter-required-upstream",
            Self::RequestBodyVanished => "request-body-vanished",
            Self::ResponseVanished => "response-vanished",
            Self::FieldVanished => "field-vanished",
            Self::FieldChanged => "field-changed",
        }
    }
}

/// An edit of our subset that applies upstream's side of a finding.
#[derive(Debug, Clone, PartialEq)]
pub enum Edit {
    /// Take upstream's `type`, `format`, `enum`, `nullable` and (for
    /// scalars) `items` at `pointer`, dropping our `oneOf`/`anyOf`.
    TakeType { pointer: String, upstream: Value },
    /// Remove `name` from `properties` and `required` of the object schema
    /// at `pointer`.
    RemoveField { pointer: String, name: String },
    /// Remove entry `index` of the parameter list at `pointer`.
    RemoveParameter { pointer: String, index: usize },
    /// Append upstream's parameter (inlined) to the list at `pointer`.
    AddParameter { pointer: String, upstream: Value },
    /// Set `required: true` on the parameter at `pointer`.
    RequireParameter { pointer: String },
}

/// One difference, with a stable key for the deviations file.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// Our operationId.
    pub operation: String,
    pub kind: FindingKind,
    /// Where, e.g. `query start` or `response 200 results[].space.id`.
    pub location: String,
    /// Human detail (types on each side).
    pub detail: String,
    /// What `schemas update` does about it; `None`: a human decides.
    pub edit: Option<Edit>,
}

impl Finding {
    /// `{operationId}: {kind} {location}`: what `upstream-deviations.yaml` lists.
    pub fn key(&self) -> String {
        format!("{}: {} {}", self.operation, self.kind.name(), self.location)
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind.name(), self.location)?;
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        Ok(())
    }
}

/// How one of our operations relates to the upstream document.
#[derive(Debug, Clone, PartialEq)]
pub enum Coverage {
    /// Found upstream (under this operationId, if it has one).
    Matched {
        upstream_operation_id: Option<String>,
    },
    /// Its path is under the upstream document's API root, but no upstream
    /// operation has this method and path.
    Vanished,
    /// Its path is outside the upstream document (another API version, or
    /// an endpoint no published document describes, such as OAuth tokens).
    NotCovered,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OperationReport {
    pub method: String,
    pub path: String,
    pub operation_id: String,
    pub coverage: Coverage,
    pub findings: Vec<Finding>,
}

/// The result of comparing one subset with one upstream document.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// API roots of the upstream document: the common path prefix of its
    /// operations, per first path segment (after stripping). Our operations
    /// under none of them are not covered by the document.
    pub upstream_roots: Vec<String>,
    pub operations: Vec<OperationReport>,
}

impl Report {
    pub fn findings(&self) -> impl Iterator<Item = &Finding> {
        self.operations.iter().flat_map(|op| &op.findings)
    }
}

/// The subset is not an OpenAPI document this command can read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeError(pub String);

impl fmt::Display for ShapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Compares `ours` with `upstream`. `strip_prefix` is removed from the start
/// of every upstream path (Data Center serves Cloud's `/wiki/rest/api/…`
/// paths as `/rest/api/…`).
///
/// # Errors
/// Either document has no `paths` mapping, or one of our operations has no
/// `operationId`.
pub fn compare(ours: &Value, upstream: &Value, strip_prefix: &str) -> Result<Report, ShapeError> {
    let upstream_ops = upstream_operations(upstream, strip_prefix)?;
    let upstream_roots = api_roots(&upstream_ops);
    let our_paths = paths_of(ours, "our subset")?;
    let mut operations = Vec::new();
    for (path, item) in our_paths {
        let Some(path) = path.as_str() else { continue };
        for &method in METHODS {
            let Some(operation) = item.get(method) else {
                continue;
            };
            let operation_id = operation
                .get("operationId")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    ShapeError(format!(
                        "our subset: {} {path} has no operationId",
                        method.to_uppercase()
                    ))
                })?
                .to_owned();
            let normalized = normalize_path(path);
            let found = upstream_ops
                .iter()
                .find(|up| up.method == method && up.normalized == normalized);
            let mut report = OperationReport {
                method: method.to_uppercase(),
                path: path.to_owned(),
                operation_id: operation_id.clone(),
                coverage: Coverage::NotCovered,
                findings: Vec::new(),
            };
            match found {
                Some(up) => {
                    report.coverage = Coverage::Matched {
                        upstream_operation_id: up
                            .operation
                            .get("operationId")
                            .and_then(Value::as_str)
                            .map(str::to_owned),
                    };
                    let pointer = format!("/paths/{}/{method}", escape(path));
                    let mut ctx = Context {
                        ours,
                        upstream,
                        operation: &operation_id,
                        findings: &mut report.findings,
                    };
                    ctx.parameters(item, operation, &pointer, up);
                    ctx.request_body(operation, &pointer, up.operation);
                    ctx.responses(operation, &pointer, up.operation);
                }
                None if upstream_roots
                    .iter()
                    .any(|root| is_under(&normalized, root)) =>
                {
                    report.coverage = Coverage::Vanished;
                    report.findings.push(Finding {
                        operation: operation_id,
                        kind: FindingKind::OperationVanished,
                        location: format!("{} {path}", method.to_uppercase()),
                        detail: "no upstream operation has this method and path".into(),
                        edit: None,
                    });
                }
                None => {}
            }
            operations.push(report);
        }
    }
    Ok(Report {
        upstream_roots,
        operations,
    })
}

/// Applies the edits of `findings` to `ours`. Returns how many were applied;
/// an edit whose target no longer exists (already applied through another
/// path to the same component) is skipped.
pub fn apply<'a>(ours: &mut Value, findings: impl IntoIterator<Item = &'a Finding>) -> usize {
    let mut applied = 0;
    // Removals by index must run from the highest index down.
    let mut edits: Vec<&Edit> = findings
        .into_iter()
        .filter_map(|f| f.edit.as_ref())
        .collect();
    edits.sort_by_key(|edit| match edit {
        Edit::RemoveParameter { index, .. } => std::cmp::Reverse(*index),
        _ => std::cmp::Reverse(usize::MAX),
    });
    for edit in edits {
        let done = match edit {
            Edit::TakeType { pointer, upstream } => pointer_mut(ours, pointer)
                .and_then(Value::as_mapping_mut)
                .map(|schema| take_type(schema, upstream))
                .is_some(),
            Edit::RemoveField { pointer, name } => pointer_mut(ours, pointer)
                .and_then(Value::as_mapping_mut)
                .is_some_and(|schema| remove_field(schema, name)),
            Edit::RemoveParameter { pointer, index } => pointer_mut(ours, pointer)
                .and_then(Value::as_sequence_mut)
                .is_some_and(|list| {
                    let present = *index < list.len();
                    if present {
                        list.remove(*index);
                    }
                    present
                }),
            Edit::AddParameter { pointer, upstream } => match pointer_mut(ours, pointer) {
                Some(Value::Sequence(list)) => {
                    list.push(upstream.clone());
                    true
                }
                _ => false,
            },
            Edit::RequireParameter { pointer } => pointer_mut(ours, pointer)
                .and_then(Value::as_mapping_mut)
                .map(|parameter| parameter.insert("required".into(), Value::Bool(true)))
                .is_some(),
        };
        applied += usize::from(done);
    }
    applied
}

fn take_type(schema: &mut Mapping, upstream: &Value) {
    for key in [
        "type", "format", "enum", "nullable", "oneOf", "anyOf", "items",
    ] {
        schema.remove(key);
    }
    let Some(upstream) = upstream.as_mapping() else {
        return;
    };
    for key in ["type", "format", "enum", "nullable"] {
        if let Some(value) = upstream.get(key) {
            schema.insert(key.into(), value.clone());
        }
    }
    // Scalar items only: object items would drag upstream components along.
    if let Some(items) = upstream.get("items")
        && items.get("properties").is_none()
        && items.get("$ref").is_none()
    {
        schema.insert("items".into(), items.clone());
    }
}

fn remove_field(schema: &mut Mapping, name: &str) -> bool {
    let removed = schema
        .get_mut("properties")
        .and_then(Value::as_mapping_mut)
        .and_then(|properties| properties.remove(name))
        .is_some();
    if let Some(Value::Sequence(required)) = schema.get_mut("required") {
        required.retain(|entry| entry.as_str() != Some(name));
        if required.is_empty() {
            schema.remove("required");
        }
    }
    removed
}

struct UpstreamOperation<'a> {
    method: &'static str,
    normalized: String,
    operation: &'a Value,
    /// The path item, for path-level parameters.
    item: &'a Value,
    /// Path template as written upstream, for positional path parameters.
    path: String,
}

fn paths_of<'a>(doc: &'a Value, what: &str) -> Result<&'a Mapping, ShapeError> {
    doc.get("paths").and_then(Value::as_mapping).ok_or_else(|| {
        ShapeError(format!(
            "{what}: no `paths` mapping; is this an OpenAPI 3 document?"
        ))
    })
}

fn upstream_operations<'a>(
    upstream: &'a Value,
    strip_prefix: &str,
) -> Result<Vec<UpstreamOperation<'a>>, ShapeError> {
    let base = server_path(upstream);
    let mut operations = Vec::new();
    for (path, item) in paths_of(upstream, "the upstream document")? {
        let Some(path) = path.as_str() else { continue };
        let full = format!("{base}{path}");
        let full = full.strip_prefix(strip_prefix).unwrap_or(&full).to_owned();
        for &method in METHODS {
            if let Some(operation) = item.get(method) {
                operations.push(UpstreamOperation {
                    method,
                    normalized: normalize_path(&full),
                    operation,
                    item,
                    path: full.clone(),
                });
            }
        }
    }
    Ok(operations)
}

/// Path part of the first server URL (`https://{domain}/wiki/api/v2` →
/// `/wiki/api/v2`; `//host` → empty).
fn server_path(doc: &Value) -> String {
    let Some(url) = doc
        .get("servers")
        .and_then(|servers| servers.get(0))
        .and_then(|server| server.get("url"))
        .and_then(Value::as_str)
    else {
        return String::new();
    };
    let after_scheme = url.split_once("//").map_or(url, |(_, rest)| rest);
    let path = after_scheme.find('/').map_or("", |at| &after_scheme[at..]);
    path.trim_end_matches('/').to_owned()
}

/// Parameter names do not matter on the wire: `/pages/{id}` = `/pages/{}`.
fn normalize_path(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    trimmed
        .split('/')
        .map(|segment| {
            if segment.starts_with('{') && segment.ends_with('}') {
                "{}"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn path_parameter_names(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .collect()
}

/// Common prefixes of the upstream paths, one per first segment (Cloud v1
/// has `/wiki/rest/api` and `/atlassian-connect/1/app`).
fn api_roots(operations: &[UpstreamOperation<'_>]) -> Vec<String> {
    let mut groups: std::collections::BTreeMap<&str, Vec<&str>> = std::collections::BTreeMap::new();
    for op in operations {
        let first = op.normalized.split('/').nth(1).unwrap_or_default();
        groups
            .entry(first)
            .or_default()
            .push(op.normalized.as_str());
    }
    groups
        .into_values()
        .map(|paths| common_prefix(paths.into_iter()))
        .filter(|root| !root.is_empty())
        .collect()
}

/// Longest common prefix of whole path segments.
fn common_prefix<'a>(paths: impl Iterator<Item = &'a str>) -> String {
    let mut prefix: Option<Vec<&str>> = None;
    for path in paths {
        let segments: Vec<&str> = path.split('/').collect();
        prefix = Some(match prefix {
            None => segments,
            Some(current) => current
                .iter()
                .zip(&segments)
                .take_while(|(a, b)| a == b && **a != "{}")
                .map(|(a, _)| *a)
                .collect(),
        });
    }
    prefix.unwrap_or_default().join("/")
}

fn is_under(path: &str, root: &str) -> bool {
    !root.is_empty() && (path == root || path.starts_with(&format!("{root}/")))
}

/// JSON-pointer escaping of one segment.
fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

fn unescape(segment: &str) -> String {
    segment.replace("~1", "/").replace("~0", "~")
}

fn pointer<'a>(doc: &'a Value, pointer: &str) -> Option<&'a Value> {
    let mut current = doc;
    for segment in pointer.split('/').skip(1) {
        let segment = unescape(segment);
        current = match current {
            Value::Mapping(map) => map.get(segment.as_str())?,
            Value::Sequence(list) => list.get(segment.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(current)
}

fn pointer_mut<'a>(doc: &'a mut Value, pointer: &str) -> Option<&'a mut Value> {
    let mut current = doc;
    for segment in pointer.split('/').skip(1) {
        let segment = unescape(segment);
        current = match current {
            Value::Mapping(map) => map.get_mut(segment.as_str())?,
            Value::Sequence(list) => list.get_mut(segment.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(current)
}

/// Follows `$ref`s inside `doc`; returns the target and its pointer (the
/// pointer is `at` when `value` is not a reference). An unresolvable
/// reference is returned as is (and then has no known type).
fn resolve<'a>(doc: &'a Value, value: &'a Value, at: &str) -> (&'a Value, String) {
    let mut current = value;
    let mut location = at.to_owned();
    for _ in 0..MAX_REF_HOPS {
        let Some(reference) = current.get("$ref").and_then(Value::as_str) else {
            break;
        };
        let Some(target) = reference
            .strip_prefix('#')
            .and_then(|local| pointer(doc, local))
        else {
            break;
        };
        location = reference.trim_start_matches('#').to_owned();
        current = target;
    }
    (current, location)
}

/// The JSON types a schema admits; `None` when it does not say.
fn types_of(doc: &Value, schema: &Value) -> Option<BTreeSet<String>> {
    let (schema, _) = resolve(doc, schema, "");
    if let Some(ty) = schema.get("type").and_then(Value::as_str) {
        return Some(BTreeSet::from([ty.to_owned()]));
    }
    for combinator in ["oneOf", "anyOf"] {
        if let Some(Value::Sequence(variants)) = schema.get(combinator) {
            let mut all = BTreeSet::new();
            for variant in variants {
                all.extend(types_of(doc, variant)?);
            }
            return Some(all);
        }
    }
    if let Some(Value::Sequence(parts)) = schema.get("allOf") {
        return parts.iter().find_map(|part| types_of(doc, part));
    }
    if schema.get("properties").is_some() {
        return Some(BTreeSet::from(["object".to_owned()]));
    }
    if schema.get("items").is_some() {
        return Some(BTreeSet::from(["array".to_owned()]));
    }
    None
}

fn show(types: &BTreeSet<String>) -> String {
    types.iter().cloned().collect::<Vec<_>>().join("|")
}

/// Properties an upstream schema declares (own, `allOf`, and any
/// `oneOf`/`anyOf` variant); `None` when it declares none (free-form).
fn upstream_properties<'a>(
    doc: &'a Value,
    schema: &'a Value,
    depth: usize,
) -> Option<Vec<(String, &'a Value)>> {
    if depth > MAX_DEPTH {
        return None;
    }
    let (schema, _) = resolve(doc, schema, "");
    let mut found: Option<Vec<(String, &Value)>> = None;
    if let Some(Value::Mapping(properties)) = schema.get("properties") {
        found.get_or_insert_with(Vec::new).extend(
            properties
                .iter()
                .filter_map(|(name, value)| Some((name.as_str()?.to_owned(), value))),
        );
    }
    for combinator in ["allOf", "oneOf", "anyOf"] {
        if let Some(Value::Sequence(parts)) = schema.get(combinator) {
            for part in parts {
                if let Some(more) = upstream_properties(doc, part, depth + 1) {
                    found.get_or_insert_with(Vec::new).extend(more);
                }
            }
        }
    }
    found
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// The connector sends it: ours ⊆ upstream.
    Send,
    /// The connector reads it: upstream ⊆ ours.
    Receive,
}

struct Context<'a, 'f> {
    ours: &'a Value,
    upstream: &'a Value,
    operation: &'a str,
    findings: &'f mut Vec<Finding>,
}

impl Context<'_, '_> {
    fn push(&mut self, kind: FindingKind, location: String, detail: String, edit: Option<Edit>) {
        self.findings.push(Finding {
            operation: self.operation.to_owned(),
            kind,
            location,
            detail,
            edit,
        });
    }

    fn parameters(
        &mut self,
        our_item: &Value,
        operation: &Value,
        op_pointer: &str,
        up: &UpstreamOperation<'_>,
    ) {
        let upstream = self.upstream;
        let ours = self.ours;
        // Upstream: path-item parameters overridden by operation parameters.
        let mut upstream_params: Vec<&Value> = Vec::new();
        for list in [up.item.get("parameters"), up.operation.get("parameters")] {
            let Some(Value::Sequence(list)) = list else {
                continue;
            };
            for parameter in list {
                let (resolved, _) = resolve(upstream, parameter, "");
                let key = parameter_key(resolved);
                upstream_params.retain(|existing| parameter_key(existing) != key);
                upstream_params.push(resolved);
            }
        }
        let up_path_names = path_parameter_names(&up.path);
        let our_path = op_pointer
            .strip_prefix("/paths/")
            .and_then(|rest| rest.rsplit_once('/'))
            .map(|(path, _)| unescape(path))
            .unwrap_or_default();
        let our_path_names = path_parameter_names(&our_path);

        let mut declared = Vec::new();
        let item_pointer = op_pointer
            .rsplit_once('/')
            .map_or("", |(item, _)| item)
            .to_owned();
        for (list_value, list_pointer) in [
            (
                our_item.get("parameters"),
                format!("{item_pointer}/parameters"),
            ),
            (
                operation.get("parameters"),
                format!("{op_pointer}/parameters"),
            ),
        ] {
            let Some(Value::Sequence(list)) = list_value else {
                continue;
            };
            for (index, parameter) in list.iter().enumerate() {
                let (resolved, at) = resolve(ours, parameter, &format!("{list_pointer}/{index}"));
                let (location_in, name) = parameter_key(resolved);
                // Path parameters match by position: names are not on the wire.
                let upstream_name = if location_in == "path" {
                    our_path_names
                        .iter()
                        .position(|n| *n == name)
                        .and_then(|i| up_path_names.get(i).copied())
                        .unwrap_or(name.as_str())
                        .to_owned()
                } else {
                    name.clone()
                };
                declared.push((location_in.clone(), upstream_name.clone(), resolved));
                let location = format!("{location_in} {name}");
                let Some(up_param) = upstream_params
                    .iter()
                    .find(|p| parameter_key(p) == (location_in.clone(), upstream_name.clone()))
                else {
                    self.push(
                        FindingKind::ParameterVanished,
                        location,
                        "not declared by the upstream operation".into(),
                        Some(Edit::RemoveParameter {
                            pointer: list_pointer.clone(),
                            index,
                        }),
                    );
                    continue;
                };
                let (Some(our_schema), Some(up_schema)) =
                    (resolved.get("schema"), up_param.get("schema"))
                else {
                    continue;
                };
                if let (Some(ours_t), Some(up_t)) =
                    (types_of(ours, our_schema), types_of(upstream, up_schema))
                    && !ours_t.is_subset(&up_t)
                {
                    let (_, schema_at) = resolve(ours, our_schema, &format!("{at}/schema"));
                    self.push(
                        FindingKind::ParameterChanged,
                        location,
                        format!("ours {}, upstream {}", show(&ours_t), show(&up_t)),
                        Some(Edit::TakeType {
                            pointer: schema_at,
                            upstream: resolve(upstream, up_schema, "").0.clone(),
                        }),
                    );
                }
            }
        }

        for up_param in &upstream_params {
            if up_param.get("required").and_then(Value::as_bool) != Some(true) {
                continue;
            }
            let key = parameter_key(up_param);
            let ours_declared = declared
                .iter()
                .find(|(i, n, _)| (i.clone(), n.clone()) == key);
            let location = format!("{} {}", key.0, key.1);
            match ours_declared {
                None => self.push(
                    FindingKind::ParameterRequiredUpstream,
                    location,
                    "required upstream, not declared by us".into(),
                    Some(Edit::AddParameter {
                        pointer: format!("{op_pointer}/parameters"),
                        upstream: inline_parameter(upstream, up_param),
                    }),
                ),
                Some((_, _, ours_param))
                    if key.0 != "path"
                        && ours_param.get("required").and_then(Value::as_bool) != Some(true) =>
                {
                    let pointer =
                        parameter_pointer(ours, our_item, operation, op_pointer, &key.0, &key.1);
                    self.push(
                        FindingKind::ParameterRequiredUpstream,
                        location,
                        "required upstream, optional in ours".into(),
                        pointer.map(|pointer| Edit::RequireParameter { pointer }),
                    );
                }
                Some(_) => {}
            }
        }
    }

    fn request_body(&mut self, operation: &Value, op_pointer: &str, up_operation: &Value) {
        let ours = self.ours;
        let upstream = self.upstream;
        let Some(body) = operation.get("requestBody") else {
            return;
        };
        let (body, body_at) = resolve(ours, body, &format!("{op_pointer}/requestBody"));
        let Some(Value::Mapping(content)) = body.get("content") else {
            return;
        };
        let up_content = up_operation
            .get("requestBody")
            .map(|b| resolve(upstream, b, "").0)
            .and_then(|b| b.get("content"));
        for (media, media_value) in content {
            let Some(media) = media.as_str() else {
                continue;
            };
            let Some(up_media) = up_content.and_then(|c| c.get(media)) else {
                self.push(
                    FindingKind::RequestBodyVanished,
                    format!("request body {media}"),
                    "upstream does not accept this media type".into(),
                    None,
                );
                continue;
            };
            if let (Some(schema), Some(up_schema)) =
                (media_value.get("schema"), up_media.get("schema"))
            {
                let at = format!("{body_at}/content/{}/schema", escape(media));
                self.fields(
                    schema,
                    &at,
                    up_schema,
                    "request body ".into(),
                    "",
                    Direction::Send,
                    0,
                );
            }
        }
    }

    fn responses(&mut self, operation: &Value, op_pointer: &str, up_operation: &Value) {
        let ours = self.ours;
        let upstream = self.upstream;
        let Some(Value::Mapping(responses)) = operation.get("responses") else {
            return;
        };
        for (status, response) in responses {
            let status = match status {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => continue,
            };
            let (response, response_at) = resolve(
                ours,
                response,
                &format!("{op_pointer}/responses/{}", escape(&status)),
            );
            let up_response = up_operation
                .get("responses")
                .and_then(|r| response_for(r, &status))
                .map(|r| resolve(upstream, r, "").0);
            let Some(up_response) = up_response else {
                self.push(
                    FindingKind::ResponseVanished,
                    format!("response {status}"),
                    "status not declared upstream".into(),
                    None,
                );
                continue;
            };
            let Some(Value::Mapping(content)) = response.get("content") else {
                continue;
            };
            for (media, media_value) in content {
                let Some(media) = media.as_str().filter(|m| m.contains("json")) else {
                    continue;
                };
                let Some(schema) = media_value.get("schema") else {
                    continue;
                };
                let up_schema = up_response
                    .get("content")
                    .and_then(Value::as_mapping)
                    .and_then(|c| {
                        c.get(media).or_else(|| {
                            c.iter()
                                .find(|(k, _)| k.as_str().is_some_and(|k| k.contains("json")))
                                .map(|(_, v)| v)
                        })
                    })
                    .and_then(|m| m.get("schema"));
                let Some(up_schema) = up_schema else {
                    self.push(
                        FindingKind::ResponseVanished,
                        format!("response {status} {media}"),
                        "upstream declares no JSON body for this status".into(),
                        None,
                    );
                    continue;
                };
                let at = format!("{response_at}/content/{}/schema", escape(media));
                self.fields(
                    schema,
                    &at,
                    up_schema,
                    format!("response {status} "),
                    "",
                    Direction::Receive,
                    0,
                );
            }
        }
    }

    /// Walks our schema and checks each field against upstream's.
    /// `at` is our schema's pointer (for edits), `prefix` + `path` its
    /// human location; a struct for them would only rename the arguments.
    #[allow(clippy::too_many_arguments)]
    fn fields(
        &mut self,
        schema: &Value,
        at: &str,
        up_schema: &Value,
        prefix: String,
        path: &str,
        direction: Direction,
        depth: usize,
    ) {
        if depth > MAX_DEPTH {
            return;
        }
        let ours = self.ours;
        let upstream = self.upstream;
        let (schema, at) = resolve(ours, schema, at);
        let (up_resolved, _) = resolve(upstream, up_schema, "");
        let shown = if path.is_empty() { "(body)" } else { path };
        if let (Some(ours_t), Some(up_t)) =
            (types_of(ours, schema), types_of(upstream, up_resolved))
        {
            let compatible = match direction {
                Direction::Send => ours_t.is_subset(&up_t),
                Direction::Receive => up_t.is_subset(&ours_t),
            };
            if !compatible {
                self.push(
                    FindingKind::FieldChanged,
                    format!("{prefix}{shown}"),
                    format!("ours {}, upstream {}", show(&ours_t), show(&up_t)),
                    Some(Edit::TakeType {
                        pointer: at,
                        upstream: up_resolved.clone(),
                    }),
                );
                return;
            }
        }
        if let (Some(items), Some(up_items)) = (schema.get("items"), up_resolved.get("items")) {
            self.fields(
                items,
                &format!("{at}/items"),
                up_items,
                prefix.clone(),
                &format!("{path}[]"),
                direction,
                depth + 1,
            );
        }
        let Some(Value::Mapping(properties)) = schema.get("properties") else {
            return;
        };
        // Upstream does not say which fields exist: nothing to compare.
        let Some(up_properties) = upstream_properties(upstream, up_resolved, 0) else {
            return;
        };
        for (name, property) in properties {
            let Some(name) = name.as_str() else { continue };
            let field = if path.is_empty() {
                name.to_owned()
            } else {
                format!("{path}.{name}")
            };
            match up_properties.iter().find(|(n, _)| n == name) {
                None => self.push(
                    FindingKind::FieldVanished,
                    format!("{prefix}{field}"),
                    "not declared upstream".into(),
                    Some(Edit::RemoveField {
                        pointer: at.clone(),
                        name: name.to_owned(),
                    }),
                ),
                Some((_, up_property)) => self.fields(
                    property,
                    &format!("{at}/properties/{}", escape(name)),
                    up_property,
                    prefix.clone(),
                    &field,
                    direction,
                    depth + 1,
                ),
            }
        }
    }
}

/// A response by status code, whether the document wrote the key as a
/// string (`"200"`, JSON) or as a YAML number (`200`).
fn response_for<'a>(responses: &'a Value, status: &str) -> Option<&'a Value> {
    responses.get(status).or_else(|| {
        let code: u64 = status.parse().ok()?;
        responses.as_mapping()?.get(Value::Number(code.into()))
    })
}

fn parameter_key(parameter: &Value) -> (String, String) {
    let field = |key: &str| {
        parameter
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    (field("in"), field("name"))
}

/// Pointer to the (resolved) declaration of our parameter `in`/`name`.
fn parameter_pointer(
    ours: &Value,
    item: &Value,
    operation: &Value,
    op_pointer: &str,
    location_in: &str,
    name: &str,
) -> Option<String> {
    let item_pointer = op_pointer.rsplit_once('/').map_or("", |(item, _)| item);
    for (list, list_pointer) in [
        (
            operation.get("parameters"),
            format!("{op_pointer}/parameters"),
        ),
        (item.get("parameters"), format!("{item_pointer}/parameters")),
    ] {
        let Some(Value::Sequence(list)) = list else {
            continue;
        };
        for (index, parameter) in list.iter().enumerate() {
            let (resolved, at) = resolve(ours, parameter, &format!("{list_pointer}/{index}"));
            if parameter_key(resolved) == (location_in.to_owned(), name.to_owned()) {
                return Some(at);
            }
        }
    }
    None
}

/// An upstream parameter with its schema inlined one level, without
/// upstream prose (descriptions, examples).
fn inline_parameter(upstream: &Value, parameter: &Value) -> Value {
    let mut out = Mapping::new();
    for key in ["name", "in", "required", "style", "explode"] {
        if let Some(value) = parameter.get(key) {
            out.insert(key.into(), value.clone());
        }
    }
    if let Some(schema) = parameter.get("schema") {
        let (schema, _) = resolve(upstream, schema, "");
        let mut inlined = Mapping::new();
        take_type(&mut inlined, schema);
        out.insert("schema".into(), Value::Mapping(inlined));
    }
    Value::Mapping(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Value {
        serde_yaml::from_str(text).unwrap()
    }

    const OURS: &str = r##"
openapi: 3.0.3
paths:
  /wiki/api/v2/pages/{id}/attachments:
    get:
      operationId: getPageAttachments
      parameters:
        - {name: id, in: path, required: true, schema: {type: string}}
        - {name: limit, in: query, schema: {type: integer}}
      responses:
        "200":
          content:
            application/json:
              schema: {$ref: "#/components/schemas/List"}
  /oauth/token:
    post:
      operationId: requestAccessToken
      responses: {"200": {description: token}}
components:
  schemas:
    List:
      type: object
      required: [results]
      properties:
        results:
          type: array
          items:
            type: object
            required: [id, fileSize]
            properties:
              id: {type: string}
              fileSize: {type: integer}
"##;

    const UPSTREAM: &str = r##"
openapi: 3.0.3
servers: [{url: "https://{domain}/wiki/api/v2"}]
paths:
  /pages/{page-id}/attachments:
    get:
      operationId: getPageAttachments
      parameters:
        - {name: page-id, in: path, required: true, schema: {type: string}}
        - {name: limit, in: query, schema: {type: integer}}
      responses:
        "200":
          content:
            application/json:
              schema:
                type: object
                properties:
                  results:
                    type: array
                    items: {$ref: "#/components/schemas/Attachment"}
  /pages/{id}:
    get: {operationId: getPage, responses: {"200": {description: page}}}
components:
  schemas:
    Attachment:
      type: object
      properties:
        id: {type: string}
        fileSize: {type: integer}
"##;

    #[test]
    fn an_unchanged_upstream_gives_no_finding_and_separates_coverage() {
        let report = compare(&yaml(OURS), &yaml(UPSTREAM), "").unwrap();
        assert_eq!(report.upstream_roots, ["/wiki/api/v2/pages"]);
        assert_eq!(report.findings().count(), 0, "{report:#?}");
        assert_eq!(
            report.operations[0].coverage,
            Coverage::Matched {
                upstream_operation_id: Some("getPageAttachments".into())
            }
        );
        assert_eq!(report.operations[1].coverage, Coverage::NotCovered);
    }

    #[test]
    fn renamed_parameters_vanished_fields_and_type_changes_are_found() {
        let changed = UPSTREAM
            .replace("{name: limit, in: query", "{name: maxResults, in: query")
            .replace("fileSize: {type: integer}", "size: {type: integer}")
            .replace("id: {type: string}\n", "id: {type: integer}\n");
        let report = compare(&yaml(OURS), &yaml(&changed), "").unwrap();
        let keys: Vec<String> = report.findings().map(Finding::key).collect();
        assert_eq!(
            keys,
            [
                "getPageAttachments: parameter-vanished query limit",
                "getPageAttachments: field-changed response 200 results[].id",
                "getPageAttachments: field-vanished response 200 results[].fileSize",
            ],
            "{report:#?}"
        );
    }

    #[test]
    fn a_vanished_operation_under_the_root_is_a_finding() {
        let moved = UPSTREAM.replace("/pages/{page-id}/attachments", "/pages/{page-id}/files");
        let report = compare(&yaml(OURS), &yaml(&moved), "").unwrap();
        assert_eq!(report.operations[0].coverage, Coverage::Vanished);
        assert_eq!(
            report.findings().map(Finding::key).collect::<Vec<_>>(),
            ["getPageAttachments: operation-vanished GET /wiki/api/v2/pages/{id}/attachments"]
        );
    }

    #[test]
    fn a_newly_required_parameter_is_found_and_added_by_update() {
        let stricter = UPSTREAM.replace(
            "- {name: limit, in: query, schema: {type: integer}}",
            "- {name: limit, in: query, schema: {type: integer}}\n        - {name: sort, in: query, required: true, schema: {type: string}}",
        );
        let mut ours = yaml(OURS);
        let report = compare(&ours, &yaml(&stricter), "").unwrap();
        let findings: Vec<&Finding> = report.findings().collect();
        assert_eq!(findings.len(), 1);
        assert_eq!(
            findings[0].key(),
            "getPageAttachments: parameter-required-upstream query sort"
        );
        assert_eq!(apply(&mut ours, findings), 1);
        let after = compare(&ours, &yaml(&stricter), "").unwrap();
        assert_eq!(after.findings().count(), 0, "{after:#?}");
    }

    #[test]
    fn update_edits_remove_what_vanished_and_take_upstream_types() {
        let changed = UPSTREAM
            .replace("{name: limit, in: query", "{name: maxResults, in: query")
            .replace("fileSize: {type: integer}", "size: {type: integer}")
            .replace(
                "id: {type: string}\n",
                "id: {type: integer, format: int64}\n",
            );
        let upstream = yaml(&changed);
        let mut ours = yaml(OURS);
        let report = compare(&ours, &upstream, "").unwrap();
        assert_eq!(apply(&mut ours, report.findings()), 3);
        let item = &ours["components"]["schemas"]["List"]["properties"]["results"]["items"];
        assert_eq!(
            item["properties"]["id"],
            yaml("{type: integer, format: int64}")
        );
        assert!(item["properties"].get("fileSize").is_none());
        // Our lenient required list loses only the vanished field.
        assert_eq!(item["required"], yaml("[id]"));
        let parameters = &ours["paths"]["/wiki/api/v2/pages/{id}/attachments"]["get"]["parameters"];
        assert_eq!(parameters.as_sequence().unwrap().len(), 1);
        assert_eq!(compare(&ours, &upstream, "").unwrap().findings().count(), 0);
    }

    #[test]
    fn strip_prefix_maps_cloud_paths_onto_data_center_paths() {
        let ours = yaml(
            "paths:\n  /rest/api/content/{id}:\n    get:\n      operationId: getContentById\n      responses: {}\n",
        );
        let upstream = yaml(
            "paths:\n  /wiki/rest/api/content/{id}:\n    get:\n      operationId: getContentById\n      responses: {}\n  /wiki/rest/api/space:\n    get: {responses: {}}\n",
        );
        let report = compare(&ours, &upstream, "/wiki").unwrap();
        assert!(matches!(
            report.operations[0].coverage,
            Coverage::Matched { .. }
        ));
        let without = compare(&ours, &upstream, "").unwrap();
        assert_eq!(without.operations[0].coverage, Coverage::NotCovered);
    }

    #[test]
    fn an_operation_without_an_id_is_a_shape_error() {
        let ours = yaml("paths:\n  /x:\n    get: {responses: {}}\n");
        let error = compare(&ours, &yaml(UPSTREAM), "").unwrap_err();
        assert!(error.0.contains("GET /x has no operationId"), "{error}");
    }
}
