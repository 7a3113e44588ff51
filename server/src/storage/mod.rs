//! Managed tables: data Ember keeps itself, in the data directory.
//!
//! Layout: `<data-dir>/tables/<table id>/<millis>-<random>.parquet`, immutable files each
//! written once under a fresh name; the catalog (`catalog.db`, SQLite, [`meta`]) says which
//! files make up each table and is the single commit point. A write creates, fills and
//! syncs its file (and the directory) first and commits its catalog row after; a table
//! scan reads the files committed when it was planned. Files no catalog row names (a
//! write cut short by a crash, a dropped table's) are removed at startup by [`Storage::sweep`].
//! [`lock`] keeps a second server off the same directory.

pub mod dml;
pub mod lock;
pub mod meta;
mod sink;
pub mod table;
pub mod transaction;
pub mod vacuum;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::common::DFSchema;
use datafusion::logical_expr::Expr;
use datafusion::prelude::SessionContext;
use ring::rand::SecureRandom;

use crate::catalog::CatalogStore;
use crate::error::{Result, ServerError};
use meta::CatalogChange;
use table::ManagedTable;

/// Where managed tables live and the catalog that commits them.
#[derive(Debug)]
pub struct Storage {
    /// Absolute path of the data directory.
    data_dir: PathBuf,
    store: Arc<CatalogStore>,
    /// Held from a commit's SQLite transaction until its files are shown to new scans,
    /// so scans see commits in the catalog's order.
    commit_lock: tokio::sync::Mutex<()>,
    /// The id of the last temporary table: they count down from -1, so no catalog row
    /// ever names one.
    last_temp_id: std::sync::atomic::AtomicI64,
}

const TABLES_DIR: &str = "tables";

impl Storage {
    pub fn new(data_dir: &Path, store: Arc<CatalogStore>) -> Result<Arc<Self>> {
        let data_dir = data_dir
            .canonicalize()
            .map_err(|e| ServerError::io(format!("cannot resolve data directory {}", data_dir.display()), e))?;
        Ok(Arc::new(Self { data_dir, store, commit_lock: tokio::sync::Mutex::new(()), last_temp_id: std::sync::atomic::AtomicI64::new(0) }))
    }

    pub fn store(&self) -> &Arc<CatalogStore> {
        &self.store
    }

    /// Apply `changes` in one SQLite transaction, then `publish` them to new scans.
    /// Changes of temporary tables skip the catalog.
    pub(crate) async fn commit(&self, changes: Vec<CatalogChange>, publish: impl FnOnce()) -> Result<()> {
        let _order = self.commit_lock.lock().await;
        let durable: Vec<CatalogChange> = changes.into_iter().filter(|c| c.table() >= 0).collect();
        if !durable.is_empty() {
            let store = Arc::clone(&self.store);
            tokio::task::spawn_blocking(move || store.apply_changes(&durable)).await.map_err(transaction::catalog_writer)??;
        }
        publish();
        Ok(())
    }

    /// A new, empty temporary table: no catalog row names it, so its files are swept at
    /// the next start if its session does not remove them first.
    pub fn create_temp_table(self: &Arc<Self>, name: &str, schema: SchemaRef, defaults: &[(String, Expr)], owner: &str) -> Arc<ManagedTable> {
        let id = self.last_temp_id.fetch_sub(1, std::sync::atomic::Ordering::Relaxed) - 1;
        let defaults = defaults.iter().cloned().collect::<HashMap<_, _>>();
        Arc::new(ManagedTable::new(id, name.to_string(), schema, defaults, owner.to_string(), Vec::new(), Arc::clone(self)))
    }

    /// Delete the directory of table `id` and every file in it.
    pub(crate) fn remove_table_files(&self, id: i64) {
        let dir = self.data_dir.join(TABLES_DIR).join(id.to_string());
        if dir.is_dir()
            && let Err(e) = std::fs::remove_dir_all(&dir)
        {
            tracing::warn!("cannot remove {}: {e}", dir.display());
        }
    }

    /// The absolute path of a data file recorded as `relative`.
    pub fn absolute(&self, relative: &str) -> PathBuf {
        self.data_dir.join(relative)
    }

    /// A fresh data file name for table `id`: `(path relative to the data directory,
    /// absolute path)`. The table's directory exists (and is synced into its parent).
    pub(crate) fn new_data_file(&self, id: i64) -> Result<(String, PathBuf)> {
        let tables = self.data_dir.join(TABLES_DIR);
        let dir = tables.join(id.to_string());
        if !dir.is_dir() {
            std::fs::create_dir_all(&dir).map_err(|e| ServerError::io(format!("cannot create {}", dir.display()), e))?;
            sync_dir(&tables).map_err(|e| ServerError::io(format!("cannot sync {}", tables.display()), e))?;
            sync_dir(&self.data_dir).map_err(|e| ServerError::io(format!("cannot sync {}", self.data_dir.display()), e))?;
        }
        let mut random = [0u8; 8];
        ring::rand::SystemRandom::new()
            .fill(&mut random)
            .map_err(|_| ServerError::io("random file name", std::io::Error::other("no randomness")))?;
        let millis = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
        let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
        let name = format!("{millis}-{hex}.parquet");
        Ok((format!("{TABLES_DIR}/{id}/{name}"), dir.join(name)))
    }

    /// Record a new, empty table `schema.name` and return it (not yet registered with
    /// DataFusion's catalog; the caller does that).
    pub async fn create_table(
        self: &Arc<Self>,
        schema_name: &str,
        name: &str,
        schema: SchemaRef,
        defaults: &[(String, Expr)],
        owner: &str,
    ) -> Result<Arc<ManagedTable>> {
        let default_texts = defaults
            .iter()
            .map(|(column, expr)| Ok((column.clone(), datafusion::sql::unparser::expr_to_sql(expr)?.to_string())))
            .collect::<datafusion::error::Result<Vec<_>>>()?;
        let store = Arc::clone(&self.store);
        let (schema_name_owned, name_owned, owner_owned, table_schema) = (schema_name.to_string(), name.to_string(), owner.to_string(), Arc::clone(&schema));
        let id = blocking(move || store.create_managed_table(&schema_name_owned, &name_owned, &table_schema, &default_texts, &owner_owned)).await?;
        let defaults = defaults.iter().cloned().collect::<HashMap<_, _>>();
        Ok(Arc::new(ManagedTable::new(id, name.to_string(), schema, defaults, owner.to_string(), Vec::new(), Arc::clone(self))))
    }

    /// The committed table `id`, named `name`; `ctx` plans its column defaults.
    pub fn open_table(self: &Arc<Self>, id: i64, name: &str, ctx: &SessionContext) -> Result<Arc<ManagedTable>> {
        let (meta, files) = self.store.managed_table(id)?;
        let df_schema = DFSchema::try_from(Schema::clone(&meta.schema))?;
        let mut defaults = HashMap::new();
        for (column, text) in &meta.defaults {
            defaults.insert(column.clone(), ctx.parse_sql_expr(text, &df_schema)?);
        }
        Ok(Arc::new(ManagedTable::new(id, name.to_string(), meta.schema, defaults, meta.owner, files, Arc::clone(self))))
    }

    /// Forget table `schema.name`. Its files stay until the next start's sweep: a query
    /// planned before the drop may still be reading them.
    pub async fn drop_table(&self, schema_name: &str, name: &str, id: i64) -> Result<()> {
        let store = Arc::clone(&self.store);
        let (schema_name, name) = (schema_name.to_string(), name.to_string());
        blocking(move || store.drop_managed_table(&schema_name, &name, id)).await
    }

    /// Remove what no committed table owns: catalog rows of tables no object names any
    /// more, data files no catalog row names, empty table directories. Run at startup,
    /// before any statement. Returns how many files were removed.
    pub fn sweep(&self) -> Result<usize> {
        let live = self.store.collect_managed_garbage()?;
        let tables = self.data_dir.join(TABLES_DIR);
        let Ok(dirs) = std::fs::read_dir(&tables) else {
            return Ok(0);
        };
        let mut removed = 0;
        for dir in dirs.flatten() {
            let dir_path = dir.path();
            if !dir_path.is_dir() {
                continue;
            }
            let mut kept = 0;
            for file in std::fs::read_dir(&dir_path).map_err(|e| ServerError::io(format!("cannot list {}", dir_path.display()), e))?.flatten() {
                let relative = format!("{TABLES_DIR}/{}/{}", dir.file_name().to_string_lossy(), file.file_name().to_string_lossy());
                if live.contains(&relative) {
                    kept += 1;
                } else {
                    std::fs::remove_file(file.path()).map_err(|e| ServerError::io(format!("cannot remove {}", file.path().display()), e))?;
                    removed += 1;
                }
            }
            if kept == 0 {
                let _ = std::fs::remove_dir(&dir_path);
            }
        }
        if removed > 0 {
            sync_dir(&tables).map_err(|e| ServerError::io(format!("cannot sync {}", tables.display()), e))?;
        }
        Ok(removed)
    }
}

/// fsync a directory, so the names in it (a new file, a removed one) are durable.
pub(crate) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

async fn blocking<T: Send + 'static>(work: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(work).await.map_err(|e| ServerError::io("catalog writer", std::io::Error::other(e)))?
}
