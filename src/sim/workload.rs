//! Generated workloads for `demo`, `simulate --dataset` and the benchmarks:
//! a realistic Confluence dataset and what a correct sync of it must leave
//! in Unique.
//!
//! Every global space has a root page carrying the ingest-all label with a
//! tree below it (depth bounded so that the simulator's `ancestor IN`
//! evaluation stays cheap on 20,000 pages), a few stand-alone pages with
//! the single label, unlabelled pages that must stay out, and a labelled
//! database (a content type that is never ingested). One personal space
//! holds labelled pages that are never discovered. Bodies are storage
//! XHTML with headings, tables, macros, image references and non-ASCII
//! text; attachments mix allowed and disallowed types, one page carries
//! more than the 25 attachments Confluence inlines, and one attachment is
//! larger than the demo tenant's size limit.
//!
//! The expectation is derived from how the generator built each item, not
//! by re-running the connector's rules, so comparing it with the Unique
//! simulator's state is a real check.

use std::collections::{BTreeMap, BTreeSet};

use rand::{RngExt, SeedableRng, rngs::StdRng};
use serde::Deserialize;
use serde_json::{Value, json};

use super::confluence::{Dataset, SimAttachment, SimPage, SimSpace, SpaceType};
use crate::config::validated::DEFAULT_ALLOWED_MIME_TYPES;

/// The labels of generated workloads (the PROTOCOL §12 harness labels).
pub const SINGLE_LABEL: &str = "ai-ingest";
pub const ALL_LABEL: &str = "ai-ingest-all";
/// `maxFileSizeMb` of the tenant a workload is meant for (its allow-list is
/// the default one).
pub const MAX_FILE_SIZE_MB: u64 = 1;

/// What a tenant file from [`super::tenant::tenant_file`] needs to be the
/// tenant a workload is meant for.
pub fn tenant_patch() -> Value {
    json!({"ingestion": {"attachments": {"maxFileSizeMb": MAX_FILE_SIZE_MB}}})
}

/// The shape of a workload; `simulate --dataset FILE` reads it as JSON or
/// YAML (`{"spaces": 3, "pages": 20, "attachments": 10, "seed": 1}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkloadSpec {
    /// Global spaces (a personal space is added on top).
    pub spaces: u32,
    /// Pages per global space.
    pub pages: u32,
    /// Attachments per global space.
    pub attachments: u32,
    pub seed: u64,
    /// When non-zero, the root page of the first space also carries one PDF
    /// of this many MiB (generated on the fly by the simulator), for
    /// streaming benchmarks; a tenant must raise `maxFileSizeMb` to take it.
    pub big_attachment_mb: u64,
}

impl Default for WorkloadSpec {
    fn default() -> Self {
        WorkloadSpec {
            spaces: 3,
            pages: 20,
            attachments: 10,
            seed: 1,
            big_attachment_mb: 0,
        }
    }
}

/// Why a generated item must not reach Unique.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ExpectedSkip {
    /// Not labelled and not below an ingest-all root.
    Unlabelled,
    /// A database: discovered, never ingested.
    ContentType,
    /// An attachment type outside the default allow-list.
    TypeNotAllowed,
    /// An attachment over [`MAX_FILE_SIZE_MB`].
    TooLarge,
}

impl ExpectedSkip {
    pub fn as_str(self) -> &'static str {
        match self {
            ExpectedSkip::Unlabelled => "unlabelled",
            ExpectedSkip::ContentType => "content_type",
            ExpectedSkip::TypeNotAllowed => "type_not_allowed",
            ExpectedSkip::TooLarge => "too_large",
        }
    }
}

/// What a correct sync leaves for one global space.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExpectedSpace {
    pub space_id: String,
    pub space_name: String,
    /// Page ids that must be ingested.
    pub pages: BTreeSet<String>,
    /// `(page id, attachment id)` pairs that must be ingested.
    pub attachments: BTreeSet<(String, String)>,
    /// Sum of the ingested attachments' sizes.
    pub attachment_bytes: u64,
    /// Items left out, by reason.
    pub skipped: BTreeMap<ExpectedSkip, usize>,
}

/// A dataset and its expected outcome, by space key.
#[derive(Debug, Clone)]
pub struct Workload {
    pub dataset: Dataset,
    pub expected: BTreeMap<String, ExpectedSpace>,
}

impl Workload {
    /// Pages and attachments a correct sync ingests, summed over spaces.
    pub fn expected_totals(&self) -> (usize, usize) {
        self.expected.values().fold((0, 0), |(p, a), space| {
            (p + space.pages.len(), a + space.attachments.len())
        })
    }
}

const WORDS: [&str; 12] = [
    "Zürich",
    "東京",
    "naïve",
    "façade",
    "Ærøskøbing",
    "señor",
    "quarterly",
    "roadmap",
    "onboarding",
    "incident",
    "überblick",
    "🚀 launch",
];

/// Attachment kinds: (media type, extension, allowed by the tenant).
const KINDS: [(&str, &str); 8] = [
    ("application/pdf", "pdf"),
    (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "docx",
    ),
    ("image/png", "png"),
    ("text/plain", "txt"),
    ("image/jpeg", "jpg"),
    ("text/csv", "csv"),
    ("application/zip", "zip"),
    ("image/svg+xml", "svg"),
];

/// Generates the workload of `spec` (deterministic in `spec.seed`).
pub fn generate(spec: &WorkloadSpec) -> Workload {
    let mut rng = StdRng::seed_from_u64(spec.seed);
    let mut dataset = Dataset::new();
    let mut expected = BTreeMap::new();
    let mut next_attachment = 0u64;
    for s in 0..spec.spaces.max(1) {
        let key = format!("S{s}");
        let space_id = format!("{}", 1000 + s);
        let name = format!("{} space {s}", WORDS[s as usize % WORDS.len()]);
        dataset = dataset.space(SimSpace::new(&space_id, &key, &name));
        let mut outcome = ExpectedSpace {
            space_id,
            space_name: name,
            ..ExpectedSpace::default()
        };
        let pages = spec.pages.max(1);
        let mut ids = Vec::new();
        for p in 0..pages {
            let id = format!("{}", 100_000 + s * 100_000 + p);
            let mut page = SimPage::new(&id, &key)
                .title(format!("{} {p} — {}", WORDS[p as usize % WORDS.len()], key))
                .version(format!(
                    "2026-05-{:02}T10:{:02}:00.000Z",
                    1 + p % 28,
                    p % 60
                ));
            // Page 0 roots the ingest-all tree; pages in the tree hang at
            // most five levels deep. Every seventh page stands alone:
            // labelled single, unlabelled, or a labelled database.
            let (ingested, skip) = if p == 0 {
                page = page.labels([ALL_LABEL, "handbook"]);
                (true, None)
            } else if p % 7 == 0 {
                match (p / 7) % 3 {
                    0 => {
                        page = page.labels([SINGLE_LABEL, "faq"]);
                        (true, None)
                    }
                    1 => (false, Some(ExpectedSkip::Unlabelled)),
                    _ => {
                        page = page.labels([SINGLE_LABEL]).content_type("database");
                        (false, Some(ExpectedSkip::ContentType))
                    }
                }
            } else {
                let in_tree: Vec<&String> = ids
                    .iter()
                    .enumerate()
                    .filter(|(n, _)| *n == 0 || !(*n as u32).is_multiple_of(7))
                    .map(|(_, id)| id)
                    .collect();
                let depth_bound = in_tree.len().min(1 + (p as usize) / 5);
                let parent = in_tree[rng.random_range(0..depth_bound.max(1))];
                page = page.parent(parent.clone());
                (true, None)
            };
            if let Some(skip) = skip {
                *outcome.skipped.entry(skip).or_default() += 1;
            }
            if ingested {
                outcome.pages.insert(id.clone());
            }
            page.body = body(&mut rng, &id, p);
            ids.push(id);
            dataset.insert_page(page);
        }
        // Attachments: page 1 (or 0) gets 30, past the 25 inlined; the
        // rest spread over the tree pages.
        let heavy = ids.get(1).unwrap_or(&ids[0]).clone();
        for a in 0..spec.attachments {
            next_attachment += 1;
            let owner = if a < 30 {
                heavy.clone()
            } else {
                ids[rng.random_range(0..ids.len())].clone()
            };
            let (media_type, ext) = KINDS[(a as usize + s as usize) % KINDS.len()];
            let mut size = rng.random_range(512..64 * 1024);
            if a == 3 {
                size = (2 * MAX_FILE_SIZE_MB) << 20;
            }
            let attachment = SimAttachment::new(
                format!("att{next_attachment}"),
                format!("{}-{a}.{ext}", WORDS[a as usize % WORDS.len()]),
                media_type,
                size,
            )
            .with_seed(next_attachment);
            if outcome.pages.contains(&owner) {
                if !DEFAULT_ALLOWED_MIME_TYPES.contains(&media_type) {
                    *outcome
                        .skipped
                        .entry(ExpectedSkip::TypeNotAllowed)
                        .or_default() += 1;
                } else if size > MAX_FILE_SIZE_MB << 20 {
                    *outcome.skipped.entry(ExpectedSkip::TooLarge).or_default() += 1;
                } else {
                    outcome.attachment_bytes += size;
                    outcome
                        .attachments
                        .insert((owner.clone(), attachment.id.clone()));
                }
            }
            dataset
                .page_mut(&owner)
                .expect("owner generated above")
                .attachments
                .push(attachment);
        }
        if s == 0 && spec.big_attachment_mb > 0 {
            let size = spec.big_attachment_mb << 20;
            let big = SimAttachment::new("att-big", "big.pdf", "application/pdf", size);
            // Counted as expected: the tenant meant for it allows the size.
            outcome.attachment_bytes += size;
            outcome.attachments.insert((ids[0].clone(), big.id.clone()));
            dataset
                .page_mut(&ids[0])
                .expect("the root page exists")
                .attachments
                .push(big);
        }
        expected.insert(key, outcome);
    }
    // A personal space: labelled, but personal spaces are never discovered.
    dataset = dataset
        .space(SimSpace::new("9999", "~alice", "Alice").with_type(SpaceType::Personal))
        .page(SimPage::new("999901", "~alice").labels([ALL_LABEL]))
        .page(SimPage::new("999902", "~alice").labels([SINGLE_LABEL]));
    Workload { dataset, expected }
}

/// A storage-format body of about 1–2 KiB.
fn body(rng: &mut StdRng, id: &str, n: u32) -> String {
    let word = |rng: &mut StdRng| WORDS[rng.random_range(0..WORDS.len())];
    let mut out = format!(
        "<h1>{} {n}</h1><p>Page {id}: {} &amp; {} — notes on the {}.</p>",
        word(rng),
        word(rng),
        word(rng),
        word(rng)
    );
    out.push_str(
        "<ac:structured-macro ac:name=\"info\" ac:schema-version=\"1\"><ac:rich-text-body>\
         <p>Reviewed by the team.</p></ac:rich-text-body></ac:structured-macro>",
    );
    out.push_str("<table><tbody><tr><th>Metric</th><th>Value</th></tr>");
    for row in 0..rng.random_range(2..6) {
        out.push_str(&format!(
            "<tr><td>{}</td><td>{}</td></tr>",
            word(rng),
            row * 17 + n
        ));
    }
    out.push_str("</tbody></table>");
    out.push_str(
        "<ac:structured-macro ac:name=\"code\"><ac:parameter ac:name=\"language\">rust</ac:parameter>\
         <ac:plain-text-body><![CDATA[fn main() { println!(\"héllo\"); }]]></ac:plain-text-body>\
         </ac:structured-macro>",
    );
    out.push_str(&format!(
        "<p><ac:image ac:alt=\"diagram {n}\"><ri:attachment ri:filename=\"diagram-{n}.png\" /></ac:image></p>"
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workloads_are_reproducible_and_cover_the_interesting_cases() {
        let spec = WorkloadSpec {
            spaces: 2,
            pages: 40,
            attachments: 40,
            seed: 3,
            big_attachment_mb: 0,
        };
        let one = generate(&spec);
        assert_eq!(one.dataset, generate(&spec).dataset);
        let skipped: BTreeSet<ExpectedSkip> = one
            .expected
            .values()
            .flat_map(|space| space.skipped.keys().copied())
            .collect();
        assert_eq!(
            skipped,
            BTreeSet::from([
                ExpectedSkip::Unlabelled,
                ExpectedSkip::ContentType,
                ExpectedSkip::TypeNotAllowed,
                ExpectedSkip::TooLarge,
            ])
        );
        assert!(one.dataset.pages().iter().any(|p| p.attachments.len() > 25));
        for page in one.dataset.pages() {
            if let Some(parent) = &page.parent {
                assert_eq!(
                    one.dataset.page_by_id(parent).unwrap().space_key,
                    page.space_key
                );
            }
        }
        let (pages, attachments) = one.expected_totals();
        assert!(pages > 60 && attachments > 40, "{pages} {attachments}");
    }
}
