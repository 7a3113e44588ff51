//! The catalog survives restarts, including `kill -9`.

use crate::common::{TestServer, repo_root, temp_dir};

async fn count(client: &tokio_postgres::Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).await.unwrap_or_else(|e| panic!("{sql}: {e}")).get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_views_and_schemas_survive_kill_9() {
    let dir = temp_dir("restart");
    let sample = repo_root().join("sql-tests/data");
    {
        let server = TestServer::start(&dir);
        let client = server.connect().await;
        client
            .batch_execute(&format!(
                "CREATE EXTERNAL TABLE emp STORED AS CSV LOCATION '{}/employees.csv' OPTIONS ('format.has_header' 'true');
                 CREATE SCHEMA sales;
                 CREATE EXTERNAL TABLE sales.dept STORED AS CSV LOCATION '{}/departments.csv' OPTIONS ('format.has_header' 'true');
                 CREATE VIEW rich AS SELECT * FROM emp WHERE salary > 5000;
                 CREATE VIEW gone AS SELECT 1 AS one;
                 DROP VIEW gone;",
                sample.display(),
                sample.display()
            ))
            .await
            .unwrap();
        assert!(count(&client, "SELECT count(*) FROM rich").await > 0);
        // No shutdown: the statements above answered, so they are durable.
        server.kill9();
    }
    let server = TestServer::start(&dir);
    let client = server.connect().await;
    let emp = count(&client, "SELECT count(*) FROM emp").await;
    assert!(emp > 0);
    assert!(count(&client, "SELECT count(*) FROM rich").await < emp);
    assert!(count(&client, "SELECT count(*) FROM sales.dept").await > 0);
    let err = client.query("SELECT * FROM gone", &[]).await.unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("42P01"));
    // A dropped table stays dropped.
    client.batch_execute("DROP TABLE sales.dept").await.unwrap();
    drop(client);
    server.kill9();
    let server = TestServer::start(&dir);
    let client = server.connect().await;
    assert!(client.query("SELECT * FROM sales.dept", &[]).await.is_err());
    assert_eq!(count(&client, "SELECT count(*) FROM emp").await, emp);
}

/// dbt's view swap (create `m__tmp`, rename `m` to `m__backup`, rename `m__tmp` to `m`,
/// drop the backup) and a renamed table come back under their new names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renamed_relations_survive_kill_9() {
    let dir = temp_dir("rename");
    let sample = repo_root().join("sql-tests/data");
    {
        let server = TestServer::start(&dir);
        let client = server.connect().await;
        client
            .batch_execute(&format!(
                "CREATE EXTERNAL TABLE emp STORED AS CSV LOCATION '{0}/employees.csv' OPTIONS ('format.has_header' 'true');
                 CREATE EXTERNAL TABLE d STORED AS CSV LOCATION '{0}/departments.csv' OPTIONS ('format.has_header' 'true');
                 CREATE SCHEMA models;
                 CREATE VIEW models.m AS SELECT emp_id FROM emp;
                 BEGIN;
                 CREATE VIEW \"ember\".\"models\".\"m__dbt_tmp\" AS (SELECT emp_id, name FROM emp WHERE active);
                 ALTER TABLE \"ember\".\"models\".\"m\" RENAME TO \"m__dbt_backup\";
                 ALTER VIEW \"ember\".\"models\".\"m__dbt_tmp\" RENAME TO \"m\";
                 COMMIT;
                 DROP VIEW IF EXISTS \"ember\".\"models\".\"m__dbt_backup\" CASCADE;
                 ALTER TABLE d RENAME TO \"Departments\";",
                sample.display()
            ))
            .await
            .unwrap();
        assert_eq!(count(&client, "SELECT count(*) FROM models.m WHERE name IS NOT NULL").await, 30);
        server.kill9();
    }
    let server = TestServer::start(&dir);
    let client = server.connect().await;
    assert_eq!(count(&client, "SELECT count(*) FROM models.m WHERE name IS NOT NULL").await, 30);
    assert!(count(&client, "SELECT count(*) FROM \"Departments\"").await > 0);
    for gone in ["models.m__dbt_tmp", "models.m__dbt_backup", "d"] {
        let err = client.query(&format!("SELECT * FROM {gone}"), &[]).await.unwrap_err();
        assert_eq!(err.code().map(|c| c.code()), Some("42P01"), "{gone}");
    }
    let views: Vec<String> = client
        .query("SELECT viewname FROM pg_views WHERE schemaname = 'models'", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(views, vec!["m".to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relative_locations_resolve_against_the_start_directory() {
    let dir = temp_dir("relative");
    {
        let server = TestServer::start_in(&dir, &repo_root().join("sql-tests"), &[]);
        let client = server.connect().await;
        client
            .batch_execute("CREATE EXTERNAL TABLE d STORED AS CSV LOCATION 'data/departments.csv' OPTIONS ('format.has_header' 'true')")
            .await
            .unwrap();
        server.kill9();
    }
    // Restarted from another directory, the table still reads its file.
    let server = TestServer::start_in(&dir, &std::env::temp_dir(), &[]);
    let client = server.connect().await;
    assert!(count(&client, "SELECT count(*) FROM d").await > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_whose_files_vanished_does_not_stop_startup() {
    let dir = temp_dir("vanished");
    let data = temp_dir("vanished-data");
    std::fs::copy(repo_root().join("sql-tests/data/departments.csv"), data.join("d.csv")).unwrap();
    {
        let server = TestServer::start(&dir);
        let client = server.connect().await;
        client
            .batch_execute(&format!("CREATE EXTERNAL TABLE d STORED AS CSV LOCATION '{}/d.csv'", data.display()))
            .await
            .unwrap();
        server.kill9();
    }
    std::fs::remove_file(data.join("d.csv")).unwrap();
    let server = TestServer::start(&dir);
    let client = server.connect().await;
    assert_eq!(client.query_one("SELECT 1::BIGINT", &[]).await.unwrap().get::<_, i64>(0), 1);
}
