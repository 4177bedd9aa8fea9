//! What can go wrong while loading the configuration, and what is worth a
//! warning.
//!
//! Every error names where the problem is (environment variable, CLI flag,
//! file, field path), what is wrong, and how to fix it. No message ever
//! contains a secret value: the validators describe secret values by their
//! kind ("a number", "empty") and never quote them.

use std::{
    fmt, io,
    path::{Path, PathBuf},
};

/// Where a process setting came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    /// An environment variable (PROTOCOL §2.1).
    Env(&'static str),
    /// A command-line flag that overrides an environment variable (§2.4).
    Flag(&'static str),
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Setting::Env(name) => write!(f, "environment variable `{name}`"),
            Setting::Flag(name) => write!(f, "`{name}`"),
        }
    }
}

/// One configuration error. [`ConfigErrors`] holds all errors of one load.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A process setting is missing or invalid, or the tenant file pattern
    /// is unusable (bad glob, no match).
    #[error("{setting}: {problem}; {fix}")]
    Setting {
        setting: Setting,
        problem: String,
        fix: String,
    },

    /// A tenant file (or the directory the glob walks) cannot be read.
    #[error("{}: cannot read: {source}; check that it exists and is readable", path.display())]
    Unreadable {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// The file name does not follow `{tenant}-tenant-config.yaml`.
    #[error("{}: {problem}; {fix}", path.display())]
    FileName {
        path: PathBuf,
        problem: String,
        fix: String,
    },

    /// The file is not valid YAML. The message carries serde_yaml's line
    /// and column.
    #[error("{}: invalid YAML: {message}; fix the syntax at that position", path.display())]
    Syntax { path: PathBuf, message: String },

    /// The YAML document is not a mapping (for example an empty file or a list).
    #[error(
        "{}: the document is {found}, but a tenant file must be a mapping with the keys \
         `confluence`, `unique`, `processing` and `ingestion`; see docs/configuration.md",
        path.display()
    )]
    NotAMapping { path: PathBuf, found: &'static str },

    /// One field of a tenant file is missing or invalid.
    #[error("{}: `{field}`: {problem}; {fix}", path.display())]
    Field {
        path: PathBuf,
        field: String,
        problem: String,
        fix: String,
    },

    /// Two files yield the same tenant name.
    #[error(
        "tenant `{name}` is defined twice, by {} and {}; rename or remove one of the files",
        first.display(),
        second.display()
    )]
    DuplicateTenant {
        name: String,
        first: PathBuf,
        second: PathBuf,
    },

    /// Two active tenants would sync the same Confluence instance.
    #[error(
        "{} and {} are both active tenants of the Confluence instance `{key}`; \
         give one of them `status: inactive`, or point it at another instance",
        first.display(),
        second.display()
    )]
    DuplicateInstance {
        key: String,
        first: PathBuf,
        second: PathBuf,
    },

    /// Two tenant files name the same root scope (ours, PROTOCOL §3.1):
    /// the purge of one, or its orphan cleanup, would act on the other's
    /// content.
    #[error(
        "{} and {} both set `ingestion.scopeId: {scope_id}`, whatever their status; \
         each tenant needs its own root scope: give one of them another `ingestion.scopeId` \
         (a `deleted` tenant's purge would otherwise remove the other tenant's content)",
        first.display(),
        second.display()
    )]
    SharedRootScope {
        scope_id: String,
        first: PathBuf,
        second: PathBuf,
    },

    /// Every tenant file says `status: inactive`.
    #[error(
        "all {inactive} tenant file(s) have `status: inactive`, so there is nothing to run; \
         set `status: active` (or `deleted`) in at least one of them"
    )]
    NoTenantLeft { inactive: usize },
}

/// Every error found in one load, in discovery order (environment first,
/// then files in glob order, then cross-file checks).
#[derive(Debug, Default)]
pub struct ConfigErrors(Vec<ConfigError>);

impl ConfigErrors {
    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn push(&mut self, error: ConfigError) {
        self.0.push(error);
    }

    /// `Ok(value)` when nothing was recorded, otherwise every recorded error.
    pub(crate) fn into_result<T>(self, value: T) -> Result<T, ConfigErrors> {
        if self.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }
}

impl Extend<ConfigError> for ConfigErrors {
    fn extend<I: IntoIterator<Item = ConfigError>>(&mut self, iter: I) {
        self.0.extend(iter);
    }
}

impl IntoIterator for ConfigErrors {
    type Item = ConfigError;
    type IntoIter = std::vec::IntoIter<ConfigError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a ConfigErrors {
    type Item = &'a ConfigError;
    type IntoIter = std::slice::Iter<'a, ConfigError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// One error per line.
impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Something that loads but deserves the operator's attention. Warnings
/// never stop the process.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigWarning {
    /// A key the schema does not know (PROTOCOL §3.1, `ADR/0003`).
    UnknownKey { path: PathBuf, key: String },
    /// A known key that has no effect in this tenant's configuration, such
    /// as `confluence.cloudId` on a Data Center tenant.
    UnusedKey {
        path: PathBuf,
        key: String,
        reason: String,
    },
    /// A secret still holds the Terraform placeholder `<TO BE SET MANUALLY>`
    /// (PROTOCOL §14.4, §14.8).
    Placeholder {
        path: PathBuf,
        field: String,
        variable: Option<String>,
    },
    /// `os.environ/NAME` on a field that does not resolve references, so the
    /// text is used literally.
    LiteralReference { path: PathBuf, field: String },
    /// `useV1KeyFormat` is enabled in this file and in `other`: v1 keys
    /// carry no tenant name, so the two tenants' keys collide when their
    /// spaces have the same id.
    SharedV1Keys { path: PathBuf, other: PathBuf },
}

impl ConfigWarning {
    /// The tenant file the warning is about.
    pub fn file(&self) -> &Path {
        match self {
            ConfigWarning::UnknownKey { path, .. }
            | ConfigWarning::UnusedKey { path, .. }
            | ConfigWarning::Placeholder { path, .. }
            | ConfigWarning::LiteralReference { path, .. }
            | ConfigWarning::SharedV1Keys { path, .. } => path,
        }
    }

    /// Writes the warning to the log, with the file and key path as fields.
    pub(crate) fn log(&self) {
        let file = self.file().display();
        match self {
            ConfigWarning::UnknownKey { key, .. } => {
                tracing::warn!(%file, key = %key, "unknown tenant configuration key ignored");
            }
            ConfigWarning::UnusedKey { key, reason, .. } => {
                tracing::warn!(%file, key = %key, reason = %reason, "tenant configuration key has no effect");
            }
            ConfigWarning::Placeholder {
                field, variable, ..
            } => {
                tracing::warn!(
                    %file,
                    key = %field,
                    variable = variable.as_deref().unwrap_or(""),
                    "secret still holds the `<TO BE SET MANUALLY>` placeholder"
                );
            }
            ConfigWarning::LiteralReference { field, .. } => {
                tracing::warn!(%file, key = %field, "`os.environ/` is not resolved on this key; the text is used literally");
            }
            ConfigWarning::SharedV1Keys { other, .. } => {
                tracing::warn!(%file, other = %other.display(), key = "ingestion.useV1KeyFormat", "{}", self.message());
            }
        }
    }

    /// The warning without the file name, for listings grouped by file.
    pub fn message(&self) -> String {
        match self {
            ConfigWarning::UnknownKey { key, .. } => {
                format!(
                    "unknown key `{key}` is ignored; check its spelling and position, or remove it"
                )
            }
            ConfigWarning::UnusedKey { key, reason, .. } => {
                format!("`{key}` has no effect ({reason}); remove it")
            }
            ConfigWarning::Placeholder {
                field,
                variable: Some(variable),
                ..
            } => format!(
                "`{field}` still holds the placeholder `<TO BE SET MANUALLY>` (from `{variable}`); \
                 store the real secret in `{variable}`"
            ),
            ConfigWarning::Placeholder {
                field,
                variable: None,
                ..
            } => format!(
                "`{field}` still holds the placeholder `<TO BE SET MANUALLY>`; replace it with the real secret"
            ),
            ConfigWarning::LiteralReference { field, .. } => format!(
                "`{field}` starts with `os.environ/` but references are resolved only on secret fields, \
                 so the text is used literally; write the value itself"
            ),
            ConfigWarning::SharedV1Keys { other, .. } => format!(
                "`ingestion.useV1KeyFormat` is enabled here and in {}: v1 keys carry no tenant name, \
                 so both tenants write the same keys for spaces with the same id, and a cycle refuses \
                 to touch a space whose stored content lies in another tenant's scope; \
                 set `useV1KeyFormat: disabled` on one of them (docs/migration.md)",
                other.display()
            ),
        }
    }
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file().display(), self.message())
    }
}
