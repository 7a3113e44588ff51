//! Wire-protocol behaviour: errors and recovery, parameters, portals, transactions,
//! settings, streaming, startup and shutdown.

use futures::{StreamExt, pin_mut};
use tokio_postgres::types::{ToSql, Type};

use crate::common::{TestServer, repo_root, temp_dir};

fn sqlstate(e: &tokio_postgres::Error) -> String {
    e.code().map(|c| c.code().to_string()).unwrap_or_else(|| format!("no sqlstate: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_carry_sqlstate_and_the_connection_lives_on() {
    let dir = temp_dir("errors");
    let server = TestServer::start(&dir);
    let client = server.connect().await;
    let cases = [
        ("SELEC 1", "42601"),
        ("SELECT * FROM no_such_table", "42P01"),
        ("SELECT no_such_column FROM (VALUES (1)) AS t(a)", "42703"),
        ("SELECT no_such_function(1)", "42883"),
        ("SELECT 1 / 0", "22012"),
        ("SELECT CAST('abc' AS INT)", "22P02"),
        ("LISTEN channel", "0A000"),
        ("SET no_such_setting = 1", "42704"),
        ("SET extra_float_digits = 42", "22023"),
    ];
    for (sql, expected) in cases {
        // simple protocol
        let err = client.simple_query(sql).await.expect_err(sql);
        assert_eq!(sqlstate(&err), expected, "simple: {sql}: {err:?}");
        // extended protocol
        let err = client.query(sql, &[]).await.expect_err(sql);
        assert_eq!(sqlstate(&err), expected, "extended: {sql}: {err:?}");
        // and the next statement works
        let row = client.query_one("SELECT 41 + 1", &[]).await.expect("connection usable");
        assert_eq!(row.get::<_, i32>(0), 42);
    }
}

/// `search_path` decides where unqualified names resolve and where new relations go, set
/// by `SET`, `set_config` or `RESET`; a relation created in a schema comes back there
/// after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_path_decides_where_names_resolve() {
    let dir = temp_dir("search-path");
    let server = TestServer::start(&dir);
    let client = server.connect().await;
    async fn value(client: &tokio_postgres::Client, sql: &str) -> i32 {
        client.query_one(sql, &[]).await.unwrap_or_else(|e| panic!("{sql}: {e:?}")).get::<_, i32>(0)
    }
    client.batch_execute("CREATE SCHEMA s1; CREATE VIEW s1.v AS SELECT 1 AS a; CREATE VIEW v AS SELECT 2 AS a").await.unwrap();
    assert_eq!(value(&client, "SELECT a FROM v").await, 2);
    client.batch_execute("SET search_path = s1, public").await.unwrap();
    assert_eq!(value(&client, "SELECT a FROM v").await, 1);
    client.batch_execute("CREATE VIEW w AS SELECT 3 AS a; CREATE VIEW s1.only_s1 AS SELECT 10 AS a; CREATE VIEW w2 AS SELECT a + 1 AS a FROM only_s1").await.unwrap();
    assert_eq!(value(&client, "SELECT a FROM s1.w").await, 3);
    assert_eq!(value(&client, "SELECT a FROM s1.w2").await, 11);
    client.simple_query("SELECT set_config('search_path', 'public', false)").await.unwrap();
    assert_eq!(value(&client, "SELECT a FROM v").await, 2);
    client.batch_execute("SET search_path = no_such_schema, s1").await.unwrap();
    assert_eq!(value(&client, "SELECT a FROM v").await, 1, "missing schemas are skipped");
    client.batch_execute("RESET search_path").await.unwrap();
    assert_eq!(value(&client, "SELECT a FROM v").await, 2);
    drop(client);
    server.kill9();
    let server = TestServer::start(&dir);
    let client = server.connect().await;
    assert_eq!(value(&client, "SELECT a FROM s1.w").await, 3, "w comes back in s1");
    assert_eq!(value(&client, "SELECT a FROM s1.w2").await, 11, "w2 reads s1's relation again");
    assert_eq!(value(&client, "SELECT a FROM v").await, 2);
}

/// DDL on relations and schemas that do or do not exist answers as PostgreSQL does: its
/// SQLSTATE and its message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ddl_errors_are_postgres_errors() {
    let dir = temp_dir("ddl-errors");
    let server = TestServer::start(&dir);
    let client = server.connect().await;
    client.batch_execute("CREATE VIEW v AS SELECT 1 AS a; CREATE SCHEMA s").await.unwrap();
    let cases = [
        ("CREATE VIEW v AS SELECT 2 AS a", "42P07", "relation \"v\" already exists"),
        ("CREATE VIEW nosuch.w AS SELECT 2 AS a", "3F000", "schema \"nosuch\" does not exist"),
        ("DROP VIEW no_such_view", "42P01", "relation \"no_such_view\" does not exist"),
        ("DROP TABLE v", "42809", "\"v\" is not a table"),
        ("CREATE SCHEMA s", "42P06", "schema \"s\" already exists"),
        ("DROP SCHEMA no_such_schema", "3F000", "schema \"no_such_schema\" does not exist"),
    ];
    for (sql, state, message) in cases {
        let err = client.simple_query(sql).await.expect_err(sql);
        assert_eq!(sqlstate(&err), state, "{sql}: {err:?}");
        assert_eq!(err.as_db_error().map(|e| e.message()), Some(message), "{sql}");
    }
    // The forms that allow it still pass, and the view is still there.
    client.batch_execute("CREATE OR REPLACE VIEW v AS SELECT 3 AS a; DROP VIEW IF EXISTS no_such_view; DROP SCHEMA IF EXISTS no_such_schema").await.unwrap();
    assert_eq!(client.query_one("SELECT a FROM v", &[]).await.unwrap().get::<_, i32>(0), 3);
}

/// An Arrow type with no PostgreSQL equivalent (or none arrow-pg can write) is a clear
/// 0A000 naming the column, at Describe and in the simple protocol, never a mid-stream
/// failure; the connection keeps working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn columns_without_a_postgres_type_are_named_errors() {
    let dir = temp_dir("unmapped");
    let server = TestServer::start(&dir);
    let client = server.connect().await;
    let cases = [
        ("SELECT arrow_cast(1.5, 'Float16') AS half", "half"),
        ("SELECT arrow_cast(X'01020304', 'FixedSizeBinary(4)') AS fixed", "fixed"),
        ("SELECT [arrow_cast(1.5, 'Float16')] AS halves", "halves"),
        ("SELECT map(['k'], [1]) AS m", "m"),
        ("SELECT arrow_cast(1, 'Decimal32(5,2)') AS d32", "d32"),
    ];
    for (sql, column) in cases {
        for err in [client.simple_query(sql).await.expect_err(sql), client.query(sql, &[]).await.expect_err(sql)] {
            assert_eq!(sqlstate(&err), "0A000", "{sql}: {err:?}");
            let message = err.as_db_error().map(|e| e.message().to_string()).unwrap_or_default();
            assert!(message.contains(&format!("column \"{column}\"")), "{sql}: {message}");
        }
        let row = client.query_one("SELECT 41 + 1", &[]).await.expect("connection usable");
        assert_eq!(row.get::<_, i32>(0), 42);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameters_inferred_declared_and_reused() {
    let dir = temp_dir("params");
    let server = TestServer::start(&dir);
    let client = server.connect().await;
    // Inferred from the expression.
    let stmt = client.prepare("SELECT a, a * $1 FROM (VALUES (1), (2), (3)) AS t(a) WHERE a >= $2 ORDER BY a").await.unwrap();
    // `a` is an integer, as in PostgreSQL, so are the parameters compared with it.
    assert_eq!(stmt.params(), &[Type::INT4, Type::INT4]);
    for (factor, min, expected) in [(10i32, 2i32, vec![(2i32, 20i32), (3, 30)]), (2, 1, vec![(1, 2), (2, 4), (3, 6)])] {
        let rows = client.query(&stmt, &[&factor, &min]).await.unwrap();
        let got: Vec<(i32, i32)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        assert_eq!(got, expected);
    }
    // Declared types (Parse carries OIDs), text parameter.
    let stmt = client.prepare_typed("SELECT upper($1) || '-' || CAST($2 AS VARCHAR)", &[Type::TEXT, Type::INT4]).await.unwrap();
    let row = client.query_one(&stmt, &[&"ember", &7i32]).await.unwrap();
    assert_eq!(row.get::<_, String>(0), "EMBER-7");
    // A parameter in a cast, NULL parameters.
    let row = client.query_one("SELECT $1::INT IS NULL, $2::DOUBLE PRECISION", &[&None::<i32>, &1.5f64]).await.unwrap();
    assert!(row.get::<_, bool>(0));
    assert_eq!(row.get::<_, f64>(1), 1.5);
    // Untyped parameters nothing else types are text (described as text), as in PostgreSQL;
    // a typed neighbour keeps its type.
    let stmt = client.prepare("SELECT $1 || $2, $3::BIGINT + 1").await.unwrap();
    assert_eq!(stmt.params(), &[Type::TEXT, Type::TEXT, Type::INT8]);
    let row = client.query_one(&stmt, &[&"em", &"ber", &41i64]).await.unwrap();
    assert_eq!((row.get::<_, String>(0), row.get::<_, i64>(1)), ("ember".to_string(), 42));
    // Text + text has no operator: an error (PostgreSQL: operator is not unique), and the
    // connection lives on.
    assert!(client.query("SELECT $1 + $2", &[&"1", &"2"]).await.is_err());
    // Too few parameters is an error, and the connection survives.
    let params: [&(dyn ToSql + Sync); 0] = [];
    assert!(client.query("SELECT $1::INT", &params).await.is_err());
    assert_eq!(client.query_one("SELECT 1::INT", &[]).await.unwrap().get::<_, i32>(0), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portals_honour_execute_row_limits() {
    let dir = temp_dir("portals");
    let server = TestServer::start(&dir);
    let mut client = server.connect().await;
    let tx = client.transaction().await.unwrap();
    let stmt = tx.prepare("SELECT value FROM generate_series(1, 10) AS t(value) ORDER BY value").await.unwrap();
    let portal = tx.bind(&stmt, &[]).await.unwrap();
    let mut seen = Vec::new();
    loop {
        let rows = tx.query_portal(&portal, 3).await.unwrap();
        if rows.is_empty() {
            break;
        }
        assert!(rows.len() <= 3);
        seen.extend(rows.iter().map(|r| r.get::<_, i64>(0)));
    }
    assert_eq!(seen, (1..=10).collect::<Vec<i64>>());
    tx.commit().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_transaction_blocks_until_rollback() {
    let dir = temp_dir("tx");
    let server = TestServer::start(&dir);
    let client = server.connect().await;
    client.batch_execute("BEGIN").await.unwrap();
    client.simple_query("SELECT 1").await.unwrap();
    assert_eq!(sqlstate(&client.simple_query("SELECT 1/0").await.unwrap_err()), "22012");
    assert_eq!(sqlstate(&client.simple_query("SELECT 1").await.unwrap_err()), "25P02");
    assert_eq!(sqlstate(&client.query("SELECT 1", &[]).await.unwrap_err()), "25P02");
    client.batch_execute("ROLLBACK").await.unwrap();
    client.simple_query("SELECT 1").await.unwrap();
    // COMMIT of a failed block answers ROLLBACK and ends it.
    client.batch_execute("BEGIN").await.unwrap();
    assert!(client.simple_query("SELECT * FROM nope").await.is_err());
    client.batch_execute("COMMIT").await.unwrap();
    client.simple_query("SELECT 1").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_settings_set_show_reset() {
    let dir = temp_dir("settings");
    let server = TestServer::start(&dir);
    let client = server.connect().await;
    let show = |name: &'static str| {
        let client = &client;
        async move {
            let rows = client.simple_query(&format!("SHOW {name}")).await.unwrap();
            rows.into_iter()
                .find_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
                    _ => None,
                })
                .unwrap()
        }
    };
    assert_eq!(show("DateStyle").await, "ISO, MDY");
    client.batch_execute("SET DateStyle = 'ISO, DMY'; SET application_name = 'it'; SET extra_float_digits = 3").await.unwrap();
    assert_eq!(show("datestyle").await, "ISO, DMY");
    assert_eq!(show("application_name").await, "it");
    client.batch_execute("SET statement_timeout = '5s'").await.unwrap();
    assert_eq!(show("statement_timeout").await, "5000");
    client.batch_execute("RESET statement_timeout").await.unwrap();
    assert_eq!(show("statement_timeout").await, "0");
    assert_eq!(show("transaction isolation level").await, "read committed");
    assert!(show("server_version").await.starts_with("16"));
    // Engine settings pass through to DataFusion.
    client.batch_execute("SET datafusion.execution.batch_size = 1024").await.unwrap();
    assert_eq!(client.query_one("SELECT 1::BIGINT", &[]).await.unwrap().get::<_, i64>(0), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statement_timeout_cancels_long_queries() {
    let dir = temp_dir("timeout");
    let server = TestServer::start(&dir);
    let client = server.connect().await;
    client.batch_execute("SET statement_timeout = 200").await.unwrap();
    let started = std::time::Instant::now();
    let err = client
        .simple_query("SELECT count(*) FROM generate_series(1, 2000000000) a")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "57014");
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "took {:?}", started.elapsed());
    client.batch_execute("SET statement_timeout = 0").await.unwrap();
    client.simple_query("SELECT 1").await.unwrap();
}

/// Server memory while streaming a large result stays flat: rows are encoded batch by
/// batch and written as the client reads them, never collected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_results_stream_in_bounded_memory() {
    let dir = temp_dir("stream");
    let server = TestServer::start(&dir);
    let client = server.connect().await;
    let pid = server_pid(&server);
    let baseline = peak_rss_kib(pid);
    let rows = 10_000_000i64;
    let params: [&(dyn ToSql + Sync); 0] = [];
    let stream = client
        .query_raw(&format!("SELECT value, 'row ' || CAST(value AS VARCHAR) AS label FROM generate_series(1, {rows}) AS t(value)"), params)
        .await
        .unwrap();
    pin_mut!(stream);
    let mut count = 0i64;
    let mut sum = 0i64;
    while let Some(row) = stream.next().await {
        let row = row.unwrap();
        sum += row.get::<_, i64>(0);
        count += 1;
    }
    assert_eq!(count, rows);
    assert_eq!(sum, rows * (rows + 1) / 2);
    let peak = peak_rss_kib(pid);
    // Buffered, 10M rows would need well over 500 MB; streaming stays within a few batches.
    assert!(peak < baseline + 300 * 1024, "server peak RSS grew from {baseline} KiB to {peak} KiB");
}

fn server_pid(server: &TestServer) -> u32 {
    server.pid()
}

/// The server's peak resident memory; the test fails (never passes vacuously) when it
/// cannot be read.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc/<pid>/status");
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .expect("VmHWM in /proc/<pid>/status")
}

/// CPU time (user + system, all threads) the process has used so far.
fn cpu_time(pid: u32) -> std::time::Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/<pid>/stat");
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')').expect("stat format").1.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    // /proc reports clock ticks of USER_HZ, which Linux fixes at 100 per second.
    std::time::Duration::from_millis(ticks * 10)
}

/// Cores the process kept busy, on average, over `window`.
async fn cores_used(pid: u32, window: std::time::Duration) -> f64 {
    let before = cpu_time(pid);
    tokio::time::sleep(window).await;
    (cpu_time(pid) - before).as_secs_f64() / window.as_secs_f64()
}

#[test]
fn taken_port_is_a_one_line_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let dir = temp_dir("port");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_ember"))
        .args(["serve", "--port", &port, "--data-dir"])
        .arg(&dir)
        .current_dir(repo_root())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last = stderr.lines().last().unwrap_or_default();
    assert!(last.contains("cannot listen on 127.0.0.1:") && last.contains("in use"), "{stderr}");
}

#[test]
fn sigterm_shuts_down_cleanly() {
    let dir = temp_dir("sigterm");
    let server = TestServer::start(&dir);
    assert!(server.terminate(), "server did not exit cleanly on SIGTERM");
}

/// RowDescription carries the PostgreSQL type OIDs clients decode by.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn result_columns_report_postgres_types() {
    let dir = temp_dir("oids");
    let server = TestServer::start(&dir);
    let client = server.connect().await;
    let stmt = client
        .prepare(
            "SELECT true AS b, CAST(1 AS SMALLINT) AS i2, CAST(1 AS INT) AS i4, CAST(1 AS BIGINT) AS i8, \
             CAST(1 AS REAL) AS f4, CAST(1 AS DOUBLE PRECISION) AS f8, CAST(1 AS NUMERIC(10, 2)) AS n, \
             'x' AS t, CAST('x' AS BYTEA) AS by, DATE '2024-01-01' AS d, TIME '01:02:03' AS tm, \
             TIMESTAMP '2024-01-01 00:00:00' AS ts, CAST('2024-01-01 00:00:00Z' AS TIMESTAMPTZ) AS tz, \
             INTERVAL '1 day' AS iv, CAST('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11' AS UUID) AS u, \
             CAST('{}' AS JSON) AS j, CAST('{}' AS JSONB) AS jb, [1, 2] AS arr",
        )
        .await
        .unwrap();
    let types: Vec<Type> = stmt.columns().iter().map(|c| c.type_().clone()).collect();
    assert_eq!(
        types,
        vec![
            Type::BOOL, Type::INT2, Type::INT4, Type::INT8, Type::FLOAT4, Type::FLOAT8, Type::NUMERIC, Type::TEXT,
            Type::BYTEA, Type::DATE, Type::TIME, Type::TIMESTAMP, Type::TIMESTAMPTZ, Type::INTERVAL, Type::UUID,
            Type::JSON, Type::JSONB, Type::INT4_ARRAY,
        ]
    );
    // PostgreSQL's output names.
    let names: Vec<String> = client
        .prepare("SELECT 1, count(*), upper('a'), CAST('1' AS INT) FROM (VALUES (1)) AS t(a)")
        .await
        .unwrap()
        .columns()
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    assert_eq!(names, vec!["?column?", "count", "upper", "int4"]);
}

/// Under `--memory-limit`, a sort bigger than memory spills to disk and still answers;
/// what cannot spill (a hash join's build side) fails with 53200; the server keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_limit_spills_or_fails_cleanly() {
    let dir = temp_dir("memlimit");
    let server = TestServer::start_in(&dir, &repo_root(), &["--memory-limit", "64MiB", "--threads", "2"]);
    let client = server.connect().await;
    // Numbering the rows in order needs the whole input sorted: 3M keys, with the window's
    // state over the limit. (Under 16 MiB the sort's merge finds no memory and fails with
    // 53200: DataFusion reserves 10 MiB per sort for merging spill files.)
    let sort = "SELECT count(*), CAST(sum(CAST(r AS BIGINT) * v) AS BIGINT) FROM (SELECT v, row_number() OVER (ORDER BY v) AS r \
                FROM (SELECT value * 7 % 1000003 AS v FROM generate_series(1, 3000000) AS t(value)) s) n";
    let row = client.query_one(sort, &[]).await.expect("a sort larger than memory spills and finishes");
    let mut values: Vec<i64> = (1..=3_000_000i64).map(|x| x * 7 % 1_000_003).collect();
    values.sort_unstable();
    let expected: i64 = values.iter().zip(1i64..).map(|(v, r)| v * r).sum();
    assert_eq!((row.get::<_, i64>(0), row.get::<_, i64>(1)), (3_000_000, expected));
    // The sort really went to disk: its operator's metrics count spills.
    let plan: Vec<String> = client
        .simple_query(&format!("EXPLAIN ANALYZE {sort}"))
        .await
        .unwrap()
        .into_iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => row.get(1).map(str::to_string),
            _ => None,
        })
        .collect();
    let spills: u64 = plan
        .iter()
        .flat_map(|text| text.split(|c: char| c == ',' || c == '[' || c == ']' || c.is_whitespace()))
        .filter_map(|item| item.strip_prefix("spill_count="))
        .filter_map(|n| n.parse::<u64>().ok())
        .sum();
    assert!(spills > 0, "no spill under a 64 MiB limit:\n{}", plan.join("\n"));
    let join = client
        .query_one(
            "SELECT count(*) FROM generate_series(1, 10000000) AS a(x) JOIN generate_series(1, 10000000) AS b(y) ON a.x = b.y",
            &[],
        )
        .await;
    let err = join.expect_err("a hash join whose build side exceeds the limit cannot spill");
    assert_eq!(sqlstate(&err), "53200", "{err:?}");
    assert_eq!(client.query_one("SELECT 1::BIGINT", &[]).await.unwrap().get::<_, i64>(0), 1);
}

/// A statement whose client has gone stops (as with PostgreSQL's
/// client_connection_check_interval): the server's CPU returns to idle within about two
/// seconds of the client's death, and the server keeps serving others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_client_stops_its_statement() {
    let dir = temp_dir("lost-client");
    let server = TestServer::start(&dir);
    let pid = server_pid(&server);
    let (client, connection) = tokio_postgres::connect(&server.conn_string(), tokio_postgres::NoTls).await.unwrap();
    let connection = tokio::spawn(connection);
    client.batch_execute("SET client_connection_check_interval = 200").await.unwrap();
    let query = tokio::spawn(async move { client.simple_query("SELECT sum(value % 7) FROM generate_series(1, 20000000000) AS t(value)").await });
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let busy = cores_used(pid, std::time::Duration::from_secs(1)).await;
    // (Other tests share the machine's cores: the query gets less than a core, but some.)
    assert!(busy > 0.25, "the query should keep a core busy; it used {busy:.2} cores");
    // The client dies: its socket closes with the statement still running.
    connection.abort();
    let _ = query.await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let after = cores_used(pid, std::time::Duration::from_secs(1)).await;
    assert!(after < 0.1, "the statement kept running after its client left: {after:.2} cores busy");
    let other = server.connect().await;
    assert_eq!(other.query_one("SELECT 3::BIGINT", &[]).await.unwrap().get::<_, i64>(0), 3);
}

/// A CancelRequest stops a running query (while it computes and while it streams) with
/// 57014 within a second, and the connection is reusable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_request_stops_running_queries() {
    let dir = temp_dir("cancel");
    let server = TestServer::start(&dir);
    let client = server.connect().await;
    for sql in [
        // all work happens before the first row
        "SELECT count(*) FROM generate_series(1, 20000000000) AS t(value)",
        // a long stream of rows
        "SELECT value FROM generate_series(1, 20000000000) AS t(value)",
    ] {
        let token = client.cancel_token();
        let canceller = tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            let sent = std::time::Instant::now();
            token.cancel_query(tokio_postgres::NoTls).await.unwrap();
            sent
        });
        let params: [&(dyn ToSql + Sync); 0] = [];
        let result = async {
            let stream = client.query_raw(sql, params).await?;
            pin_mut!(stream);
            while let Some(row) = stream.next().await {
                row?;
            }
            Ok::<_, tokio_postgres::Error>(())
        }
        .await;
        let ended = std::time::Instant::now();
        let sent = canceller.await.unwrap();
        let err = result.expect_err(sql);
        assert_eq!(sqlstate(&err), "57014", "{sql}: {err:?}");
        assert!(ended.duration_since(sent) < std::time::Duration::from_secs(1), "{sql}: took {:?}", ended.duration_since(sent));
        assert_eq!(client.query_one("SELECT 7::BIGINT", &[]).await.unwrap().get::<_, i64>(0), 7);
    }
    // Simple protocol too.
    let token = client.cancel_token();
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        token.cancel_query(tokio_postgres::NoTls).await.unwrap();
    });
    let err = client.simple_query("SELECT count(*) FROM generate_series(1, 20000000000) AS t(value)").await.unwrap_err();
    assert_eq!(sqlstate(&err), "57014");
    client.simple_query("SELECT 1").await.unwrap();
}
