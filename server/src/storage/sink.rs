//! Writing to a managed table: the rows of one statement go to one new Parquet file under a
//! fresh name, written on a blocking thread; the file and its directory are synced; then
//! one SQLite transaction records it, and only then do new scans see it. A crash before
//! that commit leaves a file no catalog row names, which the next start sweeps away.

use std::fs::File;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::{CastOptions, cast_with_options};
use datafusion::arrow::datatypes::{DataType, Schema, SchemaRef};
use datafusion::datasource::sink::DataSink;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};
use datafusion::parquet::schema::types::ColumnPath;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType};
use ember_planner::data_error::PgDataError;
use futures::StreamExt;

use super::Storage;
use super::meta::DataFile;
use super::table::Files;
use super::meta::CatalogChange;
use super::transaction::{Change, Pending, TransactionWrites};

/// The sink of one `INSERT` (or `CREATE TABLE AS`) into a managed table.
#[derive(Debug)]
pub struct TableSink {
    table_id: i64,
    table_name: String,
    /// The table's schema: what every file of the table is written with.
    schema: SchemaRef,
    /// What the sink declares to DataFusion: all columns nullable, so that NOT NULL is
    /// checked here, with PostgreSQL's message, rather than by DataFusion's generic check.
    declared: SchemaRef,
    files: Files,
    storage: Arc<Storage>,
}

impl TableSink {
    pub(super) fn new(table_id: i64, table_name: String, schema: SchemaRef, files: Files, storage: Arc<Storage>) -> Self {
        let declared = Arc::new(Schema::new_with_metadata(
            schema.fields().iter().map(|f| f.as_ref().clone().with_nullable(true)).collect::<Vec<_>>(),
            schema.metadata().clone(),
        ));
        Self { table_id, table_name, schema, declared, files, storage }
    }

    /// `23502` for a NULL in a NOT NULL column; the batch with the table's own schema, its
    /// columns cast to the table's types where they differ (a parameter the client typed
    /// `int2` bound for an `int4` column), failing on a value the type cannot hold.
    fn conform(&self, batch: RecordBatch) -> Result<RecordBatch> {
        let strict = CastOptions { safe: false, ..CastOptions::default() };
        let mut columns = Vec::with_capacity(batch.num_columns());
        for (field, column) in self.schema.fields().iter().zip(batch.columns()) {
            if !field.is_nullable() && column.logical_null_count() > 0 {
                return Err(PgDataError::new(
                    "23502",
                    format!("null value in column \"{}\" of relation \"{}\" violates not-null constraint", field.name(), self.table_name),
                )
                .into());
            }
            columns.push(if column.data_type() == field.data_type() { Arc::clone(column) } else { cast_with_options(column, field.data_type(), &strict)? });
        }
        Ok(RecordBatch::try_new(Arc::clone(&self.schema), columns)?)
    }
}

impl DisplayAs for TableSink {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "ManagedTableSink: table={}", self.table_name)
    }
}

#[async_trait]
impl DataSink for TableSink {
    fn schema(&self) -> &SchemaRef {
        &self.declared
    }

    async fn write_all(&self, mut data: SendableRecordBatchStream, context: &Arc<TaskContext>) -> Result<u64> {
        let (path, absolute) = self.storage.new_data_file(self.table_id).map_err(to_df)?;
        let (tx, rx) = tokio::sync::mpsc::channel::<RecordBatch>(2);
        let schema = Arc::clone(&self.schema);
        let target = absolute.clone();
        let writer = tokio::task::spawn_blocking(move || write_file(&target, &schema, rx));
        let mut rows = 0u64;
        let mut failure = None;
        while let Some(batch) = data.next().await {
            match batch.and_then(|b| self.conform(b)) {
                Ok(batch) if batch.num_rows() == 0 => {}
                Ok(batch) => {
                    rows += batch.num_rows() as u64;
                    if tx.send(batch).await.is_err() {
                        break; // the writer failed; its error is below
                    }
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        drop(tx);
        let written = writer.await.map_err(|e| DataFusionError::External(Box::new(e)))?;
        let discard = || {
            let _ = std::fs::remove_file(&absolute);
        };
        if let Some(e) = failure {
            discard();
            return Err(e);
        }
        let size = match written {
            Ok(Some(size)) => size,
            Ok(None) => return Ok(0),
            Err(e) => {
                discard();
                return Err(e);
            }
        };
        let file = DataFile { path, size, rows };
        if let Some(block) = context.session_config().get_extension::<TransactionWrites>()
            && block.in_block()
        {
            block.defer(Change::Write(Pending { table_id: self.table_id, files: self.files.clone(), file }));
            return Ok(rows);
        }
        let (files, published) = (self.files.clone(), file.clone());
        if let Err(e) = self.storage.commit(vec![CatalogChange::AddFile(self.table_id, file)], move || files.publish(vec![published])).await {
            discard();
            return Err(to_df(e));
        }
        Ok(rows)
    }
}

/// Write the batches from `rx` to a new Parquet file at `path`, sync it and its directory;
/// the file's size, or `None` (and no file) if no batch came.
fn write_file(path: &std::path::Path, schema: &SchemaRef, mut rx: tokio::sync::mpsc::Receiver<RecordBatch>) -> Result<Option<u64>> {
    let Some(first) = rx.blocking_recv() else {
        return Ok(None);
    };
    let file = File::create_new(path).map_err(|e| io_error("cannot create data file", path, e))?;
    let mut writer = ArrowWriter::try_new(file, Arc::clone(schema), Some(writer_properties(schema)))?;
    writer.write(&first)?;
    while let Some(batch) = rx.blocking_recv() {
        writer.write(&batch)?;
    }
    let file = writer.into_inner()?;
    file.sync_all().map_err(|e| io_error("cannot sync data file", path, e))?;
    let size = file.metadata().map_err(|e| io_error("cannot stat data file", path, e))?.len();
    if let Some(dir) = path.parent() {
        super::sync_dir(dir).map_err(|e| io_error("cannot sync directory", dir, e))?;
    }
    Ok(Some(size))
}

/// zstd, and no min/max statistics on floating-point columns: Parquet's float statistics
/// leave NaN out, while NaN sorts above every number (as in PostgreSQL), so pruning on
/// them could drop NaN rows.
fn writer_properties(schema: &Schema) -> WriterProperties {
    let mut builder = WriterProperties::builder().set_compression(Compression::ZSTD(ZstdLevel::default()));
    for field in schema.fields() {
        if matches!(field.data_type(), DataType::Float16 | DataType::Float32 | DataType::Float64) {
            builder = builder.set_column_statistics_enabled(ColumnPath::from(field.name().as_str()), EnabledStatistics::None);
        }
    }
    builder.build()
}

fn io_error(what: &str, path: &std::path::Path, e: std::io::Error) -> DataFusionError {
    let sqlstate = if e.raw_os_error() == Some(28) { "53100" } else { "58030" };
    PgDataError::new(sqlstate, format!("{what} \"{}\": {e}", path.display())).into()
}

fn to_df(e: crate::error::ServerError) -> DataFusionError {
    match e {
        crate::error::ServerError::DataFusion(e) => e,
        other => DataFusionError::External(Box::new(other)),
    }
}
