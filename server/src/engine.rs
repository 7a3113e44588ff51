//! The engine shared by every connection: DataFusion runtime, the in-memory catalog
//! DataFusion plans against, and the persistent catalog store behind it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::catalog::{CatalogProvider, CatalogProviderList, MemoryCatalogProvider, MemoryCatalogProviderList, MemorySchemaProvider};
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::prelude::SessionContext;
use ember_planner::config::{DEFAULT_CATALOG, DEFAULT_SCHEMA, EngineOptions, runtime_env, session_config};
use ember_planner::pg_catalog::PgCatalog;

use crate::catalog::CatalogStore;
use crate::error::{Result, ServerError};
use crate::functions::Functions;
use crate::storage::Storage;
use crate::storage::lock::DataDirLock;

/// Process-wide state: one per server.
#[derive(Debug)]
pub struct Engine {
    options: EngineOptions,
    runtime: Arc<RuntimeEnv>,
    catalogs: Arc<dyn CatalogProviderList>,
    store: Arc<CatalogStore>,
    storage: Arc<Storage>,
    sequences: Arc<crate::sequences::Sequences>,
    /// Held while the server runs: no second server on this data directory.
    _lock: DataDirLock,
    functions: Arc<Functions>,
    /// `pg_catalog`, built once so its OIDs are the same for every query and session.
    pg_catalog: PgCatalog,
    /// Relative `LOCATION`s are resolved against this directory (the server's working
    /// directory at start), so a restart from elsewhere still finds the files.
    base_dir: PathBuf,
}

impl Engine {
    /// Open the data directory. The remembered tables, views and functions come back with
    /// [`crate::restore::restore`].
    pub async fn open(data_dir: &Path, options: EngineOptions, functions: Functions) -> Result<Arc<Self>> {
        let lock = DataDirLock::acquire(data_dir)?;
        let store = Arc::new(CatalogStore::open(data_dir)?);
        let storage = Storage::new(data_dir, store.clone())?;
        let sequences = crate::sequences::Sequences::load(store.clone())?;
        let swept = storage.sweep()?;
        if swept > 0 {
            tracing::info!(files = swept, "removed data files no committed table owns");
        }
        let runtime = runtime_env(&options)?;
        let catalogs: Arc<dyn CatalogProviderList> = Arc::new(MemoryCatalogProviderList::new());
        let catalog = MemoryCatalogProvider::new();
        catalog.register_schema(DEFAULT_SCHEMA, Arc::new(MemorySchemaProvider::new()))?;
        let functions = Arc::new(functions);
        let listed = functions.clone();
        let user_functions: ember_planner::pg_catalog::user_functions::UserFunctionSource = Arc::new(move || listed.listing());
        let pg_catalog = PgCatalog::new(catalogs.clone(), crate::introspection::setting_rows(), user_functions)?;
        pg_catalog.register_schema(&catalog)?;
        catalogs.register_catalog(DEFAULT_CATALOG.to_string(), Arc::new(catalog));
        let base_dir = std::env::current_dir().map_err(|e| ServerError::io("cannot read working directory", e))?;
        Ok(Arc::new(Self { options, runtime, catalogs, store, storage, sequences, _lock: lock, functions, pg_catalog, base_dir }))
    }

    pub fn options(&self) -> &EngineOptions {
        &self.options
    }

    /// The catalogs every session plans against (shared, in memory).
    pub fn catalogs(&self) -> &Arc<dyn CatalogProviderList> {
        &self.catalogs
    }

    pub fn store(&self) -> &Arc<CatalogStore> {
        &self.store
    }

    /// Managed tables: their files and the catalog rows that commit them.
    pub fn storage(&self) -> &Arc<Storage> {
        &self.storage
    }

    /// Sequences (`CREATE SEQUENCE`, serial and identity columns).
    pub fn sequences(&self) -> &Arc<crate::sequences::Sequences> {
        &self.sequences
    }

    /// Python functions: the worker pool and the persistent functions.
    pub fn functions(&self) -> &Arc<Functions> {
        &self.functions
    }

    pub fn pg_catalog(&self) -> &PgCatalog {
        &self.pg_catalog
    }

    pub fn base_dir(&self) -> &Path {
        &self.base_dir
    }

    /// A DataFusion context for one session: its own settings, the shared catalog and runtime.
    /// `temp`: the session's temporary tables, seen in front of every schema.
    pub fn new_context(&self, temp: Option<Arc<crate::temp_tables::TempTables>>) -> SessionContext {
        let config = session_config(&self.options).with_create_default_catalog_and_schema(false);
        let catalogs: Arc<dyn CatalogProviderList> = match temp {
            Some(temp) => Arc::new(crate::temp_tables::SessionCatalogs::new(self.catalogs.clone(), temp)),
            None => self.catalogs.clone(),
        };
        let builder = SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(self.runtime.clone())
            .with_catalog_list(catalogs)
            .with_default_features()
            .with_type_planner(Arc::new(ember_planner::types::PgTypePlanner))
            .with_analyzer_rules(ember_planner::bool_literals::analyzer_rules())
            // After type coercion: text cast to bytea/interval uses PostgreSQL's input.
            .with_analyzer_rule(Arc::new(ember_planner::pg_input::PgTextInput))
            .with_optimizer_rules(ember_planner::optimizer_rules::optimizer_rules());
        // PostgreSQL's EXTRACT, date_part and datetime operators.
        let builder = ember_planner::pg_planners::install(builder);
        // Every rule stops at once when its statement is cancelled or times out.
        let state = crate::statement::planning::interruptible(builder).build();
        let ctx = SessionContext::new_with_state(state);
        for function in self.sequences.functions() {
            ctx.register_udf(function);
        }
        if self.options.test_functions {
            ctx.register_udf(crate::panics::TestPanic::udf());
        }
        ctx
    }
}
