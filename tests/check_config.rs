//! `confluence-connector check-config` as an operator runs it: the real
//! binary, a clean environment, tenant files in a temporary directory.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use tempfile::TempDir;

const BINARY: &str = env!("CARGO_BIN_EXE_confluence-connector");

/// A valid Cloud tenant; tests derive broken ones from it.
const CLOUD_TENANT: &str = "\
confluence:
  instanceType: cloud
  baseUrl: https://acme.atlassian.net
  cloudId: 0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b
  auth:
    mode: oauth_2lo
    clientId: acme-client
    clientSecret: os.environ/CONFLUENCE_CLIENT_SECRET
  apiRateLimitPerMinute: 100
  ingestSingleLabel: ai-ingest
  ingestAllLabel: ai-ingest-all
unique:
  serviceAuthMode: cluster_local
  serviceExtraHeaders:
    x-company-id: company_1
    x-user-id: \"42\"
  ingestionServiceBaseUrl: http://node-ingestion:8091
  scopeManagementServiceBaseUrl: http://node-scope-management:8094
processing:
  scanIntervalCron: \"*/15 * * * *\"
ingestion:
  scopeId: scope_root
";

const CLIENT_SECRET: &str = "cloud-secret-4c1d9e";

struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Outcome {
    fn assert_valid(&self) {
        assert_eq!(
            self.code,
            Some(0),
            "stdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
    }

    /// Exit 2, and one stderr line containing every fragment.
    fn assert_error(&self, fragments: &[&str]) {
        assert_eq!(
            self.code,
            Some(2),
            "stdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        assert!(
            self.stderr
                .lines()
                .any(|line| line.starts_with("error: ")
                    && fragments.iter().all(|f| line.contains(f))),
            "no error line contains all of {fragments:?}:\n{}",
            self.stderr
        );
    }

    fn error_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|line| line.starts_with("error: "))
            .collect()
    }
}

/// Runs `check-config` with only `env` set (plus nothing inherited).
fn check_config(args: &[&str], env: &[(&str, &str)]) -> Outcome {
    let output = Command::new(BINARY)
        .env_clear()
        .envs(env.iter().copied())
        .arg("check-config")
        .args(args)
        .output()
        .expect("the binary runs");
    Outcome {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A temporary directory of tenant files.
struct Tenants {
    dir: TempDir,
}

impl Tenants {
    fn new() -> Self {
        Tenants {
            dir: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    fn write(&self, file: &str, yaml: &str) -> PathBuf {
        let path = self.dir.path().join(file);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("the directory is writable");
        }
        fs::write(&path, yaml).expect("the file is writable");
        path
    }

    /// `acme-tenant-config.yaml` = the Cloud tenant with `edits` applied.
    fn acme(&self, edits: &[(&str, &str)]) -> PathBuf {
        let yaml = edits
            .iter()
            .fold(CLOUD_TENANT.to_owned(), |yaml, (from, to)| {
                assert!(yaml.contains(from), "`{from}` is not in the tenant");
                yaml.replacen(from, to, 1)
            });
        self.write("acme-tenant-config.yaml", &yaml)
    }

    fn glob(&self, pattern: &str) -> String {
        format!("{}/{pattern}", self.dir.path().display())
    }

    /// `check-config --config-glob {dir}/*-tenant-config.yaml` with the
    /// client secret set.
    fn check(&self) -> Outcome {
        self.check_with(&[])
    }

    fn check_with(&self, extra_env: &[(&str, &str)]) -> Outcome {
        let glob = self.glob("*-tenant-config.yaml");
        let mut env = vec![("CONFLUENCE_CLIENT_SECRET", CLIENT_SECRET)];
        env.extend_from_slice(extra_env);
        check_config(&["--config-glob", &glob], &env)
    }
}

fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// `NAME=value` lines of `deploy/examples/example.env`.
fn example_env() -> Vec<(String, String)> {
    fs::read_to_string(repo_path("deploy/examples/example.env"))
        .expect("example.env exists")
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
}

fn check_examples(json: bool) -> (Outcome, Vec<(String, String)>) {
    let env = example_env();
    let glob = repo_path("deploy/examples/*-tenant-config.yaml")
        .display()
        .to_string();
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let mut args = vec!["--config-glob", glob.as_str()];
    if json {
        args.push("--json");
    }
    (check_config(&args, &env_refs), env)
}

#[test]
fn the_shipped_examples_are_valid_and_no_secret_is_printed() {
    let (outcome, env) = check_examples(false);
    outcome.assert_valid();
    for tenant in ["acme", "corp-dc", "corp-pat"] {
        assert!(
            outcome.stdout.contains(&format!("tenant {tenant}\n")),
            "{}",
            outcome.stdout
        );
    }
    assert!(outcome.stdout.contains("[Redacted]"), "{}", outcome.stdout);
    for (name, secret) in &env {
        assert!(
            !outcome.stdout.contains(secret) && !outcome.stderr.contains(secret),
            "the value of {name} was printed"
        );
    }
}

#[test]
fn json_output_is_one_document_with_every_tenant() {
    let (outcome, env) = check_examples(true);
    outcome.assert_valid();
    let document: serde_json::Value =
        serde_json::from_str(&outcome.stdout).expect("stdout is JSON");
    let names: Vec<_> = document["tenants"]
        .as_array()
        .expect("a tenant list")
        .iter()
        .map(|tenant| tenant["name"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(names, ["acme", "corp-dc", "corp-pat"]);
    let acme = &document["tenants"][0];
    assert_eq!(acme["confluence"]["instanceType"], "cloud");
    assert_eq!(
        acme["confluence"]["apiGatewayUrl"],
        "https://api.atlassian.com"
    );
    assert_eq!(acme["confluence"]["auth"]["clientSecret"], "[Redacted]");
    assert_eq!(acme["unique"]["auth"]["serviceAuthMode"], "external");
    assert_eq!(acme["unique"]["auth"]["zitadelProjectId"], "[Redacted]");
    assert_eq!(acme["processing"]["scanIntervalCron"], "*/15 * * * *");
    assert_eq!(acme["ingestion"]["inlineImages"], true);
    assert_eq!(acme["ingestion"]["attachments"]["maxFileSizeMb"], 50);
    assert_eq!(acme["ingestion"]["deletionHold"], 25, "the default");
    assert_eq!(
        document["tenants"][2]["confluence"]["auth"]["token"],
        "[Redacted]"
    );
    for (name, secret) in &env {
        assert!(
            !outcome.stdout.contains(secret),
            "the value of {name} was printed"
        );
    }
}

#[test]
fn unknown_keys_and_placeholders_are_listed_as_warnings() {
    let tenants = Tenants::new();
    tenants.acme(&[("cloudId:", "clouldId: typo\n  cloudId:")]);
    let outcome = tenants.check_with(&[("CONFLUENCE_CLIENT_SECRET", "<TO BE SET MANUALLY>")]);
    outcome.assert_valid();
    assert!(
        outcome
            .stdout
            .contains("unknown key `confluence.clouldId` is ignored"),
        "{}",
        outcome.stdout
    );
    assert!(
        outcome
            .stdout
            .contains("`confluence.auth.clientSecret` still holds the placeholder"),
        "{}",
        outcome.stdout
    );
    // Also logged, naming file and key.
    assert!(
        outcome
            .stderr
            .contains("unknown tenant configuration key ignored")
            && outcome.stderr.contains("confluence.clouldId")
            && outcome.stderr.contains("acme-tenant-config.yaml"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn malformed_yaml_reports_the_position() {
    let tenants = Tenants::new();
    tenants.acme(&[("  cloudId: ", "  cloudId: [")]);
    let outcome = tenants.check();
    outcome.assert_error(&[
        "acme-tenant-config.yaml: invalid YAML",
        "line",
        "column",
        "fix the syntax",
    ]);
    assert_eq!(outcome.error_lines().len(), 1, "{}", outcome.stderr);
}

#[test]
fn a_wrong_type() {
    let tenants = Tenants::new();
    tenants.acme(&[("apiRateLimitPerMinute: 100", "apiRateLimitPerMinute: [100]")]);
    tenants.check().assert_error(&[
        "acme-tenant-config.yaml",
        "`confluence.apiRateLimitPerMinute`: must be a whole number, found a list",
        "set a whole number of at least 1",
    ]);
}

#[test]
fn a_missing_required_field() {
    let tenants = Tenants::new();
    tenants.acme(&[("  ingestSingleLabel: ai-ingest\n", "")]);
    tenants.check().assert_error(&[
        "acme-tenant-config.yaml",
        "`confluence.ingestSingleLabel`: is missing",
        "add `ingestSingleLabel: ai-ingest` under `confluence`",
    ]);
}

#[test]
fn an_unknown_instance_type() {
    let tenants = Tenants::new();
    tenants.acme(&[("instanceType: cloud", "instanceType: server")]);
    let outcome = tenants.check();
    outcome.assert_error(&[
        "acme-tenant-config.yaml",
        "`confluence.instanceType`: unknown value `server`",
        "use one of `cloud`, `data-center`",
    ]);
    assert_eq!(outcome.error_lines().len(), 1, "{}", outcome.stderr);
}

#[test]
fn an_unknown_auth_mode() {
    let tenants = Tenants::new();
    tenants.acme(&[("mode: oauth_2lo", "mode: kerberos")]);
    let outcome = tenants.check();
    outcome.assert_error(&[
        "acme-tenant-config.yaml",
        "`confluence.auth.mode`: unknown value `kerberos`",
        "use one of `oauth_2lo`, `pat`, `basic`",
    ]);
    assert_eq!(outcome.error_lines().len(), 1, "{}", outcome.stderr);
}

#[test]
fn pat_on_cloud() {
    let tenants = Tenants::new();
    tenants.acme(&[(
        "mode: oauth_2lo\n    clientId: acme-client\n    clientSecret: os.environ/CONFLUENCE_CLIENT_SECRET",
        "mode: pat\n    token: os.environ/CONFLUENCE_CLIENT_SECRET",
    )]);
    tenants.check().assert_error(&[
        "acme-tenant-config.yaml",
        "`confluence.auth.mode`: `pat` and `basic` are only available on Data Center",
        "use `mode: oauth_2lo`",
    ]);
}

#[test]
fn a_bad_cron_expression() {
    let tenants = Tenants::new();
    tenants.acme(&[("\"*/15 * * * *\"", "\"every 15 minutes\"")]);
    tenants.check().assert_error(&[
        "acme-tenant-config.yaml",
        "`processing.scanIntervalCron`: `every 15 minutes` has 3 field(s)",
        "use 5 fields",
    ]);
}

#[test]
fn a_bad_url_and_a_trailing_slash() {
    let tenants = Tenants::new();
    tenants.acme(&[
        (
            "baseUrl: https://acme.atlassian.net",
            "baseUrl: https://acme.atlassian.net/",
        ),
        ("http://node-ingestion:8091", "node-ingestion"),
    ]);
    let outcome = tenants.check();
    outcome.assert_error(&[
        "acme-tenant-config.yaml",
        "`confluence.baseUrl`: ends with `/`",
        "without a trailing `/`",
    ]);
    outcome.assert_error(&[
        "acme-tenant-config.yaml",
        "`unique.ingestionServiceBaseUrl`: is not an absolute URL",
        "write an absolute http(s) URL",
    ]);
}

#[test]
fn a_reference_to_an_unset_variable() {
    let tenants = Tenants::new();
    tenants.acme(&[]);
    let glob = tenants.glob("*-tenant-config.yaml");
    check_config(&["--config-glob", &glob], &[]).assert_error(&[
        "acme-tenant-config.yaml",
        "`confluence.auth.clientSecret`: environment variable `CONFLUENCE_CLIENT_SECRET` is not set",
        "export it or change the reference",
    ]);
}

#[test]
fn the_same_tenant_name_in_two_directories() {
    let tenants = Tenants::new();
    tenants.write("a/acme-tenant-config.yaml", CLOUD_TENANT);
    tenants.write("b/acme-tenant-config.yaml", CLOUD_TENANT);
    let glob = tenants.glob("*/*-tenant-config.yaml");
    check_config(
        &["--config-glob", &glob],
        &[("CONFLUENCE_CLIENT_SECRET", CLIENT_SECRET)],
    )
    .assert_error(&[
        "tenant `acme` is defined twice",
        "a/acme-tenant-config.yaml",
        "b/acme-tenant-config.yaml",
        "rename or remove one of the files",
    ]);
}

#[test]
fn two_active_tenants_on_one_instance() {
    let tenants = Tenants::new();
    tenants.acme(&[]);
    tenants.write("acme-copy-tenant-config.yaml", CLOUD_TENANT);
    tenants.check().assert_error(&[
        "acme-copy-tenant-config.yaml and ",
        "acme-tenant-config.yaml are both active tenants",
        "`cloud:0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b`",
        "status: inactive",
    ]);
}

#[test]
fn a_deleted_tenant_sharing_the_root_scope_of_an_active_one() {
    let tenants = Tenants::new();
    tenants.acme(&[]);
    tenants.write(
        "old-acme-tenant-config.yaml",
        &format!("status: deleted\n{CLOUD_TENANT}"),
    );
    tenants.check().assert_error(&[
        "acme-tenant-config.yaml and ",
        "old-acme-tenant-config.yaml both set `ingestion.scopeId: scope_root`, whatever their status",
        "give one of them another `ingestion.scopeId`",
    ]);
}

#[test]
fn deletion_hold_must_be_a_whole_number_of_at_least_zero() {
    let tenants = Tenants::new();
    tenants.acme(&[(
        "  scopeId: scope_root\n",
        "  scopeId: scope_root\n  deletionHold: -3\n",
    )]);
    tenants.check().assert_error(&[
        "acme-tenant-config.yaml",
        "`ingestion.deletionHold`: must be at least 0, found -3",
        "set a whole number of at least 0 (0 switches holding off)",
    ]);
    tenants.acme(&[(
        "  scopeId: scope_root\n",
        "  scopeId: scope_root\n  deletionHold: \"5\"\n",
    )]);
    tenants.check().assert_error(&[
        "acme-tenant-config.yaml",
        "`ingestion.deletionHold`: must be a YAML number, not a string",
    ]);
    tenants.acme(&[(
        "  scopeId: scope_root\n",
        "  scopeId: scope_root\n  deletionHold: 0\n",
    )]);
    tenants.check().assert_valid();
}

#[test]
fn a_glob_that_matches_nothing() {
    let tenants = Tenants::new();
    let glob = tenants.glob("*-tenant-config.yaml");
    check_config(&[], &[("TENANT_CONFIG_PATH_PATTERN", &glob)]).assert_error(&[
        "environment variable `TENANT_CONFIG_PATH_PATTERN`",
        &format!("`{glob}` matches no file"),
        "correct the pattern",
    ]);
    check_config(&["--config-glob", &glob], &[])
        .assert_error(&["`--config-glob`", "matches no file"]);
}

#[test]
fn no_pattern_at_all() {
    check_config(&[], &[]).assert_error(&[
        "environment variable `TENANT_CONFIG_PATH_PATTERN`: is not set",
        "--config-glob",
    ]);
}

#[test]
fn a_yml_file_name() {
    let tenants = Tenants::new();
    tenants.write("acme-tenant-config.yml", CLOUD_TENANT);
    let glob = tenants.glob("*");
    check_config(
        &["--config-glob", &glob],
        &[("CONFLUENCE_CLIENT_SECRET", CLIENT_SECRET)],
    )
    .assert_error(&[
        "acme-tenant-config.yml: the file name does not end with `-tenant-config.yaml`",
        "rename it to `acme-tenant-config.yaml`",
    ]);
}

#[test]
fn an_invalid_tenant_name() {
    let tenants = Tenants::new();
    tenants.write("Acme_Corp-tenant-config.yaml", CLOUD_TENANT);
    tenants.check().assert_error(&[
        "Acme_Corp-tenant-config.yaml: the tenant name `Acme_Corp`",
        "^[a-z0-9]+(-[a-z0-9]+)*$",
        "rename the file",
    ]);
}

#[test]
fn a_label_with_a_quote() {
    let tenants = Tenants::new();
    tenants.acme(&[("ingestAllLabel: ai-ingest-all", "ingestAllLabel: 'ai\"all'")]);
    tenants.check().assert_error(&[
        "acme-tenant-config.yaml",
        "`confluence.ingestAllLabel`: `ai\"all` contains `\"`",
        "use a plain Confluence label",
    ]);
}

#[test]
fn an_invalid_log_level() {
    let tenants = Tenants::new();
    tenants.acme(&[]);
    let outcome = tenants.check_with(&[("LOG_LEVEL", "verbose")]);
    outcome.assert_error(&[
        "environment variable `LOG_LEVEL`: unknown value `verbose`",
        "use one of `fatal`, `error`, `warn`, `info`, `debug`, `trace`, `silent`",
    ]);
    let glob = tenants.glob("*-tenant-config.yaml");
    check_config(
        &["--config-glob", &glob, "--log-level", "loud"],
        &[("CONFLUENCE_CLIENT_SECRET", CLIENT_SECRET)],
    )
    .assert_error(&["`--log-level`: unknown value `loud`"]);
}

#[test]
fn invalid_work_limits() {
    let tenants = Tenants::new();
    tenants.acme(&[]);
    let outcome = tenants.check_with(&[
        ("UNIQUE_UPLOAD_STALL_TIMEOUT_SECONDS", "0"),
        ("SYNC_CYCLE_STUCK_AFTER_SECONDS", "4h"),
    ]);
    outcome.assert_error(&[
        "environment variable `UNIQUE_UPLOAD_STALL_TIMEOUT_SECONDS`: `0` is not valid",
        "use a whole number of seconds, at least 1",
    ]);
    outcome.assert_error(&[
        "environment variable `SYNC_CYCLE_STUCK_AFTER_SECONDS`: `4h` is not valid",
        "such as `14400` (four hours)",
    ]);
    tenants
        .check_with(&[
            ("UNIQUE_UPLOAD_STALL_TIMEOUT_SECONDS", "300"),
            ("SYNC_CYCLE_STUCK_AFTER_SECONDS", "7200"),
        ])
        .assert_valid();
}

#[test]
fn every_error_of_a_file_is_reported_together() {
    let tenants = Tenants::new();
    tenants.acme(&[
        (
            "instanceType: cloud",
            "instanceType: cloud\n  apiGatewayUrl: https://gw.example/",
        ),
        (
            "os.environ/CONFLUENCE_CLIENT_SECRET",
            "os.environ/UNSET_SECRET",
        ),
        ("x-user-id: \"42\"", "x-user-id: 42"),
        ("\"*/15 * * * *\"", "\"61 * * * *\""),
        ("scopeId: scope_root", "scopeId: \"\""),
    ]);
    let outcome = tenants.check();
    let fields: Vec<_> = outcome
        .error_lines()
        .iter()
        .filter_map(|line| line.split('`').nth(1))
        .collect();
    assert_eq!(
        fields,
        [
            "confluence.apiGatewayUrl",
            "confluence.auth.clientSecret",
            "unique.serviceExtraHeaders.x-user-id",
            "processing.scanIntervalCron",
            "ingestion.scopeId",
        ],
        "{}",
        outcome.stderr
    );
    assert_eq!(outcome.code, Some(2));
    assert!(
        outcome.stderr.contains("5 configuration error(s) found"),
        "{}",
        outcome.stderr
    );
}
