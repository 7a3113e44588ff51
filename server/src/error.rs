//! The server's error type and its one mapping to PostgreSQL SQLSTATE codes.

use datafusion::arrow::error::ArrowError;
use datafusion::common::SchemaError;
use datafusion::error::DataFusionError;
use ember_planner::PlannerError;
use pgwire::error::{ErrorInfo, PgWireError};

/// Everything that can go wrong while serving a statement or starting the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Planner(#[from] PlannerError),
    #[error(transparent)]
    DataFusion(#[from] DataFusionError),
    #[error("catalog: {0}")]
    Catalog(#[from] rusqlite::Error),
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
    #[error("current transaction is aborted, commands ignored until end of transaction block")]
    InFailedTransaction,
    #[error("{feature} is not supported")]
    Unsupported { feature: String },
    #[error("{message}")]
    Protocol { message: String },
    #[error("invalid input syntax for type {type_name}: \"{value}\"")]
    InvalidText { type_name: &'static str, value: String },
    #[error("canceling statement due to statement timeout")]
    StatementTimeout,
    #[error("canceling statement due to user request")]
    Canceled,
    #[error("invalid configuration: {message}")]
    Config { message: String },
    #[error(transparent)]
    Udf(#[from] ember_udf_host::UdfError),
    #[error("permission denied: {message}")]
    InsufficientPrivilege { message: String },
    #[error("function {name} already exists")]
    DuplicateFunction { name: String },
    #[error("function {name}() does not exist")]
    UndefinedFunction { name: String },
    #[error("relation \"{name}\" does not exist")]
    UndefinedTable { name: String },
    #[error("relation \"{name}\" already exists")]
    DuplicateTable { name: String },
    #[error("schema \"{name}\" does not exist")]
    UndefinedSchema { name: String },
    #[error("schema \"{name}\" already exists")]
    DuplicateSchema { name: String },
    #[error("internal error: {message}")]
    Panic { message: String },
    #[error("{message}")]
    ProgramLimit { message: String },
    #[error("sorry, too many clients already")]
    TooManyConnections,
    #[error("remaining connection slots are reserved for superusers")]
    ReservedConnections,
    #[error("\"{name}\" is not a {expected}")]
    WrongObjectType { name: String, expected: &'static str },
    #[error("data directory \"{dir}\" is in use by another Ember server (pid {pid}); stop it first, or start with another --data-dir")]
    DataDirInUse { dir: String, pid: String },
    #[error("column \"{name}\" specified more than once")]
    DuplicateColumn { name: String },
    #[error("savepoint \"{name}\" does not exist")]
    UndefinedSavepoint { name: String },
    #[error("column \"{name}\" of relation \"{table}\" does not exist")]
    UndefinedColumn { name: String, table: String },
    /// A command PostgreSQL runs only outside a transaction block (`VACUUM`).
    #[error("{command} cannot run inside a transaction block")]
    ActiveTransaction { command: String },
    /// A write whose rows another transaction changed (or removed) after it read them.
    #[error("could not serialize access due to concurrent update")]
    SerializationFailure,
}

pub type Result<T, E = ServerError> = std::result::Result<T, E>;

impl ServerError {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io { context: context.into(), source }
    }

    /// The SQLSTATE a PostgreSQL client sees for this error.
    /// The Python UDF error this error carries, if any (directly or inside DataFusion's).
    pub fn udf_error(&self) -> Option<&ember_udf_host::UdfError> {
        match self {
            ServerError::Udf(e) => Some(e),
            ServerError::Planner(PlannerError::DataFusion(e)) | ServerError::DataFusion(e) => ember_udf_host::UdfError::find(e),
            _ => None,
        }
    }

    pub fn sqlstate(&self) -> &'static str {
        if let Some(udf) = self.udf_error() {
            return udf.sqlstate();
        }
        match self {
            ServerError::Planner(PlannerError::DataFusion(e)) | ServerError::DataFusion(e) => {
                match ember_planner::data_error::PgDataError::find(e) {
                    Some(input) => input.sqlstate(),
                    None => datafusion_sqlstate(e),
                }
            }
            ServerError::Planner(PlannerError::Unsupported { .. }) => "0A000",
            ServerError::Planner(PlannerError::InvalidSetting { .. }) => "22023",
            ServerError::Planner(PlannerError::UnknownSetting { .. }) => "42704",
            ServerError::Planner(PlannerError::UndefinedColumn { .. }) => "42703",
            ServerError::Planner(PlannerError::InvalidSequence { .. }) => "22023",
            ServerError::Planner(PlannerError::StackDepth { .. }) => "54001",
            ServerError::Planner(PlannerError::StatementTooLong { .. }) => "54000",
            ServerError::Catalog(_) => "58000",
            ServerError::Io { .. } => "58030",
            ServerError::InFailedTransaction => "25P02",
            ServerError::Unsupported { .. } => "0A000",
            ServerError::Protocol { .. } => "08P01",
            ServerError::StatementTimeout | ServerError::Canceled => "57014",
            ServerError::InvalidText { .. } => "22P02",
            ServerError::Config { .. } => "F0000",
            ServerError::Udf(e) => e.sqlstate(),
            ServerError::InsufficientPrivilege { .. } => "42501",
            ServerError::DuplicateFunction { .. } => "42723",
            ServerError::UndefinedFunction { .. } => "42883",
            ServerError::UndefinedTable { .. } => "42P01",
            ServerError::DuplicateTable { .. } => "42P07",
            ServerError::UndefinedSchema { .. } => "3F000",
            ServerError::DuplicateSchema { .. } => "42P06",
            ServerError::WrongObjectType { .. } => "42809",
            ServerError::Panic { .. } => "XX000",
            ServerError::ProgramLimit { .. } => "54000",
            ServerError::TooManyConnections | ServerError::ReservedConnections => "53300",
            ServerError::DataDirInUse { .. } => "55006",
            ServerError::DuplicateColumn { .. } => "42701",
            ServerError::UndefinedSavepoint { .. } => "3B001",
            ServerError::UndefinedColumn { .. } => "42703",
            ServerError::SerializationFailure => "40001",
            ServerError::ActiveTransaction { .. } => "25001",
        }
    }

    /// The message a client sees: DataFusion's wrapping prefixes ("Error during planning:")
    /// are removed so messages read like PostgreSQL's.
    pub fn message(&self) -> String {
        if let Some(udf) = self.udf_error() {
            return udf.to_string();
        }
        match self {
            ServerError::Planner(PlannerError::DataFusion(e)) | ServerError::DataFusion(e) => {
                match ember_planner::data_error::PgDataError::find(e) {
                    Some(input) => input.to_string(),
                    None => datafusion_message(e),
                }
            }
            other => other.to_string(),
        }
    }

    /// The error a statement fails with when the code under it panicked: the panic's
    /// message (the panic hook has logged it with its backtrace, [`crate::panics`]).
    pub fn from_panic(payload: &(dyn std::any::Any + Send)) -> ServerError {
        ServerError::Panic { message: crate::panics::message(payload) }
    }

    /// What the client can do about a limit it ran into.
    fn hint(&self) -> Option<String> {
        match self {
            ServerError::Planner(PlannerError::StackDepth { limit }) => Some(format!(
                "Statements may nest {limit} levels deep (expressions, subqueries, set operations); \
                 the server's --stack-size sets this."
            )),
            ServerError::Planner(PlannerError::StatementTooLong { .. }) => {
                Some("The server's --max-query-size sets this limit.".to_string())
            }
            _ => None,
        }
    }

    pub fn into_pgwire(self) -> PgWireError {
        PgWireError::UserError(Box::new(self.error_info()))
    }

    pub fn error_info(&self) -> ErrorInfo {
        let mut info = ErrorInfo::new("ERROR".to_string(), self.sqlstate().to_string(), self.message());
        // A Python traceback (or a dead worker's last output) goes in the detail field.
        info.detail = self.udf_error().and_then(|e| e.detail()).map(str::to_string);
        info.hint = self.hint();
        info
    }
}

impl From<ServerError> for PgWireError {
    fn from(e: ServerError) -> Self {
        e.into_pgwire()
    }
}

/// SQLSTATE for an engine error. DataFusion keeps most plan errors as text, so a few are
/// recognised by their (stable) wording; everything is matched on the root cause.
fn datafusion_sqlstate(error: &DataFusionError) -> &'static str {
    let root = root_cause(error);
    match root {
        DataFusionError::SQL(..) => "42601",
        DataFusionError::SchemaError(inner, _) => match inner.as_ref() {
            SchemaError::FieldNotFound { .. } => "42703",
            SchemaError::AmbiguousReference { .. } => "42702",
            SchemaError::DuplicateQualifiedField { .. }
            | SchemaError::DuplicateUnqualifiedField { .. } => "42701",
        },
        DataFusionError::NotImplemented(_) => "0A000",
        DataFusionError::ResourcesExhausted(_) => "53200",
        DataFusionError::ArrowError(arrow, _) => arrow_sqlstate(arrow),
        DataFusionError::ParquetError(_) | DataFusionError::ObjectStore(_) | DataFusionError::IoError(_) => "58030",
        DataFusionError::Plan(msg) => plan_sqlstate(msg),
        DataFusionError::Execution(msg) => execution_sqlstate(msg),
        DataFusionError::Configuration(_) => "22023",
        DataFusionError::Internal(_) => "XX000",
        _ => execution_sqlstate(&root.to_string()),
    }
}

fn arrow_sqlstate(error: &ArrowError) -> &'static str {
    match error {
        ArrowError::DivideByZero => "22012",
        ArrowError::CastError(_) | ArrowError::ParseError(_) => "22P02",
        ArrowError::ArithmeticOverflow(_) => "22003",
        ArrowError::MemoryError(_) => "53200",
        ArrowError::IoError(..) => "58030",
        ArrowError::NotYetImplemented(_) => "0A000",
        ArrowError::InvalidArgumentError(msg) => execution_sqlstate(msg),
        _ => "XX000",
    }
}

fn plan_sqlstate(msg: &str) -> &'static str {
    let lower = msg.to_lowercase();
    if lower.contains("not found") && (lower.contains("table '") || lower.contains("view '")) {
        "42P01"
    } else if lower.contains("invalid function") || lower.contains("no function matches") {
        "42883"
    } else if lower.contains("already exists") {
        if lower.contains("schema") { "42P06" } else { "42P07" }
    } else if lower.contains("schema") && lower.contains("doesn't exist") {
        "3F000"
    } else if lower.contains("unsupported") || lower.contains("not supported") {
        "0A000"
    } else if lower.contains("cannot be cast") || lower.contains("cannot coerce") || lower.contains("coercion") {
        "42804"
    } else {
        "42000"
    }
}

fn execution_sqlstate(msg: &str) -> &'static str {
    let lower = msg.to_lowercase();
    if lower.contains("already exists") {
        if lower.contains("schema") { "42P06" } else { "42P07" }
    } else if (lower.contains("doesn't exist") || lower.contains("does not exist")) && (lower.starts_with("table") || lower.starts_with("view")) {
        "42P01"
    } else if lower.contains("subquery returned more than one row") {
        // PostgreSQL: "more than one row returned by a subquery used as an expression".
        "21000"
    } else if lower.contains("divide by zero") || lower.contains("division by zero") {
        "22012"
    } else if lower.contains("cannot cast") || lower.contains("invalid") && lower.contains("syntax") || lower.contains("parse") {
        "22P02"
    } else if lower.contains("overflow") {
        "22003"
    } else if lower.contains("not supported") || lower.contains("unsupported") {
        "0A000"
    } else if lower.contains("no such file") || lower.contains("not found") {
        "58P01"
    } else {
        "22000"
    }
}

/// The innermost error, looking through context, shared and external wrappers.
fn root_cause(error: &DataFusionError) -> &DataFusionError {
    match error {
        DataFusionError::Context(_, inner) => root_cause(inner),
        DataFusionError::Shared(inner) => root_cause(inner),
        DataFusionError::Diagnostic(_, inner) => root_cause(inner),
        DataFusionError::Collection(errors) => errors.first().map(root_cause).unwrap_or(error),
        DataFusionError::External(inner) => match inner.downcast_ref::<DataFusionError>() {
            Some(df) => root_cause(df),
            None => error,
        },
        other => other,
    }
}

fn datafusion_message(error: &DataFusionError) -> String {
    let root = root_cause(error);
    let text = match root {
        DataFusionError::ArrowError(arrow, _) => arrow.to_string(),
        DataFusionError::Plan(msg) | DataFusionError::Execution(msg) | DataFusionError::NotImplemented(msg) => msg.clone(),
        DataFusionError::SQL(parser, _) => parser.to_string().replace("sql parser error: ", ""),
        DataFusionError::SchemaError(inner, _) => inner.to_string(),
        other => other.strip_backtrace(),
    };
    text.lines().next().unwrap_or_default().trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::common::Column;

    fn state(e: DataFusionError) -> &'static str {
        ServerError::from(e).sqlstate()
    }

    /// One row per error class a client must be able to tell apart.
    #[test]
    fn sqlstate_table() {
        let cases: Vec<(DataFusionError, &str)> = vec![
            (DataFusionError::Plan("table 'ember.public.nope' not found".into()), "42P01"),
            (DataFusionError::Plan("Invalid function 'nope'.\nDid you mean 'now'?".into()), "42883"),
            (
                DataFusionError::SchemaError(
                    Box::new(SchemaError::FieldNotFound {
                        field: Box::new(Column::from_name("x")),
                        valid_fields: vec![],
                    }),
                    Box::new(None),
                ),
                "42703",
            ),
            (DataFusionError::ArrowError(Box::new(ArrowError::DivideByZero), None), "22012"),
            (
                DataFusionError::ArrowError(Box::new(ArrowError::CastError("Cannot cast string 'a' to value of Int32 type".into())), None),
                "22P02",
            ),
            (DataFusionError::NotImplemented("x".into()), "0A000"),
            (DataFusionError::ResourcesExhausted("x".into()), "53200"),
            (DataFusionError::Internal("x".into()), "XX000"),
            (DataFusionError::Plan("Table 'ember.public.t' already exists".into()), "42P07"),
            (DataFusionError::Execution("Table 'nope' doesn't exist.".into()), "42P01"),
            (DataFusionError::Execution("External table 'x' already exists".into()), "42P07"),
            (DataFusionError::Execution("Scalar subquery returned more than one row".into()), "21000"),
            (
                DataFusionError::Context("ctx".into(), Box::new(DataFusionError::ArrowError(Box::new(ArrowError::DivideByZero), None))),
                "22012",
            ),
        ];
        for (error, expected) in cases {
            let shown = error.to_string();
            assert_eq!(state(error), expected, "{shown}");
        }
        assert_eq!(ServerError::InFailedTransaction.sqlstate(), "25P02");
        assert_eq!(ServerError::Unsupported { feature: "x".into() }.sqlstate(), "0A000");
        assert_eq!(ServerError::UndefinedTable { name: "x".into() }.sqlstate(), "42P01");
        assert_eq!(ServerError::DuplicateTable { name: "x".into() }.sqlstate(), "42P07");
        assert_eq!(ServerError::UndefinedSchema { name: "x".into() }.sqlstate(), "3F000");
        assert_eq!(ServerError::DuplicateSchema { name: "x".into() }.sqlstate(), "42P06");
        assert_eq!(ServerError::WrongObjectType { name: "x".into(), expected: "view" }.sqlstate(), "42809");
        assert_eq!(
            ServerError::Planner(PlannerError::UnknownSetting { name: "x".into() }).sqlstate(),
            "42704"
        );
    }

    #[test]
    fn messages_lose_engine_prefixes() {
        let e = ServerError::from(DataFusionError::Plan("table 'ember.public.nope' not found".into()));
        assert_eq!(e.message(), "table 'ember.public.nope' not found");
    }
}
