//! Managed tables over the wire: CREATE TABLE, INSERT, CREATE TABLE AS, DROP, their rows
//! after `kill -9`, what NOT NULL and a duplicate name answer, the startup sweep of files
//! no committed table owns, and one server per data directory.

use crate::common::{TestServer, temp_dir};

async fn rows(client: &tokio_postgres::Client, sql: &str) -> Vec<String> {
    client
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .into_iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => {
                Some((0..row.len()).map(|i| row.get(i).unwrap_or("NULL").to_string()).collect::<Vec<_>>().join("|"))
            }
            _ => None,
        })
        .collect()
}

fn sqlstate(err: &tokio_postgres::Error) -> &str {
    err.code().map(|c| c.code()).unwrap_or("none")
}

fn data_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for table in std::fs::read_dir(dir.join("tables")).into_iter().flatten().flatten() {
        for file in std::fs::read_dir(table.path()).into_iter().flatten().flatten() {
            files.push(file.path());
        }
    }
    files.sort();
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_written_survive_kill_9_and_drop_removes_them() {
    let dir = temp_dir("managed");
    {
        let server = TestServer::start(&dir);
        let client = server.connect().await;
        client
            .batch_execute(
                "CREATE TABLE t (id int NOT NULL, name text, score double precision DEFAULT 1.5);
                 INSERT INTO t (id, name) VALUES (1, 'one'), (2, 'two');
                 INSERT INTO t VALUES (3, NULL, 'NaN'), (4, 'four', 4.25);
                 CREATE SCHEMA s;
                 CREATE TABLE s.big AS SELECT g AS n, g % 3 AS m FROM generate_series(1, 10000) AS x(g);
                 CREATE TABLE empty_copy AS SELECT * FROM t WHERE false;",
            )
            .await
            .unwrap();
        assert_eq!(rows(&client, "SELECT id, name, score FROM t ORDER BY id").await, ["1|one|1.5", "2|two|1.5", "3|NULL|NaN", "4|four|4.25"]);
        // NaN sorts above every number, and no Parquet statistic prunes it away.
        assert_eq!(rows(&client, "SELECT id FROM t WHERE score > 100").await, ["3"]);
        let err = client.simple_query("INSERT INTO t VALUES (NULL, 'x', 0)").await.unwrap_err();
        assert_eq!(sqlstate(&err), "23502", "{err}");
        let message = err.as_db_error().map(|e| e.message().to_string()).unwrap_or_default();
        assert_eq!(message, "null value in column \"id\" of relation \"t\" violates not-null constraint");
        let err = client.simple_query("CREATE TABLE t (x int)").await.unwrap_err();
        assert_eq!(sqlstate(&err), "42P07", "{err}");
        client.batch_execute("CREATE TABLE IF NOT EXISTS t (x int)").await.unwrap();
        // A primary key's columns are NOT NULL, as in PostgreSQL.
        client.batch_execute("CREATE TABLE k (id int PRIMARY KEY, v text)").await.unwrap();
        let not_null = "SELECT attname, attnotnull FROM pg_attribute WHERE attrelid = 'k'::regclass AND attnum > 0 ORDER BY attnum";
        assert_eq!(rows(&client, not_null).await, ["id|t", "v|f"]);
        let err = client.simple_query("INSERT INTO k (v) VALUES ('no key')").await.unwrap_err();
        assert_eq!(sqlstate(&err), "23502", "{err}");
        let err = client.simple_query("CREATE TABLE d AS SELECT * FROM t, t AS u").await.unwrap_err();
        assert_eq!(sqlstate(&err), "42701", "{err}");
        // The failed statements left nothing behind, and the session goes on.
        assert_eq!(rows(&client, "SELECT count(*), sum(n), count(DISTINCT m) FROM s.big").await, ["10000|50005000|3"]);
        assert_eq!(rows(&client, "SELECT count(*) FROM empty_copy").await, ["0"]);
        assert_eq!(rows(&client, "SELECT relname FROM pg_class WHERE relname IN ('t', 'big', 'd') ORDER BY 1").await, ["big", "t"]);
        client.batch_execute("DROP TABLE k").await.unwrap();
        server.kill9();
    }
    let files_before = data_files(&dir);
    assert_eq!(files_before.len(), 3, "{files_before:?}");
    // A write cut short by a crash leaves a file no catalog row names: swept at start.
    let stray = files_before[0].with_file_name("0-deadbeef.parquet");
    std::fs::write(&stray, b"torn").unwrap();
    {
        let server = TestServer::start(&dir);
        assert!(!stray.exists(), "the stray file was not swept");
        let client = server.connect().await;
        assert_eq!(rows(&client, "SELECT id, name, score FROM t ORDER BY id").await, ["1|one|1.5", "2|two|1.5", "3|NULL|NaN", "4|four|4.25"]);
        assert_eq!(rows(&client, "SELECT count(*), sum(n) FROM s.big WHERE m = 0").await, ["3333|16668333"]);
        // Defaults came back with the table.
        client.batch_execute("INSERT INTO t (id) VALUES (5)").await.unwrap();
        assert_eq!(rows(&client, "SELECT score FROM t WHERE id = 5").await, ["1.5"]);
        client.batch_execute("ALTER TABLE t RENAME TO t2; DROP TABLE s.big").await.unwrap();
        let err = client.simple_query("SELECT * FROM s.big").await.unwrap_err();
        assert_eq!(sqlstate(&err), "42P01", "{err}");
        server.kill9();
    }
    let server = TestServer::start(&dir);
    let client = server.connect().await;
    assert_eq!(rows(&client, "SELECT count(*) FROM t2").await, ["5"]);
    assert!(client.simple_query("SELECT * FROM s.big").await.is_err());
    // The dropped table's file went with the sweep; t2's two inserts and the new one stay.
    assert_eq!(data_files(&dir).len(), 3, "{:?}", data_files(&dir));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_server_on_the_same_data_directory_is_refused() {
    let dir = temp_dir("dirlock");
    let first = TestServer::start(&dir);
    let bin = std::env::var_os("EMBER_TEST_BIN").map(std::path::PathBuf::from).unwrap_or_else(|| env!("CARGO_BIN_EXE_ember").into());
    let output = std::process::Command::new(bin)
        .args(["serve", "--port", "0", "--data-dir"])
        .arg(&dir)
        .output()
        .expect("run a second server");
    assert!(!output.status.success(), "a second server started on a directory in use");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&first.pid().to_string()) && stderr.contains("in use"), "{stderr}");
    // A killed server's lock goes with it.
    first.kill9();
    let again = TestServer::start(&dir);
    let client = again.connect().await;
    assert_eq!(rows(&client, "SELECT 1").await, ["1"]);
}

/// Writes in `BEGIN ... COMMIT` are seen by their own session at once and by others only
/// after COMMIT; ROLLBACK, ROLLBACK TO SAVEPOINT, a failed block and a dropped connection
/// keep nothing, and leave no file behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_in_a_transaction_block_are_seen_together_at_commit() {
    let dir = temp_dir("managed-tx");
    let server = TestServer::start(&dir);
    let writer = server.connect().await;
    let reader = server.connect().await;
    writer.batch_execute("CREATE TABLE acct (id int NOT NULL, amount int)").await.unwrap();
    let count = "SELECT count(*) FROM acct";
    writer.batch_execute("BEGIN; INSERT INTO acct VALUES (1, 10); INSERT INTO acct VALUES (2, 20)").await.unwrap();
    assert_eq!(rows(&writer, count).await, ["2"], "a block reads its own writes");
    assert_eq!(rows(&reader, count).await, ["0"], "nobody else sees them before COMMIT");
    writer.batch_execute("COMMIT").await.unwrap();
    assert_eq!(rows(&reader, count).await, ["2"]);

    writer.batch_execute("BEGIN; INSERT INTO acct VALUES (3, 30); ROLLBACK").await.unwrap();
    assert_eq!(rows(&writer, count).await, ["2"]);

    writer
        .batch_execute(
            "BEGIN; INSERT INTO acct VALUES (4, 40); SAVEPOINT a; INSERT INTO acct VALUES (5, 50);
             ROLLBACK TO SAVEPOINT a; INSERT INTO acct VALUES (6, 60); RELEASE SAVEPOINT a; COMMIT",
        )
        .await
        .unwrap();
    assert_eq!(rows(&reader, "SELECT id FROM acct ORDER BY id").await, ["1", "2", "4", "6"]);
    let err = writer.simple_query("ROLLBACK TO SAVEPOINT nowhere").await.unwrap_err();
    assert_eq!(sqlstate(&err), "3B001", "{err}");

    // A block that failed keeps nothing, even when it is ended with COMMIT.
    writer.batch_execute("BEGIN; INSERT INTO acct VALUES (7, 70)").await.unwrap();
    assert_eq!(sqlstate(&writer.simple_query("INSERT INTO acct VALUES (NULL, 0)").await.unwrap_err()), "23502");
    let ended = writer.simple_query("COMMIT").await.unwrap();
    assert!(ended.iter().any(|m| matches!(m, tokio_postgres::SimpleQueryMessage::CommandComplete(_))));
    assert_eq!(rows(&reader, count).await, ["4"]);

    // A connection that ends inside a block rolls it back.
    writer.batch_execute("BEGIN; INSERT INTO acct VALUES (8, 80)").await.unwrap();
    drop(writer);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(rows(&reader, count).await, ["4"]);
    // Two committed blocks of small INSERTs, one file each (a block writes its small
    // writes to a table as one file); nothing rolled back is left on disk.
    assert_eq!(data_files(&dir).len(), 2, "{:?}", data_files(&dir));
    drop(reader);
    server.kill9();
    let server = TestServer::start(&dir);
    let client = server.connect().await;
    assert_eq!(rows(&client, "SELECT sum(amount) FROM acct").await, ["130"]);
}

/// `COPY ... FROM STDIN` in text and CSV through the copy protocol (tokio-postgres sends it
/// in the extended protocol): all rows or none, bad data refused with its SQLSTATE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_from_stdin_loads_all_rows_or_none() {
    use futures::SinkExt;
    let dir = temp_dir("managed-copy");
    let server = TestServer::start(&dir);
    let client = server.connect().await;
    client.batch_execute("CREATE TABLE c (id int NOT NULL, name text, d date, score float8 DEFAULT 0.5)").await.unwrap();
    async fn copy(client: &tokio_postgres::Client, sql: &str, data: &str) -> Result<u64, tokio_postgres::Error> {
        let sink = client.copy_in(sql).await?;
        futures::pin_mut!(sink);
        sink.send(bytes::Bytes::copy_from_slice(data.as_bytes())).await?;
        sink.finish().await
    }
    let text = "1\tone\t2024-01-02\t1.5\n2\t\\N\t2024-02-03\t\\N\n3\tt\\tab\t2024-03-04\t3\n";
    assert_eq!(copy(&client, "COPY c FROM STDIN", text).await.unwrap(), 3);
    let csv = "id,name,d\n4,\"four, \"\"4\"\"\",2024-04-05\n5,,2024-05-06\n";
    assert_eq!(copy(&client, "COPY c (id, name, d) FROM STDIN WITH (FORMAT csv, HEADER)", csv).await.unwrap(), 2);
    assert_eq!(
        rows(&client, "SELECT id, name, d, score FROM c ORDER BY id").await,
        ["1|one|2024-01-02|1.5", "2|NULL|2024-02-03|NULL", "3|t\tab|2024-03-04|3", "4|four, \"4\"|2024-04-05|0.5", "5|NULL|2024-05-06|0.5"]
    );
    // A bad row anywhere keeps none of the COPY's rows.
    let err = copy(&client, "COPY c FROM STDIN", "6\tsix\t2024-01-01\t1\n7\tseven\n").await.unwrap_err();
    assert_eq!(sqlstate(&err), "22P04", "{err:?}");
    let err = copy(&client, "COPY c (id) FROM STDIN", "8\n\\N\n").await.unwrap_err();
    assert_eq!(sqlstate(&err), "23502", "{err:?}");
    let err = copy(&client, "COPY c (id) FROM STDIN", "9x\n").await.unwrap_err();
    assert_eq!(sqlstate(&err), "22P02", "{err:?}");
    // A value its column cannot read is named with its line and column, as PostgreSQL does.
    let err = copy(&client, "COPY c FROM STDIN", "10\tten\t2024-01-01\t1\n11\televen\t2024-13-45\t1\n").await.unwrap_err();
    let message = err.as_db_error().map(|e| e.message().to_string()).unwrap_or_default();
    assert_eq!((sqlstate(&err), message.as_str()), ("22008", "date/time field value out of range: \"2024-13-45\" (COPY c, line 2, column d: \"2024-13-45\")"));
    assert_eq!(rows(&client, "SELECT count(*) FROM c").await, ["5"]);
    let err = client.simple_query("COPY c (nope) FROM STDIN").await.unwrap_err();
    assert_eq!(sqlstate(&err), "42703", "{err:?}");
    // Inside a transaction block the COPY's rows wait for COMMIT with the rest.
    client.batch_execute("BEGIN").await.unwrap();
    assert_eq!(copy(&client, "COPY c (id) FROM STDIN", "10\n11\n").await.unwrap(), 2);
    client.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(rows(&client, "SELECT count(*) FROM c").await, ["5"]);
    assert_eq!(data_files(&dir).len(), 2, "{:?}", data_files(&dir));
}

/// `TRUNCATE` at once, or with its transaction block: its session reads the table empty
/// (plus what it writes after), others read it whole until COMMIT; ROLLBACK undoes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncate_empties_a_table_at_once_or_at_commit() {
    let dir = temp_dir("managed-truncate");
    let server = TestServer::start(&dir);
    let writer = server.connect().await;
    let reader = server.connect().await;
    writer.batch_execute("CREATE TABLE tr (n int); INSERT INTO tr VALUES (1), (2); INSERT INTO tr VALUES (3)").await.unwrap();
    let count = "SELECT count(*) FROM tr";
    writer.batch_execute("BEGIN; TRUNCATE tr; INSERT INTO tr VALUES (10)").await.unwrap();
    assert_eq!(rows(&writer, count).await, ["1"]);
    assert_eq!(rows(&reader, count).await, ["3"]);
    writer.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(rows(&writer, count).await, ["3"]);
    writer.batch_execute("BEGIN; TRUNCATE tr; INSERT INTO tr VALUES (10); INSERT INTO tr VALUES (11)").await.unwrap();
    assert_eq!(rows(&reader, count).await, ["3"]);
    writer.batch_execute("COMMIT").await.unwrap();
    assert_eq!(rows(&reader, "SELECT n FROM tr ORDER BY n").await, ["10", "11"]);
    writer.batch_execute("TRUNCATE tr").await.unwrap();
    assert_eq!(rows(&reader, count).await, ["0"]);
    writer.batch_execute("INSERT INTO tr VALUES (5)").await.unwrap();
    drop((writer, reader));
    server.kill9();
    let server = TestServer::start(&dir);
    let client = server.connect().await;
    assert_eq!(rows(&client, "SELECT n FROM tr").await, ["5"]);
    // The truncated tables' files were swept at the start.
    assert_eq!(data_files(&dir).len(), 1, "{:?}", data_files(&dir));
}

/// `UPDATE` and `DELETE`: plain, with subqueries, `UPDATE ... FROM`, `DELETE ... USING`,
/// `RETURNING`, through an alias, with parameters, in a transaction block (over rows the
/// block wrote itself), with a constraint violation, two writers of the same rows (the
/// later committer fails with 40001), and after `kill -9`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_and_delete_rewrite_rows_at_once_or_at_commit() {
    let dir = temp_dir("managed-dml");
    let server = TestServer::start(&dir);
    let a = server.connect().await;
    let b = server.connect().await;
    a.batch_execute(
        "CREATE TABLE acc (id int NOT NULL, owner text, amount int);
         INSERT INTO acc VALUES (1, 'ann', 10), (2, 'bob', 20);
         INSERT INTO acc VALUES (3, 'ann', 30), (4, 'cat', 40);
         INSERT INTO acc VALUES (5, 'bob', 50), (6, NULL, 60);
         CREATE TABLE bonus (id int, v int);
         INSERT INTO bonus VALUES (3, 300), (4, 400), (4, 401);
         CREATE TABLE big AS SELECT g AS n FROM generate_series(1, 20000) AS x(g);",
    )
    .await
    .unwrap();
    let all = "SELECT id, owner, amount FROM acc ORDER BY id";
    assert_eq!(a.execute("DELETE FROM acc WHERE id = 2", &[]).await.unwrap(), 1);
    assert_eq!(a.execute("UPDATE acc SET amount = amount + 1 WHERE owner = 'ann'", &[]).await.unwrap(), 2);
    assert_eq!(rows(&b, all).await, ["1|ann|11", "3|ann|31", "4|cat|40", "5|bob|50", "6|NULL|60"]);
    // Subqueries, correlated or not, and a join with FROM (a row joined twice changes once).
    assert_eq!(a.execute("UPDATE acc SET amount = 0 WHERE id IN (SELECT id FROM bonus WHERE v > 350)", &[]).await.unwrap(), 1);
    assert_eq!(a.execute("UPDATE acc SET owner = 'bonus' WHERE EXISTS (SELECT 1 FROM bonus WHERE bonus.id = acc.id)", &[]).await.unwrap(), 2);
    assert_eq!(a.execute("UPDATE acc SET amount = b.v FROM bonus AS b WHERE b.id = acc.id AND b.v < 400", &[]).await.unwrap(), 1);
    assert_eq!(a.execute("UPDATE acc AS x SET amount = x.amount * 2 WHERE x.owner IS NULL", &[]).await.unwrap(), 1);
    assert_eq!(a.execute("DELETE FROM acc WHERE amount > (SELECT avg(amount) FROM acc) AND id <> 3", &[]).await.unwrap(), 1);
    assert_eq!(a.execute("UPDATE acc SET amount = $1 WHERE id = $2", &[&7i32, &5i32]).await.unwrap(), 1);
    assert_eq!(a.execute("DELETE FROM acc WHERE id = 99", &[]).await.unwrap(), 0);
    assert_eq!(rows(&b, all).await, ["1|ann|11", "3|bonus|300", "4|bonus|0", "5|bob|7"]);
    let err = a.simple_query("UPDATE acc SET id = NULL WHERE id = 1").await.unwrap_err();
    assert_eq!(sqlstate(&err), "23502", "{err}");
    assert_eq!(rows(&b, "SELECT count(*) FROM acc WHERE id IS NULL").await, ["0"]);

    // In a block: the block's own rows (still in memory) and committed ones change
    // together at COMMIT, or not at all.
    a.batch_execute(
        "BEGIN; INSERT INTO acc VALUES (7, 'dan', 70); UPDATE acc SET amount = 71 WHERE id = 7;
         DELETE FROM acc WHERE id = 1; UPDATE acc SET owner = 'ann' WHERE id = 5",
    )
    .await
    .unwrap();
    assert_eq!(rows(&a, all).await, ["3|bonus|300", "4|bonus|0", "5|ann|7", "7|dan|71"]);
    assert_eq!(rows(&b, all).await, ["1|ann|11", "3|bonus|300", "4|bonus|0", "5|bob|7"]);
    a.batch_execute("SAVEPOINT s; DELETE FROM acc; ROLLBACK TO SAVEPOINT s; COMMIT").await.unwrap();
    assert_eq!(rows(&b, all).await, ["3|bonus|300", "4|bonus|0", "5|ann|7", "7|dan|71"]);
    a.batch_execute("BEGIN; DELETE FROM acc WHERE id = 3; ROLLBACK").await.unwrap();
    assert_eq!(rows(&b, "SELECT count(*) FROM acc").await, ["4"]);

    // Two writers of the same row: the first to commit wins, the second gets 40001 and
    // keeps nothing. An INSERT beside a DELETE commits, as in PostgreSQL.
    a.batch_execute("BEGIN; UPDATE acc SET amount = 1 WHERE id = 4").await.unwrap();
    b.batch_execute("BEGIN; UPDATE acc SET amount = 2 WHERE id = 4; INSERT INTO acc VALUES (8, 'eve', 80)").await.unwrap();
    a.batch_execute("COMMIT").await.unwrap();
    let err = b.simple_query("COMMIT").await.unwrap_err();
    assert_eq!(sqlstate(&err), "40001", "{err}");
    b.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(rows(&b, "SELECT id, amount FROM acc WHERE id IN (4, 8) ORDER BY id").await, ["4|1"]);
    b.batch_execute("BEGIN; INSERT INTO acc VALUES (8, 'eve', 80)").await.unwrap();
    a.batch_execute("DELETE FROM acc WHERE id = 7").await.unwrap();
    b.batch_execute("COMMIT").await.unwrap();
    assert_eq!(rows(&a, "SELECT id FROM acc ORDER BY id").await, ["3", "4", "5", "8"]);

    // RETURNING reads the new values of an UPDATE, the old ones of a DELETE; described
    // before it runs (extended protocol) with PostgreSQL's column names.
    assert_eq!(rows(&a, "UPDATE acc SET amount = amount + 1 WHERE id = 3 RETURNING id, amount, owner").await, ["3|301|bonus"]);
    let returned = a.query("UPDATE acc SET amount = amount WHERE id = $1 RETURNING amount * 2, id AS k", &[&5i32]).await.unwrap();
    let names: Vec<&str> = returned[0].columns().iter().map(|c| c.name()).collect();
    assert_eq!((names, returned[0].get::<_, i32>(0), returned[0].get::<_, i32>(1)), (vec!["?column?", "k"], 14, 5));
    assert!(a.query("DELETE FROM acc WHERE id = $1 RETURNING *", &[&99i32]).await.unwrap().is_empty());
    // A RETURNING list that reads a FROM table too.
    assert_eq!(rows(&a, "UPDATE acc SET amount = acc.amount FROM bonus AS b WHERE b.id = acc.id AND b.v = 300 RETURNING acc.id, b.v, amount").await, ["3|300|301"]);
    let star = a.query("UPDATE acc SET amount = amount + 0 WHERE id = $1 RETURNING *", &[&5i32]).await.unwrap();
    assert_eq!(star[0].columns().iter().map(|c| c.name()).collect::<Vec<_>>(), ["id", "owner", "amount"]);
    let plan = rows(&a, "EXPLAIN UPDATE acc SET amount = 0 WHERE id IN (SELECT id FROM bonus)").await.join("\n");
    assert!(plan.contains("acc") && plan.contains("bonus"), "{plan}");
    let err = a.simple_query("EXPLAIN ANALYZE DELETE FROM acc").await.unwrap_err();
    assert_eq!(sqlstate(&err), "0A000", "{err}");
    let err = a.simple_query("UPDATE acc SET nope = 1").await.unwrap_err();
    assert_eq!((sqlstate(&err), err.as_db_error().unwrap().message()), ("42703", "column \"nope\" of relation \"acc\" does not exist"));
    assert_eq!(rows(&a, "INSERT INTO acc VALUES (9, 'fay', 90), (10, 'gus', 100) RETURNING id, amount + 1 AS next").await, ["9|91", "10|101"]);
    let inserted = a.query("INSERT INTO acc (id, owner) VALUES ($1, $2) RETURNING *", &[&11i32, &"hal"]).await.unwrap();
    assert_eq!((inserted.len(), inserted[0].get::<_, &str>(1), inserted[0].get::<_, Option<i32>>(2)), (1, "hal", None));
    assert_eq!(a.execute("DELETE FROM acc WHERE id >= 9", &[]).await.unwrap(), 3);

    // A larger table: files rewritten without the deleted rows.
    assert_eq!(a.execute("DELETE FROM big WHERE n % 4 <> 0", &[]).await.unwrap(), 15000);
    assert_eq!(a.execute("UPDATE big SET n = -n WHERE n > 19000", &[]).await.unwrap(), 250);
    assert_eq!(rows(&a, "DELETE FROM big USING (VALUES (8), (9)) AS d(n) WHERE big.n = d.n RETURNING big.n").await, ["8"]);
    assert_eq!(rows(&b, "SELECT count(*), sum(n), min(n) FROM big").await, ["4999|40258992|-20000"]);
    drop((a, b));
    server.kill9();
    let server = TestServer::start(&dir);
    let client = server.connect().await;
    assert_eq!(rows(&client, all).await, ["3|bonus|301", "4|bonus|1", "5|ann|7", "8|eve|80"]);
    assert_eq!(rows(&client, "SELECT count(*), sum(n) FROM big").await, ["4999|40258992"]);
    assert_eq!(client.execute("DELETE FROM acc", &[]).await.unwrap(), 4);
    assert_eq!(rows(&client, "SELECT count(*) FROM acc").await, ["0"]);
}

/// `serial`, `bigserial` and identity columns fill themselves from their sequences (also
/// through `INSERT ... RETURNING`, as ORMs read new keys); `CREATE SEQUENCE`, `nextval`,
/// `currval`, `setval`; values are never handed out twice, even after `kill -9`; a dropped
/// table takes its sequences along.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serial_columns_and_sequences_never_repeat_a_value() {
    let dir = temp_dir("managed-serial");
    let before_kill = {
        let server = TestServer::start(&dir);
        let client = server.connect().await;
        client
            .batch_execute(
                "CREATE TABLE users (id serial PRIMARY KEY, name text NOT NULL, n bigint GENERATED BY DEFAULT AS IDENTITY);
                 CREATE SEQUENCE tick INCREMENT BY 5 START WITH 10; CREATE SEQUENCE fresh;",
            )
            .await
            .unwrap();
        assert_eq!(rows(&client, "INSERT INTO users (name) VALUES ('a'), ('b') RETURNING id, n").await, ["1|1", "2|2"]);
        let inserted = client.query("INSERT INTO users (name) VALUES ($1) RETURNING id", &[&"c"]).await.unwrap();
        assert_eq!(inserted[0].get::<_, i32>(0), 3);
        assert_eq!(rows(&client, "SELECT currval('users_id_seq'), lastval()").await, ["3|3"]);
        assert_eq!(rows(&client, "INSERT INTO users (id, name) VALUES (100, 'explicit') RETURNING id").await, ["100"]);
        assert_eq!(rows(&client, "UPDATE users SET n = DEFAULT WHERE name = 'a' RETURNING n").await, ["5"]);
        assert_eq!(rows(&client, "SELECT nextval('tick'), nextval('tick')").await, ["10|15"]);
        assert_eq!(rows(&client, "SELECT nextval('tick') FROM generate_series(1, 3)").await, ["20", "25", "30"]);
        assert_eq!(rows(&client, "SELECT setval('tick', 100), nextval('tick')").await, ["100|105"]);
        let err = client.simple_query("SELECT currval('fresh')").await.unwrap_err();
        assert_eq!(sqlstate(&err), "55000", "{err}");
        let err = client.simple_query("SELECT nextval('nope')").await.unwrap_err();
        assert_eq!(sqlstate(&err), "42P01", "{err}");
        let err = client.simple_query("CREATE SEQUENCE tick").await.unwrap_err();
        assert_eq!(sqlstate(&err), "42P07", "{err}");
        let err = client.simple_query("CREATE SEQUENCE z INCREMENT BY 0").await.unwrap_err();
        assert_eq!(sqlstate(&err), "22023", "{err}");
        client.batch_execute("CREATE SEQUENCE IF NOT EXISTS tick; CREATE SEQUENCE small MAXVALUE 2").await.unwrap();
        assert_eq!(rows(&client, "SELECT nextval('small'), nextval('small')").await, ["1|2"]);
        let err = client.simple_query("SELECT nextval('small')").await.unwrap_err();
        assert_eq!(sqlstate(&err), "2200H", "{err}");
        server.kill9();
        105
    };
    let server = TestServer::start(&dir);
    let client = server.connect().await;
    // After the crash each sequence goes on past every value it handed out.
    let next: i64 = rows(&client, "SELECT nextval('tick')").await[0].parse().unwrap();
    assert!(next > before_kill, "{next}");
    assert_eq!(rows(&client, "INSERT INTO users (name) VALUES ('d') RETURNING id > 3").await, ["t"]);
    assert_eq!(rows(&client, "SELECT count(*), count(DISTINCT id) FROM users").await, ["5|5"]);
    // The table's sequences go with it; a new table of the same name starts afresh.
    client.batch_execute("DROP TABLE users; DROP SEQUENCE tick; CREATE TABLE users (id bigserial, v text)").await.unwrap();
    assert_eq!(rows(&client, "INSERT INTO users (v) VALUES ('x') RETURNING id").await, ["1"]);
    let err = client.simple_query("SELECT nextval('tick')").await.unwrap_err();
    assert_eq!(sqlstate(&err), "42P01", "{err}");
}

/// `CREATE TEMPORARY TABLE`: written, updated and read like any managed table by its
/// session only, never in the catalog, gone with its session (files too) and after a crash.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn temporary_tables_belong_to_their_session_only() {
    let dir = temp_dir("managed-temp");
    let server = TestServer::start(&dir);
    let a = server.connect().await;
    let b = server.connect().await;
    a.batch_execute(
        "CREATE TEMP TABLE scratch (k int NOT NULL, v text);
         INSERT INTO scratch VALUES (1, 'one'), (2, 'two'), (3, 'three');
         CREATE TEMPORARY TABLE copied AS SELECT k * 10 AS k FROM scratch;
         CREATE TABLE kept (k int);
         INSERT INTO kept SELECT k FROM scratch WHERE k > 1;",
    )
    .await
    .unwrap();
    assert_eq!(a.execute("UPDATE scratch SET v = upper(v) WHERE k IN (SELECT k / 10 FROM copied WHERE k > 10)", &[]).await.unwrap(), 2);
    assert_eq!(a.execute("DELETE FROM pg_temp.scratch WHERE k = 1", &[]).await.unwrap(), 1);
    a.batch_execute("BEGIN; INSERT INTO scratch VALUES (4, 'four'); ROLLBACK").await.unwrap();
    assert_eq!(rows(&a, "SELECT k, v FROM scratch ORDER BY k").await, ["2|TWO", "3|THREE"]);
    let err = b.simple_query("SELECT * FROM scratch").await.unwrap_err();
    assert_eq!(sqlstate(&err), "42P01", "{err}");
    // Another session makes its own of the same name.
    b.batch_execute("CREATE TEMP TABLE scratch (other text); INSERT INTO scratch VALUES ('b')").await.unwrap();
    assert_eq!(rows(&b, "SELECT other FROM scratch").await, ["b"]);
    assert_eq!(rows(&a, "SELECT count(*) FROM scratch").await, ["2"]);
    assert_eq!(rows(&a, "SELECT relname FROM pg_class WHERE relname IN ('scratch', 'copied', 'kept')").await, ["kept"]);
    let on_disk = || data_files(&dir).len();
    let with_temp = on_disk();
    drop(b);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(on_disk() < with_temp, "the ended session's temporary table left its files");
    a.batch_execute("DROP TABLE copied").await.unwrap();
    let err = a.simple_query("SELECT * FROM copied").await.unwrap_err();
    assert_eq!(sqlstate(&err), "42P01", "{err}");
    server.kill9();
    let server = TestServer::start(&dir);
    let client = server.connect().await;
    let err = client.simple_query("SELECT * FROM scratch").await.unwrap_err();
    assert_eq!(sqlstate(&err), "42P01", "{err}");
    assert_eq!(rows(&client, "SELECT k FROM kept ORDER BY k").await, ["2", "3"]);
    // The crashed session's temporary files were swept at the start.
    assert_eq!(data_files(&dir).len(), 1, "{:?}", data_files(&dir));
}

/// `VACUUM` merges the small files of single-row INSERTs into one, the rows unchanged; not
/// inside a transaction block (25001); other tables untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vacuum_merges_small_files() {
    let dir = temp_dir("managed-vacuum");
    let server = TestServer::start(&dir);
    let client = server.connect().await;
    client.batch_execute("CREATE TABLE many (n int, s text); CREATE TABLE other (n int); INSERT INTO other VALUES (1); INSERT INTO other VALUES (2)").await.unwrap();
    for n in 0..20 {
        client.execute("INSERT INTO many VALUES ($1, $2)", &[&n, &format!("row {n}")]).await.unwrap();
    }
    client.batch_execute("DELETE FROM many WHERE n = 7").await.unwrap();
    let before = rows(&client, "SELECT count(*), sum(n), min(s), max(s) FROM many").await;
    assert_eq!(before, ["19|183|row 0|row 9"]);
    let err = client.simple_query("BEGIN; VACUUM many").await.unwrap_err();
    assert_eq!(sqlstate(&err), "25001", "{err}");
    client.batch_execute("ROLLBACK; VACUUM many").await.unwrap();
    assert_eq!(rows(&client, "SELECT count(*), sum(n), min(s), max(s) FROM many").await, before);
    client.batch_execute("VACUUM").await.unwrap();
    drop(client);
    server.kill9();
    let server = TestServer::start(&dir);
    let client = server.connect().await;
    assert_eq!(rows(&client, "SELECT count(*), sum(n), min(s), max(s) FROM many").await, before);
    assert_eq!(rows(&client, "SELECT n FROM other ORDER BY n").await, ["1", "2"]);
    // One file per table is left (the replaced ones were swept at the start).
    assert_eq!(data_files(&dir).len(), 2, "{:?}", data_files(&dir));
    let err = client.simple_query("VACUUM nope").await.unwrap_err();
    assert_eq!(sqlstate(&err), "42P01", "{err}");
}
