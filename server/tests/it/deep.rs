//! Statements deep enough to overflow a default thread stack (the shapes BI tools and dbt
//! macros generate) are answered and the server lives on: statement threads get
//! `--stack-size` (64 MiB by default). Sizes stay small enough for the debug build's
//! planning time; the larger sizes of the query-of-death work go in its own suite.

use crate::common::{TestServer, temp_dir};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_statements_are_answered_and_the_server_lives() {
    let dir = temp_dir("deep");
    let server = TestServer::start(&dir);
    let client = server.connect().await;
    let or_chain = (0..3000).map(|i| format!("v = {i}")).collect::<Vec<_>>().join(" OR ");
    let unions = (0..2000).map(|i| format!("SELECT {i} AS x")).collect::<Vec<_>>().join(" UNION ALL ");
    let plus = vec!["1"; 1500].join(" + ");
    let cases = [
        (format!("SELECT count(*) FROM generate_series(1, 5000) AS t(v) WHERE {or_chain}"), 2999i64),
        (format!("SELECT count(*) FROM ({unions}) AS u"), 2000),
        (format!("SELECT sum(x) FROM ({unions}) AS u"), 1999 * 2000 / 2),
        (format!("SELECT CAST({plus} AS BIGINT)"), 1500),
    ];
    for (sql, expected) in cases {
        let rows = client.simple_query(&sql).await.unwrap_or_else(|e| panic!("{}...: {e:?}", &sql[..60]));
        let value = rows.iter().find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
            _ => None,
        });
        assert_eq!(value, Some(expected.to_string()), "{}...", &sql[..60]);
    }
    // Every other session still works.
    let other = server.connect().await;
    assert_eq!(other.query_one("SELECT 5::BIGINT", &[]).await.unwrap().get::<_, i64>(0), 5);
}
