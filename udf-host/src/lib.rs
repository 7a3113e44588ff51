//! `ember-udf-host`: the Python UDF runtime layer.
//!
//! Python functions run in a pool of long-lived Python worker processes per node
//! ([`pool::WorkerPool`]). A function is sent to a worker once (source text or cloudpickle
//! bytes); after that, each call carries one Arrow record batch over a Unix socket (Arrow
//! IPC) and gets one Arrow batch back — data is never pickled, rows never travel one by one.
//! To DataFusion a function is a [`scalar::PythonScalarUdf`], [`aggregate::PythonAggregateUdf`]
//! or [`table::PythonTableFunction`], so it works in any expression and in parallel partitions.

pub mod aggregate;
pub mod config;
pub mod error;
pub mod function;
pub mod interrupt;
pub mod pool;
pub mod scalar;
pub mod table;
pub mod types;
mod worker;

pub use error::{Result, UdfError};
pub use interrupt::{Interrupt, StatementInterrupts};
pub use function::{FunctionBody, FunctionKind, PythonFunction, VectorInput};
pub use pool::{PoolConfig, UdfExecutor, WorkerPool};
