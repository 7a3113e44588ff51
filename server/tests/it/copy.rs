//! `COPY ... TO STDOUT` over the wire (tokio-postgres' copy_out): text, CSV with header,
//! binary; `COPY ... FROM STDIN` refused with 0A000 on a connection that keeps working.

use futures::{StreamExt, pin_mut};

use crate::common::{TestServer, repo_root, temp_dir};

async fn copy_out(client: &tokio_postgres::Client, sql: &str) -> Vec<u8> {
    let stream = client.copy_out(sql).await.unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    pin_mut!(stream);
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    out
}

async fn server(name: &str) -> (TestServer, tokio_postgres::Client) {
    let server = TestServer::start_in(&temp_dir(name), &repo_root().join("sql-tests"), &[]);
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE EXTERNAL TABLE dept (dept_id BIGINT, dept_name VARCHAR, city VARCHAR) STORED AS CSV \
             LOCATION 'data/departments.csv' OPTIONS ('format.has_header' 'true')",
        )
        .await
        .unwrap();
    (server, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_to_stdout_text_csv_binary() {
    let (_server, client) = server("copy-out").await;
    let text = String::from_utf8(copy_out(&client, "COPY (SELECT * FROM dept ORDER BY dept_id) TO STDOUT").await).unwrap();
    assert_eq!(text, "1\tEngineering\tLisbon\n2\tSales\tPorto\n3\tMarketing\tLisbon\n4\tFinance\tMadrid\n5\tResearch\t\\N\n");
    let whole = String::from_utf8(copy_out(&client, "COPY dept TO STDOUT").await).unwrap();
    assert_eq!(whole.lines().count(), 5);

    let csv = String::from_utf8(
        copy_out(&client, "COPY (SELECT dept_id, dept_name || ', ' || city AS place, '' AS empty FROM dept WHERE dept_id >= 4 ORDER BY 1) TO STDOUT WITH (FORMAT csv, HEADER)").await,
    )
    .unwrap();
    assert_eq!(csv, "dept_id,place,empty\n4,\"Finance, Madrid\",\"\"\n5,,\"\"\n");
    let legacy = String::from_utf8(copy_out(&client, "COPY dept (dept_id, city) TO STDOUT WITH CSV HEADER").await).unwrap();
    assert!(legacy.starts_with("dept_id,city\n"), "{legacy}");
    assert_eq!(legacy.lines().count(), 6);

    // Binary: PGCOPY header, one tuple per row (field count, length-prefixed int8 and text), trailer.
    let binary = copy_out(&client, "COPY (SELECT dept_id, dept_name FROM dept WHERE dept_id = 2) TO STDOUT (FORMAT binary)").await;
    let mut expected = b"PGCOPY\n\xff\r\n\0".to_vec();
    expected.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
    expected.extend_from_slice(&2i16.to_be_bytes());
    expected.extend_from_slice(&8i32.to_be_bytes());
    expected.extend_from_slice(&2i64.to_be_bytes());
    expected.extend_from_slice(&5i32.to_be_bytes());
    expected.extend_from_slice(b"Sales");
    expected.extend_from_slice(&(-1i16).to_be_bytes());
    assert_eq!(binary, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_from_stdin_into_an_external_table_is_refused_clearly() {
    let (_server, client) = server("copy-in").await;
    let err = client.simple_query("COPY dept FROM STDIN").await.unwrap_err();
    let db = err.as_db_error().expect("a server error");
    assert_eq!(db.code().code(), "0A000");
    assert!(db.message().contains("external tables are read-only"), "{}", db.message());
    let rows = client.simple_query("SELECT 1").await.unwrap();
    assert!(rows.iter().any(|m| matches!(m, tokio_postgres::SimpleQueryMessage::Row(_))));
}
