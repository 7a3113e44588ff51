//! `CREATE SEQUENCE`, `DROP SEQUENCE` and the sequences of `serial` and identity columns
//! for a session (the sequences themselves are `crate::sequences`).

use datafusion::execution::SessionState;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::Statement as SqlStatement;
use ember_planner::sequence::{DropSequenceSpec, SequenceSpec, SerialColumn};

use crate::error::{Result, ServerError};
use crate::session::{Outcome, Session};

/// A sequence a `CREATE TABLE` makes for one of its columns: `(schema, name, column)`.
#[derive(Debug, Clone)]
pub struct SerialSequence {
    pub schema: String,
    pub name: String,
    pub column: SerialColumn,
}

impl Session {
    pub(crate) async fn create_sequence(&self, spec: SequenceSpec) -> Result<Outcome> {
        let (schema, name) = self.sequence_name(&spec.name)?;
        self.require_schema(&schema)?;
        if self.relation_exists(&schema, &name).await {
            if spec.if_not_exists {
                return Ok(done("CREATE SEQUENCE"));
            }
            return Err(ServerError::DuplicateTable { name });
        }
        let sequences = self.engine().sequences().clone();
        let created = tokio::task::spawn_blocking(move || sequences.create(&schema, &name, &spec.options, None)).await.map_err(join_error)??;
        if !created && !spec.if_not_exists {
            let (_, name) = self.sequence_name(&spec.name)?;
            return Err(ServerError::DuplicateTable { name });
        }
        Ok(done("CREATE SEQUENCE"))
    }

    pub(crate) async fn drop_sequence(&self, spec: DropSequenceSpec) -> Result<Outcome> {
        let names = spec.names.iter().map(|n| self.sequence_name(n)).collect::<Result<Vec<_>>>()?;
        if !spec.if_exists
            && let Some((_, missing)) = names.iter().find(|(schema, name)| !self.engine().sequences().exists(schema, name))
        {
            return Err(ServerError::UndefinedTable { name: missing.clone() });
        }
        let sequences = self.engine().sequences().clone();
        tokio::task::spawn_blocking(move || names.iter().try_for_each(|(schema, name)| sequences.remove(schema, name).map(|_| ()))).await.map_err(join_error)??;
        Ok(done("DROP SEQUENCE"))
    }

    /// `CREATE TABLE` with `serial`/identity columns: rewrite them into integer columns
    /// with `DEFAULT nextval(...)` and return the sequences to create with the table.
    pub(crate) fn serial_sequences(&self, state: &SessionState, statement: &mut DfStatement) -> Result<Vec<SerialSequence>> {
        let DfStatement::Statement(inner) = statement else {
            return Ok(Vec::new());
        };
        let SqlStatement::CreateTable(create) = inner.as_mut() else {
            return Ok(Vec::new());
        };
        let parts: Vec<String> = create.name.0.iter().filter_map(|p| p.as_ident()).map(|i| if i.quote_style.is_some() { i.value.clone() } else { i.value.to_lowercase() }).collect();
        let schema = match parts.as_slice() {
            [.., schema, _] => schema.clone(),
            _ => state.config().options().catalog.default_schema.clone(),
        };
        let table = parts.last().cloned().unwrap_or_default();
        let sequences = self.engine().sequences();
        let mut chosen: Vec<String> = Vec::new();
        let serials = ember_planner::sequence::serial_columns(create, |column| {
            let name = sequences.free_name(&schema, &format!("{table}_{column}_seq"), |n| chosen.iter().any(|c| c == n));
            chosen.push(name.clone());
            format!("{}.{}", quote(&schema), quote(&name))
        })?;
        Ok(serials.into_iter().zip(chosen).map(|(column, name)| SerialSequence { schema: schema.clone(), name, column }).collect())
    }

    /// Create the sequences of a new table's serial columns (before the table: a crash
    /// between the two leaves a sequence no table uses, never a table without one).
    pub(crate) async fn create_serial_sequences(&self, serials: &[SerialSequence]) -> Result<()> {
        let sequences = self.engine().sequences().clone();
        let serials = serials.to_vec();
        tokio::task::spawn_blocking(move || {
            for serial in &serials {
                if !sequences.create(&serial.schema, &serial.name, &serial.column.options, None)? {
                    return Err(ServerError::DuplicateTable { name: serial.name.clone() });
                }
            }
            Ok(())
        })
        .await
        .map_err(join_error)?
    }

    /// The table `table_id` owns its serial columns' sequences, which go with it.
    pub(crate) async fn own_serial_sequences(&self, serials: &[SerialSequence], table_id: Option<i64>) -> Result<()> {
        let sequences = self.engine().sequences().clone();
        let serials = serials.to_vec();
        tokio::task::spawn_blocking(move || {
            for serial in &serials {
                match table_id {
                    Some(id) => sequences.set_owner(&serial.schema, &serial.name, id)?,
                    None => {
                        sequences.remove(&serial.schema, &serial.name)?;
                    }
                }
            }
            Ok(())
        })
        .await
        .map_err(join_error)?
    }

    /// `[schema.]name` of a sequence: the schema defaults to the session's.
    fn sequence_name(&self, parts: &[String]) -> Result<(String, String)> {
        match parts {
            [name] => Ok((self.snapshot().config().options().catalog.default_schema.clone(), name.clone())),
            [.., schema, name] => Ok((schema.clone(), name.clone())),
            [] => Err(ServerError::UndefinedTable { name: String::new() }),
        }
    }

    fn require_schema(&self, schema: &str) -> Result<()> {
        let catalog = self.context().catalog(&self.snapshot().config().options().catalog.default_catalog);
        match catalog.and_then(|c| c.schema(schema)) {
            Some(_) => Ok(()),
            None => Err(ServerError::UndefinedSchema { name: schema.to_string() }),
        }
    }

    /// Whether a table, view or sequence named `schema.name` exists (they share names).
    async fn relation_exists(&self, schema: &str, name: &str) -> bool {
        if self.engine().sequences().exists(schema, name) {
            return true;
        }
        let catalog = self.context().catalog(&self.snapshot().config().options().catalog.default_catalog);
        match catalog.and_then(|c| c.schema(schema)) {
            Some(s) => s.table_exist(name),
            None => false,
        }
    }
}

fn done(tag: &str) -> Outcome {
    Outcome::Done { tag: tag.to_string(), rows: None, oid: None }
}

fn quote(ident: &str) -> String {
    if ident.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') && !ident.starts_with(|c: char| c.is_ascii_digit()) {
        ident.to_string()
    } else {
        format!("\"{}\"", ident.replace('"', "\"\""))
    }
}

fn join_error(e: tokio::task::JoinError) -> ServerError {
    ServerError::io("catalog writer", std::io::Error::other(e))
}
