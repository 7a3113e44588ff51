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
        // The persistent catalog first: if it cannot be written, nothing changed.
        let kind = if is_view { ObjectKind::View } else { ObjectKind::Table };
        let store = self.engine().store().clone();
        let (schema_key, old, new) = (schema_name.clone(), table_name.clone(), spec.new_name.clone());
        tokio::task::spawn_blocking(move || -> Result<()> {
            if store.get(kind, &schema_key, &new)?.is_some() {
                // Kept in the store but not restored (its files are missing): still taken.
                return Err(ServerError::DuplicateTable { name: new });
            }
            if let Some(object) = store.get(kind, &schema_key, &old)? {
                store.rename(kind, &schema_key, &old, &new, &rename_in_ddl(&object.ddl, &new)?)?;
            }
            Ok(())
        })
        .await
        .map_err(|e| ServerError::io("catalog writer", std::io::Error::other(e)))??;
        schema.deregister_table(&table_name)?;
        schema.register_table(spec.new_name, table)?;
        Ok(done)
    }
}
