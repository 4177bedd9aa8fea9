//! `confluence-connector schemas check` / `schemas update` as a developer
//! runs them: the real binary on documents written to a temporary directory.
//! One test uses a small upstream document it writes itself; the others
//! modify Atlassian's published v1 document in memory when `../shared/`
//! holds it (CI has it beside the repository), and say so when it does not.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use serde_json::{Value as Json, json};
use tempfile::TempDir;

const BINARY: &str = env!("CARGO_BIN_EXE_confluence-connector");

struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn run(args: &[&str]) -> Outcome {
    let output = Command::new(BINARY)
        .args(args)
        .env_clear()
        .output()
        .expect("the binary runs");
    Outcome {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("UTF-8 temp path")
}

fn check(upstream: &Path, subset: &Path) -> Outcome {
    run(&[
        "schemas",
        "check",
        "--upstream",
        path_str(upstream),
        "--subset",
        path_str(subset),
    ])
}

fn update(upstream: &Path, subset: &Path) -> Outcome {
    run(&[
        "schemas",
        "update",
        "--upstream",
        path_str(upstream),
        "--subset",
        path_str(subset),
    ])
}

// ---------------------------------------------------------------------------
// A self-made upstream document

const SUBSET: &str = r##"# Header comment: provenance of this subset.
openapi: 3.0.3
info: {title: test subset, version: "1"}
paths:
  /api/v2/pages/{id}/attachments:
    get:
      operationId: listAttachments
      description: Our own name for upstream's getPageAttachments.
      parameters:
        - {name: id, in: path, required: true, schema: {type: string}}
        - {name: cursor, in: query, schema: {type: string}}
      responses:
        "200":
          description: One page.
          content:
            application/json:
              schema:
                type: object
                required: [results]
                properties:
                  results:
                    type: array
                    items:
                      type: object
                      required: [id]
                      properties:
                        id: {type: string}
                        title: {type: string}
                        fileSize: {type: integer}
"##;

fn upstream_doc() -> Json {
    json!({
        "openapi": "3.0.3",
        "info": {"title": "Upstream", "version": "2.0.0"},
        "servers": [{"url": "https://{domain}/api/v2"}],
        "paths": {
            "/pages/{page-id}/attachments": {"get": {
                "operationId": "getPageAttachments",
                "parameters": [
                    {"name": "page-id", "in": "path", "required": true, "schema": {"type": "string"}},
                    {"name": "cursor", "in": "query", "schema": {"type": "string"}}
                ],
                "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {
                    "type": "object",
                    "properties": {"results": {"type": "array", "items": {"$ref": "#/components/schemas/Attachment"}}}
                }}}}}
            }},
            "/pages/{id}": {"get": {"operationId": "getPage", "responses": {"200": {"description": "ok"}}}}
        },
        "components": {"schemas": {"Attachment": {"type": "object", "properties": {
            "id": {"type": "string"},
            "title": {"type": "string"},
            "fileSize": {"type": "integer", "format": "int64"}
        }}}}
    })
}

fn write_json(dir: &Path, name: &str, value: &Json) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, serde_json::to_string_pretty(value).unwrap()).unwrap();
    path
}

#[test]
fn check_and_update_against_a_self_made_upstream_document() {
    let dir = TempDir::new().unwrap();
    let subset = dir.path().join("test-subset.yaml");
    fs::write(&subset, SUBSET).unwrap();

    let upstream = write_json(dir.path(), "upstream.json", &upstream_doc());
    let unchanged = check(&upstream, &subset);
    assert_eq!(
        unchanged.code,
        Some(0),
        "{}{}",
        unchanged.stdout,
        unchanged.stderr
    );
    assert!(
        unchanged
            .stdout
            .contains("(listAttachments): upstream getPageAttachments"),
        "{}",
        unchanged.stdout
    );

    // Upstream renames `cursor`, drops `title` and widens `fileSize`.
    let mut changed = upstream_doc();
    let op = &mut changed["paths"]["/pages/{page-id}/attachments"]["get"];
    op["parameters"][1]["name"] = json!("after");
    let attachment = &mut changed["components"]["schemas"]["Attachment"]["properties"];
    attachment.as_object_mut().unwrap().remove("title");
    attachment["fileSize"] = json!({"type": "number"});
    let upstream = write_json(dir.path(), "upstream.json", &changed);

    let report = check(&upstream, &subset);
    assert_eq!(report.code, Some(1), "{}{}", report.stdout, report.stderr);
    for key in [
        "listAttachments: parameter-vanished query cursor",
        "listAttachments: field-vanished response 200 results[].title",
        "listAttachments: field-changed response 200 results[].fileSize",
    ] {
        assert!(
            report.stdout.contains(key),
            "missing {key}:\n{}",
            report.stdout
        );
    }
    assert!(report.stdout.contains("3 changed"), "{}", report.stdout);

    let updated = update(&upstream, &subset);
    assert_eq!(
        updated.code,
        Some(0),
        "{}{}",
        updated.stdout,
        updated.stderr
    );
    let text = fs::read_to_string(&subset).unwrap();
    assert!(
        text.starts_with("# Header comment: provenance of this subset.\n"),
        "{text}"
    );
    let rewritten: Json = serde_yaml::from_str(&text).unwrap();
    let op = &rewritten["paths"]["/api/v2/pages/{id}/attachments"]["get"];
    // Kept: our operationId and description, our lenient required list.
    assert_eq!(op["operationId"], "listAttachments");
    assert_eq!(
        op["description"],
        "Our own name for upstream's getPageAttachments."
    );
    assert_eq!(
        op["parameters"].as_array().unwrap().len(),
        1,
        "cursor removed"
    );
    let item = &op["responses"]["200"]["content"]["application/json"]["schema"]["properties"]["results"]
        ["items"];
    assert_eq!(item["required"], json!(["id"]));
    assert!(item["properties"].get("title").is_none());
    // Taken: upstream's type.
    assert_eq!(item["properties"]["fileSize"], json!({"type": "number"}));

    let again = check(&upstream, &subset);
    assert_eq!(again.code, Some(0), "{}{}", again.stdout, again.stderr);
}

#[test]
fn an_accepted_deviation_passes_and_an_unexplained_one_is_rejected() {
    let dir = TempDir::new().unwrap();
    let subset = dir.path().join("test-subset.yaml");
    fs::write(&subset, SUBSET).unwrap();
    let mut changed = upstream_doc();
    changed["paths"]["/pages/{page-id}/attachments"]["get"]["parameters"][1]["name"] =
        json!("after");
    let upstream = write_json(dir.path(), "upstream.json", &changed);

    let deviations = dir.path().join("upstream-deviations.yaml");
    fs::write(
        &deviations,
        "test-subset.yaml:\n  - finding: \"listAttachments: parameter-vanished query cursor\"\n    why: our replay needs it\n",
    )
    .unwrap();
    let accepted = check(&upstream, &subset);
    assert_eq!(
        accepted.code,
        Some(0),
        "{}{}",
        accepted.stdout,
        accepted.stderr
    );
    assert!(
        accepted
            .stdout
            .contains("accepted  parameter-vanished query cursor")
    );

    fs::write(
        &deviations,
        "test-subset.yaml:\n  - finding: \"listAttachments: parameter-vanished query cursor\"\n    why: \"\"\n",
    )
    .unwrap();
    let rejected = check(&upstream, &subset);
    assert_eq!(rejected.code, Some(2));
    assert!(
        rejected.stderr.contains("test-subset.yaml[0].why is empty"),
        "{}",
        rejected.stderr
    );
}

#[test]
fn update_without_differences_leaves_the_file_untouched() {
    let dir = TempDir::new().unwrap();
    let subset = dir.path().join("test-subset.yaml");
    fs::write(&subset, SUBSET).unwrap();
    let upstream = write_json(dir.path(), "upstream.json", &upstream_doc());
    let outcome = update(&upstream, &subset);
    assert_eq!(
        outcome.code,
        Some(0),
        "{}{}",
        outcome.stdout,
        outcome.stderr
    );
    assert!(
        outcome.stdout.contains("file left unchanged"),
        "{}",
        outcome.stdout
    );
    // Comments survive only when nothing had to change.
    assert_eq!(fs::read_to_string(&subset).unwrap(), SUBSET);
}

#[test]
fn bad_arguments_exit_2_naming_the_problem() {
    let missing = run(&["schemas", "check"]);
    assert_eq!(missing.code, Some(2));
    assert!(missing.stderr.contains("--upstream"), "{}", missing.stderr);

    let dir = TempDir::new().unwrap();
    let not_openapi = write_json(
        dir.path(),
        "swagger.json",
        &json!({"swagger": "2.0", "paths": {}}),
    );
    let subset = dir.path().join("s.yaml");
    fs::write(&subset, SUBSET).unwrap();
    let outcome = check(&not_openapi, &subset);
    assert_eq!(outcome.code, Some(2));
    assert!(
        outcome
            .stderr
            .contains("swagger.json: not an OpenAPI 3 document"),
        "{}",
        outcome.stderr
    );

    let absent = check(&dir.path().join("absent.json"), &subset);
    assert_eq!(absent.code, Some(2));
    assert!(
        absent.stderr.contains("absent.json: cannot read"),
        "{}",
        absent.stderr
    );
}

// ---------------------------------------------------------------------------
// Atlassian's published v1 document, modified in memory

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn published_v1() -> Option<Json> {
    let path = repo().join("../shared/upstream/confluence-cloud-v1.swagger.v3.json");
    match fs::read_to_string(&path) {
        Ok(text) => Some(serde_json::from_str(&text).expect("the published document parses")),
        Err(_) => {
            eprintln!("SKIPPED: {} is not present", path.display());
            None
        }
    }
}

/// A copy of our Cloud subset and its deviations file in a temp directory.
fn cloud_subset_copy(dir: &Path) -> PathBuf {
    let subset = dir.join("confluence-cloud.yaml");
    fs::copy(repo().join("schemas/confluence-cloud.yaml"), &subset).unwrap();
    fs::copy(
        repo().join("schemas/upstream-deviations.yaml"),
        dir.join("upstream-deviations.yaml"),
    )
    .unwrap();
    subset
}

#[test]
fn our_cloud_subset_matches_the_published_v1_document() {
    let Some(v1) = published_v1() else { return };
    let dir = TempDir::new().unwrap();
    let upstream = write_json(dir.path(), "v1.json", &v1);
    let outcome = check(&upstream, &repo().join("schemas/confluence-cloud.yaml"));
    assert_eq!(
        outcome.code,
        Some(0),
        "{}{}",
        outcome.stdout,
        outcome.stderr
    );
    assert!(outcome.stdout.contains("0 changed"), "{}", outcome.stdout);
}

#[test]
fn our_data_center_subset_matches_the_published_v1_document_without_wiki() {
    let Some(v1) = published_v1() else { return };
    let dir = TempDir::new().unwrap();
    let upstream = write_json(dir.path(), "v1.json", &v1);
    let subset = repo().join("schemas/confluence-dc.yaml");
    let args = |strip: &str| {
        run(&[
            "schemas",
            "check",
            "--upstream",
            path_str(&upstream),
            "--subset",
            path_str(&subset),
            "--strip-prefix",
            strip,
        ])
    };
    let outcome = args("/wiki");
    assert_eq!(
        outcome.code,
        Some(0),
        "{}{}",
        outcome.stdout,
        outcome.stderr
    );
    assert!(
        outcome.stdout.contains("4 operation(s) matched"),
        "{}",
        outcome.stdout
    );
    // Without the prefix mapping nothing would be compared: a usage error,
    // never a pass.
    let unmapped = args("");
    assert_eq!(
        unmapped.code,
        Some(2),
        "{}{}",
        unmapped.stdout,
        unmapped.stderr
    );
    assert!(
        unmapped.stderr.contains("--strip-prefix /wiki"),
        "{}",
        unmapped.stderr
    );
}

#[test]
fn a_renamed_parameter_and_a_removed_field_in_the_published_document_are_reported_and_updated() {
    let Some(mut v1) = published_v1() else { return };
    let search = &mut v1["paths"]["/wiki/rest/api/content/search"]["get"];
    let cql = search["parameters"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|p| p["name"] == "cql")
        .expect("upstream search has cql");
    cql["name"] = json!("query");
    let content = &mut v1["components"]["schemas"]["Content"]["properties"];
    assert!(content.as_object_mut().unwrap().remove("title").is_some());

    let dir = TempDir::new().unwrap();
    let upstream = write_json(dir.path(), "v1-modified.json", &v1);
    let subset = cloud_subset_copy(dir.path());

    let report = check(&upstream, &subset);
    assert_eq!(report.code, Some(1), "{}{}", report.stdout, report.stderr);
    for key in [
        "searchContent: parameter-vanished query cql",
        "searchContent: parameter-required-upstream query query",
        "searchContent: field-vanished response 200 results[].title",
        "getContent: field-vanished response 200 results[].title",
    ] {
        assert!(
            report.stdout.contains(key),
            "missing {key}:\n{}",
            report.stdout
        );
    }

    let updated = update(&upstream, &subset);
    assert_eq!(
        updated.code,
        Some(0),
        "{}{}",
        updated.stdout,
        updated.stderr
    );
    let rewritten: Json = serde_yaml::from_str(&fs::read_to_string(&subset).unwrap()).unwrap();
    let content = &rewritten["components"]["schemas"]["Content"];
    assert!(content["properties"].get("title").is_none());
    assert_eq!(content["required"], json!(["id", "type"]));
    let names: Vec<&str> = rewritten["paths"]["/wiki/rest/api/content/search"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        // Our shared parameters are `$ref`s to components/parameters/{name}.
        .filter_map(|p| {
            p["name"]
                .as_str()
                .or_else(|| p["$ref"].as_str()?.rsplit('/').next())
        })
        .collect();
    assert!(!names.contains(&"cql"), "{names:?}");
    assert!(names.contains(&"query"), "{names:?}");
    // The accepted deviations stay as they were.
    assert!(
        names.contains(&"start") && names.contains(&"next"),
        "{names:?}"
    );
    assert_eq!(
        rewritten["paths"]["/wiki/rest/api/content/search"]["get"]["operationId"],
        "searchContent"
    );

    let again = check(&upstream, &subset);
    assert_eq!(again.code, Some(0), "{}{}", again.stdout, again.stderr);
}
