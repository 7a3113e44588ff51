//! PostgreSQL input forms and types clients see: bytea and interval text input, integer
//! literals as `integer`, `$1::uuid` described as uuid, untyped NULL as text, and
//! `pg_settings` showing the session's values. Each checked over the wire, with the
//! SQLSTATE PostgreSQL gives for bad input and the connection usable afterwards.

use tokio_postgres::types::Type;

use crate::common::{TestServer, temp_dir};

fn sqlstate(e: &tokio_postgres::Error) -> String {
    e.code().map(|c| c.code().to_string()).unwrap_or_else(|| format!("no sqlstate: {e}"))
}

/// The text of the first column of the first row (simple query protocol).
async fn text(client: &tokio_postgres::Client, sql: &str) -> String {
    let messages = client.simple_query(sql).await.unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    messages
        .iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => Some(row.get(0).unwrap_or("NULL").to_string()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{sql}: no row"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytea_text_input_is_postgres_hex_and_escape() {
    let dir = temp_dir("types-bytea");
    let server = TestServer::start(&dir);
    let client = server.connect().await;
    let cases: &[(&str, &[u8])] = &[
        (r"SELECT '\xdeadbeef'::bytea", &[0xde, 0xad, 0xbe, 0xef]),
        (r"SELECT CAST('\x00FF 62' AS bytea)", &[0x00, 0xff, 0x62]),
        (r"SELECT 'abc\000d'::bytea", b"abc\0d"),
        (r"SELECT 'a\\b'::bytea", b"a\\b"),
        (r"SELECT bytea '\x01'", &[1]),
    ];
    for (sql, expected) in cases {
        // Extended protocol, binary result: the bytes themselves.
        let got: Vec<u8> = client.query_one(*sql, &[]).await.unwrap_or_else(|e| panic!("{sql}: {e:?}")).get(0);
        assert_eq!(got, *expected, "{sql}");
    }
    // Text output is PostgreSQL's hex format.
    assert_eq!(text(&client, r"SELECT '\xdeadbeef'::bytea").await, r"\xdeadbeef");
    // Column values (not only literals) go through the same input function.
    assert_eq!(text(&client, r"SELECT CAST(t AS bytea) FROM (VALUES ('\x0102')) v(t)").await, r"\x0102");
    for (sql, expected) in [(r"SELECT '\xabc'::bytea", "22023"), (r"SELECT '\xzz'::bytea", "22023"), (r"SELECT 'a\9'::bytea", "22P02")] {
        let err = client.simple_query(sql).await.expect_err(sql);
        assert_eq!(sqlstate(&err), expected, "{sql}: {err:?}");
        let err = client.query(sql, &[]).await.expect_err(sql);
        assert_eq!(sqlstate(&err), expected, "extended {sql}: {err:?}");
        assert_eq!(text(&client, "SELECT 1").await, "1");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interval_text_input_is_postgres() {
    let dir = temp_dir("types-interval");
    let server = TestServer::start(&dir);
    let client = server.connect().await;
    // Expected output is PostgreSQL 15's for the same input.
    let cases = [
        ("'1 day 02:03:04'::interval", "1 day 02:03:04"),
        ("'02:03:04'::interval", "02:03:04"),
        ("'1 year 2 mons'::interval", "1 year 2 mons"),
        ("'-1 day -02:03'::interval", "-1 days -02:03:00"),
        ("'P1DT2H'::interval", "1 day 02:00:00"),
        ("'P1Y2M3DT4H5M6S'::interval", "1 year 2 mons 3 days 04:05:06"),
        ("'1.5 months'::interval", "1 mon 15 days"),
        ("'@ 1 minute ago'::interval", "-00:01:00"),
        ("'1-2'::interval", "1 year 2 mons"),
        ("INTERVAL '1 day 02:03:04'", "1 day 02:03:04"),
        ("INTERVAL 'PT1.5S'", "00:00:01.5"),
        ("INTERVAL '1' DAY", "1 day"),
        ("CAST(t AS interval) FROM (VALUES ('3 days 00:00:01')) v(t)", "3 days 00:00:01"),
        ("TIMESTAMP '2024-01-31 00:00:00' + '1 day 12:00:00'::interval", "2024-02-01 12:00:00"),
    ];
    for (expr, expected) in cases {
        assert_eq!(text(&client, &format!("SELECT {expr}")).await, expected, "{expr}");
    }
    let got: Vec<tokio_postgres::Row> = client.query("SELECT '1 day 02:03:04'::interval", &[]).await.unwrap();
    assert_eq!(got[0].columns()[0].type_(), &Type::INTERVAL);
    for (sql, expected) in [
        ("SELECT 'one day'::interval", "22007"),
        ("SELECT INTERVAL '1 fortnight'", "22007"),
        ("SELECT '1:60'::interval", "22015"),
    ] {
        let err = client.simple_query(sql).await.expect_err(sql);
        assert_eq!(sqlstate(&err), expected, "{sql}: {err:?}");
        assert_eq!(text(&client, "SELECT 1").await, "1");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn integer_literals_are_int4_and_arithmetic_is_checked() {
    let dir = temp_dir("types-int4");
    let server = TestServer::start(&dir);
    let client = server.connect().await;
    let row = client
        .query_one("SELECT 2, -7 AS neg, 2147483648 AS big, 2147483646 + 1 AS sum, 2147483647::int8 + 1 AS wide", &[])
        .await
        .unwrap();
    let types: Vec<Type> = row.columns().iter().map(|c| c.type_().clone()).collect();
    assert_eq!(types, vec![Type::INT4, Type::INT4, Type::INT8, Type::INT4, Type::INT8]);
    assert_eq!(row.get::<_, i32>(0), 2);
    assert_eq!(row.get::<_, i32>(1), -7);
    assert_eq!(row.get::<_, i64>(2), 2_147_483_648);
    assert_eq!(row.get::<_, i32>(3), 2_147_483_647);
    assert_eq!(row.get::<_, i64>(4), 2_147_483_648);
    // As in PostgreSQL: integer arithmetic that leaves its type is an error, not a wrap.
    for (sql, message) in [
        ("SELECT 2147483647 + 1", "integer out of range"),
        ("SELECT x * 2 FROM (VALUES (1073741824)) v(x)", "integer out of range"),
        ("SELECT 9223372036854775807 + 1", "bigint out of range"),
        ("SELECT CAST(-32768 AS SMALLINT) - CAST(1 AS SMALLINT)", "smallint out of range"),
        ("SELECT -x FROM (VALUES (-2147483648)) v(x)", "integer out of range"),
    ] {
        let err = client.query(sql, &[]).await.expect_err(sql);
        let db = err.as_db_error().expect("db error");
        assert_eq!((db.code().code(), db.message()), ("22003", message), "{sql}");
    }
    let err = client.query("SELECT x / 0 FROM (VALUES (1)) v(x)", &[]).await.expect_err("division");
    assert_eq!(err.code().map(|c| c.code()), Some("22012"));
    // The session switch gives DataFusion's wrapping arithmetic (for measuring its cost).
    client.batch_execute("SET ember.checked_arithmetic = off").await.unwrap();
    let row = client.query_one("SELECT 2147483647 + 1", &[]).await.unwrap();
    assert_eq!(row.get::<_, i32>(0), i32::MIN);
    client.batch_execute("RESET ember.checked_arithmetic").await.unwrap();
    assert!(client.query("SELECT 2147483647 + 1", &[]).await.is_err());
    let rows = client.query("SELECT 1 UNION ALL SELECT 10000000000 ORDER BY 1", &[]).await.unwrap();
    assert_eq!(rows[0].columns()[0].type_(), &Type::INT8);
    assert_eq!(rows[0].get::<_, i64>(0), 1);
    let row = client.query_one("SELECT count(*), sum(a) FROM (VALUES (1), (2)) v(a)", &[]).await.unwrap();
    assert_eq!((row.get::<_, i64>(0), row.get::<_, i64>(1)), (2, 3));
    // One server per data directory: the first goes before the second starts.
    drop(client);
    drop(server);
    let server = TestServer::start(&dir);
    assert!(server.terminate(), "server did not exit cleanly on SIGTERM");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn casts_round_check_ranges_and_keep_lengths_as_postgres_does() {
    let dir = temp_dir("types-casts");
    let server = TestServer::start(&dir);
    let client = server.connect().await;
    // numeric rounds half away from zero, float half to even; columns as literals.
    let row = client
        .query_one("SELECT 2.5::int, -2.5::int, 2.5::float8::int, 3.5::float8::int, n::int2, f::int8 FROM (VALUES (1.5, -0.5::float8)) v(n, f)", &[])
        .await
        .unwrap();
    assert_eq!((row.get::<_, i32>(0), row.get::<_, i32>(1), row.get::<_, i32>(2), row.get::<_, i32>(3)), (3, -3, 2, 4));
    assert_eq!((row.get::<_, i16>(4), row.get::<_, i64>(5)), (2, 0));
    for (sql, code, message) in [
        ("SELECT 100000::int2", "22003", "smallint out of range"),
        ("SELECT x::int FROM (VALUES (1e10::float8)) v(x)", "22003", "integer out of range"),
        ("SELECT CAST(1234.5 AS numeric(5,2))", "22003", "numeric field overflow"),
        ("SELECT 1::date", "42846", "cannot cast type integer to date"),
        ("SELECT 1::int8::bool", "42846", "cannot cast type bigint to boolean"),
    ] {
        let err = client.query(sql, &[]).await.expect_err(sql);
        let db = err.as_db_error().expect("db error");
        assert_eq!((db.code().code(), db.message()), (code, message), "{sql}");
    }
    // A length on a character type keeps that many characters; char(n)'s trailing blanks
    // do not count (`||` and `=` see `ab`, as in PostgreSQL).
    let row = client
        .query_one("SELECT 'abcdef'::varchar(3), CAST(12345 AS varchar(2)), 'ab'::char(4) || '|', true::char, 'ab  '::char(4) = 'ab'", &[])
        .await
        .unwrap();
    let texts: Vec<String> = (0..4).map(|i| row.get(i)).collect();
    assert_eq!(texts, ["abc", "12", "ab|", "t"]);
    assert!(row.get::<_, bool>(4));
    // pg_typeof names types as PostgreSQL does.
    let row = client
        .query_one("SELECT pg_typeof(1), pg_typeof(1 + 2::int8), pg_typeof(1.5), pg_typeof(2.0::float8), pg_typeof(ARRAY['a']), pg_typeof(now())", &[])
        .await
        .unwrap();
    let names: Vec<String> = (0..6).map(|i| row.get(i)).collect();
    assert_eq!(names, ["integer", "bigint", "numeric", "double precision", "text[]", "timestamp with time zone"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uuid_parameters_and_null_columns_are_described_as_postgres_does() {
    let dir = temp_dir("types-describe");
    let server = TestServer::start(&dir);
    let client = server.connect().await;
    let stmt = client.prepare("SELECT $1::uuid AS u, $2::text AS t").await.unwrap();
    assert_eq!(stmt.params(), &[Type::UUID, Type::TEXT]);
    assert_eq!(stmt.columns()[0].type_(), &Type::UUID);
    // tokio-postgres sends a uuid parameter in binary (16 bytes); Ember decodes it.
    let id = RawUuid([0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8, 0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38, 0x0a, 0x11]);
    let rows = client.query("SELECT $1::uuid = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid", &[&id]).await.unwrap();
    assert!(rows[0].get::<_, bool>(0));
    // An untyped NULL column is text (PostgreSQL resolves unknown output columns to text).
    let stmt = client.prepare("SELECT NULL AS n, CASE WHEN false THEN NULL END AS c").await.unwrap();
    assert_eq!(stmt.columns().iter().map(|c| c.type_().clone()).collect::<Vec<_>>(), vec![Type::TEXT, Type::TEXT]);
    let row = client.query_one("SELECT NULL AS n", &[]).await.unwrap();
    assert_eq!(row.get::<_, Option<String>>(0), None);
}

/// A uuid sent in PostgreSQL's binary format, without the `uuid` crate.
#[derive(Debug)]
struct RawUuid([u8; 16]);

impl tokio_postgres::types::ToSql for RawUuid {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut tokio_postgres::types::private::BytesMut,
    ) -> Result<tokio_postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.extend_from_slice(&self.0);
        Ok(tokio_postgres::types::IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::UUID
    }

    tokio_postgres::types::to_sql_checked!();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_settings_shows_session_values() {
    let dir = temp_dir("types-settings");
    let server = TestServer::start(&dir);
    let client = server.connect().await;
    let other = server.connect().await;
    let query = "SELECT setting || '/' || source FROM pg_catalog.pg_settings WHERE name = 'DateStyle'";
    assert_eq!(text(&client, query).await, "ISO, MDY/default");
    client.simple_query("SET DateStyle = 'ISO, DMY'").await.unwrap();
    assert_eq!(text(&client, query).await, "ISO, DMY/session");
    assert_eq!(text(&client, "SELECT reset_val FROM pg_settings WHERE name = 'DateStyle'").await, "ISO, MDY");
    // Another session keeps its own value.
    assert_eq!(text(&other, query).await, "ISO, MDY/default");
}
