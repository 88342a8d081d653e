//! `oci-conformance`: a data-driven conformance harness for the OCI Distribution Specification.
//!
//! The cases are data (`specs/*.json`, see `specs/README.md`); [`engine`] interprets them
//! against a registry and emits events that the [`report`] modules consume.

#![forbid(unsafe_code)]

pub mod cleanup;
pub mod cli;
pub mod compare;
pub mod config;
pub mod content;
pub mod contract;
pub mod coverage;
pub mod engine;
pub mod errors;
pub mod expected;
pub mod fuzz;
pub mod http;
pub mod matrix;
pub mod preflight;
pub mod rate_limit;
pub mod report;
pub mod repository;
pub mod results;
pub mod spec;
pub mod template;
