//! The sqllogictest suite (`sql-tests/*.slt`) run over the wire against `ember serve`,
//! twice per file: as text through the simple query protocol, and as binary through the
//! extended protocol (Parse/Bind/Execute). Both must give the same answers, which checks
//! the binary encodings against the text ones. Records limited to one protocol use the
//! labels `text` / `binary` (`onlyif text`).
//!
//! `EMBER_SLT_COMPLETE=1 cargo test slt` rewrites the expected output of every file
//! (through the binary protocol, which knows column types); review the diff.
//! `EMBER_SLT_FILE=a,b` runs only files whose names contain `a` or `b`.

use std::path::PathBuf;

use async_trait::async_trait;
use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType, Runner};
use tokio_postgres::{Client, SimpleQueryMessage};
use tokio_postgres::types::Type;

use crate::common::{TestServer, repo_root, temp_dir};
use crate::decode::row_text;

#[derive(Clone, Copy, Debug)]
enum Mode {
    Text,
    Binary,
}

/// A tokio-postgres error whose text is the server's message (tokio-postgres itself only
/// says "db error"), so expected-error records can match on it.
#[derive(Debug)]
struct DbError(tokio_postgres::Error);

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.as_db_error() {
            Some(db) => write!(f, "{}", db.message()),
            None => write!(f, "{}", self.0),
        }
    }
}

impl std::error::Error for DbError {}

impl From<tokio_postgres::Error> for DbError {
    fn from(e: tokio_postgres::Error) -> Self {
        DbError(e)
    }
}

struct EmberDb {
    client: Client,
    mode: Mode,
}

fn render(value: Option<String>) -> String {
    match value {
        None => "NULL".to_string(),
        Some(s) if s.is_empty() => "(empty)".to_string(),
        Some(s) => s,
    }
}

fn column_type(ty: &Type) -> DefaultColumnType {
    match *ty {
        Type::INT2 | Type::INT4 | Type::INT8 | Type::OID => DefaultColumnType::Integer,
        Type::FLOAT4 | Type::FLOAT8 | Type::NUMERIC => DefaultColumnType::FloatingPoint,
        _ => DefaultColumnType::Text,
    }
}

#[async_trait]
impl AsyncDB for EmberDb {
    type Error = DbError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, Self::Error> {
        match self.mode {
            Mode::Text => {
                let messages = self.client.simple_query(sql).await?;
                let mut rows = Vec::new();
                let mut columns = None;
                let mut count = 0;
                for message in messages {
                    match message {
                        SimpleQueryMessage::RowDescription(desc) => columns = Some(desc.len()),
                        SimpleQueryMessage::Row(row) => {
                            columns = Some(row.len());
                            rows.push((0..row.len()).map(|i| render(row.get(i).map(str::to_string))).collect());
                        }
                        SimpleQueryMessage::CommandComplete(n) => count = n,
                        _ => {}
                    }
                }
                Ok(match columns {
                    Some(n) => DBOutput::Rows { types: vec![DefaultColumnType::Any; n], rows },
                    None => DBOutput::StatementComplete(count),
                })
            }
            Mode::Binary => {
                let statement = self.client.prepare(sql).await?;
                if statement.columns().is_empty() {
                    let n = self.client.execute(&statement, &[]).await?;
                    return Ok(DBOutput::StatementComplete(n));
                }
                let types = statement.columns().iter().map(|c| column_type(c.type_())).collect();
                let rows = self.client.query(&statement, &[]).await?;
                let rows = rows.iter().map(|row| row_text(row).into_iter().map(render).collect()).collect();
                Ok(DBOutput::Rows { types, rows })
            }
        }
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "ember"
    }

    async fn sleep(dur: std::time::Duration) {
        tokio::time::sleep(dur).await;
    }

    fn error_sql_state(err: &Self::Error) -> Option<String> {
        err.0.code().map(|c| c.code().to_string())
    }
}

fn slt_files() -> Vec<PathBuf> {
    let dir = repo_root().join("sql-tests");
    let filter = std::env::var("EMBER_SLT_FILE").ok();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("sql-tests dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .filter(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            filter.as_ref().is_none_or(|f| f.split(',').any(|f| name.contains(f.trim())))
        })
        .collect();
    files.sort();
    files
}

/// sqllogictest's updater ignores SQLSTATEs and rewrites `error (42P01)` records into
/// message matches; put back every SQLSTATE expectation whose statement still fails.
fn keep_sqlstate_expectations(file: &std::path::Path, original: &str) {
    let is_sqlstate_header = |l: &str| {
        (l.starts_with("statement error (") || l.starts_with("query error (")) && l.ends_with(')') && l.len() <= 24
    };
    let lines: Vec<&str> = original.lines().collect();
    let mut headers = std::collections::HashMap::new();
    for (i, line) in lines.iter().enumerate() {
        if is_sqlstate_header(line)
            && let Some(sql) = lines.get(i + 1)
        {
            headers.insert(sql.to_string(), line.to_string());
        }
    }
    let Ok(updated) = std::fs::read_to_string(file) else { return };
    let updated: Vec<&str> = updated.lines().collect();
    let mut out = Vec::with_capacity(updated.len());
    for (i, line) in updated.iter().enumerate() {
        let is_error = line.starts_with("statement error") || line.starts_with("query error");
        match updated.get(i + 1).and_then(|sql| headers.get(*sql)) {
            Some(header) if is_error => out.push(header.clone()),
            _ => out.push(line.to_string()),
        }
    }
    let _ = std::fs::write(file, out.join("\n") + "\n");
}

/// Types are compared by value only: the text protocol carries none.
fn any_types(_: &Vec<DefaultColumnType>, _: &Vec<DefaultColumnType>) -> bool {
    true
}

async fn run_mode(server: &TestServer, mode: Mode, complete: bool) -> Vec<String> {
    let mut failures = Vec::new();
    for file in slt_files() {
        let conn_string = server.conn_string();
        let mut runner = Runner::new(move || {
            let conn_string = conn_string.clone();
            async move {
                let (client, connection) = tokio_postgres::connect(&conn_string, tokio_postgres::NoTls).await.map_err(DbError)?;
                tokio::spawn(async move {
                    let _ = connection.await;
                });
                Ok::<_, DbError>(EmberDb { client, mode })
            }
        });
        runner.add_label(match mode {
            Mode::Text => "text",
            Mode::Binary => "binary",
        });
        runner.with_column_validator(any_types);
        if complete {
            let original = std::fs::read_to_string(&file).unwrap_or_default();
            let result = runner
                .update_test_file(&file, " ", sqllogictest::default_validator, sqllogictest::default_normalizer, any_types)
                .await;
            if let Err(e) = result {
                failures.push(format!("{}: {e}", file.display()));
            }
            keep_sqlstate_expectations(&file, &original);
        } else if let Err(e) = runner.run_file_async(&file).await {
            failures.push(format!("[{mode:?}] {}:\n{}", file.display(), e.display(false)));
        }
    }
    failures
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqllogictests_over_the_wire() {
    let complete = std::env::var_os("EMBER_SLT_COMPLETE").is_some();
    let modes: &[Mode] = if complete { &[Mode::Binary] } else { &[Mode::Text, Mode::Binary] };
    let mut failures = Vec::new();
    // Each protocol gets a fresh server and data directory, so files may create objects freely.
    for mode in modes {
        let data_dir = temp_dir(&format!("slt-{mode:?}"));
        let server = TestServer::start_in(&data_dir, &repo_root().join("sql-tests"), &[]);
        failures.extend(run_mode(&server, *mode, complete).await);
        drop(server);
        let _ = std::fs::remove_dir_all(&data_dir);
    }
    assert!(failures.is_empty(), "{} sqllogictest failure(s):\n{}", failures.len(), failures.join("\n\n"));
}
