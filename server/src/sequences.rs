//! Sequences: `CREATE SEQUENCE`, the ones behind `serial` and identity columns, and
//! `nextval` / `currval` / `setval` / `lastval`.
//!
//! Each sequence is a row of the catalog's `sequences` table. As in PostgreSQL, values are
//! never handed out twice, even across a crash, and a rolled-back transaction does not
//! give its values back: `nextval` hands out values from memory and, before it passes the
//! value last written to the catalog, writes one 32 values further (one SQLite transaction
//! per 32 values). After a crash the sequence goes on after the written value, skipping
//! at most 32, as PostgreSQL's may. `currval` and `lastval` are per session.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::config::{ConfigEntry, ConfigExtension, ExtensionOptions};
use datafusion::common::{ScalarValue, exec_err};
use datafusion::config::ConfigOptions;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature, Volatility};
use ember_planner::data_error::PgDataError;
use ember_planner::sequence::SequenceOptions;
use rusqlite::{OptionalExtension, params};

use crate::catalog::CatalogStore;
use crate::error::{Result, ServerError};

pub(crate) const SEQUENCES_SQL: &str = "
CREATE TABLE IF NOT EXISTS sequences (
    schema      TEXT NOT NULL,
    name        TEXT NOT NULL,
    increment   INTEGER NOT NULL,
    min_value   INTEGER NOT NULL,
    max_value   INTEGER NOT NULL,
    start_value INTEGER NOT NULL,
    cycle       INTEGER NOT NULL,
    last_value  INTEGER NOT NULL,
    is_called   INTEGER NOT NULL,
    owner_table INTEGER,
    PRIMARY KEY (schema, name)
);";

/// How many values one catalog write covers.
const LOG_AHEAD: i64 = 32;

/// Every sequence of the server.
#[derive(Debug)]
pub struct Sequences {
    store: Arc<CatalogStore>,
    by_name: Mutex<HashMap<(String, String), Arc<Mutex<Sequence>>>>,
}

#[derive(Debug)]
struct Sequence {
    options: SequenceOptions,
    /// The last value handed out (or to start from, when not `is_called`).
    last: i64,
    is_called: bool,
    /// The value the catalog holds: the sequence restarts after it.
    logged: i64,
    owner_table: Option<i64>,
}

impl Sequences {
    /// The sequences of the catalog.
    pub fn load(store: Arc<CatalogStore>) -> Result<Arc<Self>> {
        let mut by_name = HashMap::new();
        {
            let conn = store.lock();
            // Sequences of temporary tables (negative ids) of servers gone.
            conn.execute("DELETE FROM sequences WHERE owner_table < 0", [])?;
            let mut stmt = conn.prepare("SELECT schema, name, increment, min_value, max_value, start_value, cycle, last_value, is_called, owner_table FROM sequences")?;
            let rows = stmt.query_map([], |r| {
                let options = SequenceOptions { increment: r.get(2)?, min: r.get(3)?, max: r.get(4)?, start: r.get(5)?, cycle: r.get::<_, i64>(6)? != 0 };
                let (last, is_called): (i64, bool) = (r.get(7)?, r.get::<_, i64>(8)? != 0);
                let sequence = Sequence { options, last, is_called, logged: last, owner_table: r.get(9)? };
                Ok(((r.get::<_, String>(0)?, r.get::<_, String>(1)?), sequence))
            })?;
            for row in rows {
                let (name, sequence) = row?;
                by_name.insert(name, Arc::new(Mutex::new(sequence)));
            }
        }
        Ok(Arc::new(Self { store, by_name: Mutex::new(by_name) }))
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Arc<Mutex<Sequence>>>> {
        self.by_name.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn exists(&self, schema: &str, name: &str) -> bool {
        self.map().contains_key(&(schema.to_string(), name.to_string()))
    }

    /// Create sequence `schema.name`; `false` if it exists already.
    pub fn create(&self, schema: &str, name: &str, options: &SequenceOptions, owner_table: Option<i64>) -> Result<bool> {
        let mut map = self.map();
        let key = (schema.to_string(), name.to_string());
        if map.contains_key(&key) {
            return Ok(false);
        }
        self.store.lock().execute(
            "INSERT INTO sequences (schema, name, increment, min_value, max_value, start_value, cycle, last_value, is_called, owner_table)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, ?9)",
            params![schema, name, options.increment, options.min, options.max, options.start, options.cycle as i64, options.start, owner_table],
        )?;
        let sequence = Sequence { options: options.clone(), last: options.start, is_called: false, logged: options.start, owner_table };
        map.insert(key, Arc::new(Mutex::new(sequence)));
        Ok(true)
    }

    /// Make table `table_id` own sequence `schema.name` (dropped with it).
    pub fn set_owner(&self, schema: &str, name: &str, table_id: i64) -> Result<()> {
        let sequence = self.get(schema, name)?;
        sequence.lock().unwrap_or_else(|p| p.into_inner()).owner_table = Some(table_id);
        self.store.lock().execute("UPDATE sequences SET owner_table = ?3 WHERE schema = ?1 AND name = ?2", params![schema, name, table_id])?;
        Ok(())
    }

    /// Drop sequence `schema.name`; `false` if there is none.
    pub fn remove(&self, schema: &str, name: &str) -> Result<bool> {
        let mut map = self.map();
        if map.remove(&(schema.to_string(), name.to_string())).is_none() {
            return Ok(false);
        }
        self.store.lock().execute("DELETE FROM sequences WHERE schema = ?1 AND name = ?2", params![schema, name])?;
        Ok(true)
    }

    /// Drop the sequences of table `table_id`'s serial and identity columns.
    pub fn drop_owned(&self, table_id: i64) -> Result<()> {
        let mut map = self.map();
        map.retain(|_, s| s.lock().unwrap_or_else(|p| p.into_inner()).owner_table != Some(table_id));
        self.store.lock().execute("DELETE FROM sequences WHERE owner_table = ?1", params![table_id])?;
        Ok(())
    }

    /// `name` if free in `schema`, else `name1`, `name2`, ... as PostgreSQL picks the
    /// sequence of a serial column.
    pub fn free_name(&self, schema: &str, name: &str, taken: impl Fn(&str) -> bool) -> String {
        let free = |n: &str| !self.exists(schema, n) && !taken(n);
        if free(name) {
            return name.to_string();
        }
        (1..).map(|i| format!("{name}{i}")).find(|n| free(n)).unwrap_or_else(|| name.to_string())
    }

    fn get(&self, schema: &str, name: &str) -> Result<Arc<Mutex<Sequence>>> {
        self.map().get(&(schema.to_string(), name.to_string())).cloned().ok_or_else(|| undefined(schema, name))
    }

    /// The next `count` values of `schema.name`.
    fn next_values(&self, schema: &str, name: &str, count: usize) -> Result<Vec<i64>> {
        let sequence = self.get(schema, name)?;
        let mut s = sequence.lock().unwrap_or_else(|p| p.into_inner());
        let mut values = Vec::with_capacity(count);
        let (mut last, mut is_called) = (s.last, s.is_called);
        for _ in 0..count {
            let next = if !is_called { last } else { step(&s.options, last, name)? };
            values.push(next);
            last = next;
            is_called = true;
        }
        if let Some(&furthest) = values.last() {
            let inc = s.options.increment;
            let past_logged = if inc > 0 { furthest >= s.logged } else { furthest <= s.logged };
            if past_logged || !s.is_called {
                let ahead = furthest.saturating_add(inc.saturating_mul(LOG_AHEAD)).clamp(s.options.min, s.options.max);
                self.log(schema, name, ahead, true)?;
                s.logged = ahead;
            }
        }
        s.last = last;
        s.is_called = is_called;
        Ok(values)
    }

    /// `setval`: the sequence goes on after `value` (or from it, if not `is_called`).
    fn set_value(&self, schema: &str, name: &str, value: i64, is_called: bool) -> Result<()> {
        let sequence = self.get(schema, name)?;
        let mut s = sequence.lock().unwrap_or_else(|p| p.into_inner());
        if value < s.options.min || value > s.options.max {
            let message = format!("setval: value {value} is out of bounds for sequence \"{name}\" ({}..{})", s.options.min, s.options.max);
            return Err(ServerError::DataFusion(PgDataError::new("22003", message).into()));
        }
        self.log(schema, name, value, is_called)?;
        (s.last, s.is_called, s.logged) = (value, is_called, value);
        Ok(())
    }

    fn log(&self, schema: &str, name: &str, value: i64, is_called: bool) -> Result<()> {
        let conn = self.store.lock();
        let found: Option<i64> = conn
            .query_row("UPDATE sequences SET last_value = ?3, is_called = ?4 WHERE schema = ?1 AND name = ?2 RETURNING 1", params![schema, name, value, is_called as i64], |r| r.get(0))
            .optional()?;
        found.map(|_| ()).ok_or_else(|| undefined(schema, name))
    }

    /// The SQL functions over these sequences, to register in every context.
    pub fn functions(self: &Arc<Self>) -> Vec<ScalarUDF> {
        [SequenceFn::Nextval, SequenceFn::Currval, SequenceFn::Setval, SequenceFn::Lastval]
            .into_iter()
            .map(|kind| ScalarUDF::new_from_impl(SequenceUdf::new(kind, Arc::clone(self))))
            .collect()
    }
}

/// The value after `last`, or PostgreSQL's 2200H at the end of a sequence without CYCLE.
fn step(options: &SequenceOptions, last: i64, name: &str) -> Result<i64> {
    let next = last.checked_add(options.increment);
    match next {
        Some(next) if next >= options.min && next <= options.max => Ok(next),
        _ if options.cycle => Ok(if options.increment > 0 { options.min } else { options.max }),
        _ => {
            let (which, bound) = if options.increment > 0 { ("maximum", options.max) } else { ("minimum", options.min) };
            Err(ServerError::DataFusion(PgDataError::new("2200H", format!("nextval: reached {which} value of sequence \"{name}\" ({bound})")).into()))
        }
    }
}

fn undefined(schema: &str, name: &str) -> ServerError {
    let shown = if schema == ember_planner::config::DEFAULT_SCHEMA { name.to_string() } else { format!("{schema}.{name}") };
    ServerError::DataFusion(PgDataError::new("42P01", format!("relation \"{shown}\" does not exist")).into())
}

/// The values this session's `nextval` calls returned last: `currval` and `lastval` read
/// them. A config extension of the session's context, shared by its statements.
#[derive(Debug, Clone, Default)]
pub struct SessionSequences(Arc<Mutex<(HashMap<(String, String), i64>, Option<i64>)>>);

impl ConfigExtension for SessionSequences {
    const PREFIX: &'static str = "ember_sequences";
}

impl ExtensionOptions for SessionSequences {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn cloned(&self) -> Box<dyn ExtensionOptions> {
        Box::new(self.clone())
    }

    fn set(&mut self, key: &str, _value: &str) -> datafusion::common::Result<()> {
        datafusion::common::config_err!("{key} cannot be set")
    }

    fn entries(&self) -> Vec<ConfigEntry> {
        Vec::new()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum SequenceFn {
    Nextval,
    Currval,
    Setval,
    Lastval,
}

#[derive(Debug)]
struct SequenceUdf {
    kind: SequenceFn,
    sequences: Arc<Sequences>,
    signature: Signature,
}

impl PartialEq for SequenceUdf {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && Arc::ptr_eq(&self.sequences, &other.sequences)
    }
}

impl Eq for SequenceUdf {}

impl std::hash::Hash for SequenceUdf {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.kind.hash(state);
    }
}

impl SequenceUdf {
    fn new(kind: SequenceFn, sequences: Arc<Sequences>) -> Self {
        let signature = match kind {
            SequenceFn::Nextval | SequenceFn::Currval => Signature::exact(vec![DataType::Utf8], Volatility::Volatile),
            SequenceFn::Setval => Signature::one_of(
                vec![TypeSignature::Exact(vec![DataType::Utf8, DataType::Int64]), TypeSignature::Exact(vec![DataType::Utf8, DataType::Int64, DataType::Boolean])],
                Volatility::Volatile,
            ),
            SequenceFn::Lastval => Signature::nullary(Volatility::Volatile),
        };
        Self { kind, sequences, signature }
    }
}

/// A sequence name as `nextval('...')` takes it: `[schema.]name`, unquoted parts folded.
fn resolve(text: &str, config: &ConfigOptions) -> (String, String) {
    let parts: Vec<String> = text
        .split('.')
        .map(|p| {
            let p = p.trim();
            match p.strip_prefix('"').and_then(|p| p.strip_suffix('"')) {
                Some(quoted) => quoted.replace("\"\"", "\""),
                None => p.to_lowercase(),
            }
        })
        .collect();
    match parts.as_slice() {
        [schema, name] => (schema.clone(), name.clone()),
        [.., schema, name] => (schema.clone(), name.clone()),
        _ => (config.catalog.default_schema.clone(), parts.last().cloned().unwrap_or_default()),
    }
}

impl ScalarUDFImpl for SequenceUdf {
    fn name(&self) -> &str {
        match self.kind {
            SequenceFn::Nextval => "nextval",
            SequenceFn::Currval => "currval",
            SequenceFn::Setval => "setval",
            SequenceFn::Lastval => "lastval",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> datafusion::common::Result<DataType> {
        Ok(DataType::Int64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> datafusion::common::Result<ColumnarValue> {
        let rows = args.number_rows;
        let config = Arc::clone(&args.config_options);
        let session = config.extensions.get::<SessionSequences>().cloned().unwrap_or_default();
        let arrays: Vec<ArrayRef> = args.args.iter().map(|a| a.to_array(rows.max(1))).collect::<datafusion::common::Result<_>>()?;
        let names = arrays.first().map(|a| datafusion::arrow::compute::cast(a, &DataType::Utf8)).transpose()?;
        let name_at = |i: usize| -> Option<(String, String)> {
            let names = names.as_ref()?.as_string::<i32>();
            (!names.is_null(i)).then(|| resolve(names.value(i), &config))
        };
        let to_df = |e: ServerError| match e {
            ServerError::DataFusion(e) => e,
            other => datafusion::error::DataFusionError::External(Box::new(other)),
        };
        let mut out: Vec<Option<i64>> = Vec::with_capacity(rows);
        let mut remembered = session.0.lock().unwrap_or_else(|p| p.into_inner());
        match self.kind {
            SequenceFn::Nextval => {
                // One name for all rows (the usual `DEFAULT nextval('s')`): one call.
                let all_same = (0..rows).all(|i| name_at(i) == name_at(0));
                if all_same && let Some((schema, name)) = name_at(0) {
                    let values = self.sequences.next_values(&schema, &name, rows).map_err(to_df)?;
                    if let Some(&last) = values.last() {
                        remembered.0.insert((schema, name), last);
                        remembered.1 = Some(last);
                    }
                    out.extend(values.into_iter().map(Some));
                } else {
                    for i in 0..rows {
                        let Some((schema, name)) = name_at(i) else {
                            out.push(None);
                            continue;
                        };
                        let value = self.sequences.next_values(&schema, &name, 1).map_err(to_df)?[0];
                        remembered.0.insert((schema, name), value);
                        remembered.1 = Some(value);
                        out.push(Some(value));
                    }
                }
            }
            SequenceFn::Currval => {
                for i in 0..rows {
                    let Some((schema, name)) = name_at(i) else {
                        out.push(None);
                        continue;
                    };
                    self.sequences.get(&schema, &name).map_err(to_df)?;
                    match remembered.0.get(&(schema, name.clone())) {
                        Some(v) => out.push(Some(*v)),
                        None => return Err(PgDataError::new("55000", format!("currval of sequence \"{name}\" is not yet defined in this session")).into()),
                    }
                }
            }
            SequenceFn::Lastval => match remembered.1 {
                Some(v) => out.extend(std::iter::repeat_n(Some(v), rows.max(1))),
                None => return Err(PgDataError::new("55000", "lastval is not yet defined in this session").into()),
            },
            SequenceFn::Setval => {
                let values = arrays[1].as_primitive::<datafusion::arrow::datatypes::Int64Type>();
                let called = arrays.get(2).map(|a| a.as_boolean().clone());
                for i in 0..rows.max(1) {
                    let Some((schema, name)) = name_at(i) else {
                        out.push(None);
                        continue;
                    };
                    if values.is_null(i) {
                        out.push(None);
                        continue;
                    }
                    let is_called = called.as_ref().is_none_or(|c| c.is_null(i) || c.value(i));
                    self.sequences.set_value(&schema, &name, values.value(i), is_called).map_err(to_df)?;
                    if is_called {
                        remembered.0.insert((schema, name), values.value(i));
                    }
                    out.push(Some(values.value(i)));
                }
            }
        }
        drop(remembered);
        let array: ArrayRef = Arc::new(Int64Array::from(out));
        if args.args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_))) && array.len() == 1 && rows <= 1 {
            return Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&array, 0)?));
        }
        if array.len() != rows {
            return exec_err!("{}: {} values for {rows} rows", self.name(), array.len());
        }
        Ok(ColumnarValue::Array(array))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("ember-seq-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn values_are_never_handed_out_twice_across_a_reopen() {
        let dir = temp("reopen");
        let options = SequenceOptions { increment: 1, min: 1, max: 5, start: 1, cycle: false };
        let before = {
            let sequences = Sequences::load(Arc::new(CatalogStore::open(&dir).unwrap())).unwrap();
            assert!(sequences.create("public", "s", &options, None).unwrap());
            assert!(!sequences.create("public", "s", &options, None).unwrap());
            sequences.next_values("public", "s", 2).unwrap()
        };
        assert_eq!(before, [1, 2]);
        // Reopened (as after a crash): it goes on after the logged value, never back.
        let sequences = Sequences::load(Arc::new(CatalogStore::open(&dir).unwrap())).unwrap();
        let err = sequences.next_values("public", "s", 1).unwrap_err();
        assert_eq!(err.sqlstate(), "2200H", "{err}");
        sequences.set_value("public", "s", 3, true).unwrap();
        assert_eq!(sequences.next_values("public", "s", 2).unwrap(), [4, 5]);
        assert!(sequences.next_values("public", "s", 1).is_err());
        let cycling = SequenceOptions { increment: -2, min: -5, max: -1, start: -1, cycle: true };
        sequences.create("public", "c", &cycling, Some(7)).unwrap();
        assert_eq!(sequences.next_values("public", "c", 4).unwrap(), [-1, -3, -5, -1]);
        sequences.drop_owned(7).unwrap();
        assert!(!sequences.exists("public", "c"));
        assert_eq!(sequences.free_name("public", "s", |n| n == "s1"), "s2");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
