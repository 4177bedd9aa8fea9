//! `serve` end to end: the daemon (in-process, and as the real binary)
//! against the embedded Confluence and Unique simulators, everything on
//! 127.0.0.1 port 0.
mod binary;
mod daemon;
mod prometheus;
mod support;
