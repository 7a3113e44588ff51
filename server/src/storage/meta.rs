//! The catalog rows of managed tables, in the same SQLite database as every other object
//! (so one SQLite transaction is the commit point of a table change).
//!
//! A managed table is an `objects` row of kind `managed_table` (its name, its place in
//! creation order; the row's `ddl` is `{"id": N}`), a `managed_tables` row (its Arrow
//! schema, column defaults, owner) and one `data_files` row per live Parquet file. Data
//! files are written and synced before the transaction that records them commits; a file
//! no row names is not part of any table and is swept at startup.

use std::io::Cursor;
use std::sync::Arc;

use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::ipc::writer::StreamWriter;
use rusqlite::{OptionalExtension, params};

use crate::catalog::{CatalogStore, ObjectKind};
use crate::error::{Result, ServerError};

pub(crate) const MANAGED_SCHEMA_SQL: &str = "
CREATE TABLE IF NOT EXISTS managed_tables (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    arrow_schema BLOB NOT NULL,
    defaults     TEXT NOT NULL DEFAULT '[]',
    owner        TEXT NOT NULL,
    created      TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE TABLE IF NOT EXISTS data_files (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    table_id  INTEGER NOT NULL REFERENCES managed_tables (id),
    path      TEXT NOT NULL UNIQUE,
    size      INTEGER NOT NULL,
    row_count INTEGER NOT NULL,
    added     TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE INDEX IF NOT EXISTS data_files_by_table ON data_files (table_id);";

/// What a managed table is, apart from its data.
#[derive(Debug, Clone)]
pub struct TableMeta {
    pub id: i64,
    pub schema: SchemaRef,
    /// `(column, SQL text of its DEFAULT expression)`.
    pub defaults: Vec<(String, String)>,
    pub owner: String,
}

/// One committed Parquet file of a table; `path` is relative to the data directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFile {
    pub path: String,
    pub size: u64,
    pub rows: u64,
}

impl CatalogStore {
    /// Record a new, empty managed table `schema.name`; returns its id.
    pub fn create_managed_table(&self, schema: &str, name: &str, table: &Schema, defaults: &[(String, String)], owner: &str) -> Result<i64> {
        let schema_bytes = encode_schema(table)?;
        let defaults = serde_json::to_string(defaults).map_err(|e| internal(format!("column defaults: {e}")))?;
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        tx.execute("INSERT INTO managed_tables (arrow_schema, defaults, owner) VALUES (?1, ?2, ?3)", params![schema_bytes, defaults, owner])?;
        let id = tx.last_insert_rowid();
        tx.execute(
            "INSERT INTO objects (kind, schema, name, ddl) VALUES (?1, ?2, ?3, ?4)",
            params![ObjectKind::ManagedTable.as_str(), schema, name, object_ddl(id)],
        )?;
        tx.commit()?;
        Ok(id)
    }

    /// The table with `id` and its live files.
    pub fn managed_table(&self, id: i64) -> Result<(TableMeta, Vec<DataFile>)> {
        let conn = self.lock();
        let row = conn
            .query_row("SELECT arrow_schema, defaults, owner FROM managed_tables WHERE id = ?1", params![id], |row| {
                Ok((row.get::<_, Vec<u8>>(0)?, row.get::<_, String>(1)?, row.get::<_, String>(2)?))
            })
            .optional()?;
        let Some((schema_bytes, defaults, owner)) = row else {
            return Err(internal(format!("managed table {id} is not in the catalog")));
        };
        let schema = decode_schema(&schema_bytes)?;
        let defaults = serde_json::from_str(&defaults).map_err(|e| internal(format!("column defaults of table {id}: {e}")))?;
        let mut stmt = conn.prepare("SELECT path, size, row_count FROM data_files WHERE table_id = ?1 ORDER BY id")?;
        let files = stmt
            .query_map(params![id], |row| Ok(DataFile { path: row.get(0)?, size: row.get::<_, i64>(1)? as u64, rows: row.get::<_, i64>(2)? as u64 }))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok((TableMeta { id, schema, defaults, owner }, files))
    }

    /// Apply `changes` (a statement's, or a transaction block's) in one transaction, in order.
    pub fn apply_changes(&self, changes: &[CatalogChange]) -> Result<()> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        for change in changes {
            match change {
                CatalogChange::AddFile(id, file) => insert_file(&tx, *id, file)?,
                CatalogChange::Truncate(id) => {
                    require_table(&tx, *id)?;
                    tx.execute("DELETE FROM data_files WHERE table_id = ?1", params![id])?;
                }
                CatalogChange::Replace { table, retired, added } => {
                    require_table(&tx, *table)?;
                    for path in retired {
                        // Gone already: another transaction rewrote or truncated it since
                        // this one read it. The later committer fails, as in PostgreSQL.
                        if tx.execute("DELETE FROM data_files WHERE table_id = ?1 AND path = ?2", params![table, path])? == 0 {
                            return Err(ServerError::SerializationFailure);
                        }
                    }
                    for file in added {
                        insert_file(&tx, *table, file)?;
                    }
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Forget managed table `schema.name` (id `id`) and its files, in one transaction.
    pub fn drop_managed_table(&self, schema: &str, name: &str, id: i64) -> Result<()> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        tx.execute(
            "DELETE FROM objects WHERE kind = ?1 AND schema = ?2 AND name = ?3",
            params![ObjectKind::ManagedTable.as_str(), schema, name],
        )?;
        delete_table_rows(&tx, id)?;
        tx.commit()?;
        Ok(())
    }

    /// Forget the managed tables no `objects` row names any more (left by `DROP SCHEMA ...
    /// CASCADE`, which forgets the objects of a schema) and return every live file path.
    pub fn collect_managed_garbage(&self) -> Result<std::collections::HashSet<String>> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let referenced = {
            let mut stmt = tx.prepare("SELECT ddl FROM objects WHERE kind = ?1")?;
            let ddls = stmt.query_map(params![ObjectKind::ManagedTable.as_str()], |row| row.get::<_, String>(0))?.collect::<rusqlite::Result<Vec<_>>>()?;
            ddls.iter().filter_map(|ddl| object_id(ddl)).collect::<std::collections::HashSet<i64>>()
        };
        let all = {
            let mut stmt = tx.prepare("SELECT id FROM managed_tables")?;
            stmt.query_map([], |row| row.get::<_, i64>(0))?.collect::<rusqlite::Result<Vec<_>>>()?
        };
        for id in all.into_iter().filter(|id| !referenced.contains(id)) {
            delete_table_rows(&tx, id)?;
        }
        let live = {
            let mut stmt = tx.prepare("SELECT path FROM data_files")?;
            stmt.query_map([], |row| row.get::<_, String>(0))?.collect::<rusqlite::Result<std::collections::HashSet<_>>>()?
        };
        tx.commit()?;
        Ok(live)
    }
}

/// A change to the data of managed tables.
#[derive(Debug, Clone)]
pub enum CatalogChange {
    /// A written, synced file joins table `id`.
    AddFile(i64, DataFile),
    /// Table `id` loses all its files (`TRUNCATE`).
    Truncate(i64),
    /// `UPDATE`/`DELETE`: files of `table` (paths) give way to their rewritten rows. Fails
    /// with `40001` if one of `retired` is no longer part of the table.
    Replace { table: i64, retired: Vec<String>, added: Vec<DataFile> },
}

impl CatalogChange {
    /// The table the change is to.
    pub fn table(&self) -> i64 {
        match self {
            CatalogChange::AddFile(id, _) | CatalogChange::Truncate(id) => *id,
            CatalogChange::Replace { table, .. } => *table,
        }
    }
}

/// Table `id` must still exist (it may have been dropped while it was written to).
fn require_table(tx: &rusqlite::Transaction<'_>, id: i64) -> Result<()> {
    let exists: Option<i64> = tx.query_row("SELECT id FROM managed_tables WHERE id = ?1", params![id], |row| row.get(0)).optional()?;
    match exists {
        Some(_) => Ok(()),
        None => Err(ServerError::UndefinedTable { name: format!("(dropped while it was written to, id {id})") }),
    }
}

/// Record `file` of table `id`, which must still exist.
fn insert_file(tx: &rusqlite::Transaction<'_>, id: i64, file: &DataFile) -> Result<()> {
    require_table(tx, id)?;
    tx.execute(
        "INSERT INTO data_files (table_id, path, size, row_count) VALUES (?1, ?2, ?3, ?4)",
        params![id, file.path, file.size as i64, file.rows as i64],
    )?;
    Ok(())
}

fn delete_table_rows(tx: &rusqlite::Transaction<'_>, id: i64) -> Result<()> {
    tx.execute("DELETE FROM data_files WHERE table_id = ?1", params![id])?;
    tx.execute("DELETE FROM managed_tables WHERE id = ?1", params![id])?;
    Ok(())
}

/// The `ddl` of a managed table's `objects` row.
fn object_ddl(id: i64) -> String {
    serde_json::json!({ "id": id }).to_string()
}

/// The table id in a managed table's `objects` row.
pub fn object_id(ddl: &str) -> Option<i64> {
    serde_json::from_str::<serde_json::Value>(ddl).ok()?.get("id")?.as_i64()
}

/// An Arrow schema as an IPC stream with no batches (types, nullability, metadata kept).
fn encode_schema(schema: &Schema) -> Result<Vec<u8>> {
    let mut writer = StreamWriter::try_new(Vec::new(), schema).map_err(datafusion::error::DataFusionError::from)?;
    writer.finish().map_err(datafusion::error::DataFusionError::from)?;
    writer.into_inner().map_err(|e| ServerError::DataFusion(e.into()))
}

fn decode_schema(bytes: &[u8]) -> Result<SchemaRef> {
    let reader = StreamReader::try_new(Cursor::new(bytes), None).map_err(datafusion::error::DataFusionError::from)?;
    Ok(Arc::clone(&reader.schema()))
}

fn internal(message: String) -> ServerError {
    ServerError::DataFusion(datafusion::error::DataFusionError::Internal(message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::{DataType, Field};

    #[test]
    fn a_table_and_its_files_survive_reopen_and_drop_forgets_both() {
        let dir = std::env::temp_dir().join(format!("ember-meta-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let schema = Schema::new(vec![Field::new("a", DataType::Int32, false), Field::new("b", DataType::Utf8, true)]);
        let defaults = vec![("b".to_string(), "'x'".to_string())];
        let file = DataFile { path: "tables/1/f.parquet".into(), size: 10, rows: 2 };
        let id = {
            let store = CatalogStore::open(&dir).unwrap();
            let id = store.create_managed_table("public", "t", &schema, &defaults, "alice").unwrap();
            store.apply_changes(&[CatalogChange::AddFile(id, file.clone())]).unwrap();
            id
        };
        let store = CatalogStore::open(&dir).unwrap();
        let (meta, files) = store.managed_table(id).unwrap();
        assert_eq!(meta.schema.as_ref(), &schema);
        assert_eq!((meta.defaults, meta.owner.as_str()), (defaults, "alice"));
        assert_eq!(files, vec![file.clone()]);
        assert_eq!(store.collect_managed_garbage().unwrap(), [file.path.clone()].into_iter().collect());
        store.apply_changes(&[CatalogChange::Truncate(id)]).unwrap();
        assert!(store.managed_table(id).unwrap().1.is_empty());
        store.drop_managed_table("public", "t", id).unwrap();
        assert!(store.managed_table(id).is_err());
        assert!(store.apply_changes(&[CatalogChange::AddFile(id, file)]).is_err());
        assert!(store.apply_changes(&[CatalogChange::Truncate(id)]).is_err());
        assert!(store.collect_managed_garbage().unwrap().is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_replace_of_a_file_another_change_removed_is_a_serialization_failure() {
        let dir = std::env::temp_dir().join(format!("ember-meta-replace-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = CatalogStore::open(&dir).unwrap();
        let schema = Schema::new(vec![Field::new("a", DataType::Int32, true)]);
        let id = store.create_managed_table("public", "t", &schema, &[], "alice").unwrap();
        let file = |name: &str| DataFile { path: format!("tables/{id}/{name}"), size: 1, rows: 1 };
        store.apply_changes(&[CatalogChange::AddFile(id, file("a")), CatalogChange::AddFile(id, file("b"))]).unwrap();
        let replace = |retired: &str, added: &str| CatalogChange::Replace { table: id, retired: vec![file(retired).path], added: vec![file(added)] };
        store.apply_changes(&[replace("a", "a2")]).unwrap();
        // A second writer that read "a" too comes later: it fails and changes nothing.
        let err = store.apply_changes(&[replace("b", "b2"), replace("a", "a3")]).unwrap_err();
        assert_eq!(err.sqlstate(), "40001");
        let paths: Vec<String> = store.managed_table(id).unwrap().1.into_iter().map(|f| f.path).collect();
        assert_eq!(paths, vec![file("b").path, file("a2").path]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
