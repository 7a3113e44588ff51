//! Python functions over the wire: every kind, faults that must leave the server serving,
//! persistence across `kill -9`, pickled functions, and the security switches.

use std::time::{Duration, Instant};

use tokio_postgres::Client;

use crate::common::{TestServer, temp_dir, test_python};

const PLUS: &str = "CREATE FUNCTION plus(x bigint) RETURNS bigint LANGUAGE python IMMUTABLE STRICT AS $$
    def plus(x):
        return x * 2 + 1
    $$";

/// The SQLSTATE of a failing statement, and its message and detail.
async fn error_of(client: &Client, sql: &str) -> (String, String, String) {
    let error = client.batch_execute(sql).await.expect_err(sql);
    let db = error.as_db_error().unwrap_or_else(|| panic!("{sql}: not a server error: {error:?}"));
    (db.code().code().to_string(), db.message().to_string(), db.detail().unwrap_or_default().to_string())
}

/// The one integer a query answers, read from its text (`sum(bigint)` is `numeric`).
async fn one_i64(client: &Client, sql: &str) -> i64 {
    let messages = client.simple_query(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    let text = messages.iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
        _ => None,
    });
    text.and_then(|t| t.parse().ok()).unwrap_or_else(|| panic!("{sql}: no integer answer"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_python_function() {
    let dir = temp_dir("udf-kinds");
    let server = TestServer::start(&dir);
    let client = server.connect().await;
    client.batch_execute(PLUS).await.unwrap();
    // Row at a time, in projections, filters, group keys and join conditions, across partitions.
    let n = 200_000;
    assert_eq!(one_i64(&client, &format!("SELECT sum(plus(v)) FROM generate_series(1, {n}) t(v)")).await, n * (n + 1) + n);
    assert_eq!(one_i64(&client, "SELECT count(*) FROM generate_series(1, 1000) t(v) WHERE plus(v) % 3 = 0").await, 334);
    let groups: Vec<(i64, i64)> = client
        .query("SELECT plus(v % 3) AS k, count(*) FROM generate_series(1, 30) t(v) GROUP BY plus(v % 3) ORDER BY 1", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(groups, vec![(1, 10), (3, 10), (5, 10)]);
    assert_eq!(
        one_i64(&client, "SELECT count(*) FROM generate_series(1, 100) a(x) JOIN generate_series(1, 300) b(y) ON plus(a.x) = b.y").await,
        100
    );
    // STRICT: NULL in, NULL out, without a call.
    let row = client.query_one("SELECT plus(NULL::bigint), plus($1::bigint)", &[&Some(20i64)]).await.unwrap();
    assert_eq!((row.get::<_, Option<i64>>(0), row.get::<_, Option<i64>>(1)), (None, Some(41)));
    // Not strict: the function sees None.
    client
        .batch_execute("CREATE FUNCTION describe(s text, b boolean) RETURNS text LANGUAGE python AS $$
            def describe(s, b):
                return 'null' if s is None else s.upper() + ('!' if b else '?')
            $$")
        .await
        .unwrap();
    let rows = client.query("SELECT describe(s, b) FROM (VALUES ('ab', true), (NULL, false), ('ü', false)) v(s, b)", &[]).await.unwrap();
    let texts: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(texts, ["AB!", "null", "Ü?"]);
    // Vectorized, with pyarrow arrays and with pandas Series.
    client
        .batch_execute("CREATE FUNCTION vplus(x bigint) RETURNS bigint LANGUAGE python WITH (vectorized) AS $$
            import pyarrow.compute as pc
            def vplus(x):
                return pc.add(pc.multiply(x, 2), 1)
            $$;
            CREATE FUNCTION pdscale(x double precision) RETURNS double precision LANGUAGE python WITH (vectorized = 'pandas') AS $$
            def pdscale(x):
                return (x - x.min()) * 0 + x * 0.5
            $$")
        .await
        .unwrap();
    assert_eq!(
        one_i64(&client, &format!("SELECT sum(vplus(v)) - sum(plus(v)) FROM generate_series(1, {n}) t(v)")).await,
        0
    );
    let half: f64 = client.query_one("SELECT sum(pdscale(v::double precision)) FROM generate_series(1, 100) t(v)", &[]).await.unwrap().get(0);
    assert_eq!(half, 2525.0);
    // Aggregates: a class, and a vectorized reducer; compared with SQL.
    client
        .batch_execute("CREATE FUNCTION pysum(x double precision) RETURNS double precision LANGUAGE python WITH (aggregate) AS $$
            class pysum:
                def __init__(self):
                    self.total = 0.0
                def accumulate(self, x):
                    if x is not None:
                        self.total += x
                def finish(self):
                    return self.total
            $$;
            CREATE FUNCTION pymax(x bigint) RETURNS bigint LANGUAGE python WITH (aggregate) AS $$
            import pyarrow.compute as pc
            def pymax(xs):
                return pc.max(xs)
            $$")
        .await
        .unwrap();
    let rows = client
        .query(
            "SELECT v % 7 AS k, pysum(v::double precision) = sum(v::double precision), pymax(v) = max(v)
             FROM generate_series(1, 50000) t(v) GROUP BY 1 ORDER BY 1",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 7);
    assert!(rows.iter().all(|r| r.get::<_, bool>(1) && r.get::<_, bool>(2)));
    // Table function.
    client
        .batch_execute("CREATE FUNCTION squares(n bigint) RETURNS TABLE (i bigint, sq text) LANGUAGE python AS $$
            def squares(n):
                for i in range(n):
                    yield i, str(i * i)
            $$")
        .await
        .unwrap();
    let rows = client.query("SELECT i, sq FROM squares(4) WHERE i > 0 ORDER BY i", &[]).await.unwrap();
    let got: Vec<(i64, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(got, vec![(1, "1".to_string()), (2, "4".to_string()), (3, "9".to_string())]);
}

/// The server still answers, and still runs Python functions.
async fn healthy(client: &Client) {
    assert_eq!(one_i64(client, "SELECT sum(plus(v)) FROM generate_series(1, 10) t(v)").await, 120);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_fail_the_query_and_the_server_keeps_serving() {
    let dir = temp_dir("udf-faults");
    let server = TestServer::start_in(&dir, &dir, &["--udf-timeout", "5", "--udf-memory-limit", "1GiB", "--udf-workers", "2"]);
    let client = server.connect().await;
    client
        .batch_execute(&format!(
            "{PLUS};
            CREATE FUNCTION raises(x bigint) RETURNS bigint LANGUAGE python AS $$
            def raises(x):
                if x > 5:
                    raise ValueError('x too big: %d' % x)
                return x
            $$;
            CREATE FUNCTION aborts(x bigint) RETURNS bigint LANGUAGE python AS $$
            import os
            def aborts(x):
                os.abort()
            $$;
            CREATE FUNCTION exits(x bigint) RETURNS bigint LANGUAGE python AS $$
            import os
            def exits(x):
                os._exit(3)
            $$;
            CREATE FUNCTION spins(x bigint) RETURNS bigint LANGUAGE python AS $$
            def spins(x):
                while True:
                    pass
            $$;
            CREATE FUNCTION hogs(x bigint) RETURNS bigint LANGUAGE python AS $$
            def hogs(x):
                hoard = []
                while True:
                    hoard.append(bytearray(64 << 20))
            $$;"
        ))
        .await
        .unwrap();

    let (code, message, detail) = error_of(&client, "SELECT raises(v) FROM generate_series(1, 10) t(v)").await;
    assert_eq!(code, "38000");
    assert!(message.contains("ValueError: x too big: 6"), "{message}");
    assert!(detail.contains("Traceback") && detail.contains("line 4, in raises"), "{detail}");
    healthy(&client).await;

    for (function, status) in [("aborts", "SIGABRT"), ("exits", "exit code 3")] {
        let (code, message, _) = error_of(&client, &format!("SELECT {function}(1)")).await;
        assert_eq!(code, "39000", "{message}");
        assert!(message.contains(status), "{message}");
        healthy(&client).await;
    }

    // The per-call timeout kills the worker.
    let started = Instant::now();
    let (code, message, _) = error_of(&client, "SELECT spins(1)").await;
    assert_eq!(code, "57014", "{message}");
    assert!(message.contains("did not finish within 5s"), "{message}");
    assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
    healthy(&client).await;

    // statement_timeout (like a CancelRequest) reaches the Python call well before the
    // per-call timeout, and the pool is whole again for the next statements.
    client.batch_execute("SET statement_timeout = 300").await.unwrap();
    for _ in 0..3 {
        let started = Instant::now();
        let (code, message, _) = error_of(&client, "SELECT spins(v) FROM generate_series(1, 4) t(v)").await;
        assert_eq!(code, "57014", "{message}");
        assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    }
    client.batch_execute("SET statement_timeout = 0").await.unwrap();
    let started = Instant::now();
    healthy(&client).await;
    assert!(started.elapsed() < Duration::from_secs(4), "workers still busy: {:?}", started.elapsed());

    // So does a CancelRequest.
    let cancel = client.cancel_token();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        cancel.cancel_query(tokio_postgres::NoTls).await.unwrap();
    });
    let started = Instant::now();
    let (code, message, _) = error_of(&client, "SELECT spins(v) FROM generate_series(1, 4) t(v)").await;
    assert_eq!(code, "57014", "{message}");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    let started = Instant::now();
    healthy(&client).await;
    assert!(started.elapsed() < Duration::from_secs(4), "workers still busy: {:?}", started.elapsed());

    let (code, message, _) = error_of(&client, "SELECT hogs(1)").await;
    assert!(code == "53200" || code == "39000", "{code}: {message}");
    healthy(&client).await;

    // A bad body fails at CREATE FUNCTION, with the Python error.
    let (code, message, _) = error_of(&client, "CREATE FUNCTION broken(x int) RETURNS int LANGUAGE python AS $$def broken(x) return 1$$").await;
    assert_eq!(code, "42P13");
    assert!(message.contains("SyntaxError"), "{message}");
    let (code, message, _) = error_of(&client, "CREATE FUNCTION misnamed(x int) RETURNS int LANGUAGE python AS $$def other(x): return 1$$").await;
    assert_eq!(code, "42P13");
    assert!(message.contains("must define 'misnamed'"), "{message}");
    healthy(&client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn functions_survive_kill_9_and_drop() {
    let dir = temp_dir("udf-restart");
    {
        let server = TestServer::start(&dir);
        let client = server.connect().await;
        client.batch_execute(PLUS).await.unwrap();
        client
            .batch_execute("CREATE TEMPORARY FUNCTION temp_only(x bigint) RETURNS bigint LANGUAGE python AS $$def temp_only(x): return x$$;
                CREATE FUNCTION gone(x bigint) RETURNS bigint LANGUAGE python AS $$def gone(x): return x$$;
                DROP FUNCTION gone;")
            .await
            .unwrap();
        // Visible to another session at once.
        let other = server.connect().await;
        assert_eq!(one_i64(&other, "SELECT plus(1)").await, 3);
        assert_eq!(error_of(&other, "SELECT temp_only(1)").await.0, "42883");
        assert_eq!(error_of(&client, PLUS).await.0, "42723");
        assert_eq!(error_of(&client, "CREATE FUNCTION abs(x bigint) RETURNS bigint LANGUAGE python AS $$def abs(x): return x$$").await.0, "42723");
        client
            .batch_execute("CREATE OR REPLACE FUNCTION plus(x bigint) RETURNS bigint LANGUAGE python AS $$def plus(x): return x + 100$$")
            .await
            .unwrap();
        assert_eq!(one_i64(&other, "SELECT plus(1)").await, 101);
        server.kill9();
    }
    let server = TestServer::start(&dir);
    let client = server.connect().await;
    assert_eq!(one_i64(&client, "SELECT plus(1)").await, 101);
    // Listed in pg_proc, as psql's \df reads it (in schema public, as a plain function).
    let listed = client
        .query(
            "SELECT n.nspname, p.prokind, p.prosrc FROM pg_catalog.pg_proc p
             LEFT JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace WHERE p.proname = 'plus'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].get::<_, Option<String>>(0).as_deref(), Some("public"));
    assert_eq!(listed[0].get::<_, Option<String>>(1).as_deref(), Some("f"));
    assert!(listed[0].get::<_, Option<String>>(2).unwrap_or_default().contains("x + 100"));
    assert_eq!(error_of(&client, "SELECT temp_only(1)").await.0, "42883");
    assert_eq!(error_of(&client, "SELECT gone(1)").await.0, "42883");
    client.batch_execute("DROP FUNCTION plus; DROP FUNCTION IF EXISTS plus").await.unwrap();
    assert_eq!(one_i64(&client, "SELECT count(*) FROM pg_catalog.pg_proc WHERE proname = 'plus'").await, 0);
    assert_eq!(error_of(&client, "DROP FUNCTION plus").await.0, "42883");
    drop(client);
    assert!(server.terminate());
    let server = TestServer::start(&dir);
    let client = server.connect().await;
    assert_eq!(error_of(&client, "SELECT plus(1)").await.0, "42883");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pickled_functions_and_version_mismatch() {
    let dir = temp_dir("udf-pickle");
    let server = TestServer::start(&dir);
    let client = server.connect().await;
    let output = std::process::Command::new(test_python())
        .args([
            "-c",
            "import base64, sys, cloudpickle\n\
             offset = 1000\n\
             f = lambda x: x + offset\n\
             print('%d.%d' % sys.version_info[:2])\n\
             print(base64.b64encode(cloudpickle.dumps(f)).decode())",
        ])
        .output()
        .expect("run python");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8(output.stdout).unwrap();
    let mut lines = text.lines();
    let (version, pickle) = (lines.next().unwrap(), lines.next().unwrap());
    client
        .batch_execute(&format!("CREATE FUNCTION shifted(x bigint) RETURNS bigint LANGUAGE python WITH (pickle = '{version}') AS '{pickle}'"))
        .await
        .unwrap();
    assert_eq!(one_i64(&client, "SELECT sum(shifted(v)) FROM generate_series(1, 10) t(v)").await, 10_055);
    let (code, message, _) =
        error_of(&client, &format!("CREATE FUNCTION old(x bigint) RETURNS bigint LANGUAGE python WITH (pickle = '2.7') AS '{pickle}'")).await;
    assert_eq!(code, "42P13");
    assert!(message.contains("pickled by Python 2.7") && message.contains("from source"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn who_may_use_python_functions() {
    let dir = temp_dir("udf-policy");
    let server = TestServer::start_in(&dir, &dir, &["--udf-creators", "admin"]);
    let admin = tokio_postgres::connect(&format!("{} user=admin", server.conn_string()), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(admin.1);
    let bob = tokio_postgres::connect(&format!("{} user=bob", server.conn_string()), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(bob.1);
    assert_eq!(error_of(&bob.0, PLUS).await.0, "42501");
    admin.0.batch_execute(PLUS).await.unwrap();
    // Using a function needs no privilege.
    assert_eq!(one_i64(&bob.0, "SELECT plus(2)").await, 5);
    assert_eq!(error_of(&bob.0, "DROP FUNCTION plus").await.0, "42501");
    drop(server);

    let dir = temp_dir("udf-disabled");
    let server = TestServer::start_in(&dir, &dir, &["--no-python-udfs"]);
    let client = server.connect().await;
    let (code, message, _) = error_of(&client, PLUS).await;
    assert_eq!(code, "0A000");
    assert!(message.contains("disabled"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_function_over_tpch_matches_sql() {
    let data = std::env::temp_dir().join("ember-tpch-sf0.01-udf");
    ember_bench_tpch::generate(&data, 0.01, 2).expect("generate TPC-H data");
    let dir = temp_dir("udf-tpch");
    let server = TestServer::start(&dir);
    let client = server.connect().await;
    for sql in ember_bench_tpch::create_tables_sql(&data) {
        client.batch_execute(&sql).await.unwrap();
    }
    client
        .batch_execute("CREATE FUNCTION disc_price(price double precision, discount double precision) RETURNS double precision
            LANGUAGE python IMMUTABLE AS $$
            def disc_price(price, discount):
                return price * (1 - discount)
            $$")
        .await
        .unwrap();
    let rows = client
        .query(
            "SELECT l_returnflag, sum(disc_price(l_extendedprice, l_discount)), sum(l_extendedprice * (1 - l_discount))::double precision
             FROM lineitem GROUP BY l_returnflag ORDER BY 1",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 3);
    for row in rows {
        let (python, sql): (f64, f64) = (row.get(1), row.get(2));
        assert!((python - sql).abs() <= sql.abs() * 1e-9, "{python} vs {sql}");
    }
}
