//! Errors of the Python UDF runtime. They travel through DataFusion as
//! `DataFusionError::External`, so the server can tell a function that raised (fatal for
//! the query) from a worker that was lost, and map each to its SQLSTATE.

use std::time::Duration;

/// What went wrong running a Python function.
#[derive(Debug, thiserror::Error)]
pub enum UdfError {
    /// The function raised an exception; `traceback` is Python's.
    #[error("Python function {function} raised {message}")]
    Raised { function: String, message: String, traceback: String },
    /// The function's source (or pickle) could not be loaded.
    #[error("invalid Python function {function}: {message}")]
    Definition { function: String, message: String, traceback: String },
    /// The worker process exited while running the function (crash, `os._exit`, killed).
    #[error("Python worker running {function} died ({status}); the worker was replaced")]
    WorkerDied { function: String, status: String, stderr: String },
    /// A call ran longer than the per-call timeout; the worker was killed and replaced.
    #[error("Python function {function} did not finish within {}s (ember.udf timeout); the worker was killed", .timeout.as_secs_f64())]
    Timeout { function: String, timeout: Duration },
    /// The function exceeded the worker's memory limit.
    #[error("Python function {function} exceeded the worker memory limit of {limit_mib} MiB: {message}")]
    MemoryLimit { function: String, limit_mib: u64, message: String, traceback: String },
    /// The statement was cancelled (CancelRequest or statement_timeout) during the call;
    /// the worker was killed.
    #[error("canceling statement: Python function {function} was interrupted")]
    Canceled { function: String },
    /// A worker process could not be started.
    #[error("cannot start a Python UDF worker: {message}")]
    Spawn { message: String },
    /// Python functions are disabled on this server.
    #[error("Python functions are disabled on this server (started with --no-python-udfs)")]
    Disabled,
    /// A type or form Ember's Python functions do not support.
    #[error("{what} is not supported for Python functions")]
    Unsupported { what: String },
    /// The worker answered something the protocol does not allow (a bug).
    #[error("Python worker protocol error: {message}")]
    Protocol { message: String },
    #[error("Python worker I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
}

impl UdfError {
    /// The Python traceback or worker output that explains the error, for the error's detail.
    pub fn detail(&self) -> Option<&str> {
        let text = match self {
            UdfError::Raised { traceback, .. } | UdfError::Definition { traceback, .. } | UdfError::MemoryLimit { traceback, .. } => traceback,
            UdfError::WorkerDied { stderr, .. } => stderr,
            _ => return None,
        };
        (!text.is_empty()).then_some(text.as_str())
    }

    /// The PostgreSQL SQLSTATE for this error.
    pub fn sqlstate(&self) -> &'static str {
        match self {
            // external_routine_exception
            UdfError::Raised { .. } => "38000",
            // invalid_function_definition
            UdfError::Definition { .. } => "42P13",
            // external_routine_invocation_exception
            UdfError::WorkerDied { .. } => "39000",
            // query_canceled, as for statement_timeout
            UdfError::Timeout { .. } | UdfError::Canceled { .. } => "57014",
            // out_of_memory
            UdfError::MemoryLimit { .. } => "53200",
            // system_error
            UdfError::Spawn { .. } | UdfError::Io(_) => "58000",
            UdfError::Disabled | UdfError::Unsupported { .. } => "0A000",
            UdfError::Protocol { .. } | UdfError::Arrow(_) => "XX000",
        }
    }

    /// Find a `UdfError` inside a DataFusion error (it may be wrapped several times).
    pub fn find<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a UdfError> {
        let mut current: Option<&'a (dyn std::error::Error + 'static)> = Some(error);
        while let Some(e) = current {
            if let Some(udf) = e.downcast_ref::<UdfError>() {
                return Some(udf);
            }
            if let Some(df) = e.downcast_ref::<datafusion::error::DataFusionError>() {
                if let datafusion::error::DataFusionError::External(inner) = df {
                    current = Some(inner.as_ref());
                    continue;
                }
                if let datafusion::error::DataFusionError::Shared(inner) = df {
                    current = Some(inner.as_ref());
                    continue;
                }
            }
            current = e.source();
        }
        None
    }
}

impl From<UdfError> for datafusion::error::DataFusionError {
    fn from(e: UdfError) -> Self {
        datafusion::error::DataFusionError::External(Box::new(e))
    }
}

pub type Result<T, E = UdfError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates() {
        let raised = UdfError::Raised { function: "f".into(), message: "ValueError: x".into(), traceback: "Traceback".into() };
        assert_eq!(raised.sqlstate(), "38000");
        assert_eq!(raised.detail(), Some("Traceback"));
        assert_eq!(UdfError::Timeout { function: "f".into(), timeout: Duration::from_secs(1) }.sqlstate(), "57014");
        assert_eq!(UdfError::WorkerDied { function: "f".into(), status: "signal 6".into(), stderr: String::new() }.sqlstate(), "39000");
        assert_eq!(UdfError::Disabled.sqlstate(), "0A000");
    }

    #[test]
    fn found_through_datafusion_wrapping() {
        let df: datafusion::error::DataFusionError = UdfError::Disabled.into();
        let wrapped = df.context("while running");
        let shared = datafusion::error::DataFusionError::Shared(std::sync::Arc::new(wrapped));
        assert!(matches!(UdfError::find(&shared), Some(UdfError::Disabled)));
    }
}
