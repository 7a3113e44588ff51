//! Limits answered, not suffered: a panic under a statement fails only that statement
//! (XX000), too many connections get 53300, a statement nested too deep 54001, one too
//! long or a row over the protocol's 1 GB 54000; each time the connection stays usable
//! and the server serves on.

use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

use crate::common::{TestServer, repo_root, temp_dir};

async fn sqlstate_of(client: &Client, sql: &str) -> String {
    match client.simple_query(sql).await {
        Ok(_) => "ok".to_string(),
        Err(e) => e.code().map(|c| c.code().to_string()).unwrap_or_else(|| format!("no sqlstate: {e}")),
    }
}

async fn first_value(client: &Client, sql: &str) -> Option<String> {
    let rows = client.simple_query(sql).await.unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    rows.iter().find_map(|m| match m {
        SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
        _ => None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_fails_its_statement_and_nothing_else() {
    let dir = temp_dir("panic");
    let server = TestServer::start_in(&dir, &repo_root(), &["--test-functions"]);
    let client = server.connect().await;
    let other = server.connect().await;
    // While planning (a constant argument is folded), while running, and through the
    // extended protocol.
    assert_eq!(sqlstate_of(&client, "SELECT ember_test_panic('plan')").await, "XX000");
    assert_eq!(sqlstate_of(&client, "SELECT ember_test_panic(v::text) FROM generate_series(1, 3) AS t(v)").await, "XX000");
    let extended = client.query("SELECT ember_test_panic(v::text) FROM generate_series(1, 3) AS t(v) WHERE v > $1", &[&0i64]).await;
    assert_eq!(extended.unwrap_err().code().map(|c| c.code().to_string()).as_deref(), Some("XX000"));
    let error = client.simple_query("SELECT ember_test_panic('the message')").await.unwrap_err();
    let message = error.as_db_error().map(|e| e.message().to_string()).unwrap_or_default();
    assert!(message.contains("ember_test_panic: the message"), "{error:?}");
    // The session goes on; in a transaction block, the block fails as for any error.
    assert_eq!(first_value(&client, "SELECT 1").await.as_deref(), Some("1"));
    client.simple_query("BEGIN").await.unwrap();
    assert_eq!(sqlstate_of(&client, "SELECT ember_test_panic('in a block')").await, "XX000");
    assert_eq!(sqlstate_of(&client, "SELECT 1").await, "25P02");
    client.simple_query("ROLLBACK").await.unwrap();
    assert_eq!(first_value(&client, "SELECT 2").await.as_deref(), Some("2"));
    assert_eq!(first_value(&other, "SELECT 3").await.as_deref(), Some("3"));
    // Without --test-functions the function does not exist.
    let plain = TestServer::start(&temp_dir("panic-plain"));
    assert_eq!(sqlstate_of(&plain.connect().await, "SELECT ember_test_panic('x')").await, "42883");
}

async fn try_connect(server: &TestServer, user: &str) -> Result<Client, String> {
    let conn = format!("host={} port={} user={user} dbname=ember", server.addr.ip(), server.addr.port());
    match tokio_postgres::connect(&conn, NoTls).await {
        Ok((client, connection)) => {
            tokio::spawn(async move {
                let _ = connection.await;
            });
            Ok(client)
        }
        Err(e) => Err(e.code().map(|c| c.code().to_string()).unwrap_or_else(|| format!("no sqlstate: {e}"))),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_connections_with_slots_reserved_for_superusers() {
    let dir = temp_dir("max-connections");
    let args = ["--max-connections", "3", "--superuser-reserved-connections", "1", "--superusers", "root"];
    let server = TestServer::start_in(&dir, &repo_root(), &args);
    let first = try_connect(&server, "app").await.unwrap();
    let second = try_connect(&server, "app").await.unwrap();
    assert_eq!(try_connect(&server, "app").await.err().as_deref(), Some("53300"));
    let root = try_connect(&server, "root").await.unwrap();
    assert_eq!(try_connect(&server, "root").await.err().as_deref(), Some("53300"));
    // Those who got in work; closed connections free their slots (with `second` and
    // `root` open, the one free slot is still the reserved one).
    assert_eq!(first_value(&root, "SELECT 1").await.as_deref(), Some("1"));
    drop((first, root));
    let mut again = Err(String::new());
    for _ in 0..50 {
        again = try_connect(&server, "app").await;
        if again.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(first_value(&again.unwrap(), "SELECT 2").await.as_deref(), Some("2"));
    assert_eq!(first_value(&second, "SELECT 3").await.as_deref(), Some("3"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_deep_too_long_and_too_large_are_errors() {
    let dir = temp_dir("limits");
    // 8 MiB statement stacks: a depth limit of 1,024 levels.
    let server = TestServer::start_in(&dir, &repo_root(), &["--stack-size", "8MiB", "--max-query-size", "1MiB"]);
    let client = server.connect().await;
    let deep = format!("SELECT {}", vec!["1"; 5000].join(" + "));
    assert_eq!(sqlstate_of(&client, &deep).await, "54001");
    let nested = format!("SELECT {}1{}", "(".repeat(3000), ")".repeat(3000));
    assert_eq!(sqlstate_of(&client, &nested).await, "54001");
    // Deeper than any stack: refused, and the refused statement is freed safely.
    let deepest = format!("SELECT {}", vec!["1"; 400_000].join("+"));
    assert_eq!(sqlstate_of(&client, &deepest).await, "54001");
    // The same chain with a syntax error after it: the parser's partial tree is freed, and
    // so is a deep first statement when the second does not parse.
    assert_eq!(sqlstate_of(&client, &format!("{deepest} )")).await, "42601");
    assert_eq!(sqlstate_of(&client, &format!("{deepest}; SELEC 1")).await, "42601");
    let long = format!("SELECT '{}'", "x".repeat(2 << 20));
    assert_eq!(sqlstate_of(&client, &long).await, "54000");
    let prepared = client.prepare(&deep).await.unwrap_err();
    assert_eq!(prepared.code().map(|c| c.code()), Some("54001"));
    // Within the limits the same shapes are answered.
    let fine = format!("SELECT {}", vec!["1"; 500].join(" + "));
    assert_eq!(first_value(&client, &fine).await.as_deref(), Some("500"));
    // A row longer than the protocol allows.
    assert_eq!(sqlstate_of(&client, "SELECT repeat('x', 1100000000)").await, "54000");
    assert_eq!(first_value(&client, "SELECT length(repeat('x', 1000))").await.as_deref(), Some("1000"));
}

/// A statement that takes long to plan neither holds the runtime thread others are served
/// by nor outlives its `statement_timeout`: it plans off the runtime (one runtime thread
/// here) and its rules stop at the deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_planning_leaves_the_runtime_and_stops_at_the_timeout() {
    let dir = temp_dir("slow-planning");
    let server = TestServer::start_in(&dir, &repo_root(), &["--threads", "1"]);
    let heavy_sql = slow_to_plan();
    let heavy = server.connect().await;
    let other = server.connect().await;
    let started = std::time::Instant::now();
    let planning = tokio::spawn(async move { first_value(&heavy, &heavy_sql).await.map(|_| started.elapsed()) });
    // Once the heavy statement is under way, the other session is still answered.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(first_value(&other, "SELECT 1").await.as_deref(), Some("1"));
    let answered = started.elapsed();
    let planned = planning.await.unwrap().expect("the heavy statement answers");
    assert!(answered < planned, "SELECT 1 answered after {answered:?}, while the heavy statement took {planned:?}");
    // With a timeout shorter than its planning, it fails with 57014 well before the end.
    let timed = server.connect().await;
    timed.simple_query("SET statement_timeout = '100ms'").await.unwrap();
    let started = std::time::Instant::now();
    let error = timed.simple_query(&slow_to_plan()).await.unwrap_err();
    let stopped = started.elapsed();
    let db = error.as_db_error().unwrap_or_else(|| panic!("{error:?}"));
    assert_eq!((db.code().code(), db.message()), ("57014", "canceling statement due to statement timeout"));
    assert!(stopped < planned / 2, "stopped after {stopped:?}; planning takes {planned:?}");
    assert_eq!(first_value(&timed, "SELECT 2").await.as_deref(), Some("2"));
}

/// A statement that plans for a good while (seconds in a debug build).
fn slow_to_plan() -> String {
    let terms: Vec<String> = (0..20_000).map(|i| format!("v <> {i}")).collect();
    format!("SELECT count(*) FROM (VALUES (-1), (-2)) AS t(v) WHERE {}", terms.join(" AND "))
}
