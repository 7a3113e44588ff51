//! The pool of Python worker processes of one node, and the executor trait the UDFs call.
//!
//! Workers start lazily (the first call that finds none idle starts one, up to `size`),
//! are reused across queries, and are replaced after they die, time out or break the
//! protocol. A call holds one worker for one batch; parallel partitions of a query use
//! different workers, so `size` workers keep `size` cores busy.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};

use datafusion::arrow::record_batch::RecordBatch;

use crate::error::{Result, UdfError};
use crate::function::PythonFunction;
use crate::interrupt::Interrupt;
use crate::worker::Worker;
pub use crate::config::PoolConfig;

/// The worker program, shipped inside the server binary.
const WORKER_SCRIPT: &str = include_str!("../python/ember_udf_worker.py");

/// Runs Python functions over batches. The pool implements it; tests may fake it.
pub trait UdfExecutor: std::fmt::Debug + Send + Sync {
    /// Load the function in a worker to report a bad definition at `CREATE FUNCTION`.
    fn check(&self, function: &PythonFunction) -> Result<()>;
    /// Call the function over one batch of arguments (columns in argument order).
    /// A set `interrupt` stops the call early (the worker is killed).
    fn call(&self, function: &PythonFunction, args: &RecordBatch, interrupt: Option<&Interrupt>) -> Result<RecordBatch>;
}

#[derive(Debug, Default)]
struct PoolState {
    idle: Vec<Worker>,
    /// Workers alive (idle or busy) plus workers being started.
    live: usize,
}

/// A node's pool of Python workers.
#[derive(Debug)]
pub struct WorkerPool {
    config: PoolConfig,
    script: OnceLock<PathBuf>,
    state: Mutex<PoolState>,
    returned: Condvar,
    serial: AtomicU64,
}

impl WorkerPool {
    pub fn new(config: PoolConfig) -> Self {
        Self {
            config,
            script: OnceLock::new(),
            state: Mutex::default(),
            returned: Condvar::new(),
            serial: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn script(&self) -> Result<PathBuf> {
        if let Some(path) = self.script.get() {
            return Ok(path.clone());
        }
        std::fs::create_dir_all(&self.config.socket_dir)?;
        let path = self.config.socket_dir.join("ember_udf_worker.py");
        let temp = self.config.socket_dir.join(format!("ember_udf_worker.py.{}", std::process::id()));
        std::fs::write(&temp, WORKER_SCRIPT)?;
        std::fs::rename(&temp, &path)?;
        Ok(self.script.get_or_init(|| path).clone())
    }

    /// Take an idle worker, start one if the pool is not full, else wait for one.
    fn checkout(&self) -> Result<Worker> {
        let mut state = self.lock();
        loop {
            if let Some(worker) = state.idle.pop() {
                return Ok(worker);
            }
            if state.live < self.config.size.max(1) {
                state.live += 1;
                drop(state);
                let spawned = self.script().and_then(|script| {
                    Worker::spawn(&self.config, &script, self.serial.fetch_add(1, Ordering::Relaxed))
                });
                if spawned.is_err() {
                    self.lock().live -= 1;
                    self.returned.notify_one();
                }
                return spawned;
            }
            state = self.returned.wait(state).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Give a worker back, or retire it after an error that leaves it unusable.
    fn checkin(&self, mut worker: Worker, reusable: bool) {
        let mut state = self.lock();
        if reusable {
            state.idle.push(worker);
        } else {
            state.live -= 1;
            drop(state);
            tracing::warn!(pid = worker.pid(), "retiring Python UDF worker");
            worker.kill();
        }
        self.returned.notify_one();
    }

    fn with_worker<T>(&self, run: impl FnOnce(&mut Worker) -> Result<T>) -> Result<T> {
        let mut worker = self.checkout()?;
        let result = run(&mut worker);
        let reusable = match &result {
            Ok(_) => true,
            // The function failed but the worker is fine.
            Err(UdfError::Raised { .. } | UdfError::Definition { .. } | UdfError::MemoryLimit { .. } | UdfError::Unsupported { .. }) => true,
            Err(_) => false,
        };
        self.checkin(worker, reusable);
        result
    }
}

impl UdfExecutor for WorkerPool {
    fn check(&self, function: &PythonFunction) -> Result<()> {
        let timeout = self.config.call_timeout;
        self.with_worker(|worker| worker.ensure_defined(function, timeout))
    }

    fn call(&self, function: &PythonFunction, args: &RecordBatch, interrupt: Option<&Interrupt>) -> Result<RecordBatch> {
        let (timeout, memory_limit) = (self.config.call_timeout, self.config.memory_limit);
        block_in_place(|| self.with_worker(|worker| worker.call(function, args, timeout, memory_limit, interrupt)))
    }
}

/// Blocking work inside a Tokio worker thread lets the runtime move its other tasks away.
pub fn block_in_place<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}
