//! Arrow batches as DataRows (text or binary, per column, through arrow-pg), one batch at
//! a time, so a result of any size streams through bounded memory; column descriptions.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use futures::{Stream, StreamExt, stream};
use pgwire::api::portal::Format;
use pgwire::api::results::FieldInfo;
use pgwire::error::PgWireResult;
use pgwire::messages::data::DataRow;

use crate::error::ServerError;
use crate::statement::Limits;

/// PostgreSQL column descriptions for an Arrow schema. A type with no PostgreSQL
/// equivalent is a clear error naming the column, never a silent cast.
pub fn field_infos(schema: &Schema, format: &Format) -> Result<Vec<FieldInfo>, ServerError> {
    // numeric beyond 38 digits (Decimal256) is `numeric` too; arrow-pg maps only Decimal128,
    // so it is described as one, and render.rs writes the values (text and binary).
    // An oid-alias tag (`pg.oid_alias`) is kept by a cast from an oid column to another
    // type (DataFusion derives a cast's field from its source): `typelem::regtype::text` is
    // text, not `oid`, so the tag only counts on integer columns.
    let misdescribed = |f: &Arc<datafusion::arrow::datatypes::Field>| {
        f.metadata().contains_key(arrow_pg::datatypes::PG_OID_ALIAS_KEY) && !f.data_type().is_integer()
    };
    let described;
    let schema = if schema.fields().iter().any(|f| matches!(f.data_type(), DataType::Decimal256(_, _)) || misdescribed(f)) {
        described = Schema::new_with_metadata(
            schema
                .fields()
                .iter()
                .map(|f| match f.data_type() {
                    DataType::Decimal256(_, scale) => {
                        Arc::new(f.as_ref().clone().with_data_type(DataType::Decimal128(38, (*scale).min(38))))
                    }
                    _ if misdescribed(f) => {
                        let mut metadata = f.metadata().clone();
                        metadata.remove(arrow_pg::datatypes::PG_OID_ALIAS_KEY);
                        Arc::new(f.as_ref().clone().with_metadata(metadata))
                    }
                    _ => f.clone(),
                })
                .collect::<Vec<_>>(),
            schema.metadata().clone(),
        );
        &described
    } else {
        schema
    };
    for field in schema.fields() {
        if arrow_pg::datatypes::field_into_pg_type(field).is_err() || !encodable(field.data_type()) {
            return Err(ServerError::Unsupported {
                feature: format!("column \"{}\" of type {} (no PostgreSQL equivalent)", field.name(), field.data_type()),
            });
        }
    }
    let fields = arrow_pg::datatypes::arrow_schema_to_pg_fields(schema, format, None)
        .map_err(|e| ServerError::Unsupported { feature: format!("result type: {e}") })?;
    Ok(fields
        .into_iter()
        .zip(schema.fields())
        .map(|(f, arrow_field)| {
            let name = ember_planner::rewrite::client_column_name(f.name());
            // An untyped NULL column (`SELECT NULL`) is `text`, as PostgreSQL resolves
            // unknown output columns; `unknown` (705) makes asyncpg introspect forever.
            let tagged = tagged_pg_type(arrow_field)
                .or_else(|| (arrow_field.data_type() == &DataType::Null).then_some(pgwire::api::Type::TEXT));
            if name.len() == f.name().len() && tagged.is_none() {
                f
            } else {
                let ty = tagged.unwrap_or_else(|| f.datatype().clone());
                FieldInfo::new(name.to_string(), f.table_id(), f.column_id(), ty, f.format())
            }
        })
        .collect())
}

/// Whether arrow-pg can write values of a type it describes: it names `Float16` `float4`
/// and `FixedSizeBinary` `bytea` but has no encoder for them (cast to `real` / `bytea`).
fn encodable(data_type: &DataType) -> bool {
    match data_type {
        DataType::Float16 | DataType::FixedSizeBinary(_) => false,
        DataType::List(item) | DataType::LargeList(item) | DataType::FixedSizeList(item, _) | DataType::ListView(item) => {
            encodable(item.data_type())
        }
        DataType::Struct(fields) => fields.iter().all(|f| encodable(f.data_type())),
        DataType::Dictionary(_, value) => encodable(value),
        _ => true,
    }
}

/// The PostgreSQL type of a `Utf8` field tagged as `uuid`, `json` or `jsonb`.
pub fn tagged_pg_type(field: &datafusion::arrow::datatypes::Field) -> Option<pgwire::api::Type> {
    field.metadata().get(ember_planner::types::PG_TYPE_KEY).and_then(|t| match t.as_str() {
        "uuid" => Some(pgwire::api::Type::UUID),
        "json" => Some(pgwire::api::Type::JSON),
        "jsonb" => Some(pgwire::api::Type::JSONB),
        _ => None,
    })
}

/// Session settings that shape text output.
#[derive(Debug, Clone)]
pub struct TextOptions {
    pub time_zone: String,
    pub extra_float_digits: i32,
}

/// Encode a stream of batches as DataRows.
pub fn data_rows(
    batches: impl Stream<Item = datafusion::error::Result<RecordBatch>> + Send + 'static,
    fields: Arc<Vec<FieldInfo>>,
    limits: Limits,
    text: TextOptions,
) -> impl Stream<Item = PgWireResult<DataRow>> + Send + 'static {
    let batches = limits.stream(batches.boxed());
    let rows = batches
        .map(move |batch| {
            let batch = batch.and_then(|b| {
                super::render::render_columns(b, &fields, &text.time_zone, text.extra_float_digits)
            });
            let rows: Box<dyn Iterator<Item = PgWireResult<DataRow>> + Send + Sync> = match batch {
                Ok(batch) => Box::new(arrow_pg::encode_recordbatch(fields.clone(), batch).map(|row| row.and_then(within_row_limit))),
                Err(e) => Box::new(std::iter::once(Err(e.into_pgwire()))),
            };
            stream::iter(rows)
        })
        .flatten();
    // Encoding runs outside the statement's own work: a panic there fails it too.
    AssertUnwindSafe(rows).catch_unwind().map(|row| row.unwrap_or_else(|panic| Err(ServerError::from_panic(&*panic).into_pgwire())))
}

/// The longest DataRow the server sends: PostgreSQL never sends a message over 1 GB, and
/// clients refuse them (libpq, pgjdbc); such a row is an error instead (54000).
pub const MAX_ROW_BYTES: usize = (1 << 30) - 1;

fn within_row_limit(row: DataRow) -> PgWireResult<DataRow> {
    if row.data.len() <= MAX_ROW_BYTES {
        return Ok(row);
    }
    let message = format!("result row is {} bytes, more than the protocol's limit of {MAX_ROW_BYTES} bytes", row.data.len());
    Err(ServerError::ProgramLimit { message }.into_pgwire())
}
