//! `ALTER TABLE | VIEW [IF EXISTS] name RENAME TO new_name` for a session: the relation
//! moves to its new name in the shared DataFusion catalog and, in place, in the persistent
//! catalog (keeping its position in creation order), so it comes back under the new name
//! after a restart. dbt's view and table materializations swap relations this way.

use datafusion::datasource::TableType;
use ember_planner::alter::{RelationKind, RenameSpec, rename_in_ddl};
use ember_planner::config::{DEFAULT_CATALOG, DEFAULT_SCHEMA};
use ember_planner::pg_catalog::PG_CATALOG;

use crate::catalog::ObjectKind;
use crate::error::{Result, ServerError};
use crate::session::{Outcome, Session};
use crate::storage::table::ManagedTable;

impl Session {
    pub(crate) async fn rename(&self, spec: RenameSpec) -> Result<Outcome> {
        let done = Outcome::Done { tag: spec.kind.tag().to_string(), rows: None, oid: None };
        let resolved = spec.name.clone().resolve(DEFAULT_CATALOG, DEFAULT_SCHEMA);
        let (schema_name, table_name) = (resolved.schema.to_string(), resolved.table.to_string());
        let Some(schema) = self.context().catalog(&resolved.catalog).and_then(|c| c.schema(&schema_name)) else {
            return if spec.if_exists { Ok(done) } else { Err(ServerError::UndefinedSchema { name: schema_name }) };
        };
        let Some(table) = schema.table(&table_name).await? else {
            return if spec.if_exists { Ok(done) } else { Err(ServerError::UndefinedTable { name: table_name }) };
        };
        if schema_name == PG_CATALOG || schema_name == "information_schema" {
            return Err(ServerError::InsufficientPrivilege { message: format!("\"{table_name}\" is a system catalog") });
        }
        let is_view = table.table_type() == TableType::View;
        if spec.kind == RelationKind::View && !is_view {
            return Err(ServerError::WrongObjectType { name: table_name, expected: "view" });
        }
        if schema.table_exist(&spec.new_name) {
            return Err(ServerError::DuplicateTable { name: spec.new_name });
        }
        // A managed table keeps its id (and its files); only its name changes.
        let managed = table.downcast_ref::<ManagedTable>().map(|m| m.renamed(&spec.new_name));
        // The persistent catalog first: if it cannot be written, nothing changed.
        let kind = if is_view {
            ObjectKind::View
        } else if managed.is_some() {
            ObjectKind::ManagedTable
        } else {
            ObjectKind::Table
        };
        let store = self.engine().store().clone();
        let (schema_key, old, new) = (schema_name.clone(), table_name.clone(), spec.new_name.clone());
        tokio::task::spawn_blocking(move || -> Result<()> {
            if store.get(kind, &schema_key, &new)?.is_some() {
                // Kept in the store but not restored (its files are missing): still taken.
                return Err(ServerError::DuplicateTable { name: new });
            }
            if let Some(object) = store.get(kind, &schema_key, &old)? {
                let ddl = if kind == ObjectKind::ManagedTable { object.ddl.clone() } else { rename_in_ddl(&object.ddl, &new)? };
                store.rename(kind, &schema_key, &old, &new, &ddl)?;
            }
            Ok(())
        })
        .await
        .map_err(|e| ServerError::io("catalog writer", std::io::Error::other(e)))??;
        schema.deregister_table(&table_name)?;
        let table = match managed {
            Some(renamed) => std::sync::Arc::new(renamed) as std::sync::Arc<dyn datafusion::datasource::TableProvider>,
            None => table,
        };
        schema.register_table(spec.new_name, table)?;
        Ok(done)
    }
}
