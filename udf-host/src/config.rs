//! How a node runs its Python workers (shared by the pool and each worker).

use std::path::PathBuf;
use std::time::Duration;

/// How the pool runs its workers.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// The Python interpreter (it must import pyarrow and numpy; cloudpickle for pickled functions).
    pub python: PathBuf,
    /// Number of worker processes (default: cores).
    pub size: usize,
    /// Longest a single call (one batch) may run before its worker is killed.
    pub call_timeout: Duration,
    /// Address-space limit of each worker in bytes (0 = none).
    pub memory_limit: u64,
    /// Where the sockets and the worker script live.
    pub socket_dir: PathBuf,
}

