//! `UPDATE` and `DELETE` of managed tables, copy-on-write.
//!
//! The statement's query runs over a [`DmlTarget`]: the table's files as the statement
//! sees them, with two more columns that name each row — the file (its place in that
//! list, a partition column) and the row's number in the file (Parquet's row-number
//! virtual column). DataFusion plans the query as any other, so `WHERE` may hold
//! subqueries and `UPDATE ... FROM` joins. Its result — the identity of each row to
//! delete, and for `UPDATE` the row's new values — goes to [`apply`]: every file that
//! loses rows is written again without them, the new values go to one new file, and one
//! catalog change retires the old files for the new ones. If another transaction retired
//! one of those files first, the commit fails with `40001` and nothing changes.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{AsArray, BooleanArray, RecordBatch};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Int64Type, Schema, SchemaRef, UInt32Type};
use datafusion::catalog::Session;
use datafusion::common::{ScalarValue, project_schema};
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::table_schema::TableSchemaBuilder;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::object_store::ObjectMeta;
use datafusion::object_store::path::Path as ObjectPath;
use datafusion::parquet::arrow::RowNumber;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use futures::StreamExt;

use super::Storage;
use super::meta::{CatalogChange, DataFile};
use super::sink::{FileWriter, conform, read_file, to_df, write_new_file};
use super::table::ManagedTable;
use super::transaction::{Change, TransactionWrites};

/// The column naming a row's file (its index in [`DmlTarget`]'s list).
pub const FILE_COLUMN: &str = "__ember_file";
/// The column holding a row's number in its file.
pub const ROW_COLUMN: &str = "__ember_row";

/// A managed table as the target of one `UPDATE` or `DELETE`: the files it reads, and a
/// schema of the table's columns plus [`FILE_COLUMN`] and [`ROW_COLUMN`].
#[derive(Debug)]
pub struct DmlTarget {
    table: Arc<ManagedTable>,
    files: Vec<DataFile>,
    schema: SchemaRef,
    /// The session's open transaction block, which the change waits for.
    block: Option<Arc<TransactionWrites>>,
}

impl DmlTarget {
    /// The target over what a statement with `config` reads of `table`. Rows the
    /// session's transaction block still holds in memory are written to a file first, so
    /// that every row has a file and a number.
    pub async fn new(table: Arc<ManagedTable>, config: &datafusion::prelude::SessionConfig) -> crate::error::Result<Self> {
        let block = config.get_extension::<TransactionWrites>().filter(|b| b.in_block());
        if let Some(block) = &block {
            block.write_buffered(Some(table.id()), false).await?;
        }
        let (files, buffered) = table.visible(config);
        debug_assert!(buffered.is_empty());
        let mut fields: Vec<FieldRef> = table.schema().fields().iter().cloned().collect();
        fields.push(file_field());
        fields.push(row_field());
        let schema = Arc::new(Schema::new(fields));
        Ok(Self { table, files, schema, block })
    }

    /// Apply the result of the statement's query. Each row of `rows` is one row to change:
    /// for an `UPDATE` (`update`) its new values in the first `values` columns, then
    /// `returning` columns of `RETURNING` values, then its identity ([`FILE_COLUMN`],
    /// [`ROW_COLUMN`]). Returns how many rows changed and their `RETURNING` columns, or with
    /// `keep_new_rows` the rows as updated (in the table's schema).
    pub async fn apply(&self, mut rows: SendableRecordBatchStream, update: bool, values: usize, returning: usize, keep_new_rows: bool) -> crate::error::Result<(u64, Vec<RecordBatch>)> {
        let table = &self.table;
        let storage = table.storage();
        let identity = values + returning;
        // file index -> row numbers to remove from it
        let mut removed: BTreeMap<u32, HashSet<u64>> = BTreeMap::new();
        let mut changed = 0u64;
        let mut returned = Vec::new();
        let mut writer: Option<FileWriter> = None;
        let outcome: Result<()> = async {
            while let Some(batch) = rows.next().await {
                let batch = batch?;
                let files = batch.column(identity).as_primitive_opt::<UInt32Type>().ok_or_else(|| internal("file column"))?;
                let numbers = batch.column(identity + 1).as_primitive_opt::<Int64Type>().ok_or_else(|| internal("row column"))?;
                // A row joined to several rows of `UPDATE ... FROM` changes once (PostgreSQL
                // takes one of them too).
                let first: BooleanArray = (0..batch.num_rows())
                    .map(|i| Some(removed.entry(files.value(i)).or_default().insert(numbers.value(i) as u64)))
                    .collect();
                let count = first.true_count();
                if count == 0 {
                    continue;
                }
                changed += count as u64;
                if returning > 0 {
                    returned.push(filter_record_batch(&batch.project(&(values..identity).collect::<Vec<_>>())?, &first)?);
                }
                if update {
                    let new_values = batch.project(&(0..values).collect::<Vec<_>>())?;
                    let new_values = conform(table.schema_ref(), table.name(), filter_record_batch(&new_values, &first)?)?;
                    if keep_new_rows {
                        returned.push(new_values.clone());
                    }
                    let active = match &mut writer {
                        Some(active) => active,
                        None => writer.insert(FileWriter::start(storage, table.id(), table.schema_ref()).map_err(to_df)?),
                    };
                    if !active.send(new_values).await {
                        break; // the writer's error comes from `finish`
                    }
                }
            }
            Ok(())
        }
        .await;
        let new_rows = match (outcome, writer) {
            (Ok(()), Some(writer)) => writer.finish(changed).await?,
            (Ok(()), None) => None,
            (Err(e), writer) => {
                if let Some(writer) = writer {
                    writer.abandon().await;
                }
                return Err(e.into());
            }
        };
        removed.retain(|_, rows| !rows.is_empty());
        if removed.is_empty() {
            return Ok((0, returned));
        }
        let retired: Vec<DataFile> = removed.keys().map(|i| self.files[*i as usize].clone()).collect();
        let rewrite = {
            let (storage, table_id, schema, retired) = (Arc::clone(storage), table.id(), Arc::clone(table.schema_ref()), retired.clone());
            tokio::task::spawn_blocking(move || {
                let mut added = Vec::new();
                for (file, rows) in retired.iter().zip(removed.values()) {
                    match rewrite_file(&storage, table_id, &schema, file, rows) {
                        Ok(Some(kept)) => added.push(kept),
                        Ok(None) => {}
                        Err(e) => {
                            remove_files(&storage, &added);
                            return Err(e);
                        }
                    }
                }
                Ok(added)
            })
        };
        let mut added = match rewrite.await.map_err(|e| DataFusionError::External(Box::new(e))).and_then(|r| r) {
            Ok(added) => added,
            Err(e) => {
                remove_files(storage, new_rows.as_slice());
                return Err(e.into());
            }
        };
        added.extend(new_rows);
        self.commit(retired, added).await?;
        Ok((changed, returned))
    }

    /// Retire `retired` for `added`: with the transaction block if one is open, else now.
    async fn commit(&self, retired: Vec<DataFile>, added: Vec<DataFile>) -> crate::error::Result<()> {
        let (table, files) = (&self.table, self.table.files().clone());
        if let Some(block) = &self.block {
            block.defer(Change::Replace { table_id: table.id(), files, retired, added });
            return Ok(());
        }
        let change = CatalogChange::Replace { table: table.id(), retired: retired.iter().map(|f| f.path.clone()).collect(), added: added.clone() };
        let gone: HashSet<String> = retired.iter().map(|f| f.path.clone()).collect();
        let published = added.clone();
        if let Err(e) = table.storage().commit(vec![change], move || files.apply(&gone, published)).await {
            remove_files(table.storage(), &added);
            return Err(e);
        }
        Ok(())
    }

    fn file_schema(&self) -> SchemaRef {
        Arc::clone(self.table.schema_ref())
    }
}

fn file_field() -> FieldRef {
    Arc::new(Field::new(FILE_COLUMN, DataType::UInt32, false))
}

fn row_field() -> FieldRef {
    Arc::new(Field::new(ROW_COLUMN, DataType::Int64, false).with_extension_type(RowNumber))
}

#[async_trait]
impl TableProvider for DmlTarget {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(&self, state: &dyn Session, projection: Option<&Vec<usize>>, _filters: &[Expr], limit: Option<usize>) -> Result<Arc<dyn ExecutionPlan>> {
        if self.files.is_empty() {
            return Ok(Arc::new(EmptyExec::new(project_schema(&self.schema, projection)?)));
        }
        let table_schema = TableSchemaBuilder::new(self.file_schema()).with_table_partition_cols(vec![file_field()]).with_virtual_columns(vec![row_field()]).build();
        let source = ParquetSource::new(table_schema).with_table_parquet_options(state.table_options().parquet.clone());
        let mut partitioned = Vec::with_capacity(self.files.len());
        for (index, file) in self.files.iter().enumerate() {
            let location = ObjectPath::from_absolute_path(self.table.storage().absolute(&file.path)).map_err(|e| DataFusionError::External(Box::new(e)))?;
            let meta = ObjectMeta { location, last_modified: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH, size: file.size, e_tag: None, version: None };
            partitioned.push(PartitionedFile::new_from_meta(meta).with_partition_values(vec![ScalarValue::UInt32(Some(index as u32))]));
        }
        let groups = FileGroup::new(partitioned).split_files(state.config_options().execution.target_partitions.max(1));
        let config = FileScanConfigBuilder::new(ObjectStoreUrl::local_filesystem(), Arc::new(source))
            .with_file_groups(groups)
            .with_projection_indices(projection.cloned())?
            .with_limit(limit)
            .build();
        Ok(DataSourceExec::from_data_source(config))
    }
}

/// Write `file` again without the rows numbered in `removed`: the new file, or `None` if
/// no row is left.
fn rewrite_file(storage: &Storage, table_id: i64, schema: &SchemaRef, file: &DataFile, removed: &HashSet<u64>) -> Result<Option<DataFile>> {
    let mut offset = 0u64;
    let kept = read_file(storage, file, schema)?.map(|batch| -> Result<RecordBatch> {
        let batch = batch?;
        let keep: BooleanArray = (0..batch.num_rows() as u64).map(|i| Some(!removed.contains(&(offset + i)))).collect();
        offset += batch.num_rows() as u64;
        Ok(filter_record_batch(&batch, &keep)?)
    });
    write_new_file(storage, table_id, schema, kept)
}

fn remove_files(storage: &Storage, files: &[DataFile]) {
    for file in files {
        let _ = std::fs::remove_file(storage.absolute(&file.path));
    }
}

fn internal(what: &str) -> DataFusionError {
    DataFusionError::Internal(format!("UPDATE/DELETE: unexpected {what}"))
}
