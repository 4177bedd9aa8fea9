//! `schemas check` and `schemas update`: compare our hand-written OpenAPI
//! subsets (`schemas/*.yaml`) with a full published OpenAPI document, and
//! bring a subset in line with it. The comparison itself is pure
//! ([`compare`]); this module reads and writes files and prints the report.
//!
//! Deliberate differences (a path parameter we hold as a string, a
//! parameter only next links carry, …) are listed with their reason in
//! `upstream-deviations.yaml` beside the subset; they are reported as
//! accepted and never fail the check or get rewritten.

pub mod compare;

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    fs,
    path::{Path, PathBuf},
    process::ExitCode,
};

use serde::Deserialize;
use serde_yaml::Value;

use self::compare::{Coverage, Finding, Report};
use super::{
    cli::{SchemasArgs, SchemasCheckArgs, SchemasCommand, SchemasUpdateArgs},
    exit,
};

/// File name of the accepted-deviations list, beside the subset.
pub const DEVIATIONS_FILE: &str = "upstream-deviations.yaml";

pub fn run(args: &SchemasArgs) -> ExitCode {
    let outcome = match &args.command {
        SchemasCommand::Check(args) => check(args),
        SchemasCommand::Update(args) => update(args),
    };
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(exit::CONFIG)
        }
    }
}

/// One accepted difference (`upstream-deviations.yaml`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Deviation {
    /// The finding's key, as `schemas check` prints it.
    finding: String,
    /// Why the subset differs on purpose.
    why: String,
}

/// Subset file name → accepted finding keys.
type Deviations = BTreeMap<String, Vec<Deviation>>;

struct Inputs {
    subset_path: PathBuf,
    subset_name: String,
    subset: Value,
    upstream_name: String,
    upstream: Value,
    accepted: Vec<Deviation>,
}

fn load_inputs(
    upstream: &Path,
    subset: &Path,
    deviations: Option<&Path>,
) -> Result<Inputs, String> {
    let upstream_value = read_document(upstream)?;
    let subset_value = read_document(subset)?;
    let subset_name = subset
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .ok_or_else(|| format!("--subset {}: not a file path", subset.display()))?;
    let deviations_path = deviations.map_or_else(
        || {
            subset
                .parent()
                .unwrap_or_else(|| Path::new("."))
                .join(DEVIATIONS_FILE)
        },
        Path::to_path_buf,
    );
    let mut all = read_deviations(&deviations_path, deviations.is_some())?;
    Ok(Inputs {
        subset_path: subset.to_path_buf(),
        accepted: all.remove(&subset_name).unwrap_or_default(),
        subset_name,
        subset: subset_value,
        upstream_name: upstream.display().to_string(),
        upstream: upstream_value,
    })
}

/// Reads an OpenAPI document, JSON or YAML.
fn read_document(path: &Path) -> Result<Value, String> {
    let text =
        fs::read_to_string(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let value: Value = if text.trim_start().starts_with('{') {
        let json: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| format!("{}: not valid JSON: {e}", path.display()))?;
        serde_yaml::to_value(json).map_err(|e| format!("{}: {e}", path.display()))?
    } else {
        serde_yaml::from_str(&text)
            .map_err(|e| format!("{}: not valid YAML: {e}", path.display()))?
    };
    if value
        .get("openapi")
        .and_then(Value::as_str)
        .is_none_or(|v| !v.starts_with("3."))
    {
        return Err(format!(
            "{}: not an OpenAPI 3 document (no `openapi: 3.x` field); Swagger 2.0 documents must be converted first",
            path.display()
        ));
    }
    Ok(value)
}

fn read_deviations(path: &Path, explicit: bool) -> Result<Deviations, String> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        // Beside the subset by default; none there means nothing is accepted.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
            return Ok(Deviations::new());
        }
        Err(e) => return Err(format!("--deviations {}: cannot read: {e}", path.display())),
    };
    let deviations: Deviations = serde_yaml::from_str(&text).map_err(|e| {
        format!(
            "{}: {e}; expected `<subset file name>: [{{finding: \"<key printed by schemas check>\", why: \"<reason>\"}}]`",
            path.display()
        )
    })?;
    for (subset, entries) in &deviations {
        for (index, entry) in entries.iter().enumerate() {
            if entry.why.trim().is_empty() {
                return Err(format!(
                    "{}: {subset}[{index}].why is empty; say why `{}` is deliberate",
                    path.display(),
                    entry.finding
                ));
            }
        }
    }
    Ok(deviations)
}

fn compare_inputs(inputs: &Inputs, strip_prefix: &str) -> Result<Report, String> {
    let report = compare::compare(&inputs.subset, &inputs.upstream, strip_prefix).map_err(|e| {
        format!(
            "{} vs {}: {e}",
            inputs.subset_path.display(),
            inputs.upstream_name
        )
    })?;
    // A check that compares nothing must not pass as "nothing changed".
    if report
        .operations
        .iter()
        .all(|op| op.coverage == Coverage::NotCovered)
    {
        return Err(format!(
            "no operation of {} is under the API roots of {} ({}); pick the document that \
             describes these operations, or map its paths with --strip-prefix \
             (`--strip-prefix /wiki` for the Data Center subset)",
            inputs.subset_path.display(),
            inputs.upstream_name,
            report.upstream_roots.join(", ")
        ));
    }
    Ok(report)
}

fn is_accepted<'a>(accepted: &'a [Deviation], finding: &Finding) -> Option<&'a Deviation> {
    let key = finding.key();
    accepted.iter().find(|deviation| deviation.finding == key)
}

/// The report as text, and how many findings are not accepted.
fn render(inputs: &Inputs, report: &Report) -> (String, usize) {
    let mut out = String::new();
    let mut changed = 0;
    let mut accepted = 0;
    let mut matched = 0;
    let mut not_covered = 0;
    let _ = writeln!(
        out,
        "{} vs {} (upstream API roots: {})",
        inputs.subset_path.display(),
        inputs.upstream_name,
        report.upstream_roots.join(", ")
    );
    for op in &report.operations {
        let status = match &op.coverage {
            Coverage::Matched {
                upstream_operation_id,
            } => {
                matched += 1;
                match upstream_operation_id {
                    Some(id) => format!("upstream {id}"),
                    None => "upstream (no operationId)".to_owned(),
                }
            }
            Coverage::Vanished => "VANISHED upstream".to_owned(),
            Coverage::NotCovered => {
                not_covered += 1;
                "not covered by this document".to_owned()
            }
        };
        let _ = writeln!(
            out,
            "  {} {} ({}): {status}",
            op.method, op.path, op.operation_id
        );
        for finding in &op.findings {
            match is_accepted(&inputs.accepted, finding) {
                Some(deviation) => {
                    accepted += 1;
                    let _ = writeln!(
                        out,
                        "    accepted  {finding} (deliberate: {})",
                        deviation.why.trim()
                    );
                }
                None => {
                    changed += 1;
                    let _ = writeln!(out, "    CHANGED   {finding}");
                    let _ = writeln!(out, "              key: {}", finding.key());
                }
            }
        }
    }
    let keys: Vec<String> = report.findings().map(Finding::key).collect();
    // Only deviations of operations this document covers can be stale: the
    // Cloud subset is checked against the v1 and the v2 document in turn.
    let matched_ids: Vec<&str> = report
        .operations
        .iter()
        .filter(|op| matches!(op.coverage, Coverage::Matched { .. }))
        .map(|op| op.operation_id.as_str())
        .collect();
    for deviation in &inputs.accepted {
        let operation = deviation.finding.split(':').next().unwrap_or_default();
        if matched_ids.contains(&operation) && !keys.contains(&deviation.finding) {
            let _ = writeln!(
                out,
                "  stale deviation (no longer differs; remove it from {DEVIATIONS_FILE}): {}",
                deviation.finding
            );
        }
    }
    let _ = writeln!(
        out,
        "{} operation(s) matched, {not_covered} not covered; {changed} changed, {accepted} accepted",
        matched
    );
    (out, changed)
}

fn check(args: &SchemasCheckArgs) -> Result<u8, String> {
    let inputs = load_inputs(&args.upstream, &args.subset, args.deviations.as_deref())?;
    let report = compare_inputs(&inputs, &args.strip_prefix)?;
    let (text, changed) = render(&inputs, &report);
    print!("{text}");
    Ok(if changed == 0 {
        exit::OK
    } else {
        exit::FAILURE
    })
}

fn update(args: &SchemasUpdateArgs) -> Result<u8, String> {
    let mut inputs = load_inputs(&args.upstream, &args.subset, args.deviations.as_deref())?;
    let report = compare_inputs(&inputs, &args.strip_prefix)?;
    let to_apply: Vec<&Finding> = report
        .findings()
        .filter(|finding| is_accepted(&inputs.accepted, finding).is_none())
        .collect();
    let applied = compare::apply(&mut inputs.subset, to_apply);
    // Rewriting drops comments, so an unchanged subset is not rewritten.
    if applied > 0 {
        write_subset(&inputs)?;
    }

    let after = compare_inputs(&inputs, &args.strip_prefix)?;
    let (text, remaining) = render(&inputs, &after);
    println!(
        "{}: applied {applied} edit(s) from {}{}",
        inputs.subset_name,
        inputs.upstream_name,
        if applied == 0 {
            "; file left unchanged"
        } else {
            ""
        }
    );
    print!("{text}");
    if remaining > 0 {
        println!(
            "{remaining} difference(s) need a decision: fix the subset by hand or list them in {DEVIATIONS_FILE} with a reason"
        );
    }
    Ok(if remaining == 0 {
        exit::OK
    } else {
        exit::FAILURE
    })
}

/// Writes the edited subset back in place.
fn write_subset(inputs: &Inputs) -> Result<(), String> {
    let original = fs::read_to_string(&inputs.subset_path)
        .map_err(|e| format!("{}: cannot read: {e}", inputs.subset_path.display()))?;
    let body = serde_yaml::to_string(&inputs.subset)
        .map_err(|e| format!("{}: cannot serialise: {e}", inputs.subset_path.display()))?;
    // serde_yaml keeps no comments; the file's header comment (provenance
    // and leniency rules) is carried over, the rest is in `description`s.
    let header: String = original
        .lines()
        .take_while(|line| line.starts_with('#'))
        .map(|line| format!("{line}\n"))
        .collect();
    fs::write(&inputs.subset_path, format!("{header}{body}"))
        .map_err(|e| format!("{}: cannot write: {e}", inputs.subset_path.display()))
}
