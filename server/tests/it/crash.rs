//! The crash harness of managed tables: a writer commits batches of rows in every way
//! Ember writes (a transaction block of INSERTs, `INSERT ... SELECT`, `COPY FROM STDIN`, a
//! block that also `UPDATE`s earlier batches, an `INSERT` with junk rows that a `DELETE`
//! then removes from every file) while the server is killed with `kill -9` at random
//! moments. After every restart each acknowledged batch is there exactly once and whole
//! (its junk rows aside), every batch's rows were updated together or not at all, a batch
//! whose COMMIT was not acknowledged is there whole or not at all, nothing else is,
//! SQLite's integrity check passes and no data file survives that the catalog does not name. `EMBER_CRASH_KILLS`
//! sets the number of kills (CI runs a few; the note of the work gives a 100-kill run).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::SinkExt;

use crate::common::{TestServer, temp_dir};

const ROWS_PER_BATCH: i64 = 50;

#[derive(Default)]
struct Ledger {
    acknowledged: BTreeSet<i64>,
    in_flight: Option<i64>,
}

/// Rows with `n` from here on are junk, deleted again by the batches that insert them.
const JUNK: i64 = 1000;

async fn write_batch(client: &tokio_postgres::Client, batch: i64) -> Result<(), tokio_postgres::Error> {
    let rows = ROWS_PER_BATCH - 1;
    match batch % 5 {
        0 => {
            let half = ROWS_PER_BATCH / 2;
            let values = |from: i64, to: i64| (from..to).map(|n| format!("({batch}, {n})")).collect::<Vec<_>>().join(", ");
            client
                .batch_execute(&format!(
                    "BEGIN; INSERT INTO ledger (batch, n) VALUES {}; INSERT INTO ledger (batch, n) VALUES {}; COMMIT",
                    values(0, half),
                    values(half, ROWS_PER_BATCH)
                ))
                .await
        }
        1 => client.batch_execute(&format!("INSERT INTO ledger (batch, n) SELECT {batch}, g FROM generate_series(0, {rows}) AS s(g)")).await,
        2 => {
            let data: String = (0..ROWS_PER_BATCH).map(|n| format!("{batch}\t{n}\n")).collect();
            let sink = client.copy_in("COPY ledger (batch, n) FROM STDIN").await?;
            futures::pin_mut!(sink);
            sink.send(bytes::Bytes::from(data)).await?;
            sink.finish().await.map(|_| ())
        }
        // The UPDATE rewrites committed files of earlier batches, in the same block.
        3 => {
            client
                .batch_execute(&format!(
                    "BEGIN; INSERT INTO ledger (batch, n) SELECT {batch}, g FROM generate_series(0, {rows}) AS s(g);
                     UPDATE ledger SET v = v + 1 WHERE batch IN ({}, {}); COMMIT",
                    batch - 3,
                    batch - 7
                ))
                .await
        }
        // The DELETE rewrites every file holding junk, keeping the other rows.
        _ => {
            client
                .batch_execute(&format!(
                    "INSERT INTO ledger (batch, n) SELECT {batch}, g FROM generate_series(0, {rows}) AS s(g)
                     UNION ALL SELECT {batch}, {JUNK} + g FROM generate_series(0, 9) AS s(g)"
                ))
                .await?;
            client.batch_execute(&format!("DELETE FROM ledger WHERE n >= {JUNK}")).await
        }
    }
}

/// Check the table against the ledger; a batch in flight at the kill that made it is
/// acknowledged from now on.
async fn verify(client: &tokio_postgres::Client, ledger: &mut Ledger) {
    let sql = format!("SELECT batch, count(*), count(DISTINCT n), count(DISTINCT v) FROM ledger WHERE n < {JUNK} GROUP BY batch");
    let rows = client.query(&sql, &[]).await.unwrap();
    let found: BTreeMap<i64, (i64, i64, i64)> = rows.iter().map(|r| (r.get(0), (r.get(1), r.get(2), r.get(3)))).collect();
    for (batch, (count, distinct, versions)) in &found {
        assert_eq!((*count, *distinct), (ROWS_PER_BATCH, ROWS_PER_BATCH), "batch {batch} is torn or doubled");
        assert_eq!(*versions, 1, "batch {batch} was updated in part");
        assert!(ledger.acknowledged.contains(batch) || ledger.in_flight == Some(*batch), "batch {batch} was never committed");
    }
    for batch in &ledger.acknowledged {
        assert!(found.contains_key(batch), "acknowledged batch {batch} is lost");
    }
    if let Some(batch) = ledger.in_flight.take()
        && found.contains_key(&batch)
    {
        ledger.acknowledged.insert(batch);
    }
}

/// SQLite's own check, and every data file on disk named by the catalog (the startup
/// sweep ran) and every named file on disk.
fn check_files(dir: &std::path::Path) {
    let conn = rusqlite::Connection::open(dir.join("catalog.db")).unwrap();
    let integrity: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(integrity, "ok");
    let mut stmt = conn.prepare("SELECT path FROM data_files").unwrap();
    let named: BTreeSet<String> = stmt.query_map([], |r| r.get(0)).unwrap().map(|p| p.unwrap()).collect();
    let mut on_disk = BTreeSet::new();
    for table in std::fs::read_dir(dir.join("tables")).into_iter().flatten().flatten() {
        for file in std::fs::read_dir(table.path()).into_iter().flatten().flatten() {
            on_disk.insert(format!("tables/{}/{}", table.file_name().to_string_lossy(), file.file_name().to_string_lossy()));
        }
    }
    assert_eq!(on_disk, named, "files on disk and in the catalog differ");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_commits_survive_kill_9_and_nothing_else_does() {
    let kills: usize = std::env::var("EMBER_CRASH_KILLS").ok().and_then(|k| k.parse().ok()).unwrap_or(6);
    let dir = temp_dir("crash");
    let mut seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
    let mut random = move |below: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % below
    };
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let mut next_batch = 0i64;
    {
        let server = TestServer::start(&dir);
        server.connect().await.batch_execute("CREATE TABLE ledger (batch bigint NOT NULL, n int NOT NULL, v int NOT NULL DEFAULT 0)").await.unwrap();
    }
    for _ in 0..kills {
        let server = TestServer::start(&dir);
        check_files(&dir);
        let client = server.connect().await;
        verify(&client, &mut ledger.lock().unwrap()).await;
        let writer = {
            let ledger = ledger.clone();
            let first = next_batch;
            tokio::spawn(async move {
                let mut batch = first;
                loop {
                    ledger.lock().unwrap().in_flight = Some(batch);
                    if write_batch(&client, batch).await.is_err() {
                        return batch;
                    }
                    let mut l = ledger.lock().unwrap();
                    l.acknowledged.insert(batch);
                    l.in_flight = None;
                    batch += 1;
                }
            })
        };
        tokio::time::sleep(Duration::from_millis(100 + random(600))).await;
        server.kill9();
        next_batch = writer.await.unwrap() + 1;
    }
    let server = TestServer::start(&dir);
    check_files(&dir);
    let client = server.connect().await;
    let mut ledger = ledger.lock().unwrap();
    verify(&client, &mut ledger).await;
    assert!(ledger.acknowledged.len() >= kills, "the writer hardly wrote: {:?}", ledger.acknowledged.len());
    let files = std::fs::read_dir(dir.join("tables")).into_iter().flatten().flatten().flat_map(|t| std::fs::read_dir(t.path()).into_iter().flatten()).count();
    let updated: i64 = client.query_one("SELECT count(DISTINCT batch) FROM ledger WHERE v > 0", &[]).await.unwrap().get(0);
    eprintln!(
        "crash harness: {kills} kills, {} batches committed ({} rows, {updated} batches updated), {files} data files",
        ledger.acknowledged.len(),
        ledger.acknowledged.len() as i64 * ROWS_PER_BATCH
    );
}
