//! Key-format changes and tenant renames without duplicates (ours,
//! PROTOCOL §3.7): the file-diff only sees the current partial key, so the
//! copies under the old one are found in the space scope and removed once
//! their item is stored under the new key. One cycle suffices when every
//! item ingests; an item that fails keeps its old copy until a later cycle
//! stores it. A deleted tenant's purge removes only what carries its own
//! marks.

use std::collections::BTreeMap;

use confluence_connector::{
    app::sync::{CycleResult, PurgeOutcome},
    sim::{
        confluence::{Dataset, Flavor, SimAttachment, SimPage, SimSpace},
        unique::{AccessType, Operation, SeedContent, SeedScope, UniqueFault, UniqueSnapshot},
    },
};
use serde_json::json;

use crate::support::*;

both_flavors!(
    switching_to_v1_keys_leaves_one_copy_per_item,
    switching_back_from_v1_keys_leaves_one_copy_per_item,
    a_renamed_tenant_leaves_one_copy_per_item,
    a_purge_leaves_another_tenants_scopes_and_content_alone,
    v1_keys_stored_in_another_tenants_scope_are_refused,
    an_item_that_fails_to_migrate_keeps_its_old_copy_until_the_next_cycle,
    a_space_that_vanishes_while_the_key_format_changes_is_removed_whole,
);

/// Key → sha256 of the stored bytes.
fn digests(snapshot: &UniqueSnapshot) -> BTreeMap<String, String> {
    snapshot
        .contents
        .iter()
        .map(|content| {
            let blob = content
                .blob
                .as_ref()
                .unwrap_or_else(|| panic!("{} has its bytes", content.key));
            (content.key.clone(), blob.sha256.clone())
        })
        .collect()
}

fn pdf() -> SimAttachment {
    SimAttachment::new("att-1", "spec.pdf", "application/pdf", 2_048).with_seed(4)
}

fn two_pages(flavor: Flavor) -> Dataset {
    dataset(flavor)
        .page(
            SimPage::new("p1", "SP")
                .labels([SINGLE])
                .body("<p>one</p>")
                .attachment(pdf()),
        )
        .page(SimPage::new("p2", "SP").labels([SINGLE]).body("<p>two</p>"))
}

/// The digests of `before` with every key's partial key replaced.
fn rekeyed(before: &BTreeMap<String, String>, from: &str, to: &str) -> BTreeMap<String, String> {
    before
        .iter()
        .map(|(key, sha)| {
            let rest = key.strip_prefix(from).expect("key under the old prefix");
            (format!("{to}{rest}"), sha.clone())
        })
        .collect()
}

/// Runs the flip from `first` to `second` key format and checks that one
/// cycle ends with exactly one copy of each item, under the new keys, with
/// the same bytes, in the same scope; a further cycle changes nothing.
async fn flip(flavor: Flavor, first: &str, second: &str) {
    let mut app = spawn_app(flavor, two_pages(flavor)).await;
    let prefix = |format: &str| match format {
        "enabled" => format!("{}_SP/", space_id(flavor)),
        _ => format!("{TENANT}/{}_SP/", space_id(flavor)),
    };
    app.configure(json!({"ingestion": {"useV1KeyFormat": first}}));
    assert_eq!(app.successful_cycle().await.new, 3);
    let before = digests(&app.snapshot());
    let scopes_before = scopes(&app.snapshot());
    assert_eq!(before.len(), 3);
    assert!(before.keys().all(|key| key.starts_with(&prefix(first))));

    app.configure(json!({"ingestion": {"useV1KeyFormat": second}}));
    let plan = app.plan().await;
    assert_eq!(
        plan.spaces[0].new.len(),
        3,
        "every item is new under the new keys"
    );
    let migrated = app.successful_cycle().await;
    assert_eq!(
        (
            migrated.new,
            migrated.old_copies_removed,
            migrated.old_copies_kept
        ),
        (3, 3, 0)
    );
    let snapshot = app.snapshot();
    assert_eq!(
        digests(&snapshot),
        rekeyed(&before, &prefix(first), &prefix(second))
    );
    assert_eq!(scopes(&snapshot), scopes_before);
    assert!(
        snapshot
            .contents
            .iter()
            .all(|content| content.owner_path.as_deref() == Some("/Confluence/SP"))
    );

    // The next cycle searches once more and finds nothing; from then on
    // the scopes are not searched: a steady cycle lists no scope content
    // and counts only for the v1 ownership check (two counts per space).
    let steady = app.successful_cycle().await;
    assert_eq!(
        (steady.new, steady.deleted, steady.old_copies_removed),
        (0, 0, 0)
    );
    assert_eq!(digests(&app.snapshot()), digests(&snapshot));
    app.unique.reset_counters();
    app.successful_cycle().await;
    let counters = app.unique.counters();
    assert_eq!(
        counters.calls(Operation::PaginatedContent),
        0,
        "{counters:?}"
    );
    let v1_check = if second == "enabled" { 2 } else { 0 };
    assert_eq!(
        counters.calls(Operation::PaginatedContentCount),
        v1_check,
        "{counters:?}"
    );
    app.finish().await;
}

async fn switching_to_v1_keys_leaves_one_copy_per_item(flavor: Flavor) {
    flip(flavor, "disabled", "enabled").await;
}

async fn switching_back_from_v1_keys_leaves_one_copy_per_item(flavor: Flavor) {
    flip(flavor, "enabled", "disabled").await;
}

/// `tenant1-tenant-config.yaml` becomes `acme-tenant-config.yaml`: the
/// space scope is re-marked for `acme`, its items are stored under
/// `acme/…` and the `tenant1/…` copies are removed.
async fn a_renamed_tenant_leaves_one_copy_per_item(flavor: Flavor) {
    let mut app = spawn_app(flavor, two_pages(flavor)).await;
    app.successful_cycle().await;
    let before = digests(&app.snapshot());

    app.rename_tenant("acme");
    let renamed = app.successful_cycle().await;
    assert_eq!(renamed.tenant, "acme");
    assert_eq!((renamed.new, renamed.old_copies_removed), (3, 3));
    let snapshot = app.snapshot();
    let old = format!("{TENANT}/");
    assert_eq!(digests(&snapshot), rekeyed(&before, &old, "acme/"));
    assert_eq!(
        scopes(&snapshot),
        BTreeMap::from([
            ("/Confluence".to_owned(), Some(root_mark(flavor).to_owned())),
            (
                "/Confluence/SP".to_owned(),
                Some(format!("confc:acme:{}:SP", space_id(flavor)))
            ),
        ])
    );
    app.finish().await;
}

/// A deleted tenant's root holds a scope marked for another tenant (with
/// that tenant's content) and, in one of its own scopes, a file that is not
/// under its keys: the purge removes only its own content and the scope it
/// emptied, leaves and reports the rest, and clears the root mark.
async fn a_purge_leaves_another_tenants_scopes_and_content_alone(flavor: Flavor) {
    let mut app = spawn_app(flavor, dataset(flavor)).await;
    app.configure(json!({"status": "deleted"}));
    app.unique.set_external_id(ROOT, Some(root_mark(flavor)));
    app.unique.grant_service_user(
        ROOT,
        &[AccessType::Manage, AccessType::Read, AccessType::Write],
    );
    seed_space(&app, "scope-own", "1", "OWN");
    seed_space(&app, "scope-mixed", "3", "MIX");
    app.unique.seed_scope(
        SeedScope::new("scope-other", "OTHER")
            .parent(ROOT)
            .external_id("confc:other:2:OTHER"),
    );
    app.seed_content(SeedContent::new(key("1", "OWN", "o1"), "scope-own").body("own"));
    app.seed_content(SeedContent::new(key("3", "MIX", "m1"), "scope-mixed").body("own too"));
    app.seed_content(SeedContent::new("notes/manual.html", "scope-mixed").body("by hand"));
    app.seed_content(SeedContent::new("other/2_OTHER/x1", "scope-other").body("theirs"));
    let before = digests(&app.snapshot());

    let report = app.purge().await;
    assert_eq!(report.outcome, PurgeOutcome::Success);
    assert_eq!(
        (
            report.content_deleted,
            report.scopes_deleted,
            report.scopes_left,
            report.content_left
        ),
        (2, 1, 2, 1)
    );
    let snapshot = app.snapshot();
    let kept: BTreeMap<_, _> = before
        .into_iter()
        .filter(|(key, _)| key == "other/2_OTHER/x1" || key == "notes/manual.html")
        .collect();
    assert_eq!(kept.len(), 2);
    assert_eq!(digests(&snapshot), kept);
    assert_eq!(
        scopes(&snapshot),
        BTreeMap::from([
            ("/Confluence".to_owned(), None),
            ("/Confluence/MIX".to_owned(), Some(space_mark("3", "MIX"))),
            (
                "/Confluence/OTHER".to_owned(),
                Some("confc:other:2:OTHER".to_owned())
            ),
        ])
    );
    app.finish().await;
}

/// Another tenant (below another root) already stores `p1` under the same
/// v1 key, because its space has the same id: this tenant's cycle refuses
/// before writing anything, and says why and what to do.
async fn v1_keys_stored_in_another_tenants_scope_are_refused(flavor: Flavor) {
    let mut app = spawn_app(flavor, two_pages(flavor)).await;
    app.configure(json!({"ingestion": {"useV1KeyFormat": "enabled"}}));
    app.unique.set_external_id(ROOT, Some(root_mark(flavor)));
    let space = space_id(flavor);
    app.unique.seed_scope(SeedScope::new("other-root", "Other"));
    app.unique.seed_scope(
        SeedScope::new("other-sp", "SP")
            .parent("other-root")
            .external_id(format!("confc:other:{space}:SP")),
    );
    app.seed_content(SeedContent::new(format!("{space}_SP/p1"), "other-sp").body("theirs"));
    let before = app.snapshot();
    app.unique.reset_counters();

    let report = app.cycle().await;
    assert_eq!(
        report.result,
        CycleResult::Failure(format!(
            "1 of 1 item(s) under the v1 partial key `{space}_SP` lie outside this tenant's \
             space scope SP: another tenant with `useV1KeyFormat: enabled` writes the same keys \
             for a space with this id; nothing was ingested or deleted; set `useV1KeyFormat: disabled` \
             on one of the two tenants (docs/migration.md)"
        ))
    );
    assert_no_writes(&app, &Operation::WRITES);
    let after = app.snapshot();
    assert_eq!(digests(&after), digests(&before));
    assert_eq!(scopes(&after), scopes(&before));
    app.finish().await;
}

/// The first upload of the migrating cycle fails (one of the pages): its
/// old copy stays, so the item is never missing; the other two old copies
/// go. The next cycle stores that page under its new key and removes the
/// last old copy: two cycles, one copy per item, the same bytes.
async fn an_item_that_fails_to_migrate_keeps_its_old_copy_until_the_next_cycle(flavor: Flavor) {
    let mut app = spawn_app(flavor, two_pages(flavor)).await;
    app.successful_cycle().await;
    let before = digests(&app.snapshot());
    let (old, new) = (format!("{TENANT}/"), String::new());
    let v1 = rekeyed(&before, &old, &new);

    app.configure(json!({"ingestion": {"useV1KeyFormat": "enabled"}}));
    app.unique
        .fail_next(Operation::Upload, 1, UniqueFault::status(500));
    let first = app.successful_cycle().await;
    assert_eq!(first.pages.failure, 1);
    assert_eq!((first.old_copies_removed, first.old_copies_kept), (2, 1));
    // Which page's upload comes first depends on the order the body
    // batches settle in; exactly that one page keeps its old copy.
    let after = digests(&app.snapshot());
    let kept: Vec<&String> = after.keys().filter(|key| key.starts_with(&old)).collect();
    assert_eq!(kept.len(), 1, "{after:?}");
    let kept_old = kept[0].clone();
    assert!(kept_old == sp(flavor, "p1") || kept_old == sp(flavor, "p2"));
    let mut expected = v1.clone();
    let sha = expected
        .remove(kept_old.strip_prefix(&old).unwrap())
        .expect("the page has a v1 key");
    expected.insert(kept_old, sha);
    assert_eq!(after, expected);

    let second = app.successful_cycle().await;
    assert_eq!(
        (
            second.new,
            second.old_copies_removed,
            second.old_copies_kept
        ),
        (1, 1, 0)
    );
    assert_eq!(digests(&app.snapshot()), v1);
    app.finish().await;
}

/// The key format changes in the same cycle as space ENG loses its only
/// labelled page: ENG's scope holds its item under the old key only, which
/// the orphan cleanup removes too, so the scope itself can go.
async fn a_space_that_vanishes_while_the_key_format_changes_is_removed_whole(flavor: Flavor) {
    let eng = match flavor {
        Flavor::Cloud => "space-eng",
        Flavor::DataCenter => "2001",
    };
    let data = two_pages(flavor)
        .space(SimSpace::new(eng, "ENG", "Engineering"))
        .page(SimPage::new("e1", "ENG").labels([SINGLE]));
    let mut app = spawn_app(flavor, data).await;
    app.successful_cycle().await;
    let before = digests(&app.snapshot());
    assert!(before.contains_key(&key(eng, "ENG", "e1")));

    app.confluence
        .update_dataset(|d| d.page_mut("e1").unwrap().labels.clear());
    app.configure(json!({"ingestion": {"useV1KeyFormat": "enabled"}}));
    let report = app.successful_cycle().await;
    assert_eq!(
        (
            report.orphan_scopes_removed,
            report.orphan_files_removed,
            report.orphan_scope_failures
        ),
        (1, 1, 0)
    );
    let snapshot = app.snapshot();
    let old = format!("{TENANT}/");
    let expected: BTreeMap<String, String> = rekeyed(
        &before
            .into_iter()
            .filter(|(key, _)| !key.contains("_ENG/"))
            .collect(),
        &old,
        "",
    );
    assert_eq!(digests(&snapshot), expected);
    assert_eq!(
        scopes(&snapshot),
        BTreeMap::from([
            ("/Confluence".to_owned(), Some(root_mark(flavor).to_owned())),
            (
                "/Confluence/SP".to_owned(),
                Some(space_mark(space_id(flavor), "SP"))
            ),
        ])
    );
    app.finish().await;
}
