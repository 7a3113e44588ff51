//! The differential suite: the corpus in `sql-tests/postgres/*.slt`, whose expected results
//! were recorded from PostgreSQL 15 by `sql-tests/tools/pg_oracle.py --record`, run against
//! `ember serve` through the simple protocol (text) and the extended protocol (binary
//! results, decoded back into PostgreSQL's text output).
//!
//! Every record gets a class per protocol:
//! - `identical`: the same values (compared exactly, after the record's sort mode), or both
//!   refuse it with the same SQLSTATE;
//! - `silent`: Ember answers, and either PostgreSQL answers something else or PostgreSQL
//!   refuses the statement (a wrapped overflow is this);
//! - `error`: Ember refuses what PostgreSQL answers;
//! - `sqlstate`: both refuse it, with different SQLSTATEs.
//!
//! The classes of every record that is not identical are kept in
//! `sql-tests/postgres/differences.txt`. The test fails when a record's classes differ from
//! that file, in either direction, so a fix updates the file and a regression cannot hide:
//! `EMBER_DIFF_UPDATE=1 cargo test --test it differential` rewrites it. It prints the
//! identical rate per area and writes every difference, with both answers, to
//! `differential-details.txt` under Cargo's target tmp directory.
//!
//! `EMBER_DIFF_DIR=/some/dir` runs another directory of recorded files (PostgreSQL's own
//! regression files converted by `sql-tests/tools/regress_to_slt.py`): report only.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio_postgres::{Client, SimpleQueryMessage};

use crate::common::{TestServer, repo_root, temp_dir};
use crate::decode::row_text;

/// How long one statement may take before it counts as an error.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Class {
    Identical,
    Silent,
    Error,
    Sqlstate,
}

impl Class {
    fn name(self) -> &'static str {
        match self {
            Class::Identical => "identical",
            Class::Silent => "silent",
            Class::Error => "error",
            Class::Sqlstate => "sqlstate",
        }
    }

    fn parse(s: &str) -> Option<Class> {
        [Class::Identical, Class::Silent, Class::Error, Class::Sqlstate].into_iter().find(|c| c.name() == s)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sort {
    None,
    Rows,
    Values,
}

/// What PostgreSQL did with a record.
#[derive(Debug)]
enum Expected {
    /// A statement that succeeded (no rows compared).
    Ok,
    /// Rows, one rendered line each, in the record's sort mode.
    Rows(Vec<String>, Sort),
    Error(String),
}

#[derive(Debug)]
struct Record {
    line: usize,
    sql: String,
    expected: Expected,
    /// `statement` records run once, through the simple protocol; queries run in both.
    statement: bool,
}

/// The records of one recorded .slt file (the subset of sqllogictest the oracle writes).
fn parse_records(text: &str) -> Vec<Record> {
    let lines: Vec<&str> = text.lines().collect();
    let mut records = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let header = lines[i].trim();
        let statement = header.starts_with("statement ");
        if !statement && !header.starts_with("query ") {
            i += 1;
            continue;
        }
        let line = i + 1;
        i += 1;
        let mut sql = Vec::new();
        while i < lines.len() && !lines[i].trim().is_empty() && lines[i].trim() != "----" {
            sql.push(lines[i]);
            i += 1;
        }
        let mut results = Vec::new();
        if i < lines.len() && lines[i].trim() == "----" {
            i += 1;
            while i < lines.len() && !lines[i].is_empty() {
                results.push(lines[i].to_string());
                i += 1;
            }
        }
        let tokens: Vec<&str> = header.split_whitespace().collect();
        let expected = if tokens.get(1) == Some(&"error") {
            let state = header.rsplit_once('(').map(|(_, s)| s.trim_end_matches(')').to_string()).unwrap_or_default();
            Expected::Error(state)
        } else if statement {
            Expected::Ok
        } else {
            let sort = if tokens.contains(&"rowsort") {
                Sort::Rows
            } else if tokens.contains(&"valuesort") {
                Sort::Values
            } else {
                Sort::None
            };
            Expected::Rows(results, sort)
        };
        records.push(Record { line, sql: sql.join("\n"), expected, statement });
    }
    records
}

/// A value as the oracle writes it.
fn render(value: Option<&str>) -> String {
    match value {
        None => "NULL".to_string(),
        Some("") => "(empty)".to_string(),
        Some(s) => s.replace('\n', "\\n"),
    }
}

fn lines_of(mut rows: Vec<Vec<String>>, sort: Sort) -> Vec<String> {
    match sort {
        Sort::None => {}
        Sort::Rows => rows.sort(),
        Sort::Values => {
            let mut values: Vec<String> = rows.into_iter().flatten().collect();
            values.sort();
            return values;
        }
    }
    rows.into_iter().map(|r| r.join(" ")).collect()
}

/// What Ember did: rows, or an error with its SQLSTATE and message.
enum Outcome {
    Rows(Vec<Vec<String>>),
    Error(String, String),
}

fn error_outcome(e: &tokio_postgres::Error) -> Outcome {
    match e.as_db_error() {
        Some(db) => Outcome::Error(db.code().code().to_string(), db.message().to_string()),
        None => Outcome::Error("conn".to_string(), e.to_string()),
    }
}

/// A statement that ran out of time is cancelled, so the next one does not wait behind it.
async fn timed_out(client: &Client) -> Outcome {
    let _ = client.cancel_token().cancel_query(tokio_postgres::NoTls).await;
    // Let the cancelled statement's error arrive before the next statement is sent.
    let _ = tokio::time::timeout(STATEMENT_TIMEOUT, client.simple_query("SELECT 1")).await;
    Outcome::Error("timeout".into(), format!("statement did not finish in {} s", STATEMENT_TIMEOUT.as_secs()))
}

async fn run_text(client: &Client, sql: &str) -> Outcome {
    match tokio::time::timeout(STATEMENT_TIMEOUT, client.simple_query(sql)).await {
        Err(_) => timed_out(client).await,
        Ok(Err(e)) => error_outcome(&e),
        Ok(Ok(messages)) => Outcome::Rows(
            messages
                .iter()
                .filter_map(|m| match m {
                    SimpleQueryMessage::Row(row) => Some((0..row.len()).map(|i| render(row.get(i))).collect()),
                    _ => None,
                })
                .collect(),
        ),
    }
}

async fn run_binary(client: &Client, sql: &str) -> Outcome {
    let run = async {
        let statement = client.prepare(sql).await?;
        let rows = client.query(&statement, &[]).await?;
        Ok::<_, tokio_postgres::Error>(
            rows.iter().map(|row| row_text(row).iter().map(|v| render(v.as_deref())).collect()).collect(),
        )
    };
    match tokio::time::timeout(STATEMENT_TIMEOUT, run).await {
        Err(_) => timed_out(client).await,
        Ok(Err(e)) => error_outcome(&e),
        Ok(Ok(rows)) => Outcome::Rows(rows),
    }
}

/// The class of Ember's outcome against PostgreSQL's, and a description when they differ.
fn classify(expected: &Expected, outcome: &Outcome) -> (Class, Option<String>) {
    match (expected, outcome) {
        (Expected::Ok, Outcome::Rows(_)) => (Class::Identical, None),
        (Expected::Ok, Outcome::Error(state, msg)) => (Class::Error, Some(format!("ember: ERROR {state} {msg}"))),
        (Expected::Rows(want, sort), Outcome::Rows(rows)) => {
            let got = lines_of(rows.clone(), *sort);
            if &got == want {
                (Class::Identical, None)
            } else {
                (Class::Silent, Some(format!("postgres:\n    {}\n  ember:\n    {}", want.join("\n    "), got.join("\n    "))))
            }
        }
        (Expected::Rows(want, _), Outcome::Error(state, msg)) => {
            (Class::Error, Some(format!("postgres:\n    {}\n  ember: ERROR {state} {msg}", want.join("\n    "))))
        }
        (Expected::Error(want), Outcome::Error(state, _)) if want == state => (Class::Identical, None),
        (Expected::Error(want), Outcome::Error(state, msg)) => {
            (Class::Sqlstate, Some(format!("postgres: ERROR {want}\n  ember: ERROR {state} {msg}")))
        }
        (Expected::Error(want), Outcome::Rows(rows)) => {
            let got = lines_of(rows.clone(), Sort::None);
            (Class::Silent, Some(format!("postgres: ERROR {want}\n  ember:\n    {}", got.join("\n    "))))
        }
    }
}

/// A stable key for a record: the file's stem and a hash of its SQL (FNV-1a), with an
/// occurrence number when the same SQL appears twice in a file.
fn record_key(area: &str, sql: &str, seen: &mut BTreeMap<String, usize>) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in sql.as_bytes() {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let key = format!("{area}:{:08x}", hash >> 32);
    let n = seen.entry(key.clone()).or_insert(0);
    *n += 1;
    if *n == 1 { key } else { format!("{key}#{n}") }
}

#[derive(Default)]
struct AreaTally {
    records: usize,
    text: BTreeMap<Class, usize>,
    binary: BTreeMap<Class, usize>,
}

struct Results {
    /// key → (text class, binary class, first line of SQL)
    classes: BTreeMap<String, (Class, Class, String)>,
    areas: BTreeMap<String, AreaTally>,
    details: String,
    crashed: Vec<String>,
}

async fn connect(server: &TestServer) -> Client {
    server.connect().await
}

async fn run_file(file: &Path, results: &mut Results) {
    let area = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let text = std::fs::read_to_string(file).expect("read corpus file");
    let data_dir = temp_dir(&format!("diff-{area}"));
    let cwd = file.parent().map(Path::to_path_buf).unwrap_or_else(repo_root);
    let server = TestServer::start_in(&data_dir, &cwd, &[]);
    let text_client = connect(&server).await;
    let binary_client = connect(&server).await;
    let tally = results.areas.entry(area.clone()).or_default();
    let mut seen = BTreeMap::new();
    for record in parse_records(&text) {
        let key = record_key(&area, &record.sql, &mut seen);
        let started = std::time::Instant::now();
        let text_outcome = run_text(&text_client, &record.sql).await;
        let (text_class, text_diff) = classify(&record.expected, &text_outcome);
        let (binary_class, binary_diff) = if record.statement {
            (text_class, None)
        } else {
            classify(&record.expected, &run_binary(&binary_client, &record.sql).await)
        };
        if started.elapsed() > Duration::from_secs(2) {
            eprintln!("differential: {}:{} took {:.1} s", file.display(), record.line, started.elapsed().as_secs_f64());
        }
        if text_client.is_closed() || binary_client.is_closed() {
            results.crashed.push(format!("{}:{}: {}", file.display(), record.line, record.sql));
            break;
        }
        tally.records += 1;
        *tally.text.entry(text_class).or_default() += 1;
        *tally.binary.entry(binary_class).or_default() += 1;
        for (mode, diff) in [("text", text_diff), ("binary", binary_diff)] {
            if let Some(diff) = diff {
                let _ = writeln!(results.details, "{}:{} [{mode}] {}\n  {diff}\n", area, record.line, record.sql);
            }
        }
        let first_line: String = record.sql.lines().next().unwrap_or_default().chars().take(100).collect();
        results.classes.insert(key, (text_class, binary_class, first_line));
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&data_dir);
}

fn corpus_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "slt"));
    if let Ok(filter) = std::env::var("EMBER_DIFF_FILE") {
        files.retain(|p| p.file_name().is_some_and(|n| filter.split(',').any(|f| n.to_string_lossy().contains(f.trim()))));
    }
    files.sort();
    files
}

fn percent(n: usize, of: usize) -> f64 {
    if of == 0 { 100.0 } else { 100.0 * n as f64 / of as f64 }
}

fn report(results: &Results) -> String {
    let mut out = String::from(
        "area                records  identical(text)  identical(binary)  silent(t/b)  error(t/b)  sqlstate(t/b)\n",
    );
    let mut total = AreaTally::default();
    let rows = results.areas.iter().map(|(a, t)| (a.as_str(), t));
    let mut line = |name: &str, t: &AreaTally| {
        let c = |m: &BTreeMap<Class, usize>, k| m.get(&k).copied().unwrap_or(0);
        let _ = writeln!(
            out,
            "{name:<19} {:>7}  {:>14.1}%  {:>16.1}%  {:>5}/{:<5} {:>5}/{:<5} {:>6}/{:<5}",
            t.records,
            percent(c(&t.text, Class::Identical), t.records),
            percent(c(&t.binary, Class::Identical), t.records),
            c(&t.text, Class::Silent),
            c(&t.binary, Class::Silent),
            c(&t.text, Class::Error),
            c(&t.binary, Class::Error),
            c(&t.text, Class::Sqlstate),
            c(&t.binary, Class::Sqlstate),
        );
    };
    for (name, t) in rows {
        line(name, t);
        total.records += t.records;
        for (k, v) in &t.text {
            *total.text.entry(*k).or_default() += v;
        }
        for (k, v) in &t.binary {
            *total.binary.entry(*k).or_default() += v;
        }
    }
    line("TOTAL", &total);
    out
}

fn baseline_path() -> PathBuf {
    repo_root().join("sql-tests/postgres/differences.txt")
}

const BASELINE_HEADER: &str = "\
# Records of the differential corpus (sql-tests/postgres/*.slt) where Ember's answer is not
# PostgreSQL 15's: class through the simple protocol, class through the extended protocol
# (binary), record key (file:hash of the SQL), first line of the SQL. Written by
# `EMBER_DIFF_UPDATE=1 cargo test --test it differential`; the test fails when the suite
# no longer matches this file. Classes: silent (a different answer, or an answer where
# PostgreSQL refuses), error (Ember refuses what PostgreSQL answers), sqlstate (both
# refuse, with different SQLSTATEs).
";

fn write_baseline(classes: &BTreeMap<String, (Class, Class, String)>) {
    let mut out = String::from(BASELINE_HEADER);
    for (key, (t, b, sql)) in classes {
        if *t != Class::Identical || *b != Class::Identical {
            let _ = writeln!(out, "{:<9} {:<9} {key:<24} {sql}", t.name(), b.name());
        }
    }
    std::fs::write(baseline_path(), out).expect("write differences.txt");
}

fn read_baseline() -> BTreeMap<String, (Class, Class)> {
    let text = std::fs::read_to_string(baseline_path()).unwrap_or_default();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            let t = Class::parse(parts.next()?)?;
            let b = Class::parse(parts.next()?)?;
            Some((parts.next()?.to_string(), (t, b)))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn differential_against_postgres() {
    let custom_dir = std::env::var_os("EMBER_DIFF_DIR").map(PathBuf::from);
    let dir = custom_dir.clone().unwrap_or_else(|| repo_root().join("sql-tests/postgres"));
    let files = corpus_files(&dir);
    assert!(!files.is_empty(), "no .slt files in {}", dir.display());
    let mut results =
        Results { classes: BTreeMap::new(), areas: BTreeMap::new(), details: String::new(), crashed: Vec::new() };
    for file in &files {
        run_file(file, &mut results).await;
    }
    let report = report(&results);
    let out_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let _ = std::fs::write(out_dir.join("differential-details.txt"), &results.details);
    let _ = std::fs::write(out_dir.join("differential-report.txt"), &report);
    eprintln!("differential suite ({}):\n{report}", dir.display());
    assert!(results.crashed.is_empty(), "the server went away during:\n{}", results.crashed.join("\n"));
    if custom_dir.is_some() || std::env::var_os("EMBER_DIFF_FILE").is_some() {
        return;
    }
    if std::env::var_os("EMBER_DIFF_UPDATE").is_some() {
        write_baseline(&results.classes);
        return;
    }
    let baseline = read_baseline();
    let identical = (Class::Identical, Class::Identical);
    let mut changed = Vec::new();
    for (key, (t, b, sql)) in &results.classes {
        let was = baseline.get(key).copied().unwrap_or(identical);
        if was != (*t, *b) {
            changed.push(format!(
                "{key}: was {}/{}, now {}/{}: {sql}",
                was.0.name(),
                was.1.name(),
                t.name(),
                b.name()
            ));
        }
    }
    for key in baseline.keys().filter(|k| !results.classes.contains_key(*k)) {
        changed.push(format!("{key}: in differences.txt but not in the corpus"));
    }
    assert!(
        changed.is_empty(),
        "{} record(s) of the differential suite changed class (details in {}/differential-details.txt); \
         if these are intended, rerun with EMBER_DIFF_UPDATE=1 and commit sql-tests/postgres/differences.txt:\n{}",
        changed.len(),
        out_dir.display(),
        changed.join("\n")
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_classes() {
        let text = "# c\nstatement ok\nCREATE VIEW v AS SELECT 1\n\nquery IT rowsort\nSELECT 1\n----\n1 a\n2 b  c\n\nquery error (22003)\nSELECT x\n";
        let records = parse_records(text);
        assert_eq!(records.len(), 3);
        assert!(matches!(records[0].expected, Expected::Ok));
        let Expected::Rows(rows, Sort::Rows) = &records[1].expected else { panic!("rows") };
        assert_eq!(rows, &["1 a", "2 b  c"]);
        assert!(matches!(&records[2].expected, Expected::Error(s) if s == "22003"));
        let got = Outcome::Rows(vec![vec!["2".into(), "b  c".into()], vec!["1".into(), "a".into()]]);
        assert_eq!(classify(&records[1].expected, &got).0, Class::Identical);
        let wrapped = Outcome::Rows(vec![vec!["-9223372036854775808".into()]]);
        assert_eq!(classify(&records[2].expected, &wrapped).0, Class::Silent);
        assert_eq!(classify(&records[2].expected, &Outcome::Error("22003".into(), String::new())).0, Class::Identical);
        assert_eq!(classify(&records[2].expected, &Outcome::Error("XX000".into(), String::new())).0, Class::Sqlstate);
        assert_eq!(classify(&records[1].expected, &Outcome::Error("42883".into(), String::new())).0, Class::Error);
        let mut seen = BTreeMap::new();
        let a = record_key("x", "SELECT 1", &mut seen);
        assert_eq!(record_key("x", "SELECT 1", &mut seen), format!("{a}#2"));
    }
}
