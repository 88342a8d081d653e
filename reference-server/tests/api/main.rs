//! In-process HTTP tests: each test spawns the server on 127.0.0.1:0 and talks real HTTP.

mod auth;
mod auth_limits;
mod base;
#[cfg(unix)]
mod binary;
mod blobs;
mod catalog;
mod common;
mod discovery;
mod limits;
mod maintenance;
mod management;
mod manifests;
mod persistence;
mod profiles;
mod replicas;
mod storage_full;
mod tls;
mod uploads;
