//! Ember's `pg_catalog` on top of datafusion-pg-catalog's: tables whose rows Ember knows
//! better than the crate are answered here, everything else is delegated.
//!
//! - `pg_settings`: one row per setting of Ember's registry (the crate has a single row),
//!   with the querying session's values.
//! - `pg_attribute`, `pg_class`: the crate's rows, corrected (see [`super::patch`]).
//!
//! - `pg_tables`, `pg_views`: views over `pg_class` (see [`super::relations`]).
//! - `pg_proc`: PostgreSQL's built-in functions (the crate's static rows), then the user's
//!   functions from the source handed to [`EmberPgCatalog::new`] (see [`super::user_functions`]).

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, BooleanArray, Int32Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{CatalogProviderList, SchemaProvider, Session};

use super::patch::{Patch, Patched};
use super::relations::{RelationList, RelationView};
use super::user_functions::{UserFunctionSource, WithUserFunctions};
use datafusion::datasource::TableProvider;
use datafusion::error::Result;

/// One row of `pg_settings`.
#[derive(Debug, Clone)]
pub struct SettingRow {
    pub name: String,
    pub setting: String,
    /// `internal` for read-only server facts, `user` for settings a session may change.
    pub context: &'static str,
}

/// The `pg_catalog` schema provider Ember registers.
pub struct EmberPgCatalog {
    inner: Arc<dyn SchemaProvider>,
    catalogs: Arc<dyn CatalogProviderList>,
    settings: Arc<[SettingRow]>,
    user_functions: UserFunctionSource,
}

impl std::fmt::Debug for EmberPgCatalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmberPgCatalog").field("settings", &self.settings.len()).finish_non_exhaustive()
    }
}

impl EmberPgCatalog {
    pub fn new(
        inner: Arc<dyn SchemaProvider>,
        catalogs: Arc<dyn CatalogProviderList>,
        settings: Vec<SettingRow>,
        user_functions: UserFunctionSource,
    ) -> Self {
        Self { inner, catalogs, settings: settings.into(), user_functions }
    }

    async fn pg_proc(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let (Some(inner), Some(namespaces)) = (self.inner.table(name).await?, self.inner.table("pg_namespace").await?) else {
            return self.inner.table(name).await;
        };
        let with_user = Arc::new(WithUserFunctions::new(inner, namespaces, self.user_functions.clone()));
        // Array columns in PostgreSQL (pgcli's casing query unnests proargnames).
        let patch = Patch::ListColumns(&["proargnames", "proargmodes", "proconfig", "proacl"]);
        Ok(Some(Arc::new(Patched::new(patch, with_user, self.inner.clone(), self.catalogs.clone()))))
    }

    async fn patched(&self, name: &str, patch: Patch) -> Result<Option<Arc<dyn TableProvider>>> {
        let Some(inner) = self.inner.table(name).await? else { return Ok(None) };
        Ok(Some(Arc::new(Patched::new(patch, inner, self.inner.clone(), self.catalogs.clone()))))
    }

    /// `pg_tables` / `pg_views` over `pg_class` (see [`super::relations`]).
    async fn relations(&self, view: RelationView) -> Result<Option<Arc<dyn TableProvider>>> {
        let (Some(pg_class), Some(pg_namespace)) = (self.inner.table("pg_class").await?, self.inner.table("pg_namespace").await?) else {
            return Ok(None);
        };
        Ok(Some(Arc::new(RelationList::new(view, pg_class, pg_namespace, self.catalogs.clone()))))
    }

    fn pg_settings(&self) -> Arc<dyn TableProvider> {
        Arc::new(SettingsTable { rows: self.settings.clone(), schema: settings_schema() })
    }
}

/// The session a query runs in, for catalog tables whose rows depend on it (`pg_settings`);
/// stored in each session's DataFusion config by [`super::PgCatalog::register_functions`].
#[derive(Debug)]
pub struct SessionExtension(pub Arc<dyn super::SessionInfo>);

fn settings_schema() -> SchemaRef {
    let text = |name: &str| Field::new(name, DataType::Utf8, true);
    Arc::new(Schema::new(vec![
        text("name"),
        text("setting"),
        text("unit"),
        text("category"),
        text("short_desc"),
        text("extra_desc"),
        text("context"),
        text("vartype"),
        text("source"),
        text("min_val"),
        text("max_val"),
        text("enumvals"),
        text("boot_val"),
        text("reset_val"),
        text("sourcefile"),
        Field::new("sourceline", DataType::Int32, true),
        Field::new("pending_restart", DataType::Boolean, true),
    ]))
}

/// `pg_settings`: one row per registered setting, `setting` being the value in the session
/// that queries it (`source` is `session` when it differs from the default).
#[derive(Debug, Clone)]
struct SettingsTable {
    rows: Arc<[SettingRow]>,
    schema: SchemaRef,
}

impl SettingsTable {
    async fn scan_rows(&self, state: &dyn Session) -> Result<Vec<RecordBatch>> {
        let session = state.config().get_extension::<SessionExtension>();
        Ok(vec![self.batch(session.as_ref().map(|s| s.0.as_ref()))?])
    }

    fn batch(&self, session: Option<&dyn super::SessionInfo>) -> Result<RecordBatch> {
        let rows = &self.rows;
        let current: Vec<String> =
            rows.iter().map(|r| session.and_then(|s| s.setting(&r.name)).unwrap_or_else(|| r.setting.clone())).collect();
        let col = |f: &dyn Fn(usize, &SettingRow) -> Option<String>| -> ArrayRef {
            Arc::new(rows.iter().enumerate().map(|(i, r)| f(i, r)).collect::<StringArray>())
        };
        let none = || col(&|_, _| None);
        let columns: Vec<ArrayRef> = vec![
            col(&|_, r| Some(r.name.clone())),
            col(&|i, _| Some(current[i].clone())),
            none(),
            col(&|_, _| Some("Ember".to_string())),
            none(),
            none(),
            col(&|_, r| Some(r.context.to_string())),
            col(&|_, _| Some("string".to_string())),
            col(&|i, r| Some(if current[i] == r.setting { "default" } else { "session" }.to_string())),
            none(),
            none(),
            none(),
            col(&|_, r| Some(r.setting.clone())),
            col(&|_, r| Some(r.setting.clone())),
            none(),
            Arc::new(Int32Array::from(vec![None::<i32>; rows.len()])),
            Arc::new(BooleanArray::from(vec![Some(false); rows.len()])),
        ];
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
}

computed_view!(SettingsTable, View);

#[async_trait]
impl SchemaProvider for EmberPgCatalog {
    fn table_names(&self) -> Vec<String> {
        self.inner.table_names()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        match name.to_ascii_lowercase().as_str() {
            "pg_settings" => Ok(Some(self.pg_settings())),
            "pg_attribute" => self.patched(name, Patch::Attribute).await,
            "pg_class" => self.patched(name, Patch::ListColumns(&["relacl", "reloptions"])).await,
            "pg_namespace" => self.patched(name, Patch::ListColumns(&["nspacl"])).await,
            "pg_type" => self.patched(name, Patch::Type).await,
            "pg_proc" => self.pg_proc(name).await,
            "pg_tables" => self.relations(RelationView::Tables).await,
            "pg_views" => self.relations(RelationView::Views).await,
            // Key columns are arrays in PostgreSQL (clients unnest() them); Ember has no
            // indexes or constraints, so these tables are empty either way.
            "pg_index" => self.patched(name, Patch::ListColumns(&["indkey", "indclass", "indcollation", "indoption"])).await,
            "pg_constraint" => self.patched(name, Patch::ListColumns(&["conkey", "confkey", "conpfeqop", "conppeqop", "conffeqop", "conexclop"])).await,
            _ => self.inner.table(name).await,
        }
    }

    fn table_exist(&self, name: &str) -> bool {
        self.inner.table_exist(name)
    }
}
