//! `ember-server` — the Ember server: command line, PostgreSQL wire protocol front end,
//! sessions and the persistent catalog. SQL planning lives in `ember-planner`.
//!
//! Services are library functions over an already-bound listener and a shutdown token,
//! so tests start them on port 0 and the binary stays thin.

pub mod catalog;
pub mod cli;
pub mod engine;
pub mod error;
pub mod pg;
pub mod session;
pub mod settings;

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
        memory_limit: args.memory_limit,
        spill_dir: Some(args.data_dir.join("tmp")),
    };
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all().thread_name("ember");
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
        let engine = Engine::open(&args.data_dir, options).await?;
        let local = listener.local_addr().map_err(|e| ServerError::io("listener address", e))?;
        let shutdown = CancellationToken::new();
        shutdown_on_signal(shutdown.clone())?;
        tracing::info!("{}", security.describe());
        tracing::info!(data_dir = %args.data_dir.display(), "pgwire listening on {local}");
        serve(listener, engine, security, shutdown).await;
        tracing::info!("shut down");
        Ok(())
    })
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
