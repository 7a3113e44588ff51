//! `COPY table [(columns)] FROM STDIN` into a managed table, for a session. The data is
//! read as it arrives ([`ember_planner::copy_text`]), cast chunk by chunk to the table's
//! column types with the same casts SQL uses (`'12x'` into an integer is `22P02`), and
//! written through the table's own `INSERT` path. The whole COPY is one transaction: each
//! chunk's file waits in the session's block, committed at the end of the data (or with
//! the enclosing `BEGIN ... COMMIT`), and a COPY that fails keeps none of its rows.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::MemTable;
use datafusion::common::{ResolvedTableReference, TableReference};
use datafusion::datasource::provider_as_source;
use datafusion::datasource::TableProvider;
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{Expr, LogicalPlanBuilder, cast, col, lit};
use ember_planner::copy::{CopyFormat, CopyIn};
use ember_planner::copy_text::{CopyReader, Row};
use ember_planner::data_error::PgDataError;

use crate::error::{Result, ServerError};
use crate::session::{Session, collect_stream, count_rows};
use crate::statement::planning;
use crate::storage::table::ManagedTable;
use crate::storage::transaction::TransactionWrites;

/// Rows cast and written together: one data file per chunk.
const CHUNK_ROWS: usize = 100_000;

/// A `COPY ... FROM STDIN` in progress.
#[derive(Debug)]
pub struct CopyInTarget {
    name: ResolvedTableReference,
    /// The managed table, as registered.
    table: Arc<dyn TableProvider>,
    /// The table column each data column goes to.
    targets: Vec<usize>,
    reader: CopyReader,
    rows: Vec<Row>,
    written: usize,
    /// The COPY opened the session's block itself (no `BEGIN` around it).
    own_block: bool,
    writes: Arc<TransactionWrites>,
    /// Committed or rolled back already; else dropping the target rolls back.
    settled: bool,
}

impl Drop for CopyInTarget {
    /// A COPY abandoned midway (the connection ended, the extended protocol refused it)
    /// keeps nothing.
    fn drop(&mut self) {
        if self.own_block && !self.settled {
            self.writes.rollback();
        }
    }
}

impl CopyInTarget {
    /// How many columns the data has (for CopyInResponse).
    pub fn columns(&self) -> usize {
        self.targets.len()
    }
}

impl Session {
    /// Check the target of a `COPY ... FROM STDIN` and get ready for its data.
    pub(crate) async fn copy_in_start(&self, copy: CopyIn) -> Result<CopyInTarget> {
        if copy.options.format == CopyFormat::Binary {
            return Err(ServerError::Unsupported { feature: format!("COPY {} FROM STDIN in binary format (not yet: use text or CSV)", copy.table) });
        }
        let state = self.context().state();
        let options = &state.config().options().catalog;
        let name = TableReference::parse_str(&copy.table).resolve(&options.default_catalog, &options.default_schema);
        let provider = self
            .context()
            .catalog(&name.catalog)
            .and_then(|c| c.schema(&name.schema))
            .ok_or_else(|| ServerError::UndefinedSchema { name: name.schema.to_string() })?
            .table(&name.table)
            .await?
            .ok_or_else(|| ServerError::UndefinedTable { name: name.table.to_string() })?;
        if !provider.is::<ManagedTable>() {
            return Err(ServerError::Unsupported { feature: format!("COPY {} FROM STDIN (only managed tables take rows; external tables are read-only)", copy.table) });
        }
        let table = provider;
        let schema = table.schema();
        let targets = if copy.columns.is_empty() {
            (0..schema.fields().len()).collect()
        } else {
            copy.columns
                .iter()
                .map(|c| schema.index_of(c).map_err(|_| ServerError::UndefinedColumn { name: c.clone(), table: name.table.to_string() }))
                .collect::<Result<Vec<_>>>()?
        };
        let names = targets.iter().map(|&i| schema.field(i).name().clone()).collect();
        let own_block = !self.writes().in_block();
        if own_block {
            self.writes().begin();
        }
        let writes = self.writes().clone();
        Ok(CopyInTarget { name, table, targets, reader: CopyReader::new(copy.options, names), rows: Vec::new(), written: 0, own_block, writes, settled: false })
    }

    /// Take one CopyData message.
    pub(crate) async fn copy_in_data(&self, target: &mut CopyInTarget, data: &[u8]) -> Result<()> {
        target.reader.feed(data, &mut target.rows).map_err(datafusion::error::DataFusionError::from)?;
        if target.rows.len() >= CHUNK_ROWS {
            self.copy_in_flush(target).await?;
        }
        Ok(())
    }

    /// The data is complete: write the rest and commit; the number of rows copied.
    pub(crate) async fn copy_in_done(&self, mut target: CopyInTarget) -> Result<usize> {
        let result = async {
            target.reader.finish(&mut target.rows).map_err(datafusion::error::DataFusionError::from)?;
            self.copy_in_flush(&mut target).await?;
            if target.own_block {
                self.writes().commit().await?;
            }
            Ok(target.written)
        }
        .await;
        if result.is_err() && target.own_block {
            self.writes().rollback();
        }
        target.settled = true;
        result
    }

    /// Cast and write the rows read so far.
    async fn copy_in_flush(&self, target: &mut CopyInTarget) -> Result<()> {
        if target.rows.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(&mut target.rows);
        let lines = target.reader.take_lines();
        let width = target.targets.len();
        let fields: Vec<Field> = (0..width).map(|i| Field::new(format!("c{i}"), DataType::Utf8, true)).collect();
        let mut builders: Vec<StringBuilder> = (0..width).map(|_| StringBuilder::with_capacity(rows.len(), rows.len() * 8)).collect();
        for row in &rows {
            for (builder, value) in builders.iter_mut().zip(row) {
                builder.append_option(value.as_deref());
            }
        }
        let columns: Vec<ArrayRef> = builders.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef).collect();
        let data_schema = Arc::new(Schema::new(fields));
        let batch = RecordBatch::try_new(data_schema.clone(), columns).map_err(datafusion::error::DataFusionError::from)?;
        let text = batch.clone();
        let data = MemTable::try_new(data_schema, vec![vec![batch]])?;
        // Every column of the table: the data's, cast to the column's type, else its DEFAULT (or NULL).
        let schema = target.table.schema();
        let exprs: Vec<Expr> = schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, field)| {
                let value = match target.targets.iter().position(|&t| t == i) {
                    Some(data_column) => cast(col(format!("c{data_column}")), field.data_type().clone()),
                    None => target.table.get_column_default(field.name()).cloned().unwrap_or_else(|| cast(lit(datafusion::common::ScalarValue::Null), field.data_type().clone())),
                };
                value.alias(field.name())
            })
            .collect();
        let input = LogicalPlanBuilder::scan("copy_data", provider_as_source(Arc::new(data)), None)?.project(exprs)?.build()?;
        let plan = LogicalPlanBuilder::insert_into(input, target.name.clone(), provider_as_source(target.table.clone()), InsertOp::Append)?.build()?;
        let state = self.snapshot();
        let physical = planning::plan(planning::off_runtime(), state.create_physical_plan(&plan)).await?;
        let stream = datafusion::physical_plan::execute_stream(physical, state.task_ctx())?;
        let batches = match collect_stream(stream).await {
            Ok((_, batches)) => batches,
            // A value its column's type cannot read: name it, its line and its column.
            Err(e) => return Err(bad_value(&text, &lines, target, &schema).map(|bad| ServerError::DataFusion(bad.into())).unwrap_or(e)),
        };
        target.written += count_rows(&batches);
        Ok(())
    }
}

/// The first value of `text` (the chunk's rows, as read) that its column's type cannot
/// read, as PostgreSQL reports it: `22P02 invalid input syntax for type integer: "x"`,
/// `22003` for a number out of range, `22007`/`22008` for a bad date or time; with the
/// line and column. `None` if every value reads (the failure was something else).
fn bad_value(text: &RecordBatch, lines: &[u64], target: &CopyInTarget, schema: &datafusion::arrow::datatypes::SchemaRef) -> Option<PgDataError> {
    use datafusion::arrow::array::{Array, AsArray};
    let safe = datafusion::arrow::compute::CastOptions { safe: true, ..Default::default() };
    let mut first: Option<(usize, usize)> = None;
    for (data_column, &table_column) in target.targets.iter().enumerate() {
        let column = text.column(data_column);
        let field = schema.field(table_column);
        let Ok(cast) = datafusion::arrow::compute::cast_with_options(column, field.data_type(), &safe) else { continue };
        if let Some(row) = (0..column.len()).find(|&r| column.is_valid(r) && cast.is_null(r))
            && first.is_none_or(|(best, _)| row < best)
        {
            first = Some((row, data_column));
        }
    }
    let (row, data_column) = first?;
    let field = schema.field(target.targets[data_column]);
    let value = text.column(data_column).as_string::<i32>().value(row);
    let type_name = ember_planner::pg_catalog::type_of::type_name(field.data_type());
    let (sqlstate, message) = match field.data_type() {
        t if t.is_temporal() => {
            let looks_like_date = value.len() >= 8 && value.chars().take(4).all(|c| c.is_ascii_digit()) && value.as_bytes().get(4) == Some(&b'-');
            if looks_like_date {
                ("22008", format!("date/time field value out of range: \"{value}\""))
            } else {
                ("22007", format!("invalid input syntax for type {type_name}: \"{value}\""))
            }
        }
        t if t.is_numeric() && value.trim().parse::<f64>().is_ok_and(f64::is_finite) => ("22003", format!("value \"{value}\" is out of range for type {type_name}")),
        _ => ("22P02", format!("invalid input syntax for type {type_name}: \"{value}\"")),
    };
    let line = lines.get(row).copied().unwrap_or_default();
    Some(PgDataError::new(sqlstate, format!("{message} (COPY {}, line {line}, column {}: \"{value}\")", target.name.table, field.name())))
}
