//! A managed table as DataFusion sees it: a [`TableProvider`] whose scan is a plain
//! Parquet scan over the files of the snapshot it pins at planning time (so it prunes on
//! Parquet statistics, and DataFusion's own serializer can ship it), and whose
//! `insert_into` writes new files through [`super::sink::TableSink`].

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::common::stats::Precision;
use datafusion::common::{Statistics, project_schema};
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::sink::DataSinkExec;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::object_store::ObjectMeta;
use datafusion::object_store::path::Path as ObjectPath;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::union::UnionExec;

use super::Storage;
use super::meta::DataFile;
use super::meta::CatalogChange;
use super::sink::TableSink;
use super::transaction::{Change, TransactionWrites};

/// One managed table: its schema, defaults and the files of its latest committed snapshot.
#[derive(Debug)]
pub struct ManagedTable {
    id: i64,
    name: String,
    schema: SchemaRef,
    defaults: HashMap<String, Expr>,
    owner: String,
    /// The committed files; a scan clones the inner `Arc` (its snapshot), a commit
    /// replaces it.
    files: Files,
    storage: Arc<Storage>,
}

impl ManagedTable {
    pub(super) fn new(id: i64, name: String, schema: SchemaRef, defaults: HashMap<String, Expr>, owner: String, files: Vec<DataFile>, storage: Arc<Storage>) -> Self {
        Self { id, name, schema, defaults, owner, files: Files(Arc::new(RwLock::new(Arc::new(files)))), storage }
    }

    /// The same table (same id, files and writers) under another name.
    pub fn renamed(&self, name: &str) -> Self {
        Self {
            id: self.id,
            name: name.to_string(),
            schema: Arc::clone(&self.schema),
            defaults: self.defaults.clone(),
            owner: self.owner.clone(),
            files: self.files.clone(),
            storage: Arc::clone(&self.storage),
        }
    }

    pub fn id(&self) -> i64 {
        self.id
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// A temporary table: its session's only, never in the catalog.
    pub fn is_temporary(&self) -> bool {
        self.id < 0
    }

    /// Delete the table's files (a temporary table that its session dropped).
    pub fn remove_files(&self) {
        self.storage.remove_table_files(self.id);
    }

    /// The table's schema (its columns' nullability as declared).
    pub fn schema_ref(&self) -> &SchemaRef {
        &self.schema
    }

    pub(super) fn storage(&self) -> &Arc<Storage> {
        &self.storage
    }

    pub(super) fn files(&self) -> &Files {
        &self.files
    }

    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// The files of the latest committed snapshot.
    pub fn snapshot(&self) -> Arc<Vec<DataFile>> {
        self.files.snapshot()
    }

    /// `TRUNCATE`: at once, or at the end of `writes`' transaction block if one is open.
    /// The files stay on disk until the next start (a running query may read them).
    pub async fn truncate(&self, writes: &TransactionWrites) -> crate::error::Result<()> {
        if writes.in_block() {
            writes.defer(Change::Truncate { table_id: self.id, files: self.files.clone() });
            return Ok(());
        }
        let files = self.files.clone();
        self.storage.commit(vec![CatalogChange::Truncate(self.id)], move || files.replace(Vec::new())).await
    }

    /// What a statement of the session with `config` reads: the committed files, as its
    /// transaction block changed them, and the block's rows still in memory.
    pub(super) fn visible(&self, config: &datafusion::prelude::SessionConfig) -> (Vec<DataFile>, Vec<datafusion::arrow::array::RecordBatch>) {
        let committed = self.snapshot();
        let Some(block) = config.get_extension::<TransactionWrites>() else {
            return (Vec::clone(&committed), Vec::new());
        };
        let own = block.own_changes(self.id);
        let mut files: Vec<DataFile> = if own.truncated {
            Vec::new()
        } else {
            committed.iter().filter(|f| !own.retired.contains(&f.path)).cloned().collect()
        };
        files.extend(own.files);
        (files, own.batches)
    }

    fn file_statistics(&self, file: &DataFile) -> Statistics {
        let mut stats = Statistics::new_unknown(&self.schema);
        stats.num_rows = Precision::Exact(file.rows as usize);
        stats.total_byte_size = Precision::Inexact(file.size as usize);
        stats
    }
}

#[async_trait]
impl TableProvider for ManagedTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn get_column_default(&self, column: &str) -> Option<&Expr> {
        self.defaults.get(column)
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> Result<Vec<TableProviderFilterPushDown>> {
        // Row groups and pages are pruned on Parquet statistics; the filter stays above.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    fn statistics(&self) -> Option<Statistics> {
        let files = self.snapshot();
        let mut stats = Statistics::new_unknown(&self.schema);
        stats.num_rows = Precision::Exact(files.iter().map(|f| f.rows as usize).sum());
        Some(stats)
    }

    async fn scan(&self, state: &dyn Session, projection: Option<&Vec<usize>>, filters: &[Expr], limit: Option<usize>) -> Result<Arc<dyn ExecutionPlan>> {
        let (files, buffered) = self.visible(state.config());
        // Rows the session's transaction block holds in memory are read beside the files.
        let in_memory = (!buffered.is_empty()).then(|| MemorySourceConfig::try_new_exec(&[buffered], Arc::clone(&self.schema), projection.cloned())).transpose()?;
        if files.is_empty() {
            return Ok(match in_memory {
                Some(in_memory) => in_memory,
                None => Arc::new(EmptyExec::new(project_schema(&self.schema, projection)?)),
            });
        }
        // `filters` are not applied here: DataFusion's physical filter pushdown hands the
        // filter above this scan (there, as the pushdown is inexact) to the Parquet source.
        let _ = filters;
        let source = ParquetSource::new(Arc::clone(&self.schema)).with_table_parquet_options(state.table_options().parquet.clone());
        let mut partitioned = Vec::with_capacity(files.len());
        let mut total = Statistics::new_unknown(&self.schema);
        total.num_rows = Precision::Exact(0);
        for file in files.iter() {
            let location = ObjectPath::from_absolute_path(self.storage.absolute(&file.path))
                .map_err(|e| DataFusionError::External(Box::new(e)))?;
            let meta = ObjectMeta { location, last_modified: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH, size: file.size, e_tag: None, version: None };
            partitioned.push(PartitionedFile::new_from_meta(meta).with_statistics(Arc::new(self.file_statistics(file))));
            total.num_rows = total.num_rows.add(&Precision::Exact(file.rows as usize));
        }
        let groups = FileGroup::new(partitioned).split_files(state.config_options().execution.target_partitions.max(1));
        let config = FileScanConfigBuilder::new(ObjectStoreUrl::local_filesystem(), Arc::new(source))
            .with_file_groups(groups)
            .with_statistics(total)
            .with_projection_indices(projection.cloned())?
            .with_limit(limit)
            .build();
        let scan: Arc<dyn ExecutionPlan> = DataSourceExec::from_data_source(config);
        match in_memory {
            Some(in_memory) => UnionExec::try_new(vec![scan, in_memory]),
            None => Ok(scan),
        }
    }

    async fn insert_into(&self, _state: &dyn Session, input: Arc<dyn ExecutionPlan>, insert_op: InsertOp) -> Result<Arc<dyn ExecutionPlan>> {
        if insert_op != InsertOp::Append {
            return Err(DataFusionError::NotImplemented(format!("{insert_op} into a managed table is not supported")));
        }
        let sink = TableSink::new(self.id, self.name.clone(), Arc::clone(&self.schema), self.files.clone(), Arc::clone(&self.storage));
        Ok(Arc::new(DataSinkExec::new(input, Arc::new(sink), None)))
    }
}

/// The committed file list of a table, shared by the table and the sinks writing to it.
#[derive(Debug, Clone)]
pub(super) struct Files(Arc<RwLock<Arc<Vec<DataFile>>>>);

impl Files {
    fn snapshot(&self) -> Arc<Vec<DataFile>> {
        Arc::clone(&self.0.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Make the committed table exactly `files` (after a `TRUNCATE`).
    pub(super) fn replace(&self, files: Vec<DataFile>) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(files);
    }

    /// Make `added` (just committed to the catalog) part of the table for new scans.
    pub(super) fn publish(&self, added: Vec<DataFile>) {
        self.apply(&std::collections::HashSet::new(), added);
    }

    /// New scans read the table without the files of `retired` (paths) and with `added`.
    pub(super) fn apply(&self, retired: &std::collections::HashSet<String>, added: Vec<DataFile>) {
        let mut files = self.0.write().unwrap_or_else(|p| p.into_inner());
        let mut next: Vec<DataFile> = files.iter().filter(|f| !retired.contains(&f.path)).cloned().collect();
        next.extend(added);
        *files = Arc::new(next);
    }
}
