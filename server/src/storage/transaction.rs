//! Writes inside a transaction block. A statement in `BEGIN ... COMMIT` writes and syncs
//! its file as any other, but the file is only recorded here, with the session: the
//! session's own queries read it, nobody else's do. `TRUNCATE` in a block is recorded the
//! same way (the session's scans stop reading the table's committed files). `COMMIT`
//! applies every change of the block in one SQLite transaction, so other sessions see the
//! whole block or nothing; `ROLLBACK` (also an ended connection, and `COMMIT` of a failed
//! block) forgets them and deletes the block's files; `ROLLBACK TO SAVEPOINT` does so for
//! what came after the savepoint. Each statement reads what was committed when it was
//! planned (PostgreSQL's default, READ COMMITTED) plus the block's own changes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::Storage;
use super::meta::{CatalogChange, DataFile};
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
    changes: Vec<Change>,
    /// Savepoint names and how many changes the block had when each was set.
    savepoints: Vec<(String, usize)>,
}

/// A change waiting for its block to commit.
#[derive(Debug)]
pub(super) enum Change {
    /// A written, synced file.
    Write(Pending),
    /// `TRUNCATE`: the table's committed files go.
    Truncate { table_id: i64, files: Files },
}

/// A written, synced file waiting for its block to commit.
#[derive(Debug)]
pub(super) struct Pending {
    pub table_id: i64,
    pub files: Files,
    pub file: DataFile,
}

/// What the session's scans of one table read besides (or instead of) its committed files.
#[derive(Debug, Default)]
pub struct OwnChanges {
    /// The block truncated the table: its committed files are not read.
    pub truncated: bool,
    /// The block's files of the table (written after its last truncation).
    pub files: Vec<DataFile>,
}

impl TransactionWrites {
    pub fn new(storage: Arc<Storage>) -> Self {
        Self { storage, state: Mutex::default() }
    }

    fn lock(&self) -> MutexGuard<'_, Block> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `BEGIN`: changes wait for `COMMIT` from now on (a second `BEGIN` changes nothing).
    pub fn begin(&self) {
        self.lock().open = true;
    }

    /// Whether a block is open (so a change is deferred to its end).
    pub fn in_block(&self) -> bool {
        self.lock().open
    }

    /// Keep `change` for the end of the block.
    pub(super) fn defer(&self, change: Change) {
        self.lock().changes.push(change);
    }

    /// The block's own changes to table `id`, for the session's scans.
    pub fn own_changes(&self, table_id: i64) -> OwnChanges {
        let mut own = OwnChanges::default();
        for change in &self.lock().changes {
            match change {
                Change::Write(p) if p.table_id == table_id => own.files.push(p.file.clone()),
                Change::Truncate { table_id: id, .. } if *id == table_id => {
                    own.truncated = true;
                    own.files.clear();
                }
                _ => {}
            }
        }
        own
    }

    /// `COMMIT`: apply every change of the block in one SQLite transaction, then show the
    /// result to new scans. If the catalog refuses (a table was dropped meanwhile),
    /// nothing of the block is kept.
    pub async fn commit(&self) -> Result<()> {
        let changes = self.end();
        if changes.is_empty() {
            return Ok(());
        }
        let catalog: Vec<CatalogChange> = changes
            .iter()
            .map(|c| match c {
                Change::Write(p) => CatalogChange::AddFile(p.table_id, p.file.clone()),
                Change::Truncate { table_id, .. } => CatalogChange::Truncate(*table_id),
            })
            .collect();
        let committed = self.storage.commit(catalog, || publish(&changes)).await;
        if let Err(e) = committed {
            self.discard(&changes);
            return Err(e);
        }
        Ok(())
    }

    /// `ROLLBACK`: forget the block and delete its files.
    pub fn rollback(&self) {
        let changes = self.end();
        self.discard(&changes);
    }

    fn end(&self) -> Vec<Change> {
        let mut block = self.lock();
        block.open = false;
        block.savepoints.clear();
        std::mem::take(&mut block.changes)
    }

    /// `SAVEPOINT name` (a later one of the same name hides the earlier, as in PostgreSQL).
    pub fn savepoint(&self, name: &str) {
        let mut block = self.lock();
        let mark = block.changes.len();
        block.savepoints.push((name.to_string(), mark));
    }

    /// `ROLLBACK TO SAVEPOINT name`: forget what came since; the savepoint stays. `false`
    /// if there is no such savepoint.
    pub fn rollback_to(&self, name: &str) -> bool {
        let dropped = {
            let mut block = self.lock();
            let Some(at) = block.savepoints.iter().rposition(|(n, _)| n == name) else {
                return false;
            };
            let mark = block.savepoints[at].1;
            block.savepoints.truncate(at + 1);
            block.changes.split_off(mark)
        };
        self.discard(&dropped);
        true
    }

    /// `RELEASE SAVEPOINT name`: the savepoint and those after it go; the changes stay.
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

    fn discard(&self, changes: &[Change]) {
        for change in changes {
            if let Change::Write(p) = change {
                let path = self.storage.absolute(&p.file.path);
                if let Err(e) = std::fs::remove_file(&path) {
                    // Left for the next start's sweep: no catalog row names it.
                    tracing::warn!("cannot remove {}: {e}", path.display());
                }
            }
        }
    }
}

/// Show committed `changes` to new scans, table by table.
fn publish(changes: &[Change]) {
    let mut tables: HashMap<i64, (Files, bool, Vec<DataFile>)> = HashMap::new();
    for change in changes {
        match change {
            Change::Write(p) => tables.entry(p.table_id).or_insert_with(|| (p.files.clone(), false, Vec::new())).2.push(p.file.clone()),
            Change::Truncate { table_id, files } => {
                let entry = tables.entry(*table_id).or_insert_with(|| (files.clone(), false, Vec::new()));
                entry.1 = true;
                entry.2.clear();
            }
        }
    }
    for (files, truncated, added) in tables.into_values() {
        if truncated {
            files.replace(added);
        } else {
            files.publish(added);
        }
    }
}

impl Drop for TransactionWrites {
    /// A connection that ends inside a block rolls it back, as in PostgreSQL.
    fn drop(&mut self) {
        self.rollback();
    }
}

/// Errors of a commit the catalog refused.
pub(super) fn catalog_writer(e: tokio::task::JoinError) -> ServerError {
    ServerError::io("catalog writer", std::io::Error::other(e))
}
