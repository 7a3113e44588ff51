//! `ember-server` — the Ember server: command line, PostgreSQL wire protocol front end,
//! sessions and the persistent catalog. SQL planning lives in `ember-planner`.
//!
//! Services are library functions over an already-bound listener and a shutdown token,
//! so tests start them on port 0 and the binary stays thin.

pub mod catalog;
pub mod cli;
pub mod engine;
pub mod error;
pub mod functions;
pub mod introspection;
pub mod panics;
pub mod pg;
pub mod restore;
pub mod sequences;
pub mod session;
pub mod temp_tables;
mod session_ddl;
mod session_dml;
mod session_functions;
mod session_rename;
mod session_sequences;
mod session_tables;
mod session_copy;
pub mod settings;
pub mod statement;
pub mod storage;

use std::sync::Arc;

use clap::Parser;
use ember_planner::config::EngineOptions;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use engine::Engine;
pub use error::{Result, ServerError};

use cli::{Cli, CommandLine, ServeArgs};

/// Parse the command line and run it.
pub fn run() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        CommandLine::Serve(args) => serve_command(args),
    }
}

fn serve_command(args: ServeArgs) -> Result<()> {
    init_tracing(&args.log_level);
    let options = EngineOptions {
        threads: args.threads,
        memory_limit: args.memory_limit.resolve(cli::available_memory()),
        spill_dir: Some(args.data_dir.join("tmp")),
        nesting: ember_planner::depth::Nesting::for_stack(args.stack_size.max(MIN_STACK), args.max_query_size),
        test_functions: args.test_functions,
    };
    panics::install_hook();
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    // Every thread that plans and runs statements (tokio's workers and blocking threads)
    // gets the configured stack: parsing, the AST's derived Clone/Drop/visitors and parts
    // of DataFusion's planning recurse once per nesting level of a statement. The memory
    // is reserved address space, touched only as deep as a statement goes.
    runtime.enable_all().thread_name("ember").thread_stack_size(args.stack_size.max(MIN_STACK));
    if args.threads > 0 {
        runtime.worker_threads(args.threads);
    }
    let runtime = runtime.build().map_err(|e| ServerError::io("cannot start the async runtime", e))?;
    runtime.block_on(async move {
        let addr = args.listen_addr()?;
        let security = Arc::new(pg::Security::from_args(&args.security, addr)?);
        let listener = TcpListener::bind(addr).await.map_err(|e| {
            let hint = if e.kind() == std::io::ErrorKind::AddrInUse {
                " (is another server running? pick another --port)"
            } else {
                ""
            };
            ServerError::io(format!("cannot listen on {addr}{hint}"), e)
        })?;
        if let Some(tmp) = &options.spill_dir {
            std::fs::create_dir_all(tmp).map_err(|e| ServerError::io(format!("cannot create {}", tmp.display()), e))?;
        }
        let functions = functions_from_args(&args.udf)?;
        let memory_limit = options.memory_limit;
        let engine = Engine::open(&args.data_dir, options, functions).await?;
        restore::restore(&engine).await?;
        let local = listener.local_addr().map_err(|e| ServerError::io("listener address", e))?;
        let shutdown = CancellationToken::new();
        shutdown_on_signal(shutdown.clone())?;
        tracing::info!("{}", security.describe());
        match memory_limit {
            Some(bytes) => tracing::info!("operator memory limit {} MiB (--memory-limit)", bytes >> 20),
            None => tracing::warn!("operator memory unbounded: a large sort or join can exhaust the machine's memory (--memory-limit)"),
        }
        tracing::info!(data_dir = %args.data_dir.display(), "pgwire listening on {local}");
        serve(listener, engine, security, shutdown).await;
        tracing::info!("shut down");
        Ok(())
    })
}

/// The smallest stack a statement thread gets, whatever `--stack-size` says (tokio's default).
const MIN_STACK: usize = 2 << 20;

/// The node's Python functions as configured on the command line.
fn functions_from_args(args: &cli::UdfArgs) -> Result<functions::Functions> {
    if !args.udf_timeout.is_finite() || args.udf_timeout <= 0.0 {
        return Err(ServerError::Config { message: format!("--udf-timeout must be a positive number of seconds, not {}", args.udf_timeout) });
    }
    let size = if args.udf_workers > 0 { args.udf_workers } else { std::thread::available_parallelism().map_or(1, |n| n.get()) };
    let pool = ember_udf_host::PoolConfig {
        python: args.python.clone(),
        size,
        call_timeout: std::time::Duration::from_secs_f64(args.udf_timeout),
        memory_limit: args.udf_memory_limit as u64,
        socket_dir: std::env::temp_dir().join(format!("ember-udf-{}", std::process::id())),
    };
    let policy = functions::UdfPolicy { disabled: args.no_python_udfs, creators: args.udf_creators.clone() };
    Ok(functions::Functions::new(pool, policy))
}

/// Serve pgwire on `listener` with `security` (authentication, TLS) until `shutdown` is cancelled.
pub async fn serve(listener: TcpListener, engine: Arc<Engine>, security: Arc<pg::Security>, shutdown: CancellationToken) {
    pg::serve(listener, engine, security, shutdown).await
}

/// Install the Ctrl-C / SIGTERM handlers now (before the server announces readiness, so
/// an early SIGTERM is never the default, abrupt one) and cancel `shutdown` on either.
fn shutdown_on_signal(shutdown: CancellationToken) -> Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).map_err(|e| ServerError::io("cannot listen for SIGTERM", e))?;
        let mut int = signal(SignalKind::interrupt()).map_err(|e| ServerError::io("cannot listen for SIGINT", e))?;
        tokio::spawn(async move {
            tokio::select! {
                _ = term.recv() => {},
                _ = int.recv() => {},
            }
            tracing::info!("shutdown requested");
            shutdown.cancel();
        });
    }
    #[cfg(not(unix))]
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutdown requested");
        shutdown.cancel();
    });
    Ok(())
}

fn init_tracing(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).try_init();
}
