//! The Confluence adapters against the embedded simulator, over real HTTP
//! on 127.0.0.1, for both flavours (PROTOCOL §4, §5). One test binary with
//! submodules, because every binary links the whole crate.

mod attachments;
mod auth;
mod bad_input;
mod bodies;
mod discovery;
mod quirks;
mod rate_limits;
mod support;
