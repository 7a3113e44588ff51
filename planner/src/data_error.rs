//! Errors in values that PostgreSQL reports with their own SQLSTATE — bad input text
//! (`22P02`, `22007`), a number out of its type's range (`22003`), division by zero
//! (`22012`) — raised inside DataFusion's execution by Ember's functions.

use datafusion::common::DataFusionError;

/// A value error with the SQLSTATE PostgreSQL reports. Travels through DataFusion as
/// `DataFusionError::External`; [`PgDataError::find`] gets it back out.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct PgDataError {
    sqlstate: &'static str,
    message: String,
}

impl PgDataError {
    pub fn new(sqlstate: &'static str, message: impl Into<String>) -> Self {
        Self { sqlstate, message: message.into() }
    }

    /// `22003`: a value out of its type's range (`integer out of range`).
    pub fn out_of_range(message: impl Into<String>) -> Self {
        Self::new("22003", message)
    }

    /// `22012 division by zero`.
    pub fn division_by_zero() -> Self {
        Self::new("22012", "division by zero")
    }

    pub fn sqlstate(&self) -> &'static str {
        self.sqlstate
    }

    /// The value error inside a DataFusion error, if that is what it is.
    pub fn find(error: &DataFusionError) -> Option<&PgDataError> {
        match error {
            DataFusionError::External(inner) => inner
                .downcast_ref::<PgDataError>()
                .or_else(|| inner.downcast_ref::<DataFusionError>().and_then(Self::find)),
            DataFusionError::Context(_, inner) | DataFusionError::Diagnostic(_, inner) => Self::find(inner),
            DataFusionError::Shared(inner) => Self::find(inner),
            DataFusionError::Collection(errors) => errors.iter().find_map(Self::find),
            _ => None,
        }
    }
}

impl From<PgDataError> for DataFusionError {
    fn from(e: PgDataError) -> Self {
        DataFusionError::External(Box::new(e))
    }
}
