//! The diagnostics data policy (`LOGS_DIAGNOSTICS_DATA_POLICY`, PROTOCOL §11.4).
//!
//! Titles, file names, scope names and paths are "diagnostic data": with the
//! default `conceal` policy they are smeared before they reach a log line;
//! with `disclose` they are logged verbatim. Secrets are a different class:
//! they never reach a log line under any policy (see `secrecy` in `config`).

use std::fmt;

/// Whether diagnostic values are smeared in logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DiagnosticsPolicy {
    /// Smear diagnostic values (the default).
    #[default]
    Conceal,
    /// Log diagnostic values verbatim.
    Disclose,
}

impl DiagnosticsPolicy {
    /// Wraps a diagnostic value for logging under this policy.
    pub fn show<'a>(self, value: &'a str) -> Diagnostic<'a> {
        Diagnostic {
            value,
            policy: self,
        }
    }

    /// A path of names (`/Confluence/SP`): each segment is treated on its own.
    pub fn show_path(self, path: &str) -> String {
        match self {
            DiagnosticsPolicy::Disclose => path.to_owned(),
            DiagnosticsPolicy::Conceal => path
                .split('/')
                .map(|segment| {
                    if segment.is_empty() {
                        String::new()
                    } else {
                        smear(segment)
                    }
                })
                .collect::<Vec<_>>()
                .join("/"),
        }
    }
}

/// A diagnostic value that formats according to the policy.
#[derive(Debug, Clone, Copy)]
pub struct Diagnostic<'a> {
    value: &'a str,
    policy: DiagnosticsPolicy,
}

impl fmt::Display for Diagnostic<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.policy {
            DiagnosticsPolicy::Disclose => f.write_str(self.value),
            DiagnosticsPolicy::Conceal => f.write_str(&smear(self.value)),
        }
    }
}

/// PROTOCOL §11.4 smearing: keep the last four characters; in the rest,
/// replace ASCII letters, digits and `_` by `*`. Strings too short to keep
/// anything meaningful hidden become `[Smeared]`. E-mail addresses keep
/// their domain's first four characters.
pub fn smear(value: &str) -> String {
    if let Some((local, domain)) = value.split_once('@') {
        return format!("{}@{}", smear(local), smear_domain(domain));
    }
    let chars: Vec<char> = value.chars().collect();
    if chars.len() <= 4 || chars.len() - 4 < 3 {
        return "[Smeared]".to_owned();
    }
    let hidden = chars.len() - 4;
    chars
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            if i < hidden && (c.is_ascii_alphanumeric() || c == '_') {
                '*'
            } else {
                c
            }
        })
        .collect()
}

fn smear_domain(domain: &str) -> String {
    domain
        .chars()
        .enumerate()
        .map(|(i, c)| if i < 4 || c == '.' { c } else { '*' })
        .collect()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn smears_like_the_reference() {
        assert_eq!(smear("Quarterly Report"), "********* **port");
        assert_eq!(smear("abcd"), "[Smeared]");
        assert_eq!(smear("abcdef"), "[Smeared]");
        assert_eq!(smear("abcdefg"), "***defg");
    }

    #[test]
    fn policy_decides_between_verbatim_and_smeared() {
        assert_eq!(
            DiagnosticsPolicy::Disclose
                .show("Quarterly Report")
                .to_string(),
            "Quarterly Report"
        );
        assert_eq!(
            DiagnosticsPolicy::Conceal
                .show("Quarterly Report")
                .to_string(),
            "********* **port"
        );
        assert_eq!(
            DiagnosticsPolicy::Conceal.show_path("/Confluence/Engineering"),
            "/******ence/*******ring"
        );
    }

    #[test]
    fn emails_keep_the_start_of_the_domain() {
        assert_eq!(smear("jane.doe@example.com"), "****.doe@exam***.***");
    }

    proptest! {
        #[test]
        fn smearing_never_reveals_more_than_the_last_four_characters(value in "[a-zA-Z0-9_ ]{0,40}") {
            let smeared = smear(&value);
            let n = value.chars().count();
            if n <= 6 {
                prop_assert_eq!(smeared, "[Smeared]");
            } else {
                prop_assert_eq!(smeared.chars().count(), n);
                let hidden: String = smeared.chars().take(n - 4).collect();
                prop_assert!(hidden.chars().all(|c| c == '*' || c == ' '));
            }
        }
    }
}
