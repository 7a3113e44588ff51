//! Command line: `ember serve` and its flags (each also settable by an `EMBER_*` variable).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::error::{Result, ServerError};

#[derive(Debug, Parser)]
#[command(name = "ember", version, about = "Ember: a PostgreSQL-wire SQL server on Apache DataFusion")]
pub struct Cli {
    #[command(subcommand)]
    pub command: CommandLine,
}

#[derive(Debug, Subcommand)]
pub enum CommandLine {
    /// Start the server (pgwire) on its embedded, in-process engine.
    Serve(ServeArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on. Anything but loopback exposes the server to the network.
    #[arg(long, env = "EMBER_HOST", default_value = "127.0.0.1")]
    pub host: String,
    /// pgwire port (0 picks a free port and prints it).
    #[arg(long, short = 'p', env = "EMBER_PORT", default_value_t = 5432)]
    pub port: u16,
    /// Data directory: catalog (SQLite) and managed data.
    #[arg(long, env = "EMBER_DATA_DIR", default_value = "./ember-data")]
    pub data_dir: PathBuf,
    /// Memory for query operators: a size (`4GiB`, `512MB`), a share of this machine's
    /// memory (`75%`, of the physical memory or of the cgroup's limit, whichever is
    /// smaller) or `unbounded`. Beyond it operators spill to disk; what cannot spill fails
    /// with 53200 instead of taking the server down.
    #[arg(long, env = "EMBER_MEMORY_LIMIT", default_value = "75%", value_parser = parse_memory_limit)]
    pub memory_limit: MemoryLimit,
    /// Worker threads and query partitions (default: all cores).
    #[arg(long, env = "EMBER_THREADS", default_value_t = 0)]
    pub threads: usize,
    /// Stack of each thread that plans and runs statements, e.g. `64MiB`. Deeply nested
    /// statements (long OR chains, thousands of UNION ALL branches) recurse once per level.
    #[arg(long, env = "EMBER_STACK_SIZE", default_value = "64MiB", value_parser = parse_bytes)]
    pub stack_size: usize,
    /// Longest statement text accepted, e.g. `16MiB`; longer statements fail with 54000.
    #[arg(long, env = "EMBER_MAX_QUERY_SIZE", default_value = "16MiB", value_parser = parse_bytes)]
    pub max_query_size: usize,
    /// Register functions that exist only for Ember's own tests (`ember_test_panic`).
    #[arg(long, env = "EMBER_TEST_FUNCTIONS", hide = true)]
    pub test_functions: bool,
    /// Log filter (`error`, `warn`, `info`, `debug`, or a tracing directive list).
    #[arg(long, env = "EMBER_LOG", default_value = "info")]
    pub log_level: String,
    #[command(flatten)]
    pub udf: UdfArgs,
    #[command(flatten)]
    pub security: SecurityArgs,
}

/// Python functions (`CREATE FUNCTION ... LANGUAGE python`).
#[derive(Debug, Clone, Args)]
pub struct UdfArgs {
    /// Python interpreter of the UDF workers; it must import pyarrow and numpy
    /// (and cloudpickle for pickled functions).
    #[arg(long, env = "EMBER_PYTHON", default_value = "python3")]
    pub python: PathBuf,
    /// Python worker processes per node (default: all cores).
    #[arg(long, env = "EMBER_UDF_WORKERS", default_value_t = 0)]
    pub udf_workers: usize,
    /// Longest one call of a Python function (one batch of rows) may run, in seconds;
    /// past it the worker is killed and the query fails.
    #[arg(long, env = "EMBER_UDF_TIMEOUT", default_value_t = 60.0)]
    pub udf_timeout: f64,
    /// Address-space limit of each Python worker, e.g. `4GiB` (0: none).
    #[arg(long, env = "EMBER_UDF_MEMORY_LIMIT", default_value = "4GiB", value_parser = parse_bytes)]
    pub udf_memory_limit: usize,
    /// Refuse to create or run Python functions at all.
    #[arg(long, env = "EMBER_NO_PYTHON_UDFS")]
    pub no_python_udfs: bool,
    /// Comma-separated users allowed to create and drop functions (default: every user).
    #[arg(long, env = "EMBER_UDF_CREATORS", value_delimiter = ',')]
    pub udf_creators: Option<Vec<String>>,
}

/// Who may connect and how: authentication and TLS (README "Security").
#[derive(Debug, Clone, Args)]
pub struct SecurityArgs {
    /// `trust` accepts any user name without a password; `password` checks the users given
    /// by --user / --users-file.
    #[arg(long, env = "EMBER_AUTH", value_enum, default_value_t = AuthMode::Trust)]
    pub auth: AuthMode,
    /// Password exchange for --auth password: `scram` (SCRAM-SHA-256) or `md5` (old drivers).
    #[arg(long, env = "EMBER_PASSWORD_METHOD", value_enum, default_value_t = PasswordMethod::Scram)]
    pub password_method: PasswordMethod,
    /// A user `name:password` (repeatable).
    #[arg(long = "user", value_name = "NAME:PASSWORD")]
    pub users: Vec<String>,
    /// A file of users, one `name:password` per line (`#` comments and blank lines ignored).
    #[arg(long, env = "EMBER_USERS_FILE")]
    pub users_file: Option<PathBuf>,
    /// TLS certificate chain (PEM). With --tls-key, clients may use sslmode=require/verify-full.
    #[arg(long, env = "EMBER_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "EMBER_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Reject connections that do not use TLS.
    #[arg(long, env = "EMBER_TLS_REQUIRED", requires = "tls_cert")]
    pub tls_required: bool,
    /// Most sessions open at once; beyond it a connection gets 53300 (PostgreSQL's
    /// `max_connections`).
    #[arg(long, env = "EMBER_MAX_CONNECTIONS", default_value_t = 100)]
    pub max_connections: usize,
    /// Of --max-connections, how many only --superusers may use.
    #[arg(long, env = "EMBER_SUPERUSER_RESERVED_CONNECTIONS", default_value_t = 3)]
    pub superuser_reserved_connections: usize,
    /// Comma-separated users who may use the reserved connections.
    #[arg(long, env = "EMBER_SUPERUSERS", value_delimiter = ',')]
    pub superusers: Vec<String>,
    /// Allow --auth trust on a non-loopback --host (otherwise a startup error).
    #[arg(long, env = "EMBER_ALLOW_TRUST_REMOTE")]
    pub allow_trust_remote: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthMode {
    Trust,
    Password,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PasswordMethod {
    /// SCRAM-SHA-256 (PostgreSQL's default since 14).
    Scram,
    /// md5, for drivers without SCRAM support.
    Md5,
}

impl ServeArgs {
    pub fn listen_addr(&self) -> Result<SocketAddr> {
        let text = if self.host.contains(':') { format!("[{}]:{}", self.host, self.port) } else { format!("{}:{}", self.host, self.port) };
        text.parse::<SocketAddr>().or_else(|_| {
            use std::net::ToSocketAddrs;
            (self.host.as_str(), self.port)
                .to_socket_addrs()
                .ok()
                .and_then(|mut addrs| addrs.next())
                .ok_or_else(|| ServerError::Config { message: format!("cannot resolve --host {}", self.host) })
        })
    }
}

/// `4GiB`, `512MB`, `100k`, `1073741824` -> bytes.
pub fn parse_bytes(text: &str) -> std::result::Result<usize, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().map_err(|_| format!("not a size: {text:?} (try 4GiB or 512MB)"))?;
    let factor: f64 = match unit.trim().to_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" | "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        other => return Err(format!("unknown size unit {other:?} (use KiB, MiB, GiB)")),
    };
    Ok((number * factor) as usize)
}

/// `--memory-limit` as written: resolved against the machine when the server starts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MemoryLimit {
    Bytes(usize),
    /// A share (0 < share <= 1) of the memory this process may use.
    Share(f64),
    Unbounded,
}

impl MemoryLimit {
    /// The operator memory pool size, `None` for unbounded. `available` is the memory the
    /// process may use ([`available_memory`]); a share of an unknown amount is unbounded.
    pub fn resolve(self, available: Option<u64>) -> Option<usize> {
        match self {
            MemoryLimit::Bytes(bytes) => Some(bytes),
            MemoryLimit::Share(share) => available.map(|bytes| (bytes as f64 * share) as usize),
            MemoryLimit::Unbounded => None,
        }
    }
}

pub fn parse_memory_limit(text: &str) -> std::result::Result<MemoryLimit, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("unbounded") {
        return Ok(MemoryLimit::Unbounded);
    }
    if let Some(percent) = text.strip_suffix('%') {
        return match percent.trim().parse::<f64>() {
            Ok(p) if p > 0.0 && p <= 100.0 => Ok(MemoryLimit::Share(p / 100.0)),
            _ => Err(format!("not a share of memory: {text:?} (between 1% and 100%)")),
        };
    }
    match parse_bytes(text)? {
        0 => Err("a memory limit of 0 bytes leaves nothing for queries (use `unbounded` for no limit)".to_string()),
        bytes => Ok(MemoryLimit::Bytes(bytes)),
    }
}

/// The memory this process may use: the machine's physical memory, or its cgroup's
/// limit (containers) when that is smaller. `None` when neither can be read.
pub fn available_memory() -> Option<u64> {
    let physical = std::fs::read_to_string("/proc/meminfo").ok().and_then(|text| mem_total(&text));
    let cgroup = ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"]
        .iter()
        .find_map(|path| std::fs::read_to_string(path).ok().and_then(|text| cgroup_limit(&text)));
    match (physical, cgroup) {
        (Some(p), Some(c)) => Some(p.min(c)),
        (p, c) => p.or(c),
    }
}

/// `MemTotal` of `/proc/meminfo`, in bytes.
fn mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|line| line.starts_with("MemTotal:"))?;
    let kib: u64 = line.trim_start_matches("MemTotal:").trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib * 1024)
}

/// A cgroup memory limit file's value; `max` (v2) and the huge "no limit" of v1 are none.
fn cgroup_limit(text: &str) -> Option<u64> {
    let bytes: u64 = text.trim().parse().ok()?;
    (bytes < 1 << 60).then_some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_limits() {
        assert_eq!(parse_memory_limit("4GiB").unwrap(), MemoryLimit::Bytes(4 << 30));
        assert_eq!(parse_memory_limit("75%").unwrap(), MemoryLimit::Share(0.75));
        assert_eq!(parse_memory_limit("Unbounded").unwrap(), MemoryLimit::Unbounded);
        for bad in ["0", "0%", "150%", "x%", "lots"] {
            assert!(parse_memory_limit(bad).is_err(), "{bad}");
        }
        assert_eq!(MemoryLimit::Share(0.5).resolve(Some(8 << 30)), Some(4 << 30));
        assert_eq!(MemoryLimit::Share(0.5).resolve(None), None);
        assert_eq!(MemoryLimit::Bytes(1 << 20).resolve(None), Some(1 << 20));
        assert_eq!(MemoryLimit::Unbounded.resolve(Some(8 << 30)), None);
    }

    #[test]
    fn machine_memory() {
        assert_eq!(mem_total("MemTotal:       24608248 kB\nMemFree: 1 kB\n"), Some(24608248 * 1024));
        assert_eq!(mem_total("MemFree: 1 kB\n"), None);
        assert_eq!(cgroup_limit("max\n"), None);
        assert_eq!(cgroup_limit("9223372036854771712\n"), None);
        assert_eq!(cgroup_limit("4294967296\n"), Some(4 << 30));
        // This machine: Linux, so at least /proc/meminfo answers.
        assert!(available_memory().is_some_and(|bytes| bytes > 0));
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("1024").unwrap(), 1024);
        assert_eq!(parse_bytes("4GiB").unwrap(), 4 << 30);
        assert_eq!(parse_bytes("512MB").unwrap(), 512 << 20);
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("3 parsecs").is_err());
    }

    #[test]
    fn defaults() {
        let cli = Cli::try_parse_from(["ember", "serve"]).unwrap();
        let CommandLine::Serve(args) = cli.command;
        assert_eq!(args.listen_addr().unwrap().to_string(), "127.0.0.1:5432");
        assert_eq!(args.data_dir, PathBuf::from("./ember-data"));
        assert_eq!(args.security.auth, AuthMode::Trust);
        assert_eq!(args.security.password_method, PasswordMethod::Scram);
        assert!(args.security.tls_cert.is_none() && !args.security.tls_required);
        assert_eq!(args.memory_limit, MemoryLimit::Share(0.75));
    }

    #[test]
    fn security_flags() {
        let cli = Cli::try_parse_from([
            "ember", "serve", "--auth", "password", "--user", "a:x", "--user", "b:y:z", "--password-method", "md5",
            "--tls-cert", "c.pem", "--tls-key", "k.pem", "--tls-required",
        ])
        .unwrap();
        let CommandLine::Serve(args) = cli.command;
        assert_eq!(args.security.auth, AuthMode::Password);
        assert_eq!(args.security.users, vec!["a:x", "b:y:z"]);
        assert_eq!(args.security.password_method, PasswordMethod::Md5);
        assert!(args.security.tls_required);
        // A certificate without its key (or --tls-required without TLS) is a usage error.
        assert!(Cli::try_parse_from(["ember", "serve", "--tls-cert", "c.pem"]).is_err());
        assert!(Cli::try_parse_from(["ember", "serve", "--tls-required"]).is_err());
        assert!(Cli::try_parse_from(["ember", "serve", "--auth", "kerberos"]).is_err());
    }
}
