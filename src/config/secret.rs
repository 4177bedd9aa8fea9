//! `os.environ/NAME` references (PROTOCOL §3.2).
//!
//! A secret field holds either the secret itself or `os.environ/NAME`, which
//! is replaced by the value of environment variable `NAME`. The result is
//! trimmed and must not be empty. From the moment it is read it lives in a
//! [`SecretString`]; problems are described without quoting the value.

use secrecy::{ExposeSecret, SecretString};
use serde_yaml::Value;

use super::raw::kind;

/// Marks a reference to an environment variable.
pub(super) const REFERENCE_PREFIX: &str = "os.environ/";

/// The value Terraform seeds Key Vault secrets with (§14.4 item 5); a secret
/// still equal to it was never set by the operator.
pub(super) const PLACEHOLDER: &str = "<TO BE SET MANUALLY>";

/// A resolved secret and, if it came from the environment, the variable.
#[derive(Debug)]
pub(super) struct Resolved {
    pub value: SecretString,
    pub variable: Option<String>,
}

impl Resolved {
    pub fn is_placeholder(&self) -> bool {
        self.value.expose_secret() == PLACEHOLDER
    }
}

/// Why a secret field could not be resolved. None of the variants carries
/// the value.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Problem {
    NotAString(&'static str),
    Empty,
    NoVariableName,
    Unset(String),
    EmptyVariable(String),
}

impl Problem {
    /// What is wrong and how to fix it.
    pub fn describe(&self) -> (String, String) {
        match self {
            Problem::NotAString(found) => (
                format!("must be a string (the value or `os.environ/NAME`), found {found}"),
                "quote the value, or reference an environment variable with `os.environ/NAME`".to_owned(),
            ),
            Problem::Empty => (
                "is empty".to_owned(),
                "set the value, or reference an environment variable with `os.environ/NAME`".to_owned(),
            ),
            Problem::NoVariableName => (
                "`os.environ/` names no environment variable".to_owned(),
                "write the variable name after the slash, e.g. `os.environ/CONFLUENCE_CLIENT_SECRET`".to_owned(),
            ),
            Problem::Unset(name) => (
                format!("environment variable `{name}` is not set"),
                "export it or change the reference".to_owned(),
            ),
            Problem::EmptyVariable(name) => (
                format!("environment variable `{name}` is empty"),
                format!("put the secret into `{name}` or change the reference"),
            ),
        }
    }
}

/// Resolves one secret field.
pub(super) fn resolve(
    value: &Value,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Resolved, Problem> {
    let Value::String(text) = value else {
        return Err(Problem::NotAString(kind(value)));
    };
    let Some(name) = text.trim().strip_prefix(REFERENCE_PREFIX) else {
        return non_empty(text).map(|value| Resolved {
            value,
            variable: None,
        });
    };
    let name = name.trim();
    if name.is_empty() {
        return Err(Problem::NoVariableName);
    }
    let Some(from_env) = lookup(name) else {
        return Err(Problem::Unset(name.to_owned()));
    };
    non_empty(&from_env)
        .map(|value| Resolved {
            value,
            variable: Some(name.to_owned()),
        })
        .map_err(|_| Problem::EmptyVariable(name.to_owned()))
}

fn non_empty(text: &str) -> Result<SecretString, Problem> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        Err(Problem::Empty)
    } else {
        Ok(SecretString::from(trimmed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "SET" => Some("  s3cr3t\n".to_owned()),
            "BLANK" => Some("   ".to_owned()),
            "PLACEHOLDER" => Some(PLACEHOLDER.to_owned()),
            _ => None,
        }
    }

    fn resolve_str(text: &str) -> Result<Resolved, Problem> {
        resolve(&Value::String(text.to_owned()), &env)
    }

    #[test]
    fn references_resolve_through_the_lookup_and_are_trimmed() {
        let resolved = resolve_str("os.environ/SET").unwrap();
        assert_eq!(resolved.value.expose_secret(), "s3cr3t");
        assert_eq!(resolved.variable.as_deref(), Some("SET"));
    }

    #[test]
    fn literals_are_taken_as_they_are_but_trimmed() {
        let resolved = resolve_str(" literal ").unwrap();
        assert_eq!(resolved.value.expose_secret(), "literal");
        assert_eq!(resolved.variable, None);
    }

    #[test]
    fn unset_empty_and_nameless_references_are_errors() {
        assert_eq!(
            resolve_str("os.environ/MISSING").unwrap_err(),
            Problem::Unset("MISSING".to_owned())
        );
        assert_eq!(
            resolve_str("os.environ/BLANK").unwrap_err(),
            Problem::EmptyVariable("BLANK".to_owned())
        );
        assert_eq!(
            resolve_str("os.environ/").unwrap_err(),
            Problem::NoVariableName
        );
        assert_eq!(resolve_str("  ").unwrap_err(), Problem::Empty);
    }

    #[test]
    fn non_strings_are_refused_without_quoting_them() {
        let problem = resolve(&Value::from(987_654_321), &env).unwrap_err();
        assert_eq!(problem, Problem::NotAString("a number"));
        let (what, fix) = problem.describe();
        assert!(!what.contains("987654321") && !fix.contains("987654321"));
    }

    #[test]
    fn the_terraform_placeholder_is_recognised() {
        assert!(
            resolve_str("os.environ/PLACEHOLDER")
                .unwrap()
                .is_placeholder()
        );
        assert!(resolve_str(PLACEHOLDER).unwrap().is_placeholder());
        assert!(!resolve_str("os.environ/SET").unwrap().is_placeholder());
    }

    #[test]
    fn debug_of_a_resolved_secret_hides_it() {
        let resolved = resolve_str("os.environ/SET").unwrap();
        assert!(!format!("{resolved:?}").contains("s3cr3t"));
    }
}
