//! Writes inside a transaction block. A statement in `BEGIN ... COMMIT` writes and syncs
//! its file as any other, but the file is only recorded here, with the session: the
//! session's own queries read it, nobody else's do. `COMMIT` records every file of the
//! block in one SQLite transaction, so other sessions see the whole block or nothing;
//! `ROLLBACK` (also an ended connection, and `COMMIT` of a failed block) deletes them;
//! `ROLLBACK TO SAVEPOINT` deletes those written since the savepoint. Each statement reads
//! what was committed when it was planned (PostgreSQL's default, READ COMMITTED) plus the
//! block's own writes.

use std::sync::{Arc, Mutex, MutexGuard};

use super::Storage;
use super::meta::DataFile;
use super::table::Files;
use crate::error::{Result, ServerError};

/// One session's transaction block, as far as managed tables are concerned.
#[derive(Debug)]
pub struct TransactionWrites {
    storage: Arc<Storage>,
    state: Mutex<Block>,
}

#[derive(Debug, Default)]
struct Block {
    open: bool,
    pending: Vec<Pending>,
    /// Savepoint names and how many writes were pending when each was set.
    savepoints: Vec<(String, usize)>,
}

/// A written, synced file waiting for its block to commit.
#[derive(Debug)]
pub(super) struct Pending {
    pub table_id: i64,
    pub files: Files,
    pub file: DataFile,
}

impl TransactionWrites {
    pub fn new(storage: Arc<Storage>) -> Self {
        Self { storage, state: Mutex::default() }
    }

    fn lock(&self) -> MutexGuard<'_, Block> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `BEGIN`: writes wait for `COMMIT` from now on (a second `BEGIN` changes nothing).
    pub fn begin(&self) {
        self.lock().open = true;
    }

    /// Whether a block is open (so a write is deferred to its end).
    pub fn in_block(&self) -> bool {
        self.lock().open
    }

    /// Keep `pending` for the end of the block.
    pub(super) fn defer(&self, pending: Pending) {
        self.lock().pending.push(pending);
    }

    /// The block's own files of table `id`, for the session's scans.
    pub fn pending_files(&self, table_id: i64) -> Vec<DataFile> {
        self.lock().pending.iter().filter(|p| p.table_id == table_id).map(|p| p.file.clone()).collect()
    }

    /// `COMMIT`: record every file of the block in one SQLite transaction, then show them
    /// to new scans. If the catalog refuses (a table was dropped meanwhile), nothing of
    /// the block is kept.
    pub async fn commit(&self) -> Result<()> {
        let pending = {
            let mut block = self.lock();
            block.open = false;
            block.savepoints.clear();
            std::mem::take(&mut block.pending)
        };
        if pending.is_empty() {
            return Ok(());
        }
        let batch: Vec<(i64, DataFile)> = pending.iter().map(|p| (p.table_id, p.file.clone())).collect();
        let store = Arc::clone(self.storage.store());
        let committed = tokio::task::spawn_blocking(move || store.add_data_files_of_tables(&batch))
            .await
            .map_err(|e| ServerError::io("catalog writer", std::io::Error::other(e)))?;
        if let Err(e) = committed {
            self.discard(&pending);
            return Err(e);
        }
        for p in pending {
            p.files.publish(vec![p.file]);
        }
        Ok(())
    }

    /// `ROLLBACK`: forget the block and delete its files.
    pub fn rollback(&self) {
        let pending = {
            let mut block = self.lock();
            block.open = false;
            block.savepoints.clear();
            std::mem::take(&mut block.pending)
        };
        self.discard(&pending);
    }

    /// `SAVEPOINT name` (a later one of the same name hides the earlier, as in PostgreSQL).
    pub fn savepoint(&self, name: &str) {
        let mut block = self.lock();
        let mark = block.pending.len();
        block.savepoints.push((name.to_string(), mark));
    }

    /// `ROLLBACK TO SAVEPOINT name`: delete what was written since; the savepoint stays.
    /// `false` if there is no such savepoint.
    pub fn rollback_to(&self, name: &str) -> bool {
        let dropped = {
            let mut block = self.lock();
            let Some(at) = block.savepoints.iter().rposition(|(n, _)| n == name) else {
                return false;
            };
            let mark = block.savepoints[at].1;
            block.savepoints.truncate(at + 1);
            block.pending.split_off(mark)
        };
        self.discard(&dropped);
        true
    }

    /// `RELEASE SAVEPOINT name`: the savepoint and those after it go; the writes stay.
    pub fn release(&self, name: &str) -> bool {
        let mut block = self.lock();
        match block.savepoints.iter().rposition(|(n, _)| n == name) {
            Some(at) => {
                block.savepoints.truncate(at);
                true
            }
            None => false,
        }
    }

    fn discard(&self, pending: &[Pending]) {
        for p in pending {
            let path = self.storage.absolute(&p.file.path);
            if let Err(e) = std::fs::remove_file(&path) {
                // Left for the next start's sweep: no catalog row names it.
                tracing::warn!("cannot remove {}: {e}", path.display());
            }
        }
    }
}

impl Drop for TransactionWrites {
    /// A connection that ends inside a block rolls it back, as in PostgreSQL.
    fn drop(&mut self) {
        self.rollback();
    }
}
