//! The persistent catalog: one SQLite database in the data directory.
//!
//! DataFusion keeps tables and views in memory; this store remembers the DDL that made
//! them so they come back after a restart. SQLite runs in WAL mode with
//! `synchronous=FULL`, so a statement that answered is on disk even after `kill -9`.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, params};

use crate::error::{Result, ServerError};

/// What kind of object a catalog row describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    Schema,
    Table,
    View,
    Function,
    /// A table whose data Ember keeps (`crate::storage`); `ddl` holds its id.
    ManagedTable,
}

impl ObjectKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ObjectKind::ManagedTable => "managed_table",
            ObjectKind::Schema => "schema",
            ObjectKind::Table => "table",
            ObjectKind::View => "view",
            ObjectKind::Function => "function",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "schema" => Some(ObjectKind::Schema),
            "table" => Some(ObjectKind::Table),
            "view" => Some(ObjectKind::View),
            "function" => Some(ObjectKind::Function),
            "managed_table" => Some(ObjectKind::ManagedTable),
            _ => None,
        }
    }
}

/// One remembered object and the statement that recreates it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    pub kind: ObjectKind,
    pub schema: String,
    pub name: String,
    pub ddl: String,
}

/// The SQLite-backed store.
#[derive(Debug)]
pub struct CatalogStore {
    conn: Mutex<Connection>,
    path: PathBuf,
}

const SCHEMA_SQL: &str = "
CREATE TABLE IF NOT EXISTS objects (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    kind    TEXT NOT NULL,
    schema  TEXT NOT NULL,
    name    TEXT NOT NULL,
    ddl     TEXT NOT NULL,
    created TEXT NOT NULL DEFAULT (datetime('now')),
    UNIQUE (kind, schema, name)
);";

impl CatalogStore {
    /// Open (creating if needed) `catalog.db` in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| ServerError::io(format!("cannot create data directory {}", data_dir.display()), e))?;
        let path = data_dir.join("catalog.db");
        let conn = Connection::open(&path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA_SQL)?;
        conn.execute_batch(crate::storage::meta::MANAGED_SCHEMA_SQL)?;
        conn.execute_batch(crate::sequences::SEQUENCES_SQL)?;
        Ok(Self { conn: Mutex::new(conn), path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent (it has its own
        // transactions), so a poisoned lock is still safe to use.
        self.conn.lock().unwrap_or_else(|poison| poison.into_inner())
    }

    /// All objects in creation order (so views come after the tables they read).
    pub fn objects(&self) -> Result<Vec<StoredObject>> {
        let conn = self.lock();
        let mut stmt = conn.prepare("SELECT kind, schema, name, ddl FROM objects ORDER BY seq")?;
        let rows = stmt.query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        })?;
        let mut objects = Vec::new();
        for row in rows {
            let (kind, schema, name, ddl) = row?;
            if let Some(kind) = ObjectKind::parse(&kind) {
                objects.push(StoredObject { kind, schema, name, ddl });
            }
        }
        Ok(objects)
    }

    /// Remember an object, replacing an earlier definition of the same name.
    pub fn put(&self, object: &StoredObject) -> Result<()> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        tx.execute(
            "DELETE FROM objects WHERE kind = ?1 AND schema = ?2 AND name = ?3",
            params![object.kind.as_str(), object.schema, object.name],
        )?;
        tx.execute(
            "INSERT INTO objects (kind, schema, name, ddl) VALUES (?1, ?2, ?3, ?4)",
            params![object.kind.as_str(), object.schema, object.name, object.ddl],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Forget an object; returns whether it was known.
    pub fn remove(&self, kind: ObjectKind, schema: &str, name: &str) -> Result<bool> {
        let conn = self.lock();
        let n = conn.execute(
            "DELETE FROM objects WHERE kind = ?1 AND schema = ?2 AND name = ?3",
            params![kind.as_str(), schema, name],
        )?;
        Ok(n > 0)
    }

    /// The stored object `kind schema.name`, if any.
    pub fn get(&self, kind: ObjectKind, schema: &str, name: &str) -> Result<Option<StoredObject>> {
        let conn = self.lock();
        let mut stmt = conn.prepare("SELECT ddl FROM objects WHERE kind = ?1 AND schema = ?2 AND name = ?3")?;
        let mut rows = stmt.query(params![kind.as_str(), schema, name])?;
        Ok(match rows.next()? {
            Some(row) => Some(StoredObject { kind, schema: schema.to_string(), name: name.to_string(), ddl: row.get(0)? }),
            None => None,
        })
    }

    /// Rename an object in place: it keeps its position in creation order (so objects
    /// created after it still come back after it). Returns whether it was known.
    pub fn rename(&self, kind: ObjectKind, schema: &str, name: &str, new_name: &str, new_ddl: &str) -> Result<bool> {
        let conn = self.lock();
        let n = conn.execute(
            "UPDATE objects SET name = ?4, ddl = ?5 WHERE kind = ?1 AND schema = ?2 AND name = ?3",
            params![kind.as_str(), schema, name, new_name, new_ddl],
        )?;
        Ok(n > 0)
    }

    /// Forget a schema and everything in it (`DROP SCHEMA ... CASCADE`).
    pub fn remove_schema(&self, schema: &str) -> Result<()> {
        let conn = self.lock();
        conn.execute("DELETE FROM objects WHERE schema = ?1", params![schema])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ember-catalog-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn objects_survive_reopen_in_order() {
        let dir = temp_dir("reopen");
        {
            let store = CatalogStore::open(&dir).unwrap();
            for (kind, name) in [(ObjectKind::Table, "t"), (ObjectKind::View, "v"), (ObjectKind::Table, "u")] {
                store
                    .put(&StoredObject { kind, schema: "public".into(), name: name.into(), ddl: format!("ddl {name}") })
                    .unwrap();
            }
            assert!(store.remove(ObjectKind::Table, "public", "u").unwrap());
            assert!(!store.remove(ObjectKind::Table, "public", "u").unwrap());
        }
        let store = CatalogStore::open(&dir).unwrap();
        let names: Vec<_> = store.objects().unwrap().into_iter().map(|o| o.name).collect();
        assert_eq!(names, vec!["t", "v"]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn renaming_keeps_the_position() {
        let dir = temp_dir("rename");
        {
            let store = CatalogStore::open(&dir).unwrap();
            let obj = |kind, name: &str| StoredObject { kind, schema: "s".into(), name: name.into(), ddl: format!("ddl {name}") };
            store.put(&obj(ObjectKind::Table, "t")).unwrap();
            store.put(&obj(ObjectKind::View, "v")).unwrap();
            assert!(store.rename(ObjectKind::Table, "s", "t", "t2", "ddl t2").unwrap());
            assert!(!store.rename(ObjectKind::View, "s", "t", "t3", "x").unwrap());
        }
        let store = CatalogStore::open(&dir).unwrap();
        let objects: Vec<_> = store.objects().unwrap().into_iter().map(|o| (o.name, o.ddl)).collect();
        assert_eq!(objects, vec![("t2".to_string(), "ddl t2".to_string()), ("v".to_string(), "ddl v".to_string())]);
        assert_eq!(store.get(ObjectKind::Table, "s", "t2").unwrap().map(|o| o.ddl), Some("ddl t2".to_string()));
        assert_eq!(store.get(ObjectKind::Table, "s", "t").unwrap(), None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn replacing_moves_to_the_end() {
        let dir = temp_dir("replace");
        let store = CatalogStore::open(&dir).unwrap();
        let obj = |name: &str, ddl: &str| StoredObject {
            kind: ObjectKind::View,
            schema: "public".into(),
            name: name.into(),
            ddl: ddl.into(),
        };
        store.put(&obj("a", "1")).unwrap();
        store.put(&obj("b", "2")).unwrap();
        store.put(&obj("a", "3")).unwrap();
        let objects = store.objects().unwrap();
        assert_eq!(objects, vec![obj("b", "2"), obj("a", "3")]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
