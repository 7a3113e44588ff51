//! The planner's error type.

use datafusion::error::DataFusionError;

/// Errors raised while turning SQL text into something executable.
#[derive(Debug, thiserror::Error)]
pub enum PlannerError {
    /// The engine (parser, planner, optimizer) rejected the statement.
    #[error(transparent)]
    DataFusion(#[from] DataFusionError),
    /// Valid SQL that Ember does not support (yet).
    #[error("{feature} is not supported")]
    Unsupported { feature: String },
    /// A value for a session setting that cannot be used.
    #[error("invalid value for parameter \"{name}\": \"{value}\"")]
    InvalidSetting { name: String, value: String },
    /// A statement nested deeper than the server plans (PostgreSQL's 54001).
    #[error("stack depth limit exceeded")]
    StackDepth { limit: usize },
    /// A statement's text longer than the server accepts (54000).
    #[error("statement is {length} bytes long, more than the server's limit of {limit} bytes")]
    StatementTooLong { length: usize, limit: usize },
    /// A column the statement names that its table does not have (42703).
    #[error("column \"{name}\" of relation \"{table}\" does not exist")]
    UndefinedColumn { name: String, table: String },
    /// A sequence definition PostgreSQL refuses (22023).
    #[error("{message}")]
    InvalidSequence { message: String },
    /// A session setting that does not exist.
    #[error("unrecognized configuration parameter \"{name}\"")]
    UnknownSetting { name: String },
}

pub type Result<T, E = PlannerError> = std::result::Result<T, E>;
