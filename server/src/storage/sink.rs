//! Writing to a managed table: the rows of one statement go to one new Parquet file under a
//! fresh name, written on a blocking thread; the file and its directory are synced; then
//! one SQLite transaction records it, and only then do new scans see it. A crash before
//! that commit leaves a file no catalog row names, which the next start sweeps away.
//! Inside a transaction block a small write is kept in memory instead, and the block
//! writes the rows of many statements to one file ([`super::transaction`]).

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
use super::transaction::{BUFFER_BYTES, BUFFER_ROWS, Buffered, Change, Pending, TransactionWrites};

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
}

/// `23502` for a NULL in a NOT NULL column of `schema` (the table `table_name`'s); the
/// batch with the table's own schema, its columns cast to the table's types where they
/// differ (a parameter the client typed `int2` bound for an `int4` column), failing on a
/// value the type cannot hold.
pub(super) fn conform(schema: &SchemaRef, table_name: &str, batch: RecordBatch) -> Result<RecordBatch> {
    let strict = CastOptions { safe: false, ..CastOptions::default() };
    let mut columns = Vec::with_capacity(batch.num_columns());
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        if !field.is_nullable() && column.logical_null_count() > 0 {
            return Err(PgDataError::new(
                "23502",
                format!("null value in column \"{}\" of relation \"{}\" violates not-null constraint", field.name(), table_name),
            )
            .into());
        }
        columns.push(if column.data_type() == field.data_type() { Arc::clone(column) } else { cast_with_options(column, field.data_type(), &strict)? });
    }
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
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
        let block = context.session_config().get_extension::<TransactionWrites>().filter(|b| b.in_block());
        // In a block, a small write stays in memory (the block writes it out with others);
        // outside one, or once it is large, its rows stream to a file of their own.
        let mut buffered: Vec<RecordBatch> = Vec::new();
        let mut buffered_bytes = 0usize;
        let mut writer: Option<FileWriter> = None;
        let mut rows = 0u64;
        let mut failure = None;
        while let Some(batch) = data.next().await {
            let batch = match batch.and_then(|b| conform(&self.schema, &self.table_name, b)) {
                Ok(batch) if batch.num_rows() == 0 => continue,
                Ok(batch) => batch,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            };
            rows += batch.num_rows() as u64;
            if block.is_some() && writer.is_none() {
                buffered_bytes += batch.get_array_memory_size();
                buffered.push(batch);
                if rows < BUFFER_ROWS && buffered_bytes < BUFFER_BYTES {
                    continue;
                }
                let started = writer.insert(FileWriter::start(&self.storage, self.table_id, &self.schema).map_err(to_df)?);
                for batch in std::mem::take(&mut buffered) {
                    if !started.send(batch).await {
                        break;
                    }
                }
                continue;
            }
            let active = match &mut writer {
                Some(active) => active,
                None => writer.insert(FileWriter::start(&self.storage, self.table_id, &self.schema).map_err(to_df)?),
            };
            if !active.send(batch).await {
                break; // the writer failed; its error comes from `finish`
            }
        }
        if let Some(e) = failure {
            if let Some(writer) = writer {
                writer.abandon().await;
            }
            return Err(e);
        }
        let Some(writer) = writer else {
            if let Some(block) = block
                && !buffered.is_empty()
            {
                let schema = Arc::clone(&self.schema);
                block.defer(Change::Buffered(Buffered { table_id: self.table_id, files: self.files.clone(), schema, batches: buffered, rows, bytes: buffered_bytes }));
                if block.buffered_may_be_large(self.table_id) {
                    block.write_buffered(Some(self.table_id), true).await.map_err(to_df)?;
                }
            }
            return Ok(rows);
        };
        let Some(file) = writer.finish(rows).await? else {
            return Ok(0);
        };
        if let Some(block) = block {
            block.defer(Change::Write(Pending { table_id: self.table_id, files: self.files.clone(), file }));
            return Ok(rows);
        }
        let (files, published) = (self.files.clone(), file.clone());
        let absolute = self.storage.absolute(&file.path);
        if let Err(e) = self.storage.commit(vec![CatalogChange::AddFile(self.table_id, file)], move || files.publish(vec![published])).await {
            let _ = std::fs::remove_file(&absolute);
            return Err(to_df(e));
        }
        Ok(rows)
    }
}

/// A new data file being written on a blocking thread from the batches sent to it.
pub(super) struct FileWriter {
    path: String,
    absolute: std::path::PathBuf,
    tx: tokio::sync::mpsc::Sender<RecordBatch>,
    done: tokio::task::JoinHandle<Result<Option<(u64, u64)>>>,
}

impl FileWriter {
    pub(super) fn start(storage: &Storage, table_id: i64, schema: &SchemaRef) -> crate::error::Result<Self> {
        let (path, absolute) = storage.new_data_file(table_id)?;
        let (tx, rx) = tokio::sync::mpsc::channel::<RecordBatch>(2);
        let (schema, target) = (Arc::clone(schema), absolute.clone());
        let done = tokio::task::spawn_blocking(move || {
            let mut rx = rx;
            write_file(&target, &schema, std::iter::from_fn(|| rx.blocking_recv().map(Ok)))
        });
        Ok(Self { path, absolute, tx, done })
    }

    /// `false` once the writer has failed.
    pub(super) async fn send(&self, batch: RecordBatch) -> bool {
        self.tx.send(batch).await.is_ok()
    }

    /// Wait for the file to be written and synced: the file of `rows` rows, `None` if no
    /// batch came; on an error the file is removed.
    pub(super) async fn finish(self, rows: u64) -> Result<Option<DataFile>> {
        drop(self.tx);
        let written = self.done.await.map_err(|e| DataFusionError::External(Box::new(e)))?;
        match written {
            Ok(Some((size, written))) => {
                debug_assert_eq!(written, rows);
                Ok(Some(DataFile { path: self.path, size, rows }))
            }
            Ok(None) => Ok(None),
            Err(e) => {
                let _ = std::fs::remove_file(&self.absolute);
                Err(e)
            }
        }
    }

    /// Stop and remove the file.
    pub(super) async fn abandon(self) {
        drop(self.tx);
        let _ = self.done.await;
        let _ = std::fs::remove_file(&self.absolute);
    }
}

/// Write `batches` (conformed to `schema`) to a new file of table `table_id` at once, on
/// the calling (blocking) thread: the file, or `None` (and no file) if there are no rows.
pub(super) fn write_new_file(storage: &Storage, table_id: i64, schema: &SchemaRef, batches: impl Iterator<Item = Result<RecordBatch>>) -> Result<Option<DataFile>> {
    let (path, absolute) = storage.new_data_file(table_id).map_err(to_df)?;
    let batches = batches.filter(|b| b.as_ref().map_or(true, |b| b.num_rows() > 0));
    match write_file(&absolute, schema, batches) {
        Ok(Some((size, rows))) => Ok(Some(DataFile { path, size, rows })),
        Ok(None) => Ok(None),
        Err(e) => {
            let _ = std::fs::remove_file(&absolute);
            Err(e)
        }
    }
}

/// The batches of data file `file`, in the table's `schema`, on the calling (blocking)
/// thread.
pub(super) fn read_file(storage: &Storage, file: &DataFile, schema: &SchemaRef) -> Result<impl Iterator<Item = Result<RecordBatch>> + use<>> {
    let path = storage.absolute(&file.path);
    let source = File::open(&path).map_err(|e| to_df(crate::error::ServerError::io(format!("cannot open {}", path.display()), e)))?;
    let reader = datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(source)?.with_batch_size(8192).build()?;
    let schema = Arc::clone(schema);
    Ok(reader.map(move |batch| Ok(RecordBatch::try_new(Arc::clone(&schema), batch?.columns().to_vec())?)))
}

/// Write `batches` to a new Parquet file at `path`, sync it and its directory; the file's
/// size, or `None` (and no file) if there was no batch.
pub(super) fn write_file(path: &std::path::Path, schema: &SchemaRef, mut batches: impl Iterator<Item = Result<RecordBatch>>) -> Result<Option<(u64, u64)>> {
    let Some(first) = batches.next().transpose()? else {
        return Ok(None);
    };
    let file = File::create_new(path).map_err(|e| io_error("cannot create data file", path, e))?;
    let mut writer = ArrowWriter::try_new(file, Arc::clone(schema), Some(writer_properties(schema)))?;
    let mut rows = first.num_rows() as u64;
    writer.write(&first)?;
    for batch in batches {
        let batch = batch?;
        rows += batch.num_rows() as u64;
        writer.write(&batch)?;
    }
    let file = writer.into_inner()?;
    file.sync_all().map_err(|e| io_error("cannot sync data file", path, e))?;
    let size = file.metadata().map_err(|e| io_error("cannot stat data file", path, e))?.len();
    if let Some(dir) = path.parent() {
        super::sync_dir(dir).map_err(|e| io_error("cannot sync directory", dir, e))?;
    }
    Ok(Some((size, rows)))
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

pub(super) fn to_df(e: crate::error::ServerError) -> DataFusionError {
    match e {
        crate::error::ServerError::DataFusion(e) => e,
        other => DataFusionError::External(Box::new(other)),
    }
}
