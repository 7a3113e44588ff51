//! The sqllogictest suite (`sql-tests/*.slt`) run over the wire against `ember serve`,
//! twice per file: as text through the simple query protocol, and as binary through the
//! extended protocol (Parse/Bind/Execute). Both must give the same answers, which checks
//! the binary encodings against the text ones. Records limited to one protocol use the
//! labels `text` / `binary` (`onlyif text`).
//!
//! `EMBER_SLT_COMPLETE=1 cargo test slt` rewrites the expected output of every file
//! (through the binary protocol, which knows column types); review the diff.
//! `EMBER_SLT_FILE=name` runs only files whose name contains `name`.

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
    type Error = tokio_postgres::Error;
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
        err.code().map(|c| c.code().to_string())
    }
}

fn slt_files() -> Vec<PathBuf> {
    let dir = repo_root().join("sql-tests");
    let filter = std::env::var("EMBER_SLT_FILE").ok();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("sql-tests dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .filter(|p| filter.as_ref().is_none_or(|f| p.to_string_lossy().contains(f.as_str())))
        .collect();
    files.sort();
    files
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
                let (client, connection) = tokio_postgres::connect(&conn_string, tokio_postgres::NoTls).await?;
                tokio::spawn(async move {
                    let _ = connection.await;
                });
                Ok::<_, tokio_postgres::Error>(EmberDb { client, mode })
            }
        });
        runner.add_label(match mode {
            Mode::Text => "text",
            Mode::Binary => "binary",
        });
        runner.with_column_validator(any_types);
        if complete {
            let result = runner
                .update_test_file(&file, " ", sqllogictest::default_validator, sqllogictest::default_normalizer, any_types)
                .await;
            if let Err(e) = result {
                failures.push(format!("{}: {e}", file.display()));
            }
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
