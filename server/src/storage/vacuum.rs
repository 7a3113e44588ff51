//! `VACUUM`: the small files of a managed table (many single-row `INSERT`s outside a
//! transaction block make one each) are merged into one, committed as one `Replace` of
//! the catalog, as an `UPDATE` is. Readers keep reading the files they pinned.

use std::fs::File;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::meta::{CatalogChange, DataFile};
use super::sink::{to_df, write_file};
use super::table::ManagedTable;
use crate::error::{Result, ServerError};

/// Files smaller than this are merged.
const SMALL_FILE_BYTES: u64 = 16 << 20;

/// What one `VACUUM` of a table did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Compacted {
    /// Files merged away.
    pub merged: usize,
    /// Rows in them.
    pub rows: u64,
}

impl ManagedTable {
    /// Merge the table's small committed files into one. A concurrent `UPDATE`/`DELETE`
    /// that rewrote one of them first wins; the merge is then tried again from the new
    /// files (three times at most, then `40001`).
    pub async fn compact(&self) -> Result<Compacted> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            match self.compact_once().await {
                Err(ServerError::SerializationFailure) if attempts < 3 => continue,
                other => return other,
            }
        }
    }

    async fn compact_once(&self) -> Result<Compacted> {
        let small: Vec<DataFile> = self.snapshot().iter().filter(|f| f.size < SMALL_FILE_BYTES).cloned().collect();
        if small.len() < 2 {
            return Ok(Compacted::default());
        }
        let (storage, table_id, schema) = (Arc::clone(self.storage()), self.id(), Arc::clone(self.schema_ref()));
        let inputs = small.clone();
        let merged = tokio::task::spawn_blocking(move || -> DfResult<Option<DataFile>> {
            let (relative, absolute) = storage.new_data_file(table_id).map_err(to_df)?;
            let mut readers = Vec::with_capacity(inputs.len());
            for file in &inputs {
                let path = storage.absolute(&file.path);
                let source = File::open(&path).map_err(|e| DataFusionError::External(Box::new(ServerError::io(format!("cannot open {}", path.display()), e))))?;
                readers.push(ParquetRecordBatchReaderBuilder::try_new(source)?.with_batch_size(8192).build()?);
            }
            let batches = readers.into_iter().flatten().map(|batch| -> DfResult<RecordBatch> {
                let batch = batch?;
                Ok(RecordBatch::try_new(Arc::clone(&schema), batch.columns().to_vec())?)
            });
            match write_file(&absolute, &schema, batches) {
                Ok(Some((size, rows))) => Ok(Some(DataFile { path: relative, size, rows })),
                Ok(None) => Ok(None),
                Err(e) => {
                    let _ = std::fs::remove_file(&absolute);
                    Err(e)
                }
            }
        })
        .await
        .map_err(|e| ServerError::io("compaction", std::io::Error::other(e)))??;
        let rows = small.iter().map(|f| f.rows).sum();
        let added: Vec<DataFile> = merged.into_iter().collect();
        let change = CatalogChange::Replace { table: self.id(), retired: small.iter().map(|f| f.path.clone()).collect(), added: added.clone() };
        let gone = small.iter().map(|f| f.path.clone()).collect();
        let (files, published) = (self.files().clone(), added.clone());
        if let Err(e) = self.storage().commit(vec![change], move || files.apply(&gone, published)).await {
            for file in &added {
                let _ = std::fs::remove_file(self.storage().absolute(&file.path));
            }
            return Err(e);
        }
        Ok(Compacted { merged: small.len(), rows })
    }
}
