//! End to end: real sync cycles through `app::oneshot` (the code behind
//! `confluence-connector sync` and `plan`), with the tenant file loaded as
//! the binary loads it, against both embedded simulators over HTTP on
//! 127.0.0.1. Every scenario of PROTOCOL §12 runs on Cloud and on Data
//! Center and asserts the Unique simulator's final state exactly. One test
//! binary with submodules, because every binary links the whole crate.

/// Runs `async fn name(flavor)` once per Confluence flavour.
macro_rules! both_flavors {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn cloud() {
                    super::$name(confluence_connector::sim::confluence::Flavor::Cloud).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn data_center() {
                    super::$name(confluence_connector::sim::confluence::Flavor::DataCenter).await;
                }
            }
        )*
    };
}

mod attachments;
mod cli;
mod content_types;
mod convergence;
mod deletions;
mod error_classes;
mod failures;
mod faults;
mod holds;
mod inline_images;
mod key_migration;
mod kill;
mod multi_cycle;

mod ownership;
mod proxy;
mod purge;
mod repair;
mod single_page;
mod subtree;
mod support;
mod tls;
