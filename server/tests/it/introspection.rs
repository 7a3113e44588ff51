//! Catalog introspection as real clients do it: the statements psql, pgjdbc, asyncpg,
//! SQLAlchemy and Npgsql send (recorded from PostgreSQL into sql-tests/introspection/ by
//! sql-tests/tools/record_introspection.py) replayed against Ember over a TPC-H table,
//! plus the catalog's invariants (stable OIDs of one width, empty tables that plan).

use std::path::PathBuf;

use tokio_postgres::{Client, SimpleQueryMessage};

use crate::common::{TestServer, repo_root, temp_dir};

/// A server with TPC-H `lineitem` (and the other tables) as external Parquet tables and a view.
pub async fn tpch_server(name: &str) -> (TestServer, Client) {
    let data = temp_dir(&format!("{name}-data"));
    ember_bench_tpch::generate(&data, 0.001, 1).expect("generate TPC-H data");
    let server = TestServer::start(&temp_dir(name));
    let client = server.connect().await;
    for sql in ember_bench_tpch::create_tables_sql(&data) {
        client.batch_execute(&sql).await.unwrap();
    }
    client.batch_execute("CREATE VIEW v_lineitem_count AS SELECT count(*) AS n FROM lineitem").await.unwrap();
    (server, client)
}

/// One recorded statement with its bind parameters substituted as literals.
struct Recorded {
    file: String,
    index: usize,
    sql: String,
}

fn recorded() -> Vec<Recorded> {
    let dir: PathBuf = repo_root().join("sql-tests/introspection");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let mut out = Vec::new();
    for path in files.into_iter().filter(|p| p.extension().is_some_and(|e| e == "sql")) {
        let text = std::fs::read_to_string(&path).unwrap();
        let file = path.file_name().unwrap().to_string_lossy().to_string();
        for (index, block) in text.split("-- @query").skip(1).enumerate() {
            let params: Vec<(String, String)> = block
                .lines()
                .find_map(|l| l.strip_prefix("-- @params "))
                .map(parse_params)
                .unwrap_or_default();
            let mut sql = block.to_string();
            // Highest numbers first so $1 does not clobber $10.
            for (name, value) in params.iter().rev() {
                sql = sql.replace(name.as_str(), value);
            }
            out.push(Recorded { file: file.clone(), index, sql });
        }
    }
    out
}

/// `$1 = 'a', $2 = 'b''c'` -> [("$1", "'a'"), ("$2", "'b''c'")]
fn parse_params(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find('$') {
        let after = &rest[start..];
        let Some(eq) = after.find(" = '") else { break };
        let name = after[..eq].to_string();
        let value_start = eq + 3;
        let bytes = after.as_bytes();
        let mut i = value_start + 1;
        while i < bytes.len() {
            if bytes[i] == b'\'' {
                if bytes.get(i + 1) == Some(&b'\'') {
                    i += 2;
                    continue;
                }
                break;
            }
            i += 1;
        }
        out.push((name, after[value_start..=i.min(bytes.len() - 1)].to_string()));
        rest = &after[(i + 1).min(after.len())..];
    }
    out
}

fn rows(messages: &[SimpleQueryMessage]) -> Vec<Vec<Option<String>>> {
    messages
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => Some((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect()),
            _ => None,
        })
        .collect()
}

async fn query(client: &Client, sql: &str) -> Vec<Vec<Option<String>>> {
    rows(&client.simple_query(sql).await.unwrap_or_else(|e| panic!("{sql}: {e:?}")))
}

#[test]
fn params_parse() {
    assert_eq!(parse_params("$1 = '{1016,1231}', $2 = 'it''s'"), vec![
        ("$1".to_string(), "'{1016,1231}'".to_string()),
        ("$2".to_string(), "'it''s'".to_string())
    ]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorded_client_introspection_is_answered() {
    let (_server, client) = tpch_server("introspection").await;
    let mut failures = Vec::new();
    let mut answers = std::collections::HashMap::new();
    let all = recorded();
    assert!(all.len() >= 40, "recorded statements missing: {}", all.len());
    for r in &all {
        match client.simple_query(&r.sql).await {
            Ok(messages) => {
                answers.insert((r.file.clone(), r.index), rows(&messages));
            }
            Err(e) => failures.push(format!("{}#{}: {}", r.file, r.index, e.as_db_error().map(|d| d.message().to_string()).unwrap_or(e.to_string()))),
        }
    }
    assert!(failures.is_empty(), "introspection failures:\n{}", failures.join("\n"));

    let answer = |file: &str, needle: &str| -> Vec<Vec<Option<String>>> {
        let r = all.iter().find(|r| r.file == file && r.sql.contains(needle)).unwrap_or_else(|| panic!("{file}: {needle}"));
        answers[&(r.file.clone(), r.index)].clone()
    };
    // pgjdbc getTables: the table and the view, typed; getColumns: lineitem's 16 columns.
    let tables = answer("pgjdbc.sql", "AS TABLE_TYPE");
    let kinds: Vec<(String, String)> = tables.iter().map(|r| (r[2].clone().unwrap(), r[3].clone().unwrap_or_default())).collect();
    assert!(kinds.contains(&("lineitem".to_string(), "TABLE".to_string())), "{kinds:?}");
    assert!(kinds.contains(&("v_lineitem_count".to_string(), "VIEW".to_string())), "{kinds:?}");
    let columns = answer("pgjdbc.sql", "row_number() OVER");
    assert_eq!(columns.len(), 16, "{columns:?}");
    assert_eq!(columns[0][2].as_deref(), Some("l_orderkey"));
    assert_eq!(columns[0][3].as_deref(), Some("20"), "l_orderkey is int8");
    // SQLAlchemy get_columns: names and PostgreSQL type names.
    let columns = answer("sqlalchemy.sql", "format_type(pg_catalog.pg_attribute.atttypid");
    let types: Vec<(String, String)> = columns.iter().map(|r| (r[0].clone().unwrap(), r[1].clone().unwrap())).collect();
    assert_eq!(types.len(), 16);
    assert!(types.contains(&("l_quantity".to_string(), "numeric(15,2)".to_string())), "{types:?}");
    assert!(types.contains(&("l_shipdate".to_string(), "date".to_string())), "{types:?}");
    // asyncpg typeinfo for int8[] and numeric[]: both array types, with their element types.
    let types = answer("asyncpg.sql", "typeinfo_tree");
    let mut oids: Vec<String> = types.iter().filter_map(|r| r[0].clone()).collect();
    oids.sort();
    assert!(oids.contains(&"1016".to_string()) && oids.contains(&"1231".to_string()), "{types:?}");
    // DBeaver's navigator lists the schema's tables and their columns.
    let tables = answer("dbeaver.sql", "parents");
    assert!(tables.iter().any(|r| r.iter().any(|v| v.as_deref() == Some("lineitem"))), "{tables:?}");
    let columns = answer("dbeaver.sql", "def_value");
    assert!(columns.iter().any(|r| r[0].as_deref() == Some("lineitem") && r[2].as_deref() == Some("l_orderkey")), "{} rows", columns.len());
    // Metabase's field sync: lineitem's columns with PostgreSQL type names, 0-based positions.
    let fields = answer("metabase.sql", "database-is-auto-increment");
    let lineitem: Vec<(String, String)> = fields
        .iter()
        .filter(|r| r[4].as_deref() == Some("lineitem"))
        .map(|r| (r[0].clone().unwrap(), r[1].clone().unwrap()))
        .collect();
    assert_eq!(lineitem.len(), 16, "{fields:?}");
    assert_eq!(lineitem[0], ("l_orderkey".to_string(), "int8".to_string()));
    assert!(lineitem.contains(&("l_quantity".to_string(), "numeric".to_string())), "{lineitem:?}");
    // Npgsql loads the built-in types.
    let types = answer("npgsql.sql", "elemtypoid");
    assert!(types.iter().any(|r| r[2].as_deref() == Some("int8")), "{} rows", types.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_oids_are_stable_and_int4() {
    let (server, client) = tpch_server("catalog-oids").await;
    let sql = "SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
               WHERE n.nspname = 'public' AND c.relname = 'lineitem'";
    let first = query(&client, sql).await;
    assert_eq!(first.len(), 1);
    let other = server.connect().await;
    assert_eq!(query(&other, sql).await, first, "same OID in another session");
    assert_eq!(query(&client, "SELECT 'lineitem'::regclass::oid").await, first);
    assert_eq!(query(&client, "SELECT to_regclass('public.lineitem')").await, first);
    assert_eq!(query(&client, "SELECT to_regclass('no_such_table')").await, vec![vec![None]]);
    let attrs = query(&client, &format!("SELECT count(*) FROM pg_catalog.pg_attribute WHERE attrelid = {}", first[0][0].as_ref().unwrap())).await;
    assert_eq!(attrs, vec![vec![Some("16".to_string())]]);
    // Every OID column has one width (Arrow int32), sent as a 4-byte OID type (`oid`, or the
    // `regclass`/`regtype` alias the crate declares for reference columns).
    for (table, column) in [("pg_class", "oid"), ("pg_namespace", "oid"), ("pg_attribute", "attrelid"), ("pg_type", "oid"), ("pg_proc", "oid"), ("pg_attribute", "atttypid"), ("pg_class", "relnamespace")] {
        let statement = client.prepare(&format!("SELECT {column} FROM pg_catalog.{table} LIMIT 1")).await.unwrap();
        use tokio_postgres::types::Type;
        let ty = statement.columns()[0].type_();
        assert!([Type::OID, Type::REGCLASS, Type::REGTYPE, Type::REGNAMESPACE, Type::REGPROC].contains(ty), "{table}.{column}: {ty}");
    }
    // Catalog tables of objects Ember's tables do not have plan and hold no rows about
    // them (pg_index and pg_constraint hold only PostgreSQL's own, static rows).
    let lineitem = first[0][0].as_deref().unwrap();
    for (table, column) in [("pg_index", "indrelid"), ("pg_inherits", "inhrelid"), ("pg_constraint", "conrelid"), ("pg_trigger", "tgrelid"), ("pg_policy", "polrelid")] {
        let count = query(&client, &format!("SELECT count(*) FROM pg_catalog.{table} WHERE {column} = {lineitem}")).await;
        assert_eq!(count, vec![vec![Some("0".to_string())]], "{table}");
    }
    assert_eq!(query(&client, "SELECT count(*) FROM pg_catalog.pg_enum").await, vec![vec![Some("0".to_string())]]);
    // The compatibility rules answer "no rows" for the catalog relations (and kinds of rows)
    // Ember never has: that must stay true.
    let zero = vec![vec![Some("0".to_string())]];
    for table in ember_planner::pg_catalog::compat::EMPTY_CATALOG_RELATIONS {
        assert_eq!(query(&client, &format!("SELECT count(*) FROM pg_catalog.{table}")).await, zero, "{table}");
    }
    for (table, column, value) in ember_planner::pg_catalog::compat::EMPTY_CATALOG_KINDS {
        let sql = format!("SELECT count(*) FROM pg_catalog.{table} WHERE {column} = '{value}'");
        assert_eq!(query(&client, &sql).await, zero, "{sql}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_functions_answer_like_postgres() {
    let (_server, client) = tpch_server("catalog-functions").await;
    let one = |rows: Vec<Vec<Option<String>>>| rows[0][0].clone();
    assert_eq!(one(query(&client, "SELECT current_schema()").await).as_deref(), Some("public"));
    assert_eq!(one(query(&client, "SELECT current_database()").await).as_deref(), Some("ember"));
    assert_eq!(one(query(&client, "SELECT array_to_string(current_schemas(false), ',')").await).as_deref(), Some("public"));
    assert!(one(query(&client, "SELECT version()").await).unwrap().starts_with("PostgreSQL 16.6 (Ember"));
    assert!(one(query(&client, "SELECT current_setting('server_version')").await).unwrap().starts_with("16.6"));
    assert_eq!(one(query(&client, "SELECT set_config('application_name', 'catalog-test', false)").await).as_deref(), Some("catalog-test"));
    assert_eq!(one(query(&client, "SHOW application_name").await).as_deref(), Some("catalog-test"));
    assert_eq!(one(query(&client, "SELECT current_setting('no.such', true)").await), None);
    assert!(client.simple_query("SELECT current_setting('no_such_setting')").await.is_err());
    assert_eq!(one(query(&client, "SHOW TRANSACTION ISOLATION LEVEL").await).as_deref(), Some("read committed"));
    assert_eq!(one(query(&client, "SELECT format_type(20, -1)").await).as_deref(), Some("bigint"));
    assert_eq!(one(query(&client, "SELECT has_table_privilege('lineitem', 'SELECT')").await).as_deref(), Some("t"));
    assert_eq!(one(query(&client, "SELECT obj_description('lineitem'::regclass, 'pg_class')").await), None);
    assert!(one(query(&client, "SELECT count(*) FROM pg_get_keywords()").await).unwrap().parse::<i64>().unwrap() > 400);
    assert!(one(query(&client, "SELECT pg_total_relation_size('lineitem'::regclass)").await).is_some());
    assert_eq!(one(query(&client, "SELECT pg_size_pretty(20480::bigint)").await).as_deref(), Some("20 kB"));
    assert_eq!(one(query(&client, "SELECT 'int8'::regtype::oid").await).as_deref(), Some("20"));
    assert_eq!(one(query(&client, "SELECT setting FROM pg_catalog.pg_settings WHERE name = 'server_encoding'").await).as_deref(), Some("UTF8"));
    assert_eq!(one(query(&client, "SELECT session_user").await).as_deref(), Some("ember"));
    // information_schema lists Ember's tables.
    let columns = query(&client, "SELECT column_name FROM information_schema.columns WHERE table_name = 'lineitem' ORDER BY ordinal_position").await;
    assert_eq!(columns.len(), 16);
}
