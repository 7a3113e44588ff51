//! `VACUUM`: the small files of a managed table (many single-row `INSERT`s outside a
//! transaction block make one each) are merged into one, committed as one `Replace` of
//! the catalog, as an `UPDATE` is. Readers keep reading the files they pinned.

use std::sync::Arc;

use datafusion::error::Result as DfResult;

use super::meta::{CatalogChange, DataFile};
use super::sink::{read_file, write_new_file};
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
            let readers = inputs.iter().map(|file| read_file(&storage, file, &schema)).collect::<DfResult<Vec<_>>>()?;
            write_new_file(&storage, table_id, &schema, readers.into_iter().flatten())
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
