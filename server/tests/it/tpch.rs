//! All 22 TPC-H queries at scale factor 0.01 through pgwire, checked against answers
//! computed independently by DuckDB on the same Parquet files
//! (`sql-tests/tpch/make_answers.py`, stored in `sql-tests/tpch/answers`).

use tokio_postgres::SimpleQueryMessage;

use crate::common::{TestServer, temp_dir};

const SF: f64 = 0.01;

/// Minimal CSV reader (RFC 4180 quoting), enough for the answer files.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', true) => quoted = false,
            ('"', false) if field.is_empty() => quoted = true,
            (',', false) => row.push(std::mem::take(&mut field)),
            ('\n', false) => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            ('\r', false) => {}
            (c, _) => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

fn same_value(actual: &str, expected: &str) -> bool {
    let (a, e) = (actual.trim_end(), expected.trim_end());
    if a == e {
        return true;
    }
    match (a.parse::<f64>(), e.parse::<f64>()) {
        (Ok(a), Ok(e)) => (a - e).abs() <= 0.005 + 1e-9 * e.abs(),
        _ => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tpch_sf001_answers_match_duckdb() {
    let data = std::env::temp_dir().join("ember-tpch-sf0.01");
    ember_bench_tpch::generate(&data, SF, 2).expect("generate TPC-H data");
    let dir = temp_dir("tpch");
    let server = TestServer::start(&dir);
    let client = server.connect().await;
    for sql in ember_bench_tpch::create_tables_sql(&data) {
        client.batch_execute(&sql).await.unwrap();
    }
    let mut failures = Vec::new();
    for n in 1..=22 {
        let sql = ember_bench_tpch::query(n).unwrap();
        let messages = match client.simple_query(&sql).await {
            Ok(m) => m,
            Err(e) => {
                failures.push(format!("q{n}: error {e:?}"));
                continue;
            }
        };
        let actual: Vec<Vec<String>> = messages
            .iter()
            .filter_map(|m| match m {
                SimpleQueryMessage::Row(r) => Some((0..r.len()).map(|i| r.get(i).unwrap_or("").to_string()).collect()),
                _ => None,
            })
            .collect();
        let path = ember_bench_tpch::tpch_dir().join(format!("answers/q{n}.csv"));
        let expected = parse_csv(&std::fs::read_to_string(&path).unwrap());
        let expected = &expected[1..]; // header
        if actual.len() != expected.len() {
            failures.push(format!("q{n}: {} rows, expected {}", actual.len(), expected.len()));
            continue;
        }
        for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
            let same = a.len() == e.len() && a.iter().zip(e).all(|(a, e)| same_value(a, e));
            if !same {
                failures.push(format!("q{n} row {i}: got {a:?}, expected {e:?}"));
                break;
            }
        }
    }
    assert!(failures.is_empty(), "TPC-H mismatches:\n{}", failures.join("\n"));
}

#[test]
fn csv_reader_handles_quotes() {
    let rows = parse_csv("a,b\n\"x, y\",\"say \"\"hi\"\"\"\n1,\n");
    assert_eq!(rows, vec![vec!["a", "b"], vec!["x, y", "say \"hi\""], vec!["1", ""]]);
    assert!(same_value("1.004", "1.0"));
    assert!(!same_value("1.01", "1.0"));
}
