//! Ember's integration tests: one binary (linking DataFusion once) with a module per area.
//! Every test talks to a real `ember serve` process over the PostgreSQL wire protocol.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod auth;
mod common;
mod copy;
mod crash;
mod decode;
mod deep;
mod differential;
mod introspection;
mod limits;
mod managed;
mod protocol;
mod psql;
mod raw;
mod restart;
mod slt;
mod tpch;
mod types;
mod udf;
