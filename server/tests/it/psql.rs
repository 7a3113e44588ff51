//! The real `psql` binary against Ember: meta-commands run without errors and print what
//! PostgreSQL prints for the same table; `\copy` works.

use std::process::Command;

use crate::common::TestServer;
use crate::introspection::tpch_server;

/// Run psql with `-c` commands; returns (success, stdout, stderr).
fn psql(server: &TestServer, commands: &[&str]) -> (bool, String, String) {
    let mut cmd = Command::new("psql");
    cmd.args(["-X", "-v", "ON_ERROR_STOP=1", "-h"])
        .arg(server.addr.ip().to_string())
        .arg("-p")
        .arg(server.addr.port().to_string())
        .args(["-U", "ember", "-d", "ember"])
        .env("PGCONNECT_TIMEOUT", "10");
    for c in commands {
        cmd.args(["-c", c]);
    }
    let out = cmd.output().expect("run psql (Debian package postgresql-client)");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn ok(server: &TestServer, commands: &[&str]) -> String {
    let (success, stdout, stderr) = psql(server, commands);
    assert!(success && !stderr.contains("ERROR"), "psql {commands:?} failed:\n{stderr}\n{stdout}");
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_meta_commands() {
    let (server, _client) = tpch_server("psql").await;
    for command in [r"\l", r"\dn", r"\dt", r"\dv", r"\d", r"\d lineitem", r"\d+ lineitem", r"\df", r"\dt+", r"\dv+", r"\d v_lineitem_count", r"\dn+", r"\l+"] {
        ok(&server, &[command]);
    }

    let tables = ok(&server, &[r"\dt"]);
    assert!(tables.contains(" public | lineitem ") && tables.contains("| table"), "{tables}");
    let views = ok(&server, &[r"\dv"]);
    assert!(views.contains("v_lineitem_count") && views.contains("| view"), "{views}");
    assert!(ok(&server, &[r"\dn"]).contains(" public "));
    assert!(ok(&server, &[r"\l"]).contains(" ember "));

    // \d+ lineitem: every column with the type PostgreSQL shows for what Ember sends.
    let described = ok(&server, &[r"\d+ lineitem"]);
    assert!(described.contains("Table \"public.lineitem\""), "{described}");
    let column_types: Vec<(String, String)> = described
        .lines()
        .filter(|l| l.trim_start().starts_with("l_"))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (cells[0].to_string(), cells[1].to_string())
        })
        .collect();
    let expected = [
        ("l_orderkey", "bigint"),
        ("l_partkey", "bigint"),
        ("l_suppkey", "bigint"),
        ("l_linenumber", "integer"),
        ("l_quantity", "numeric(15,2)"),
        ("l_extendedprice", "numeric(15,2)"),
        ("l_discount", "numeric(15,2)"),
        ("l_tax", "numeric(15,2)"),
        ("l_returnflag", "text"),
        ("l_linestatus", "text"),
        ("l_shipdate", "date"),
        ("l_commitdate", "date"),
        ("l_receiptdate", "date"),
        ("l_shipinstruct", "text"),
        ("l_shipmode", "text"),
        ("l_comment", "text"),
    ];
    let expected: Vec<(String, String)> = expected.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
    assert_eq!(column_types, expected, "{described}");
    let header = described.lines().find(|l| l.contains("Column")).unwrap_or_default();
    for title in ["Column", "Type", "Collation", "Nullable", "Default", "Storage", "Stats target", "Description"] {
        assert!(header.contains(title), "{header}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_display_modes_and_copy() {
    let (server, _client) = tpch_server("psql-modes").await;
    let expanded = ok(&server, &[r"\x", "SELECT 1 AS a, 'x' AS b"]);
    assert!(expanded.contains("-[ RECORD 1 ]") && expanded.contains("a | 1"), "{expanded}");
    let timed = ok(&server, &[r"\timing on", "SELECT count(*) FROM lineitem"]);
    assert!(timed.contains("Timing is on.") && timed.contains("Time: "), "{timed}");
    let copied = ok(&server, &[r"\copy (SELECT n_nationkey, n_name FROM nation ORDER BY 1 LIMIT 2) TO STDOUT WITH CSV HEADER"]);
    assert_eq!(copied, "n_nationkey,n_name\n0,ALGERIA\n1,ARGENTINA\n");
    let copied = ok(&server, &[r"\copy region TO STDOUT"]);
    assert_eq!(copied.lines().count(), 5, "{copied}");
    assert!(copied.starts_with("0\tAFRICA\t"), "{copied}");
    // COPY FROM STDIN into an external table is refused with 0A000.
    let (success, _, stderr) = psql(&server, &[r"\copy region FROM STDIN"]);
    assert!(!success && stderr.contains("read-only"), "{stderr}");
}
