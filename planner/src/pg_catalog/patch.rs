//! Corrections to datafusion-pg-catalog's live tables, applied to their rows at scan time.
//!
//! - `pg_attribute`: `atttypid` is the type Ember's wire layer really sends for the column
//!   (the crate falls back to `text` for many Arrow types and ignores `uuid`/`json` tags),
//!   `atttypmod` carries numeric precision and scale (so `\d` shows `numeric(15,2)`), and
//!   `attndims` is 1 for list columns.
//! - `pg_class`: the `relacl` and `reloptions` columns clients select (always NULL here).
//! - `pg_type`: the `regproc` columns (`typinput`, `typreceive`, ...) are function OIDs, as
//!   in PostgreSQL, not names — clients join them to `pg_proc.oid` (Npgsql finds array types
//!   by `typreceive = array_recv`).

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, Int32Array, RecordBatch, new_null_array};
use datafusion::arrow::datatypes::{DataType, Field, Int16Type, Int32Type, Schema, SchemaRef};
use datafusion::catalog::{CatalogProviderList, SchemaProvider, Session};
use datafusion::datasource::TableProvider;
use datafusion::error::{DataFusionError, Result};
use datafusion::physical_plan::{ExecutionPlan, collect};

use crate::config::DEFAULT_CATALOG;
use crate::types::PG_TYPE_KEY;

/// Which table is patched.
#[derive(Debug, Clone, Copy)]
pub enum Patch {
    Attribute,
    /// Array columns clients pass to array functions (`relacl`, `reloptions`, `nspacl`,
    /// `pg_index.indkey`, ...): added when the crate lacks them, made arrays of their
    /// PostgreSQL element type ([`list_item_type`]) when it has them as text. Ember keeps no
    /// ACLs, options, indexes or constraints, so they are NULL.
    ListColumns(&'static [&'static str]),
    Type,
}

/// The element type of a patched array column: `int2vector` columns (attribute numbers and
/// index options) are `int2[]`, `oidvector` and operator lists are `oid[]`, ACLs and options
/// are `text[]` — so `i.indoption[k] & 1` and `attnum = ANY(conkey)` type-check as in PostgreSQL.
fn list_item_type(column: &str) -> DataType {
    match column {
        "indkey" | "indoption" | "conkey" | "confkey" => DataType::Int16,
        "indclass" | "indcollation" | "conpfeqop" | "conppeqop" | "conffeqop" | "conexclop" => DataType::Int32,
        _ => DataType::Utf8,
    }
}

/// `pg_type` columns of type `regproc`.
pub(super) const REGPROC_COLUMNS: &[&str] =
    &["typinput", "typoutput", "typreceive", "typsend", "typmodin", "typmodout", "typanalyze", "typsubscript"];

/// A `pg_catalog` table whose rows are corrected after the crate produced them.
#[derive(Debug, Clone)]
pub struct Patched {
    patch: Patch,
    inner: Arc<dyn TableProvider>,
    schema: SchemaRef,
    pg_catalog: Arc<dyn SchemaProvider>,
    catalogs: Arc<dyn CatalogProviderList>,
}

impl Patched {
    pub fn new(
        patch: Patch,
        inner: Arc<dyn TableProvider>,
        pg_catalog: Arc<dyn SchemaProvider>,
        catalogs: Arc<dyn CatalogProviderList>,
    ) -> Self {
        let schema = match patch {
            Patch::Attribute => inner.schema(),
            Patch::Type => Arc::new(Schema::new(
                inner
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| {
                        if REGPROC_COLUMNS.contains(&f.name().as_str()) {
                            Field::new(f.name(), DataType::Int32, true)
                        } else {
                            f.as_ref().clone()
                        }
                    })
                    .collect::<Vec<_>>(),
            )),
            Patch::ListColumns(names) => {
                let list = |name: &str| DataType::List(Arc::new(Field::new("item", list_item_type(name), true)));
                let mut fields: Vec<Field> = inner
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| {
                        if names.contains(&f.name().as_str()) {
                            Field::new(f.name(), list(f.name()), true)
                        } else {
                            f.as_ref().clone()
                        }
                    })
                    .collect();
                for name in names {
                    if !fields.iter().any(|f| f.name() == name) {
                        fields.push(Field::new(*name, list(name), true));
                    }
                }
                Arc::new(Schema::new(fields))
            }
        };
        Self { patch, inner, schema, pg_catalog, catalogs }
    }

    async fn scan_rows(&self, state: &dyn Session) -> Result<Vec<RecordBatch>> {
        let batches = scan_all(state, self.inner.as_ref()).await?;
        match self.patch {
            Patch::ListColumns(_) => batches
                .into_iter()
                .map(|b| {
                    let columns = self
                        .schema
                        .fields()
                        .iter()
                        .enumerate()
                        .map(|(i, field)| match b.columns().get(i) {
                            Some(column) if column.data_type() == field.data_type() => column.clone(),
                            _ => new_null_array(field.data_type(), b.num_rows()),
                        })
                        .collect();
                    Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
                })
                .collect(),
            Patch::Type => {
                let procs = self.function_oids(state).await?;
                batches
                    .into_iter()
                    .map(|b| {
                        let columns = b
                            .columns()
                            .iter()
                            .zip(self.schema.fields())
                            .map(|(column, field)| {
                                if field.data_type() == column.data_type() {
                                    return Ok(column.clone());
                                }
                                let names = datafusion::arrow::compute::cast(column, &DataType::Utf8)?;
                                let names = names.as_string::<i32>();
                                let oids: Int32Array = names.iter().map(|n| n.map(|n| procs.get(n).copied().unwrap_or(0))).collect();
                                Ok(Arc::new(oids) as ArrayRef)
                            })
                            .collect::<Result<Vec<_>>>()?;
                        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
                    })
                    .collect()
            }
            Patch::Attribute => {
                let relations = self.relations(state).await?;
                let mut out = Vec::with_capacity(batches.len());
                for batch in batches {
                    out.push(self.patch_attributes(batch, &relations).await?);
                }
                Ok(out)
            }
        }
    }

    /// pg_proc name -> oid (the first of overloaded names; regproc names are unique).
    async fn function_oids(&self, state: &dyn Session) -> Result<HashMap<String, i32>> {
        let table = self.pg_catalog.table("pg_proc").await?.ok_or_else(|| DataFusionError::Plan("pg_catalog.pg_proc missing".to_string()))?;
        let mut oids = HashMap::new();
        for b in scan_all(state, table.as_ref()).await? {
            let (ids, names) = (int32(&b, "oid")?, text(&b, "proname")?);
            for i in 0..b.num_rows() {
                oids.entry(names.value(i).to_string()).or_insert(ids.value(i));
            }
        }
        Ok(oids)
    }

    /// pg_class oid -> (schema, table), from the crate's own pg_class and pg_namespace.
    async fn relations(&self, state: &dyn Session) -> Result<HashMap<i32, (String, String)>> {
        let table = |name: &'static str| async move {
            self.pg_catalog.table(name).await?.ok_or_else(|| DataFusionError::Plan(format!("pg_catalog.{name} missing")))
        };
        let mut namespaces = HashMap::new();
        for b in scan_all(state, table("pg_namespace").await?.as_ref()).await? {
            let oids = int32(&b, "oid")?;
            let names = text(&b, "nspname")?;
            for i in 0..b.num_rows() {
                namespaces.insert(oids.value(i), names.value(i).to_string());
            }
        }
        let mut relations = HashMap::new();
        for b in scan_all(state, table("pg_class").await?.as_ref()).await? {
            let (oids, names, spaces) = (int32(&b, "oid")?, text(&b, "relname")?, int32(&b, "relnamespace")?);
            for i in 0..b.num_rows() {
                if let Some(schema) = namespaces.get(&spaces.value(i)) {
                    relations.insert(oids.value(i), (schema.clone(), names.value(i).to_string()));
                }
            }
        }
        Ok(relations)
    }

    async fn patch_attributes(&self, batch: RecordBatch, relations: &HashMap<i32, (String, String)>) -> Result<RecordBatch> {
        let relids = int32(&batch, "attrelid")?;
        let attnums = batch
            .column_by_name("attnum")
            .and_then(|c| c.as_primitive_opt::<Int16Type>())
            .ok_or_else(|| DataFusionError::Plan("pg_attribute.attnum".to_string()))?;
        let mut typids: Vec<i32> = int32(&batch, "atttypid")?.values().to_vec();
        let mut typmods: Vec<i32> = int32(&batch, "atttypmod")?.values().to_vec();
        let mut ndims: Vec<i32> = int32(&batch, "attndims")?.values().to_vec();
        let mut schemas: HashMap<i32, Option<SchemaRef>> = HashMap::new();
        let catalog = self.catalogs.catalog(DEFAULT_CATALOG);
        for i in 0..batch.num_rows() {
            let relid = relids.value(i);
            if let std::collections::hash_map::Entry::Vacant(entry) = schemas.entry(relid) {
                let mut found = None;
                if let (Some((schema, table)), Some(catalog)) = (relations.get(&relid), &catalog)
                    && schema != "pg_catalog"
                    && let Some(provider) = catalog.schema(schema)
                    && let Some(t) = provider.table(table).await?
                {
                    found = Some(t.schema());
                }
                entry.insert(found);
            }
            let Some(Some(schema)) = schemas.get(&relid) else { continue };
            let Some(field) = usize::try_from(attnums.value(i) - 1).ok().and_then(|n| schema.fields().get(n)) else {
                continue;
            };
            if let Some((typid, typmod, dims)) = pg_column_type(field) {
                typids[i] = typid;
                typmods[i] = typmod;
                ndims[i] = dims;
            }
        }
        let mut columns = batch.columns().to_vec();
        let schema = batch.schema();
        for (name, values) in [("atttypid", typids), ("atttypmod", typmods), ("attndims", ndims)] {
            let index = schema.index_of(name)?;
            columns[index] = Arc::new(Int32Array::from(values)) as ArrayRef;
        }
        Ok(RecordBatch::try_new(schema, columns)?)
    }
}

/// (type oid, typmod, dimensions) PostgreSQL reports for an Arrow column as Ember sends it.
pub fn pg_column_type(field: &Arc<Field>) -> Option<(i32, i32, i32)> {
    let tagged = field.metadata().get(PG_TYPE_KEY).and_then(|t| match t.as_str() {
        "uuid" => Some(2950),
        "json" => Some(114),
        "jsonb" => Some(3802),
        _ => None,
    });
    let oid = match tagged {
        Some(oid) => oid,
        None => i32::try_from(arrow_pg::datatypes::field_into_pg_type(field).ok()?.oid()).ok()?,
    };
    let typmod = match field.data_type() {
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) if *s >= 0 => ((i32::from(*p) << 16) | i32::from(*s)) + 4,
        _ => -1,
    };
    let dims = match field.data_type() {
        DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(_, _) => 1,
        _ => 0,
    };
    Some((oid, typmod, dims))
}

pub(super) async fn scan_all(state: &dyn Session, table: &dyn TableProvider) -> Result<Vec<RecordBatch>> {
    let plan: Arc<dyn ExecutionPlan> = table.scan(state, None, &[], None).await?;
    collect(plan, state.task_ctx()).await
}

pub(super) fn int32<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a datafusion::arrow::array::Int32Array> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_primitive_opt::<Int32Type>())
        .ok_or_else(|| DataFusionError::Plan(format!("pg_catalog column {name} is not int4")))
}

pub(super) fn text<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a datafusion::arrow::array::StringArray> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_string_opt::<i32>())
        .ok_or_else(|| DataFusionError::Plan(format!("pg_catalog column {name} is not text")))
}

computed_view!(Patched, Base);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_types_as_sent() {
        let field = |name: &str, t: DataType| Arc::new(Field::new(name, t, true));
        assert_eq!(pg_column_type(&field("q", DataType::Decimal128(15, 2))), Some((1700, (15 << 16 | 2) + 4, 0)));
        assert_eq!(pg_column_type(&field("a", DataType::Int64)), Some((20, -1, 0)));
        let list = DataType::List(Arc::new(Field::new("item", DataType::Int64, true)));
        assert_eq!(pg_column_type(&field("l", list)), Some((1016, -1, 1)));
        let tagged = Arc::new(
            Field::new("u", DataType::Utf8, true).with_metadata(HashMap::from([(PG_TYPE_KEY.to_string(), "uuid".to_string())])),
        );
        assert_eq!(pg_column_type(&tagged), Some((2950, -1, 0)));
    }
}
