//! PostgreSQL's answers for DDL on relations and schemas that do or do not exist, checked
//! before DataFusion runs the statement: typed errors with PostgreSQL's SQLSTATE and message
//! (`relation "t" already exists`, 42P07) rather than DataFusion's text, classified by
//! wording.

use datafusion::catalog::SchemaProvider;
use datafusion::common::TableReference;
use datafusion::datasource::TableType;
use datafusion::execution::SessionState;
use datafusion::logical_expr::DdlStatement;
use std::sync::Arc;

use crate::error::{Result, ServerError};
use crate::session::Session;

/// Qualify the relation names of `ddl` with the statement's default catalog and schema.
pub(crate) fn qualify(state: &SessionState, ddl: &mut DdlStatement) {
    let options = &state.config().options().catalog;
    let name = match ddl {
        DdlStatement::CreateExternalTable(c) => &mut c.name,
        DdlStatement::CreateView(v) => &mut v.name,
        DdlStatement::CreateMemoryTable(c) => &mut c.name,
        DdlStatement::DropTable(d) => &mut d.name,
        DdlStatement::DropView(d) => &mut d.name,
        _ => return,
    };
    let resolved = name.clone().resolve(&options.default_catalog, &options.default_schema);
    *name = TableReference::full(resolved.catalog, resolved.schema, resolved.table);
}

impl Session {
    /// Refuse `ddl` as PostgreSQL would, given what exists now.
    pub(crate) async fn check_ddl(&self, state: &SessionState, ddl: &DdlStatement) -> Result<()> {
        match ddl {
            DdlStatement::CreateExternalTable(c) if !c.if_not_exists && !c.or_replace => self.refuse_existing(state, &c.name),
            DdlStatement::CreateView(v) if !v.or_replace => self.refuse_existing(state, &v.name),
            DdlStatement::DropTable(d) if !d.if_exists => self.require_existing(state, &d.name, TableType::Base).await,
            DdlStatement::DropView(d) if !d.if_exists => self.require_existing(state, &d.name, TableType::View).await,
            DdlStatement::CreateCatalogSchema(s) if !s.if_not_exists => {
                let name = s.schema_name.rsplit('.').next().unwrap_or(&s.schema_name);
                match self.schema(state, None, name) {
                    Some(_) => Err(ServerError::DuplicateSchema { name: name.to_string() }),
                    None => Ok(()),
                }
            }
            DdlStatement::DropCatalogSchema(d) if !d.if_exists => {
                let name = d.name.schema_name();
                match self.schema(state, None, name) {
                    Some(_) => Ok(()),
                    None => Err(ServerError::UndefinedSchema { name: name.to_string() }),
                }
            }
            _ => Ok(()),
        }
    }

    fn schema(&self, state: &SessionState, catalog: Option<&str>, schema: &str) -> Option<Arc<dyn SchemaProvider>> {
        let default = &state.config().options().catalog.default_catalog;
        self.context().catalog(catalog.unwrap_or(default))?.schema(schema)
    }

    /// The relation's schema (which must exist) and its own name.
    fn locate(&self, state: &SessionState, name: &TableReference) -> Result<(Arc<dyn SchemaProvider>, String)> {
        let options = state.config().options();
        let resolved = name.clone().resolve(&options.catalog.default_catalog, &options.catalog.default_schema);
        match self.schema(state, Some(&resolved.catalog), &resolved.schema) {
            Some(schema) => Ok((schema, resolved.table.to_string())),
            None => Err(ServerError::UndefinedSchema { name: resolved.schema.to_string() }),
        }
    }

    fn refuse_existing(&self, state: &SessionState, name: &TableReference) -> Result<()> {
        let (schema, table) = self.locate(state, name)?;
        if schema.table_exist(&table) {
            return Err(ServerError::DuplicateTable { name: table });
        }
        Ok(())
    }

    async fn require_existing(&self, state: &SessionState, name: &TableReference, kind: TableType) -> Result<()> {
        let (schema, table) = self.locate(state, name)?;
        match schema.table(&table).await? {
            None => Err(ServerError::UndefinedTable { name: table }),
            Some(found) if found.table_type() == TableType::View && kind == TableType::Base => {
                Err(ServerError::WrongObjectType { name: table, expected: "table" })
            }
            Some(found) if found.table_type() != TableType::View && kind == TableType::View => {
                Err(ServerError::WrongObjectType { name: table, expected: "view" })
            }
            Some(_) => Ok(()),
        }
    }
}
