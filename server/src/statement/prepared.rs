//! Statements prepared once and run many times: the extended protocol's Parse/Bind/Execute,
//! and what a Flight SQL prepared statement will be. Parsing, planning, the parameter and
//! result types, and running with bound values live here; the protocol only decodes its
//! own parameter encoding into [`ParamValues`] and encodes the [`Outcome`].

use datafusion::arrow::datatypes::{FieldRef, SchemaRef};
use datafusion::common::ParamValues;
use datafusion::error::DataFusionError;
use datafusion::sql::sqlparser::parser::ParserError;
use ember_planner::PlannerError;
use ember_planner::statement::{Command, parse};

use super::admit;
use crate::error::{Result, ServerError};
use crate::session::{Outcome, PlannedStatement, Session};

/// One statement, parsed and — when DataFusion answers it — planned.
#[derive(Debug, Clone)]
pub enum Prepared {
    /// Planned by DataFusion; `$n` placeholders are bound per execution.
    Plan(Box<PlannedStatement>),
    /// Answered by Ember itself (BEGIN, SET, SHOW ...).
    Command(Command),
}

impl Prepared {
    /// The types of `$1..$n` found when it was planned (`None`: unknown).
    pub fn parameters(&self) -> &[Option<FieldRef>] {
        match self {
            Prepared::Plan(planned) => &planned.params,
            Prepared::Command(_) => &[],
        }
    }

    /// The columns it returns, if it returns rows.
    pub fn result_schema(&self) -> Option<SchemaRef> {
        match self {
            Prepared::Plan(planned) if planned.returns_rows() => Some(planned.result_schema().inner().clone()),
            Prepared::Command(Command::Show { name }) => Some(Session::show_schema(name)),
            _ => None,
        }
    }
}

impl Session {
    /// Parse and plan one statement (`None` for an empty one). Several statements are an
    /// error, as PostgreSQL refuses them in a prepared statement.
    pub async fn prepare(&self, sql: &str) -> Result<Option<Prepared>> {
        let mut commands = super::planning::blocking(super::planning::off_runtime(), || parse(sql, self.nesting()))?;
        if commands.len() > 1 {
            let error = ParserError::ParserError("cannot insert multiple commands into a prepared statement".to_string());
            return Err(ServerError::Planner(PlannerError::DataFusion(DataFusionError::SQL(Box::new(error), None))));
        }
        let Some(command) = commands.pop() else {
            return Ok(None);
        };
        Ok(Some(match command {
            Command::Plan(statement) => Prepared::Plan(Box::new(self.plan(*statement).await?)),
            other => Prepared::Command(other),
        }))
    }

    /// Run a prepared statement with `params` bound to its placeholders; in a failed
    /// transaction block only what ends the block runs.
    pub async fn execute_prepared(&self, prepared: &Prepared, params: &ParamValues, in_failed_transaction: bool) -> Result<Outcome> {
        match prepared {
            Prepared::Command(command) => {
                admit(Some(command), in_failed_transaction)?;
                self.run(command.clone(), in_failed_transaction).await
            }
            Prepared::Plan(planned) => {
                admit(None, in_failed_transaction)?;
                self.execute(planned.bind(params)?).await
            }
        }
    }
}
