//! Temporary tables: `CREATE TEMP TABLE` makes a managed table that only its session sees
//! and that the catalog never records. Its files live beside the others (under a negative
//! table id, which no catalog row names), its writes go through the same sink, transaction
//! block and `UPDATE`/`DELETE` paths, and its commits skip SQLite. The session drops it at
//! its end; after a crash, the startup sweep removes its files as any unnamed file.
//!
//! The session sees its temporary tables through an overlay of the shared catalogs: every
//! schema of the session's context first looks a name up among them (as PostgreSQL's
//! `pg_temp` schema comes first in every `search_path`), and `pg_temp.name` names one too.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use datafusion::catalog::{CatalogProvider, CatalogProviderList, SchemaProvider, TableProvider};
use datafusion::error::Result;

use crate::storage::table::ManagedTable;

/// The name `pg_temp.t` reaches a temporary table by.
pub const TEMP_SCHEMA: &str = "pg_temp";

/// One session's temporary tables, by name.
#[derive(Debug, Default)]
pub struct TempTables {
    tables: Mutex<HashMap<String, Arc<ManagedTable>>>,
}

impl TempTables {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<ManagedTable>>> {
        self.tables.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, name: &str) -> Option<Arc<ManagedTable>> {
        self.lock().get(name).cloned()
    }

    pub fn insert(&self, name: &str, table: Arc<ManagedTable>) {
        self.lock().insert(name.to_string(), table);
    }

    /// Forget temporary table `name` and delete its files.
    pub fn remove(&self, name: &str) -> Option<Arc<ManagedTable>> {
        let removed = self.lock().remove(name);
        if let Some(table) = &removed {
            table.remove_files();
        }
        removed
    }
}

impl Drop for TempTables {
    /// The session ended: its temporary tables go, files and all.
    fn drop(&mut self) {
        for table in self.lock().values() {
            table.remove_files();
        }
    }
}

/// The shared catalogs as one session sees them: with its temporary tables.
#[derive(Debug)]
pub struct SessionCatalogs {
    inner: Arc<dyn CatalogProviderList>,
    temp: Arc<TempTables>,
}

impl SessionCatalogs {
    pub fn new(inner: Arc<dyn CatalogProviderList>, temp: Arc<TempTables>) -> Self {
        Self { inner, temp }
    }
}

impl CatalogProviderList for SessionCatalogs {
    fn register_catalog(&self, name: String, catalog: Arc<dyn CatalogProvider>) -> Option<Arc<dyn CatalogProvider>> {
        self.inner.register_catalog(name, catalog)
    }

    fn catalog_names(&self) -> Vec<String> {
        self.inner.catalog_names()
    }

    fn catalog(&self, name: &str) -> Option<Arc<dyn CatalogProvider>> {
        let inner = self.inner.catalog(name)?;
        Some(Arc::new(SessionCatalog { inner, temp: Arc::clone(&self.temp) }))
    }
}

#[derive(Debug)]
struct SessionCatalog {
    inner: Arc<dyn CatalogProvider>,
    temp: Arc<TempTables>,
}

impl CatalogProvider for SessionCatalog {
    fn schema_names(&self) -> Vec<String> {
        self.inner.schema_names()
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        let inner = match self.inner.schema(name) {
            Some(inner) => Some(inner),
            None if name == TEMP_SCHEMA => None,
            None => return None,
        };
        Some(Arc::new(SessionSchema { inner, temp: Arc::clone(&self.temp) }))
    }

    fn register_schema(&self, name: &str, schema: Arc<dyn SchemaProvider>) -> Result<Option<Arc<dyn SchemaProvider>>> {
        self.inner.register_schema(name, schema)
    }

    fn deregister_schema(&self, name: &str, cascade: bool) -> Result<Option<Arc<dyn SchemaProvider>>> {
        self.inner.deregister_schema(name, cascade)
    }
}

/// A schema with the session's temporary tables in front (`inner` is `None` for `pg_temp`).
#[derive(Debug)]
struct SessionSchema {
    inner: Option<Arc<dyn SchemaProvider>>,
    temp: Arc<TempTables>,
}

#[async_trait]
impl SchemaProvider for SessionSchema {
    fn table_names(&self) -> Vec<String> {
        self.inner.as_ref().map(|s| s.table_names()).unwrap_or_default()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if let Some(table) = self.temp.get(name) {
            return Ok(Some(table));
        }
        match &self.inner {
            Some(inner) => inner.table(name).await,
            None => Ok(None),
        }
    }

    fn register_table(&self, name: String, table: Arc<dyn TableProvider>) -> Result<Option<Arc<dyn TableProvider>>> {
        match &self.inner {
            Some(inner) => inner.register_table(name, table),
            None => datafusion::common::plan_err!("only CREATE TEMPORARY TABLE makes tables in {TEMP_SCHEMA}"),
        }
    }

    fn deregister_table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if let Some(table) = self.temp.remove(name) {
            return Ok(Some(table));
        }
        match &self.inner {
            Some(inner) => inner.deregister_table(name),
            None => Ok(None),
        }
    }

    fn table_exist(&self, name: &str) -> bool {
        self.temp.get(name).is_some() || self.inner.as_ref().is_some_and(|s| s.table_exist(name))
    }
}
