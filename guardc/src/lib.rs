//! guardc: compile, test, explain and build guard policies. Glue over guard-dsl and guard-engine.
//!
//! The binary (`main.rs`) parses a [`Cli`] and hands its [`Command`] to the command's module in
//! [`commands`]. What `guardc build` writes is library code of its own: [`plugin`] embeds a
//! bundle into the filter module, [`oci`] writes the image layout and [`manifests`] the Istio
//! manifests. The fixture runner behind `test` and `explain` stays inside the crate.

#![allow(
    clippy::indexing_slicing,
    reason = "guardc runs on a developer's machine or in CI, never on the request path: a bad \
              index here is a bug report, not an outage"
)]

pub mod commands;
pub(crate) mod fixture;
pub mod manifests;
pub mod oci;
pub mod plugin;
pub(crate) mod run;
pub(crate) mod suite;

pub use commands::{Cli, Command};
