//! Build-time code generation. Everything written here lands in `OUT_DIR` and is
//! included from exactly one place, `src/adapters/generated.rs`.
//!
//! * OpenAPI subsets in `schemas/*.yaml` → progenitor clients.
//! * `schemas/unique.graphql` + one operation per file in `schemas/unique/` →
//!   graphql_client request/response types.
//!
//! The build script reads only files under `schemas/`, opens no network
//! connection and writes nothing outside `OUT_DIR`. A failure panics with the
//! offending file and the generator's message, since a panic is how a build
//! script reports an error.

use std::{
    env, fs,
    path::{Path, PathBuf},
};

use graphql_client_codegen::{CodegenMode, GraphQLClientCodegenOptions};
use progenitor::{GenerationSettings, Generator, HooksMode, InterfaceStyle, TagStyle};

/// One OpenAPI subset and how its client is generated.
struct OpenApiSubset {
    spec: &'static str,
    output: &'static str,
    /// The client's inner type. When set, the adapter must implement
    /// `progenitor_client::ClientHooks<Inner>` for the generated `Client`
    /// (auth, rate limiting, retries and metrics live there, not in
    /// generated code); when `None`, progenitor's default hooks apply.
    inner_type: Option<&'static str>,
}

const OPENAPI_SUBSETS: &[OpenApiSubset] = &[
    OpenApiSubset {
        spec: "schemas/confluence-cloud.yaml",
        output: "confluence_cloud.rs",
        inner_type: Some("crate::adapters::confluence::RequestHooks"),
    },
    OpenApiSubset {
        spec: "schemas/confluence-dc.yaml",
        output: "confluence_dc.rs",
        inner_type: Some("crate::adapters::confluence::RequestHooks"),
    },
    OpenApiSubset {
        spec: "schemas/unique-ingestion.yaml",
        output: "unique_ingestion.rs",
        // Credentials, the REST reservoir and the concurrency bound are
        // applied by hooks (`adapters/unique/file_diff.rs`).
        inner_type: Some("crate::adapters::unique::CallContext"),
    },
];

const GRAPHQL_SCHEMA: &str = "schemas/unique.graphql";
const GRAPHQL_OPERATIONS_DIR: &str = "schemas/unique";

/// Operations whose `null` variables must reach the server as explicit
/// `null` instead of being omitted: `UpdateScope` clears an external id by
/// sending `{"externalId": null}` (PROTOCOL §7.2). Every other operation
/// omits unset variables, as the reference client does.
const OPERATIONS_SENDING_NULLS: &[&str] = &["UpdateScope"];

fn main() {
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));

    for subset in OPENAPI_SUBSETS {
        generate_openapi_client(subset, &out_dir.join(subset.output));
    }
    generate_graphql_operations(&out_dir.join("unique_graphql.rs"));
}

fn generate_openapi_client(subset: &OpenApiSubset, output: &Path) {
    let spec_path = Path::new(subset.spec);
    println!("cargo::rerun-if-changed={}", spec_path.display());
    let text = fs::read_to_string(spec_path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", spec_path.display()));
    let spec: openapiv3::OpenAPI = serde_yaml::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "{} is not a valid OpenAPI 3.0 document: {e}",
            spec_path.display()
        )
    });

    let mut settings = GenerationSettings::new();
    settings
        .with_interface(InterfaceStyle::Builder)
        .with_tag(TagStyle::Merged);
    if let Some(inner) = subset.inner_type {
        let inner: proc_macro2::TokenStream = inner
            .parse()
            .unwrap_or_else(|e| panic!("inner type `{inner}` is not a Rust path: {e}"));
        settings
            .with_inner_type(inner)
            .with_hooks(HooksMode::Expected);
    }
    let mut generator = Generator::new(&settings);
    let tokens = generator.generate_tokens(&spec).unwrap_or_else(|e| {
        panic!(
            "progenitor rejected {}: {e} (see schemas/README.md for the rules a subset must follow)",
            spec_path.display()
        )
    });
    write_pretty(tokens, output, spec_path);
}

fn generate_graphql_operations(output: &Path) {
    println!("cargo::rerun-if-changed={GRAPHQL_SCHEMA}");
    println!("cargo::rerun-if-changed={GRAPHQL_OPERATIONS_DIR}");

    let mut operations: Vec<PathBuf> = fs::read_dir(GRAPHQL_OPERATIONS_DIR)
        .unwrap_or_else(|e| panic!("cannot list {GRAPHQL_OPERATIONS_DIR}: {e}"))
        .map(|entry| entry.expect("readable directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "graphql"))
        .collect();
    // Stable output regardless of directory order, so rebuilds are reproducible.
    operations.sort();

    let mut all = proc_macro2::TokenStream::new();
    for query_path in operations {
        println!("cargo::rerun-if-changed={}", query_path.display());
        let query = fs::read_to_string(&query_path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", query_path.display()));
        let mut options = GraphQLClientCodegenOptions::new(CodegenMode::Cli);
        options.set_response_derives("Debug, Clone, PartialEq".to_owned());
        options.set_variables_derives("Debug, Clone, PartialEq".to_owned());
        options.set_module_visibility(syn2::parse_quote!(pub));
        let sends_nulls = OPERATIONS_SENDING_NULLS
            .iter()
            .any(|name| query.contains(&format!("mutation {name}")));
        options.set_skip_serializing_none(!sends_nulls);
        options.set_custom_scalars_module(syn2::parse_quote!(
            crate::adapters::generated::graphql_scalars
        ));
        let tokens = graphql_client_codegen::generate_module_token_stream_from_string(
            &query,
            Path::new(GRAPHQL_SCHEMA),
            options,
        )
        .unwrap_or_else(|e| panic!("graphql_client rejected {}: {e}", query_path.display()));
        // One wrapper module per file, named after the file: two files may
        // then declare the same operation name with different selections
        // (`PaginatedContent` full and ids-only, PROTOCOL §7.2), and the name
        // sent as `operationName` stays the contract's.
        let stem = query_path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("operation file names are UTF-8");
        let module = proc_macro2::Ident::new(stem, proc_macro2::Span::call_site());
        all.extend(quote::quote! { pub mod #module { #tokens } });
    }
    write_pretty(all, output, Path::new(GRAPHQL_OPERATIONS_DIR));
}

fn write_pretty(tokens: proc_macro2::TokenStream, output: &Path, source: &Path) {
    let file: syn::File = syn::parse2(tokens).unwrap_or_else(|e| {
        panic!(
            "generated code for {} does not parse: {e}",
            source.display()
        )
    });
    let text = format!(
        "// @generated by build.rs from {}; do not edit.\n{}",
        source.display(),
        prettyplease::unparse(&file)
    );
    fs::write(output, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", output.display()));
}
