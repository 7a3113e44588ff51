//! PostgreSQL's `pg_catalog` schema and the catalog functions clients call.
//!
//! The tables come from `datafusion-pg-catalog` (datafusion-postgres): static rows for
//! PostgreSQL's own objects (`pg_type`, `pg_proc`, `pg_am`, `pg_range`, ... exported from a
//! real PostgreSQL by that project's checked-in script) and live rows for Ember's objects
//! (`pg_namespace`, `pg_class`, `pg_attribute`, `pg_database`) read from the shared
//! DataFusion catalog. Ember builds the schema **once per engine**, so the OIDs it hands
//! out for tables and schemas stay the same across queries and sessions, and registers
//! the functions per session ([`register_functions`]); [`functions`] adds what the crate
//! lacks (`version()`, `current_setting`, `set_config`, `obj_description`, ...).
//! [`overrides`] replaces tables whose rows Ember knows better (`pg_settings`).

/// `TableProvider` for a `pg_catalog` table whose rows are computed from other tables: the
/// type is `Clone` (cheap: it holds `Arc`s), has a `schema: SchemaRef` field and an
/// `async fn scan_rows(&self, &dyn Session) -> Result<Vec<RecordBatch>>`. The rows are
/// computed when the plan *runs* (a DataFusion streaming table of one partition), never
/// while it is built, so planning an introspection query reads nothing. `$kind` is the
/// table type PostgreSQL gives the relation (`Base` for catalog tables, `View` for views).
macro_rules! computed_view {
    ($ty:ty, $kind:ident) => {
        impl datafusion::physical_plan::streaming::PartitionStream for $ty {
            fn schema(&self) -> &datafusion::arrow::datatypes::SchemaRef {
                &self.schema
            }

            fn execute(
                &self,
                ctx: std::sync::Arc<datafusion::execution::TaskContext>,
            ) -> datafusion::execution::SendableRecordBatchStream {
                let this = self.clone();
                $crate::pg_catalog::stream_rows(self.schema.clone(), ctx, move |state| async move { this.scan_rows(&state).await })
            }
        }

        #[async_trait::async_trait]
        impl datafusion::datasource::TableProvider for $ty {
            fn schema(&self) -> datafusion::arrow::datatypes::SchemaRef {
                self.schema.clone()
            }

            fn table_type(&self) -> datafusion::datasource::TableType {
                datafusion::datasource::TableType::$kind
            }

            async fn scan(
                &self,
                state: &dyn datafusion::catalog::Session,
                projection: Option<&Vec<usize>>,
                filters: &[datafusion::logical_expr::Expr],
                limit: Option<usize>,
            ) -> datafusion::error::Result<std::sync::Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
                let partition: std::sync::Arc<dyn datafusion::physical_plan::streaming::PartitionStream> = std::sync::Arc::new(self.clone());
                let table = datafusion::catalog::streaming::StreamingTable::try_new(self.schema.clone(), vec![partition])?;
                datafusion::datasource::TableProvider::scan(&table, state, projection, filters, limit).await
            }
        }
    };
}

pub mod compat;
pub mod format;
pub mod functions;
pub mod information_schema;
pub mod overrides;
pub mod patch;
pub mod relations;
pub mod signatures;
pub mod to_char;
pub mod type_of;
pub mod user_functions;

use std::sync::Arc;

use datafusion::catalog::{CatalogProvider, CatalogProviderList, SchemaProvider};
use datafusion::prelude::SessionContext;
use datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use datafusion_pg_catalog::pg_catalog::{
    PgCatalogSchemaProvider, PgCatalogStaticTables, array_bounds_udf, create_current_database_udf,
    create_current_schema_udf, create_pg_backend_pid_udf, create_pg_encoding_to_char_udf,
    create_pg_get_constraintdef, create_pg_get_partition_ancestors_udf, create_pg_get_partkeydef_udf,
    create_pg_get_statisticsobjdef_columns_udf, create_pg_get_userbyid_udf, create_pg_relation_is_publishable_udf,
    create_pg_relation_size_udf, create_pg_stat_get_numscans, create_pg_table_is_visible,
    create_pg_total_relation_size_udf, format_type, generate_series_arg_coercion::CoerceIntArgsToBigInt,
    has_privilege_udf, pg_get_expr_udf, quote_ident_udf,
};

use crate::Result;
use crate::config::DEFAULT_CATALOG;
pub use functions::SessionInfo;

/// The rows of a computed catalog table as a stream: `rows` runs when the stream is first
/// polled, with a session state made from the task's configuration and runtime. Each batch
/// must fit the table's schema (as a `MemTable` checks).
pub(crate) fn stream_rows<F, Fut>(
    schema: datafusion::arrow::datatypes::SchemaRef,
    ctx: Arc<datafusion::execution::TaskContext>,
    rows: F,
) -> datafusion::execution::SendableRecordBatchStream
where
    F: FnOnce(datafusion::execution::SessionState) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = datafusion::error::Result<Vec<datafusion::arrow::record_batch::RecordBatch>>> + Send + 'static,
{
    use futures::{StreamExt, TryStreamExt};
    let table_schema = schema.clone();
    let batches = futures::stream::once(async move {
        let state = datafusion::execution::SessionStateBuilder::new()
            .with_config(ctx.session_config().clone())
            .with_runtime_env(ctx.runtime_env())
            .build();
        rows(state).await.map(|batches| futures::stream::iter(batches.into_iter().map(Ok)))
    })
    .try_flatten()
    .map(move |batch| batch.and_then(|b| Ok(b.with_schema(table_schema.clone())?)));
    Box::pin(datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(schema, batches))
}

/// The schema name clients query.
pub const PG_CATALOG: &str = "pg_catalog";

/// The `pg_catalog` schema of one engine; shared by every session.
#[derive(Debug, Clone)]
pub struct PgCatalog {
    static_tables: Arc<PgCatalogStaticTables>,
    schema: Arc<dyn SchemaProvider>,
    signatures: signatures::Signatures,
}

impl PgCatalog {
    /// Build the schema over `catalogs` (Ember's shared catalog list). `settings` are the
    /// rows of `pg_settings`: (name, default value, short description).
    pub fn new(
        catalogs: Arc<dyn CatalogProviderList>,
        settings: Vec<overrides::SettingRow>,
        user_functions: user_functions::UserFunctionSource,
    ) -> Result<Self> {
        let static_tables = Arc::new(PgCatalogStaticTables::try_new()?);
        let signatures = signatures::Signatures::new(static_tables.pg_proc.data(), user_functions.clone())?;
        let inner = PgCatalogSchemaProvider::try_new(catalogs.clone(), static_tables.clone(), EmptyContextProvider)?;
        let schema: Arc<dyn SchemaProvider> = Arc::new(overrides::EmberPgCatalog::new(Arc::new(inner), catalogs, settings, user_functions));
        Ok(Self { static_tables, schema, signatures })
    }

    /// Make `pg_catalog` a schema of `catalog` (Ember's one database).
    pub fn register_schema(&self, catalog: &dyn CatalogProvider) -> Result<()> {
        catalog.register_schema(PG_CATALOG, self.schema.clone())?;
        Ok(())
    }

    /// Register the catalog functions in one session's context.
    pub fn register_functions(&self, ctx: &SessionContext, session: Arc<dyn SessionInfo>) {
        ctx.register_udf(create_current_database_udf(DEFAULT_CATALOG));
        ctx.register_udf(create_current_schema_udf());
        ctx.register_udf(create_pg_get_userbyid_udf());
        for name in ["has_table_privilege", "has_schema_privilege", "has_database_privilege", "has_any_column_privilege"] {
            ctx.register_udf(has_privilege_udf::create_has_privilege_udf(name));
        }
        ctx.register_udf(create_pg_table_is_visible());
        ctx.register_udf(format_type::create_format_type_udf());
        ctx.register_udtf("pg_get_keywords", self.static_tables.pg_get_keywords.clone());
        ctx.register_udf(pg_get_expr_udf::create_pg_get_expr_udf());
        ctx.register_udf(create_pg_get_partkeydef_udf());
        ctx.register_udf(create_pg_relation_is_publishable_udf());
        ctx.register_udf(create_pg_get_statisticsobjdef_columns_udf());
        ctx.register_udf(create_pg_encoding_to_char_udf());
        ctx.register_udf(create_pg_backend_pid_udf());
        ctx.register_udf(create_pg_relation_size_udf());
        ctx.register_udf(create_pg_total_relation_size_udf());
        ctx.register_udf(create_pg_stat_get_numscans());
        ctx.register_udf(create_pg_get_constraintdef());
        ctx.register_udf(create_pg_get_partition_ancestors_udf());
        ctx.register_udf(quote_ident_udf::create_quote_ident_udf());
        ctx.register_udf(quote_ident_udf::create_parse_ident_udf());
        ctx.register_udf(array_bounds_udf::create_array_upper_udf());
        ctx.register_udf(array_bounds_udf::create_array_lower_udf());
        ctx.state_ref().write().config_mut().set_extension(Arc::new(overrides::SessionExtension(session.clone())));
        functions::register(ctx, session);
        for udf in self.signatures.udfs() {
            ctx.register_udf(udf);
        }
        // generate_series/range over int4 bounds (array_upper(...)), as psql's \d uses.
        CoerceIntArgsToBigInt::widen(ctx);
    }
}
