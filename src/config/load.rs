//! Finding, reading and checking the tenant files as a set (PROTOCOL §3.1).

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
};

use serde_yaml::Value;

use super::{
    error::{ConfigError, ConfigErrors, ConfigWarning, Setting},
    raw::{RawTenant, kind},
    validate::{self, Checker},
    validated::{KeyFormat, TenantConfig, TenantName, TenantStatus},
};

/// Every tenant file name ends with this; the rest is the tenant name.
pub(super) const FILE_SUFFIX: &str = "-tenant-config.yaml";

/// The tenants of one load, split by whether they run.
pub(super) struct Tenants {
    pub running: Vec<TenantConfig>,
    pub inactive: Vec<TenantConfig>,
}

/// Loads every file `pattern` matches. Errors go to `errors`, warnings to
/// `warnings`; the tenants are only meaningful when no error was added.
pub(super) fn tenants(
    pattern: &str,
    origin: Setting,
    lookup: &dyn Fn(&str) -> Option<String>,
    errors: &mut ConfigErrors,
    warnings: &mut Vec<ConfigWarning>,
) -> Tenants {
    let errors_before = errors.len();
    let mut loaded = Vec::new();
    let mut names: HashMap<TenantName, PathBuf> = HashMap::new();
    for path in discover(pattern, origin, errors) {
        if path.is_dir() {
            errors.push(ConfigError::FileName {
                problem: "is a directory, not a tenant file".to_owned(),
                fix: "narrow the glob so that it matches tenant files only".to_owned(),
                path,
            });
            continue;
        }
        let name = tenant_name(&path).map_err(|e| errors.push(e)).ok();
        if let Some(name) = &name {
            if let Some(first) = names.get(name) {
                errors.push(ConfigError::DuplicateTenant {
                    name: name.to_string(),
                    first: first.clone(),
                    second: path.clone(),
                });
            } else {
                names.insert(name.clone(), path.clone());
            }
        }
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                if let Some(tenant) = parse_file(&path, &text, name, lookup, errors, warnings) {
                    loaded.push(tenant);
                }
            }
            Err(source) => errors.push(ConfigError::Unreadable { path, source }),
        }
    }
    check_instances(&loaded, errors);
    check_root_scopes(&loaded, errors);
    warn_shared_v1_keys(&loaded, warnings);

    let (inactive, running): (Vec<_>, Vec<_>) = loaded
        .into_iter()
        .partition(|tenant| tenant.status == TenantStatus::Inactive);
    // Only meaningful when every file loaded: a broken file might be active.
    if running.is_empty() && !inactive.is_empty() && errors.len() == errors_before {
        errors.push(ConfigError::NoTenantLeft {
            inactive: inactive.len(),
        });
    }
    Tenants { running, inactive }
}

/// The files the glob matches, in the glob's (sorted) order.
///
/// Kubernetes mounts ConfigMap keys as symlinks into a hidden `..data`
/// directory (PROTOCOL §14.4): the symlinks must be followed (the `glob`
/// crate does) and dot-entries never matched.
fn discover(pattern: &str, origin: Setting, errors: &mut ConfigErrors) -> Vec<PathBuf> {
    let options = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: true,
    };
    let entries = match glob::glob_with(pattern, options) {
        Ok(entries) => entries,
        Err(e) => {
            errors.push(ConfigError::Setting {
                setting: origin,
                problem: format!(
                    "`{pattern}` is not a valid glob: {} (at character {})",
                    e.msg, e.pos
                ),
                fix: "correct the pattern, e.g. `/app/tenant-configs/*-tenant-config.yaml`"
                    .to_owned(),
            });
            return Vec::new();
        }
    };
    let mut paths = Vec::new();
    let mut unreadable = false;
    for entry in entries {
        match entry {
            Ok(path) => paths.push(path),
            Err(e) => {
                unreadable = true;
                errors.push(ConfigError::Unreadable {
                    path: e.path().to_owned(),
                    source: e.into(),
                });
            }
        }
    }
    if paths.is_empty() && !unreadable {
        errors.push(ConfigError::Setting {
            setting: origin,
            problem: format!("`{pattern}` matches no file"),
            fix: "put the tenant files there (named `{tenant}-tenant-config.yaml`) or correct the pattern".to_owned(),
        });
    }
    paths
}

/// The tenant name a file name yields (§3.1).
fn tenant_name(path: &Path) -> Result<TenantName, ConfigError> {
    let file_name = path
        .file_name()
        .map(|name| name.to_string_lossy())
        .unwrap_or_default();
    let file_error = |problem: String, fix: String| ConfigError::FileName {
        path: path.to_owned(),
        problem,
        fix,
    };
    let Some(name) = file_name.strip_suffix(FILE_SUFFIX) else {
        let fix = match file_name.strip_suffix("-tenant-config.yml") {
            Some(stem) => format!("rename it to `{stem}{FILE_SUFFIX}` (`.yml` is not accepted)"),
            None => format!(
                "rename it to `{{tenant}}{FILE_SUFFIX}`, or narrow the glob so that it matches tenant files only"
            ),
        };
        return Err(file_error(
            format!("the file name does not end with `{FILE_SUFFIX}`"),
            fix,
        ));
    };
    TenantName::parse(name).ok_or_else(|| {
        file_error(
            format!("the tenant name `{name}` (the file name minus `{FILE_SUFFIX}`) is not valid"),
            "use lower-case letters and digits in groups joined by single `-` (`^[a-z0-9]+(-[a-z0-9]+)*$`) and rename the file"
                .to_owned(),
        )
    })
}

/// Parses and validates one file. `None` if it has errors or no valid name.
pub(super) fn parse_file(
    path: &Path,
    text: &str,
    name: Option<TenantName>,
    lookup: &dyn Fn(&str) -> Option<String>,
    errors: &mut ConfigErrors,
    warnings: &mut Vec<ConfigWarning>,
) -> Option<TenantConfig> {
    let document: Value = match serde_yaml::from_str(text) {
        Ok(document) => document,
        Err(e) => {
            errors.push(ConfigError::Syntax {
                path: path.to_owned(),
                message: e.to_string(),
            });
            return None;
        }
    };
    if !document.is_mapping() {
        let found = if document.is_null() {
            "empty"
        } else {
            kind(&document)
        };
        errors.push(ConfigError::NotAMapping {
            path: path.to_owned(),
            found,
        });
        return None;
    }
    let mut unknown = Vec::new();
    // Leaves are plain YAML values and sections tolerate any kind, so this
    // only fails on structure serde cannot map at all; report that as one
    // error for the file.
    let raw: RawTenant =
        match serde_ignored::deserialize(document, |key| unknown.push(key.to_string())) {
            Ok(raw) => raw,
            Err(e) => {
                errors.push(ConfigError::Syntax {
                    path: path.to_owned(),
                    message: e.to_string(),
                });
                return None;
            }
        };
    warnings.extend(unknown.into_iter().map(|key| ConfigWarning::UnknownKey {
        path: path.to_owned(),
        key,
    }));

    let mut checker = Checker::new(path, lookup);
    let tenant = validate::tenant(&mut checker, raw, name);
    warnings.append(&mut checker.warnings);
    if checker.errors.is_empty() {
        tenant
    } else {
        errors.extend(checker.errors);
        None
    }
}

/// Two active tenants must not sync the same Confluence instance (§3.1).
fn check_instances(tenants: &[TenantConfig], errors: &mut ConfigErrors) {
    let mut seen: HashMap<String, &Path> = HashMap::new();
    for tenant in tenants
        .iter()
        .filter(|tenant| tenant.status == TenantStatus::Active)
    {
        let key = tenant.confluence.instance_key();
        match seen.get(&key) {
            Some(first) => errors.push(ConfigError::DuplicateInstance {
                key,
                first: first.to_path_buf(),
                second: tenant.file.clone(),
            }),
            None => {
                seen.insert(key, &tenant.file);
            }
        }
    }
}

/// No two tenant files, whatever their status, may name the same root
/// scope (ours, §3.1): a `deleted` tenant purges below its root, and an
/// active one cleans up orphans there, so a shared root means one tenant
/// deleting the other's content.
fn check_root_scopes(tenants: &[TenantConfig], errors: &mut ConfigErrors) {
    let mut seen: HashMap<&str, &Path> = HashMap::new();
    for tenant in tenants {
        let scope_id = tenant.ingestion.scope_id.as_str();
        match seen.get(scope_id) {
            Some(first) => errors.push(ConfigError::SharedRootScope {
                scope_id: scope_id.to_owned(),
                first: first.to_path_buf(),
                second: tenant.file.clone(),
            }),
            None => {
                seen.insert(scope_id, &tenant.file);
            }
        }
    }
}

/// v1 keys (`{spaceId}_{spaceKey}/…`) carry no tenant name, so two tenants
/// using them can address the same content (two instances with colliding
/// space ids, or an active and a deleted tenant of one instance). Allowed,
/// because the reference allows it, but worth a warning on both files.
fn warn_shared_v1_keys(tenants: &[TenantConfig], warnings: &mut Vec<ConfigWarning>) {
    let v1: Vec<&TenantConfig> = tenants
        .iter()
        .filter(|tenant| tenant.ingestion.key_format == KeyFormat::V1)
        .collect();
    for (i, first) in v1.iter().enumerate() {
        for second in &v1[i + 1..] {
            warnings.push(ConfigWarning::SharedV1Keys {
                path: first.file.clone(),
                other: second.file.clone(),
            });
            warnings.push(ConfigWarning::SharedV1Keys {
                path: second.file.clone(),
                other: first.file.clone(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    /// A Data Center tenant; `{base}`, `{status}` and `{scope}` (by
    /// default the file's own path, so that files do not share a root)
    /// are filled in.
    const TENANT: &str = "\
status: {status}
confluence:
  instanceType: data-center
  baseUrl: {base}
  auth: {mode: pat, token: literal-token}
  apiRateLimitPerMinute: 60
  ingestSingleLabel: ai-ingest
  ingestAllLabel: ai-ingest-all
unique:
  serviceAuthMode: cluster_local
  serviceExtraHeaders: {x-company-id: c, x-user-id: u}
  ingestionServiceBaseUrl: http://ingestion:8091
  scopeManagementServiceBaseUrl: http://scopes:8094
ingestion:
  scopeId: '{scope}'
";

    fn tenant_file(dir: &Path, file: &str, base: &str, status: &str) -> PathBuf {
        let path = dir.join(file);
        let scope = path.display().to_string();
        tenant_file_with(&path, base, status, &scope, "")
    }

    /// A tenant file at `path` with root scope `scope` and `extra` lines
    /// appended under `ingestion`.
    fn tenant_file_with(
        path: &Path,
        base: &str,
        status: &str,
        scope: &str,
        extra: &str,
    ) -> PathBuf {
        let text = TENANT
            .replace("{base}", base)
            .replace("{status}", status)
            .replace("{scope}", scope);
        fs::write(path, format!("{text}{extra}")).unwrap();
        path.to_path_buf()
    }

    fn load_with_warnings(pattern: &str) -> (Vec<String>, Vec<String>) {
        let mut errors = ConfigErrors::default();
        let mut warnings = Vec::new();
        tenants(
            pattern,
            Setting::Flag("--config-glob"),
            &|_| None,
            &mut errors,
            &mut warnings,
        );
        (
            errors.iter().map(ToString::to_string).collect(),
            warnings.iter().map(ToString::to_string).collect(),
        )
    }

    fn load(pattern: &str) -> (Tenants, Vec<String>) {
        let mut errors = ConfigErrors::default();
        let mut warnings = Vec::new();
        let tenants = tenants(
            pattern,
            Setting::Flag("--config-glob"),
            &|_| None,
            &mut errors,
            &mut warnings,
        );
        (tenants, errors.iter().map(ToString::to_string).collect())
    }

    fn pattern(dir: &Path, glob: &str) -> String {
        format!("{}/{glob}", dir.display())
    }

    fn names(tenants: &[TenantConfig]) -> Vec<&str> {
        tenants.iter().map(|tenant| tenant.name.as_str()).collect()
    }

    #[cfg(unix)]
    #[test]
    fn configmap_mounts_are_followed_through_symlinks_and_dot_entries_are_skipped() {
        // The layout kubelet creates for a ConfigMap volume.
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("..2024_01_01_00_00_00.000000000");
        fs::create_dir(&data).unwrap();
        tenant_file(
            &data,
            "acme-tenant-config.yaml",
            "https://a.example",
            "active",
        );
        std::os::unix::fs::symlink(&data, dir.path().join("..data")).unwrap();
        std::os::unix::fs::symlink(
            "..data/acme-tenant-config.yaml",
            dir.path().join("acme-tenant-config.yaml"),
        )
        .unwrap();

        for glob in ["*-tenant-config.yaml", "*", "*/*-tenant-config.yaml"] {
            let (tenants, errors) = load(&pattern(dir.path(), glob));
            if glob.starts_with("*/") {
                assert_eq!(errors.len(), 1, "{glob}: {errors:?}");
                assert!(errors[0].contains("matches no file"), "{errors:?}");
            } else {
                assert!(errors.is_empty(), "{glob}: {errors:?}");
                assert_eq!(names(&tenants.running), ["acme"], "{glob}");
            }
        }
    }

    #[test]
    fn a_glob_without_matches_names_the_pattern() {
        let dir = tempfile::tempdir().unwrap();
        let glob = pattern(dir.path(), "*-tenant-config.yaml");
        let (_, errors) = load(&glob);
        assert_eq!(
            errors,
            [format!(
                "`--config-glob`: `{glob}` matches no file; put the tenant files there (named `{{tenant}}-tenant-config.yaml`) or correct the pattern"
            )]
        );
    }

    #[test]
    fn an_invalid_glob_is_reported() {
        let (_, errors) = load("/etc/[tenants/*");
        assert_eq!(errors.len(), 1);
        assert!(errors[0].contains("is not a valid glob"), "{errors:?}");
    }

    #[test]
    fn file_names_must_end_with_the_suffix_and_give_a_valid_name() {
        let dir = tempfile::tempdir().unwrap();
        tenant_file(
            dir.path(),
            "acme-tenant-config.yml",
            "https://a.example",
            "active",
        );
        tenant_file(
            dir.path(),
            "Corp_DC-tenant-config.yaml",
            "https://b.example",
            "active",
        );
        tenant_file(
            dir.path(),
            "ok-tenant-config.yaml",
            "https://c.example",
            "active",
        );
        fs::create_dir(dir.path().join("subdir")).unwrap();
        let (tenants, errors) = load(&pattern(dir.path(), "*"));
        assert_eq!(names(&tenants.running), ["ok"]);
        assert_eq!(errors.len(), 3, "{errors:#?}");
        assert!(
            errors[2].contains("subdir: is a directory, not a tenant file"),
            "{errors:#?}"
        );
        assert!(
            errors[0].contains("Corp_DC-tenant-config.yaml: the tenant name `Corp_DC`"),
            "{errors:#?}"
        );
        assert!(
            errors[0].contains("^[a-z0-9]+(-[a-z0-9]+)*$"),
            "{errors:#?}"
        );
        assert!(errors[1].contains("acme-tenant-config.yml: the file name does not end with `-tenant-config.yaml`; rename it to `acme-tenant-config.yaml` (`.yml` is not accepted)"), "{errors:#?}");
    }

    #[test]
    fn the_same_tenant_name_from_two_directories_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["a", "b"] {
            fs::create_dir(dir.path().join(sub)).unwrap();
            tenant_file(
                &dir.path().join(sub),
                "acme-tenant-config.yaml",
                &format!("https://{sub}.example"),
                "active",
            );
        }
        let (_, errors) = load(&pattern(dir.path(), "*/*-tenant-config.yaml"));
        assert_eq!(
            errors,
            [format!(
                "tenant `acme` is defined twice, by {0}/a/acme-tenant-config.yaml and {0}/b/acme-tenant-config.yaml; rename or remove one of the files",
                dir.path().display()
            )]
        );
    }

    #[test]
    fn two_active_tenants_may_not_share_an_instance() {
        let dir = tempfile::tempdir().unwrap();
        tenant_file(
            dir.path(),
            "one-tenant-config.yaml",
            "https://wiki.example",
            "active",
        );
        tenant_file(
            dir.path(),
            "two-tenant-config.yaml",
            "https://wiki.example",
            "active",
        );
        let (_, errors) = load(&pattern(dir.path(), "*"));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].contains("one-tenant-config.yaml and "),
            "{errors:?}"
        );
        assert!(errors[0].contains("two-tenant-config.yaml are both active tenants of the Confluence instance `data-center:https://wiki.example`"), "{errors:?}");
    }

    #[test]
    fn inactive_and_deleted_tenants_do_not_count_as_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        tenant_file(
            dir.path(),
            "one-tenant-config.yaml",
            "https://wiki.example",
            "active",
        );
        tenant_file(
            dir.path(),
            "two-tenant-config.yaml",
            "https://wiki.example",
            "deleted",
        );
        tenant_file(
            dir.path(),
            "three-tenant-config.yaml",
            "https://wiki.example",
            "inactive",
        );
        let (tenants, errors) = load(&pattern(dir.path(), "*"));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(names(&tenants.running), ["one", "two"]);
        assert_eq!(names(&tenants.inactive), ["three"]);
    }

    #[test]
    fn at_least_one_tenant_must_remain_after_dropping_inactive_ones() {
        let dir = tempfile::tempdir().unwrap();
        tenant_file(
            dir.path(),
            "one-tenant-config.yaml",
            "https://wiki.example",
            "inactive",
        );
        let (_, errors) = load(&pattern(dir.path(), "*"));
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].starts_with("all 1 tenant file(s) have `status: inactive`"),
            "{errors:?}"
        );
    }

    #[test]
    fn errors_of_every_file_are_collected() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("a-tenant-config.yaml"), "confluence: [\n").unwrap();
        fs::write(dir.path().join("b-tenant-config.yaml"), "42\n").unwrap();
        tenant_file(
            dir.path(),
            "c-tenant-config.yaml",
            "https://wiki.example/",
            "active",
        );
        let (_, errors) = load(&pattern(dir.path(), "*"));
        assert_eq!(errors.len(), 3, "{errors:#?}");
        assert!(
            errors[0].contains("a-tenant-config.yaml: invalid YAML"),
            "{errors:#?}"
        );
        assert!(
            errors[1].contains("b-tenant-config.yaml: the document is a number"),
            "{errors:#?}"
        );
        assert!(
            errors[2].contains("c-tenant-config.yaml: `confluence.baseUrl`"),
            "{errors:#?}"
        );
    }

    #[test]
    fn two_files_may_not_share_a_root_scope_whatever_their_status() {
        for status in ["active", "deleted", "inactive"] {
            let dir = tempfile::tempdir().unwrap();
            let first = tenant_file_with(
                &dir.path().join("one-tenant-config.yaml"),
                "https://one.example",
                "active",
                "root-1",
                "",
            );
            let second = tenant_file_with(
                &dir.path().join("two-tenant-config.yaml"),
                "https://two.example",
                status,
                "root-1",
                "",
            );
            let (errors, _) = load_with_warnings(&pattern(dir.path(), "*"));
            assert_eq!(
                errors,
                [format!(
                    "{} and {} both set `ingestion.scopeId: root-1`, whatever their status; \
                     each tenant needs its own root scope: give one of them another `ingestion.scopeId` \
                     (a `deleted` tenant's purge would otherwise remove the other tenant's content)",
                    first.display(),
                    second.display()
                )],
                "{status}"
            );
        }
    }

    #[test]
    fn two_tenants_with_v1_keys_are_warned_about_on_both_files() {
        let dir = tempfile::tempdir().unwrap();
        let v1 = "  useV1KeyFormat: enabled\n";
        let first = tenant_file_with(
            &dir.path().join("one-tenant-config.yaml"),
            "https://one.example",
            "active",
            "root-1",
            v1,
        );
        let second = tenant_file_with(
            &dir.path().join("two-tenant-config.yaml"),
            "https://two.example",
            "deleted",
            "root-2",
            v1,
        );
        tenant_file_with(
            &dir.path().join("three-tenant-config.yaml"),
            "https://three.example",
            "active",
            "root-3",
            "",
        );
        let (errors, warnings) = load_with_warnings(&pattern(dir.path(), "*"));
        assert!(errors.is_empty(), "{errors:?}");
        let expected = |file: &Path, other: &Path| {
            format!(
                "{}: `ingestion.useV1KeyFormat` is enabled here and in {}: v1 keys carry no tenant name, \
                 so both tenants write the same keys for spaces with the same id, and a cycle refuses \
                 to touch a space whose stored content lies in another tenant's scope; \
                 set `useV1KeyFormat: disabled` on one of them (docs/migration.md)",
                file.display(),
                other.display()
            )
        };
        assert_eq!(
            warnings,
            [expected(&first, &second), expected(&second, &first)]
        );
    }
}
