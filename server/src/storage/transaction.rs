//! Writes inside a transaction block. A statement in `BEGIN ... COMMIT` that writes few
//! rows keeps them here, in memory, and the block writes them out as one file per table
//! (at `COMMIT`, or sooner once they add up); a larger one writes and syncs its file as
//! any other, but the file is only recorded here, with the session. Either way the
//! session's own queries read the rows, nobody else's do. `TRUNCATE` in a block is recorded the
//! same way (the session's scans stop reading the table's committed files). `COMMIT`
//! applies every change of the block in one SQLite transaction, so other sessions see the
//! whole block or nothing; `ROLLBACK` (also an ended connection, and `COMMIT` of a failed
//! block) forgets them and deletes the block's files; `ROLLBACK TO SAVEPOINT` does so for
//! what came after the savepoint. Each statement reads what was committed when it was
//! planned (PostgreSQL's default, READ COMMITTED) plus the block's own changes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;

use super::Storage;
use super::meta::{CatalogChange, DataFile};
use super::table::Files;
use crate::error::{Result, ServerError};

/// A block keeps the rows of its small writes to a table in memory until they reach
/// this many rows or [`BUFFER_BYTES`], then writes them out as one file.
pub(super) const BUFFER_ROWS: u64 = 100_000;
pub(super) const BUFFER_BYTES: usize = 32 << 20;

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
    /// Per table, at least the rows and bytes of its largest group of buffered writes
    /// (see [`TransactionWrites::write_buffered`]): cheap to keep, checked per statement.
    buffered: HashMap<i64, (u64, usize)>,
}

/// A change waiting for its block to commit.
#[derive(Debug)]
pub(super) enum Change {
    /// A written, synced file.
    Write(Pending),
    /// Rows of a small write, not yet in a file.
    Buffered(Buffered),
    /// `TRUNCATE`: the table's committed files go.
    Truncate { table_id: i64, files: Files },
    /// `UPDATE`/`DELETE`: files (committed ones or the block's) give way to rewritten ones.
    Replace { table_id: i64, files: Files, retired: Vec<DataFile>, added: Vec<DataFile> },
    /// What is left where buffered rows were merged into a file written for an earlier
    /// change (positions stay, so savepoints keep pointing at the right place).
    Merged,
}

/// Rows of one small write in a block, conformed to the table's schema.
#[derive(Debug)]
pub(super) struct Buffered {
    pub table_id: i64,
    pub files: Files,
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    pub rows: u64,
    pub bytes: usize,
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
    /// The block's rows of the table not yet in a file (after its last truncation).
    pub batches: Vec<RecordBatch>,
    /// Committed files of the table the block rewrote: not read.
    pub retired: std::collections::HashSet<String>,
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
        let mut block = self.lock();
        if let Change::Buffered(b) = &change {
            let total = block.buffered.entry(b.table_id).or_default();
            *total = (total.0 + b.rows, total.1 + b.bytes);
        }
        block.changes.push(change);
    }

    /// Whether the block's buffered writes to `table_id` may have reached [`BUFFER_ROWS`]
    /// or [`BUFFER_BYTES`], so that [`TransactionWrites::write_buffered`] should look.
    pub(super) fn buffered_may_be_large(&self, table_id: i64) -> bool {
        self.lock().buffered.get(&table_id).is_some_and(|(rows, bytes)| *rows >= BUFFER_ROWS || *bytes >= BUFFER_BYTES)
    }

    /// The block's own changes to table `id`, for the session's scans.
    pub fn own_changes(&self, table_id: i64) -> OwnChanges {
        let mut own = OwnChanges::default();
        for change in &self.lock().changes {
            match change {
                Change::Write(p) if p.table_id == table_id => own.files.push(p.file.clone()),
                Change::Buffered(b) if b.table_id == table_id => own.batches.extend(b.batches.iter().cloned()),
                Change::Truncate { table_id: id, .. } if *id == table_id => {
                    own.truncated = true;
                    own.files.clear();
                    own.batches.clear();
                    own.retired.clear();
                }
                Change::Replace { table_id: id, retired, added, .. } if *id == table_id => replace(&mut own.files, &mut own.retired, retired, added),
                _ => {}
            }
        }
        own
    }

    /// `COMMIT`: apply every change of the block in one SQLite transaction, then show the
    /// result to new scans. If the catalog refuses (a table was dropped meanwhile),
    /// nothing of the block is kept.
    pub async fn commit(self: &Arc<Self>) -> Result<()> {
        if let Err(e) = self.write_buffered(None, false).await {
            self.rollback();
            return Err(e);
        }
        let changes = self.end();
        if changes.is_empty() {
            return Ok(());
        }
        let catalog: Vec<CatalogChange> = changes
            .iter()
            .filter_map(|c| match c {
                Change::Write(p) => Some(CatalogChange::AddFile(p.table_id, p.file.clone())),
                Change::Truncate { table_id, .. } => Some(CatalogChange::Truncate(*table_id)),
                Change::Replace { table_id, retired, added, .. } => Some(CatalogChange::Replace {
                    table: *table_id,
                    retired: retired.iter().map(|f| f.path.clone()).collect(),
                    added: added.clone(),
                }),
                // `write_buffered` above left no rows in memory.
                Change::Buffered(_) | Change::Merged => None,
            })
            .collect();
        let committed = self.storage.commit(catalog, || publish(&changes)).await;
        if let Err(e) = committed {
            self.discard(&changes);
            return Err(e);
        }
        Ok(())
    }

    /// Write the block's rows still in memory to files: those of table `only` (every
    /// table's if `None`), and with `when_large` only where they reached [`BUFFER_ROWS`]
    /// or [`BUFFER_BYTES`]. The rows of one table between two savepoints (or a savepoint
    /// and a `TRUNCATE` of it) go to one file, which takes the place of the first of
    /// their changes, so `ROLLBACK TO` still drops exactly what came after its savepoint.
    pub async fn write_buffered(self: &Arc<Self>, only: Option<i64>, when_large: bool) -> Result<()> {
        let writes = Arc::clone(self);
        tokio::task::spawn_blocking(move || writes.write_buffered_blocking(only, when_large)).await.map_err(catalog_writer)?
    }

    fn write_buffered_blocking(&self, only: Option<i64>, when_large: bool) -> Result<()> {
        let mut block = self.lock();
        // Group the buffered changes: (table, segment) -> indices, segments split at
        // savepoints and at truncations of the table.
        let marks: Vec<usize> = block.savepoints.iter().map(|(_, mark)| *mark).collect();
        let mut truncations: HashMap<i64, usize> = HashMap::new();
        let mut group_of: HashMap<(i64, usize, usize), usize> = HashMap::new();
        let mut groups: Vec<(i64, Vec<usize>)> = Vec::new();
        for (index, change) in block.changes.iter().enumerate() {
            match change {
                Change::Truncate { table_id, .. } => *truncations.entry(*table_id).or_default() += 1,
                Change::Buffered(b) if only.is_none_or(|t| t == b.table_id) => {
                    let savepoints_before = marks.iter().filter(|m| **m <= index).count();
                    let key = (b.table_id, savepoints_before, truncations.get(&b.table_id).copied().unwrap_or(0));
                    let group = *group_of.entry(key).or_insert_with(|| {
                        groups.push((b.table_id, Vec::new()));
                        groups.len() - 1
                    });
                    groups[group].1.push(index);
                }
                _ => {}
            }
        }
        let mut remaining: HashMap<i64, (u64, usize)> = HashMap::new();
        for (table_id, indices) in groups {
            let parts: Vec<&Buffered> = indices
                .iter()
                .filter_map(|i| match &block.changes[*i] {
                    Change::Buffered(b) => Some(b),
                    _ => None,
                })
                .collect();
            let (rows, bytes) = parts.iter().fold((0, 0), |(r, b), p| (r + p.rows, b + p.bytes));
            if when_large && rows < BUFFER_ROWS && bytes < BUFFER_BYTES {
                let largest = remaining.entry(table_id).or_default();
                *largest = (largest.0.max(rows), largest.1.max(bytes));
                continue;
            }
            let schema = Arc::clone(&parts[0].schema);
            let files = parts[0].files.clone();
            let batches: Vec<&RecordBatch> = parts.iter().flat_map(|p| p.batches.iter()).collect();
            // One batch: thousands of one-row batches make a slow file to write and read.
            let batch = datafusion::arrow::compute::concat_batches(&schema, batches).map_err(|e| ServerError::DataFusion(e.into()))?;
            let file = super::sink::write_new_file(&self.storage, table_id, &schema, std::iter::once(Ok(batch))).map_err(ServerError::DataFusion)?;
            for (n, index) in indices.iter().enumerate() {
                block.changes[*index] = if n == 0 {
                    match &file {
                        Some(file) => Change::Write(Pending { table_id, files: files.clone(), file: file.clone() }),
                        None => Change::Merged,
                    }
                } else {
                    Change::Merged
                };
            }
        }
        match only {
            Some(table_id) => {
                block.buffered.insert(table_id, remaining.get(&table_id).copied().unwrap_or_default());
            }
            None => block.buffered = remaining,
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
        block.buffered.clear();
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
        let written = changes.iter().flat_map(|change| match change {
            Change::Write(p) => std::slice::from_ref(&p.file),
            Change::Replace { added, .. } => added.as_slice(),
            _ => &[],
        });
        for file in written {
            let path = self.storage.absolute(&file.path);
            if let Err(e) = std::fs::remove_file(&path) {
                // Left for the next start's sweep: no catalog row names it.
                tracing::warn!("cannot remove {}: {e}", path.display());
            }
        }
    }
}

/// A `Replace` over a block's changes so far: a retired file the block wrote itself leaves
/// `own`; any other (a committed file) joins `retired`; the added files join `own`.
fn replace(own: &mut Vec<DataFile>, retired: &mut std::collections::HashSet<String>, gone: &[DataFile], added: &[DataFile]) {
    for file in gone {
        match own.iter().position(|f| f.path == file.path) {
            Some(at) => {
                own.remove(at);
            }
            None => {
                retired.insert(file.path.clone());
            }
        }
    }
    own.extend(added.iter().cloned());
}

/// Show committed `changes` to new scans, table by table.
fn publish(changes: &[Change]) {
    #[derive(Default)]
    struct Net {
        truncated: bool,
        retired: std::collections::HashSet<String>,
        added: Vec<DataFile>,
    }
    let mut tables: HashMap<i64, (Files, Net)> = HashMap::new();
    for change in changes {
        let (table_id, files) = match change {
            Change::Write(p) => (p.table_id, &p.files),
            Change::Truncate { table_id, files } | Change::Replace { table_id, files, .. } => (*table_id, files),
            Change::Buffered(_) | Change::Merged => continue,
        };
        let net = &mut tables.entry(table_id).or_insert_with(|| (files.clone(), Net::default())).1;
        match change {
            Change::Write(p) => net.added.push(p.file.clone()),
            Change::Truncate { .. } => *net = Net { truncated: true, ..Net::default() },
            Change::Replace { retired, added, .. } => replace(&mut net.added, &mut net.retired, retired, added),
            Change::Buffered(_) | Change::Merged => {}
        }
    }
    for (files, net) in tables.into_values() {
        if net.truncated {
            files.replace(net.added);
        } else {
            files.apply(&net.retired, net.added);
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
