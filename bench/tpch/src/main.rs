//! `ember-bench-tpch`: TPC-H through Ember over pgwire vs DataFusion in-process (same
//! engine configuration, same process count), plus DuckDB on the same Parquet files when
//! its Python package is installed. Prints per-query times (1 warm-up + best of N) and
//! ratios measured in the same run.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use datafusion::prelude::SessionContext;
use ember_bench_tpch::{Error, create_tables_sql, generate, query};
use ember_planner::config::{EngineOptions, session_config};

#[derive(Debug, Parser)]
#[command(about = "TPC-H: Ember over pgwire vs DataFusion in-process vs DuckDB")]
struct Args {
    /// Scale factor.
    #[arg(long, default_value_t = 1.0)]
    sf: f64,
    /// Where the Parquet data lives (generated if missing).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Timed runs per query after one warm-up; the best is reported.
    #[arg(long, default_value_t = 3)]
    iterations: usize,
    /// Queries to run, e.g. `1,3,6`; default all 22.
    #[arg(long, value_delimiter = ',')]
    queries: Vec<usize>,
    /// The `ember` binary (default: next to this one).
    #[arg(long)]
    ember: Option<PathBuf>,
    /// Skip DuckDB even when installed.
    #[arg(long)]
    no_duckdb: bool,
    /// Extra engine settings for both Ember and the in-process baseline, e.g.
    /// `--set datafusion.execution.parquet.pushdown_filters=false` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    settings: Vec<String>,
    /// Settings for a second Ember session on the same server, timed alternately with the
    /// first, e.g. `--ember-alt ember.checked_arithmetic=off` measures what checked
    /// arithmetic costs (repeatable; adds the columns `alt s` and `ember/alt`).
    #[arg(long = "ember-alt", value_name = "KEY=VALUE")]
    alt_settings: Vec<String>,
}

/// `key=value` -> `SET key = 'value'`.
fn set_statements(settings: &[String]) -> Result<Vec<String>, Error> {
    settings
        .iter()
        .map(|s| {
            let (k, v) = s.split_once('=').ok_or_else(|| format!("--set wants KEY=VALUE, got {s:?}"))?;
            Ok(format!("SET {} = '{}'", k.trim(), v.trim().replace('\'', "''")))
        })
        .collect()
}

fn main() -> Result<(), Error> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run(args))
}

fn best_of(times: &[Duration]) -> Duration {
    times.iter().copied().min().unwrap_or_default()
}

async fn run(args: Args) -> Result<(), Error> {
    let data = args.data.clone().unwrap_or_else(|| std::env::temp_dir().join(format!("ember-tpch-sf{}", args.sf)));
    let queries: Vec<usize> = if args.queries.is_empty() { (1..=22).collect() } else { args.queries.clone() };
    let started = Instant::now();
    generate(&data, args.sf, std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2))?;
    eprintln!("data: {} (ready in {:.1}s)", data.display(), started.elapsed().as_secs_f64());

    // DataFusion in-process, configured exactly as Ember configures its sessions.
    let ctx = SessionContext::new_with_config(session_config(&EngineOptions::default()));
    let sets = set_statements(&args.settings)?;
    for sql in &sets {
        ctx.sql(sql).await?.collect().await?;
    }
    for sql in create_tables_sql(&data) {
        ctx.sql(&sql).await?.collect().await?;
    }
    let mut inproc = Vec::new();
    for &n in &queries {
        let sql = query(n)?;
        let mut times = Vec::new();
        for _ in 0..=args.iterations {
            let t = Instant::now();
            ctx.sql(&sql).await?.collect().await?;
            times.push(t.elapsed());
        }
        inproc.push(best_of(&times[1..]));
    }
    drop(ctx);

    // Ember over pgwire: a real server process, results read by a real client.
    let ember = args.ember.clone().unwrap_or_else(|| {
        std::env::current_exe().ok().and_then(|p| p.parent().map(|d| d.join("ember"))).unwrap_or_else(|| PathBuf::from("ember"))
    });
    let (mut server, port) = start_ember(&ember)?;
    let client = connect(port, &sets).await?;
    for sql in create_tables_sql(&data) {
        client.batch_execute(&sql).await?;
    }
    let alt_sets = set_statements(&args.alt_settings)?;
    let alt = if alt_sets.is_empty() { None } else { Some(connect(port, &sets.iter().chain(&alt_sets).cloned().collect::<Vec<_>>()).await?) };
    let (mut pgwire, mut alt_times) = (Vec::new(), Vec::new());
    for &n in &queries {
        let sql = query(n)?;
        let (mut times, mut alts) = (Vec::new(), Vec::new());
        for _ in 0..=args.iterations {
            times.push(timed(&client, &sql).await?);
            if let Some(alt) = &alt {
                alts.push(timed(alt, &sql).await?);
            }
        }
        pgwire.push(best_of(&times[1..]));
        if alt.is_some() {
            alt_times.push(best_of(&alts[1..]));
        }
    }
    let _ = server.kill();
    let _ = server.wait();

    let duckdb = if args.no_duckdb { None } else { duckdb_times(&data, &queries, args.iterations) };

    println!("TPC-H SF{} — 1 warm-up + best of {} ({} cores)", args.sf, args.iterations, std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0));
    for s in &args.settings {
        println!("setting: {s}");
    }
    println!("{:>5} {:>14} {:>14} {:>10} {:>12} {:>10}", "query", "ember pgwire s", "datafusion s", "ratio", "duckdb s", "vs duckdb");
    let mut totals = (0.0, 0.0, 0.0);
    for (i, &n) in queries.iter().enumerate() {
        let (e, d) = (pgwire[i].as_secs_f64(), inproc[i].as_secs_f64());
        totals.0 += e;
        totals.1 += d;
        let duck = duckdb.as_ref().and_then(|t| t.get(i).copied());
        if let Some(k) = duck {
            totals.2 += k;
        }
        println!(
            "{:>5} {:>14.3} {:>14.3} {:>10.2} {:>12} {:>10}",
            format!("q{n}"),
            e,
            d,
            e / d,
            duck.map(|k| format!("{k:.3}")).unwrap_or_else(|| "-".into()),
            duck.map(|k| format!("{:.2}", e / k)).unwrap_or_else(|| "-".into())
        );
    }
    println!(
        "{:>5} {:>14.3} {:>14.3} {:>10.2} {:>12} {:>10}",
        "total",
        totals.0,
        totals.1,
        totals.0 / totals.1,
        if duckdb.is_some() { format!("{:.3}", totals.2) } else { "-".into() },
        if duckdb.is_some() { format!("{:.2}", totals.0 / totals.2) } else { "-".into() }
    );
    println!("ratio = ember over pgwire / DataFusion in-process (goal: <= 1.2 on the total)");
    if !alt_times.is_empty() {
        print_alt(&queries, &pgwire, &alt_times, &args.alt_settings);
    }
    Ok(())
}

/// The second Ember session beside the first: same server, same run, alternating.
fn print_alt(queries: &[usize], ember: &[Duration], alt: &[Duration], settings: &[String]) {
    println!("second Ember session with: {}", settings.join(", "));
    println!("{:>5} {:>14} {:>10} {:>10}", "query", "ember s", "alt s", "ember/alt");
    let (mut e_total, mut a_total) = (0.0, 0.0);
    for (i, &n) in queries.iter().enumerate() {
        let (e, a) = (ember[i].as_secs_f64(), alt[i].as_secs_f64());
        (e_total, a_total) = (e_total + e, a_total + a);
        println!("{:>5} {:>14.3} {:>10.3} {:>10.3}", format!("q{n}"), e, a, e / a);
    }
    println!("{:>5} {:>14.3} {:>10.3} {:>10.3}", "total", e_total, a_total, e_total / a_total);
}

async fn connect(port: u16, settings: &[String]) -> Result<tokio_postgres::Client, Error> {
    let (client, connection) =
        tokio_postgres::connect(&format!("host=127.0.0.1 port={port} user=bench dbname=ember"), tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    for sql in settings {
        client.batch_execute(sql).await?;
    }
    Ok(client)
}

async fn timed(client: &tokio_postgres::Client, sql: &str) -> Result<Duration, Error> {
    let t = Instant::now();
    let rows = client.simple_query(sql).await?;
    std::hint::black_box(rows);
    Ok(t.elapsed())
}

/// Start `ember serve` on a free port with a throwaway data dir; returns it and its port.
fn start_ember(ember: &Path) -> Result<(std::process::Child, u16), Error> {
    let data_dir = std::env::temp_dir().join(format!("ember-bench-{}", std::process::id()));
    let mut child = Command::new(ember)
        .args(["serve", "--port", "0", "--data-dir"])
        .arg(&data_dir)
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e} (build it with cargo build --release -p ember-server)", ember.display()))?;
    let stderr = child.stderr.take().ok_or("no stderr")?;
    let mut lines = BufReader::new(stderr).lines();
    let port = loop {
        let line = lines.next().ok_or("ember exited before listening")??;
        if let Some(rest) = line.split("pgwire listening on ").nth(1) {
            let addr = rest.split_whitespace().next().unwrap_or_default();
            break addr.rsplit(':').next().unwrap_or_default().parse::<u16>()?;
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Ok((child, port))
}

/// DuckDB times via its Python package, if installed (`bench/tpch/duckdb_tpch.py`).
fn duckdb_times(data: &Path, queries: &[usize], iterations: usize) -> Option<Vec<f64>> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("duckdb_tpch.py");
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let list = queries.iter().map(|q| q.to_string()).collect::<Vec<_>>().join(",");
    let output = Command::new(python)
        .arg(script)
        .args(["--data"])
        .arg(data)
        .args(["--queries", &list, "--iterations", &iterations.to_string()])
        .stderr(Stdio::inherit())
        .output()
        .ok()?;
    if !output.status.success() {
        eprintln!("duckdb: not run (python package missing?)");
        return None;
    }
    String::from_utf8_lossy(&output.stdout).lines().map(|l| l.trim().parse::<f64>().ok()).collect()
}
