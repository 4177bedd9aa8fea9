//! The dependency rule of ADR 0001, checked on the source text: the domain
//! does no I/O, no async, and imports no tokio, reqwest or tracing.

use std::{fs, path::Path};

const FORBIDDEN_IN_DOMAIN: &[&str] = &[
    "tokio",
    "reqwest",
    "tracing",
    "std::fs",
    "std::net",
    "std::process",
    "std::env",
    "async ",
    ".await",
    "crate::adapters",
    "crate::app",
    "crate::ports",
];

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in fs::read_dir(dir).expect("src/domain is readable") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn domain_does_no_io_and_imports_no_runtime_crates() {
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src/domain"),
        &mut files,
    );
    assert!(!files.is_empty(), "src/domain has no Rust files");
    let mut violations = Vec::new();
    for file in &files {
        let text = fs::read_to_string(file).expect("readable source");
        for (number, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for needle in FORBIDDEN_IN_DOMAIN {
                if code.contains(needle) {
                    violations.push(format!("{}:{}: `{needle}`", file.display(), number + 1));
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "domain rule broken:\n{}",
        violations.join("\n")
    );
}
