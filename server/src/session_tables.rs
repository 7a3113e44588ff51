//! `CREATE TABLE [IF NOT EXISTS]`, `CREATE TABLE ... AS`, `DROP TABLE` and `TRUNCATE` of managed tables
//! for a session (the storage itself is `crate::storage`). `INSERT` needs nothing here:
//! DataFusion plans it and calls the table's `insert_into`.

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::catalog::SchemaProvider;
use datafusion::arrow::datatypes::Schema;
use datafusion::common::{Constraint, Constraints, ResolvedTableReference};
use datafusion::datasource::{DefaultTableSource, provider_as_source};
use datafusion::execution::SessionState;
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{CreateMemoryTable, DmlStatement, DropTable, LogicalPlan, LogicalPlanBuilder};

use crate::error::{Result, ServerError};
use crate::session::{Outcome, Session, collect_stream, count_rows};
use crate::statement::planning;
use crate::session_sequences::SerialSequence;
use crate::storage::table::ManagedTable;

/// The table's columns; those of the primary key are NOT NULL, as in PostgreSQL.
fn not_null_keys(columns: &Schema, constraints: &Constraints) -> Schema {
    let keys: HashSet<usize> = constraints
        .iter()
        .filter_map(|c| match c {
            Constraint::PrimaryKey(indices) => Some(indices.iter().copied()),
            Constraint::Unique(_) => None,
        })
        .flatten()
        .collect();
    let fields = columns
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| if keys.contains(&i) { Arc::new(f.as_ref().clone().with_nullable(false)) } else { Arc::clone(f) })
        .collect::<Vec<_>>();
    Schema::new_with_metadata(fields, columns.metadata().clone())
}

/// The columns of a new table (primary-key columns NOT NULL); `42701` for a name twice.
fn table_columns(create: &CreateMemoryTable) -> Result<Schema> {
    let columns = not_null_keys(create.input.schema().as_arrow(), &create.constraints);
    let mut seen = HashSet::new();
    if let Some(twice) = columns.fields().iter().find(|f| !seen.insert(f.name().as_str())) {
        return Err(ServerError::DuplicateColumn { name: twice.name().clone() });
    }
    Ok(columns)
}

impl Session {
    /// Create the managed table `create` describes; with a query (`CREATE TABLE ... AS`),
    /// fill it, and drop it again if that fails.
    pub(crate) async fn create_managed_table(&self, state: &SessionState, create: &CreateMemoryTable, serials: &[SerialSequence]) -> Result<Outcome> {
        let done = |rows: Option<usize>| Outcome::Done { tag: if rows.is_some() { "SELECT" } else { "CREATE TABLE" }.to_string(), rows, oid: None };
        if create.or_replace {
            return Err(ServerError::Unsupported { feature: "CREATE OR REPLACE TABLE".to_string() });
        }
        let resolved = self.resolve(state, &create.name);
        if create.temporary {
            return self.create_temp_table(state, create, serials, &resolved).await;
        }
        let schema = self.schema_of(&resolved)?;
        if schema.table_exist(&resolved.table) {
            return if create.if_not_exists { Ok(done(None)) } else { Err(ServerError::DuplicateTable { name: resolved.table.to_string() }) };
        }
        let columns = table_columns(create)?;
        let storage = self.engine().storage();
        self.create_serial_sequences(serials).await?;
        let table = match storage.create_table(&resolved.schema, &resolved.table, Arc::new(columns), &create.column_defaults, &self.user()).await {
            Ok(table) => table,
            Err(e) => {
                self.own_serial_sequences(serials, None).await?;
                return Err(e);
            }
        };
        self.own_serial_sequences(serials, Some(table.id())).await?;
        schema.register_table(resolved.table.to_string(), table.clone())?;
        let is_query = !matches!(create.input.as_ref(), LogicalPlan::EmptyRelation(e) if !e.produce_one_row);
        if !is_query {
            return Ok(done(None));
        }
        match self.insert_plan(state, &resolved, table.clone(), create.input.as_ref().clone()).await {
            Ok(rows) => Ok(done(Some(rows))),
            Err(e) => {
                // CREATE TABLE AS is one statement: no table is left behind by a failed one.
                schema.deregister_table(&resolved.table)?;
                storage.drop_table(&resolved.schema, &resolved.table, table.id()).await?;
                self.own_serial_sequences(serials, None).await?;
                Err(e)
            }
        }
    }

    /// `CREATE TEMPORARY TABLE [AS]`: a managed table only this session sees.
    async fn create_temp_table(&self, state: &SessionState, create: &CreateMemoryTable, serials: &[SerialSequence], resolved: &ResolvedTableReference) -> Result<Outcome> {
        let done = |rows: Option<usize>| Outcome::Done { tag: if rows.is_some() { "SELECT" } else { "CREATE TABLE" }.to_string(), rows, oid: None };
        if self.temp_tables().get(&resolved.table).is_some() {
            return if create.if_not_exists { Ok(done(None)) } else { Err(ServerError::DuplicateTable { name: resolved.table.to_string() }) };
        }
        let columns = table_columns(create)?;
        self.create_serial_sequences(serials).await?;
        let table = self.engine().storage().create_temp_table(&resolved.table, Arc::new(columns), &create.column_defaults, &self.user());
        self.own_serial_sequences(serials, Some(table.id())).await?;
        self.temp_tables().insert(&resolved.table, table.clone());
        if matches!(create.input.as_ref(), LogicalPlan::EmptyRelation(e) if !e.produce_one_row) {
            return Ok(done(None));
        }
        match self.insert_plan(state, resolved, table.clone(), create.input.as_ref().clone()).await {
            Ok(rows) => Ok(done(Some(rows))),
            Err(e) => {
                self.temp_tables().remove(&resolved.table);
                self.own_serial_sequences(serials, None).await?;
                Err(e)
            }
        }
    }

    /// `DROP TABLE` of a managed table; `None` when `drop` names something else.
    pub(crate) async fn drop_managed_table(&self, state: &SessionState, drop: &DropTable) -> Result<Option<Outcome>> {
        let resolved = self.resolve(state, &drop.name);
        let Ok(schema) = self.schema_of(&resolved) else {
            return Ok(None);
        };
        let Some(provider) = schema.table(&resolved.table).await? else {
            return Ok(None);
        };
        let Some(managed) = provider.downcast_ref::<ManagedTable>() else {
            return Ok(None);
        };
        let done = Outcome::Done { tag: "DROP TABLE".to_string(), rows: None, oid: None };
        if managed.is_temporary() {
            self.temp_tables().remove(&resolved.table);
            let (sequences, id) = (self.engine().sequences().clone(), managed.id());
            tokio::task::spawn_blocking(move || sequences.drop_owned(id)).await.map_err(|e| ServerError::io("catalog writer", std::io::Error::other(e)))??;
            return Ok(Some(done));
        }
        self.engine().storage().drop_table(&resolved.schema, &resolved.table, managed.id()).await?;
        schema.deregister_table(&resolved.table)?;
        // The sequences of its serial columns go with it, as in PostgreSQL.
        let (sequences, id) = (self.engine().sequences().clone(), managed.id());
        tokio::task::spawn_blocking(move || sequences.drop_owned(id)).await.map_err(|e| ServerError::io("catalog writer", std::io::Error::other(e)))??;
        Ok(Some(done))
    }

    /// `VACUUM [table]`: merge the small files of the managed table, or of every one.
    pub(crate) async fn vacuum(&self, table: Option<Vec<String>>) -> Result<Outcome> {
        if self.writes().in_block() {
            return Err(ServerError::ActiveTransaction { command: "VACUUM".to_string() });
        }
        let state = self.snapshot();
        let options = &state.config().options().catalog;
        let catalog = self.context().catalog(&options.default_catalog).ok_or_else(|| ServerError::UndefinedSchema { name: options.default_catalog.clone() })?;
        let mut tables: Vec<Arc<dyn datafusion::catalog::TableProvider>> = Vec::new();
        match table {
            Some(parts) => {
                let (schema, name) = match parts.as_slice() {
                    [.., schema, name] => (schema.clone(), name.clone()),
                    [name] => (options.default_schema.clone(), name.clone()),
                    [] => return Err(ServerError::UndefinedTable { name: String::new() }),
                };
                let provider = match catalog.schema(&schema) {
                    Some(s) => s.table(&name).await?,
                    None => None,
                };
                tables.push(provider.ok_or(ServerError::UndefinedTable { name })?);
            }
            None => {
                for schema in catalog.schema_names().iter().filter_map(|s| catalog.schema(s)) {
                    for name in schema.table_names() {
                        tables.extend(schema.table(&name).await?);
                    }
                }
            }
        }
        for provider in tables {
            if let Some(managed) = provider.downcast_ref::<ManagedTable>() {
                let done = managed.compact().await?;
                if done.merged > 0 {
                    tracing::info!(table = managed.name(), files = done.merged, rows = done.rows, "vacuum merged small files");
                }
            }
        }
        Ok(Outcome::Done { tag: "VACUUM".to_string(), rows: None, oid: None })
    }

    /// `TRUNCATE` of a managed table; `None` when `dml` truncates something else.
    pub(crate) async fn truncate_managed_table(&self, dml: &DmlStatement) -> Result<Option<Outcome>> {
        let Some(source) = dml.target.downcast_ref::<DefaultTableSource>() else {
            return Ok(None);
        };
        let Some(table) = source.table_provider.downcast_ref::<ManagedTable>() else {
            return Ok(None);
        };
        table.truncate(self.writes()).await?;
        Ok(Some(Outcome::Done { tag: "TRUNCATE TABLE".to_string(), rows: None, oid: None }))
    }

    /// Run `INSERT INTO table <input>`; the number of rows written.
    async fn insert_plan(&self, state: &SessionState, name: &ResolvedTableReference, table: Arc<ManagedTable>, input: LogicalPlan) -> Result<usize> {
        let plan = LogicalPlanBuilder::insert_into(input, name.clone(), provider_as_source(table), InsertOp::Append)?.build()?;
        let physical = planning::plan(planning::off_runtime(), state.create_physical_plan(&plan)).await?;
        let stream = datafusion::physical_plan::execute_stream(physical, state.task_ctx())?;
        let (_, batches) = collect_stream(stream).await?;
        Ok(count_rows(&batches))
    }

    fn resolve(&self, state: &SessionState, name: &datafusion::common::TableReference) -> ResolvedTableReference {
        let options = &state.config().options().catalog;
        name.clone().resolve(&options.default_catalog, &options.default_schema)
    }

    fn schema_of(&self, name: &ResolvedTableReference) -> Result<Arc<dyn SchemaProvider>> {
        self.context()
            .catalog(&name.catalog)
            .and_then(|c| c.schema(&name.schema))
            .ok_or_else(|| ServerError::UndefinedSchema { name: name.schema.to_string() })
    }
}
