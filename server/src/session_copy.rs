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
        let (_, batches) = collect_stream(stream).await?;
        target.written += count_rows(&batches);
        Ok(())
    }
}
