//! Starting and stopping a real `ember serve` process for a test.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use tokio_postgres::{Client, NoTls};

/// The repository root (the workspace), for sql-tests/ and sample data.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

/// A fresh, empty directory under the system temp dir.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ember-it-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// A running `ember serve` on a free port; killed on drop.
/// The Python the UDF workers run: `EMBER_PYTHON`, else the virtualenv `scripts/setup.sh`
/// makes (`EMBER_VENV`, default /work/.venv-ember), which has pyarrow and numpy.
pub fn test_python() -> PathBuf {
    if let Some(python) = std::env::var_os("EMBER_PYTHON") {
        return PathBuf::from(python);
    }
    let venv = std::env::var_os("EMBER_VENV").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/work/.venv-ember"));
    venv.join("bin/python")
}

pub struct TestServer {
    child: Child,
    pub addr: SocketAddr,
}

impl TestServer {
    /// Start the server with `data_dir`, working directory `cwd`, and extra flags.
    pub fn start_in(data_dir: &Path, cwd: &Path, extra: &[&str]) -> Self {
        // `EMBER_TEST_BIN` runs the tests against another build (a release binary, or an
        // older commit's, to compare).
        let bin = std::env::var_os("EMBER_TEST_BIN").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_ember")));
        let mut child = Command::new(bin)
            .arg("serve")
            .args(["--port", "0", "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .env("EMBER_LOG", "info")
            .env("EMBER_PYTHON", test_python())
            .current_dir(cwd)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn ember");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        // Read the log: the readiness line carries the bound address; keep draining after.
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if !sent && let Some(rest) = line.split("pgwire listening on ").nth(1) {
                    let addr = rest.split_whitespace().next().unwrap_or_default().to_string();
                    let _ = tx.send(addr);
                    sent = true;
                }
                if std::env::var_os("EMBER_TEST_LOG").is_some() {
                    eprintln!("[ember] {line}");
                }
            }
        });
        let addr = rx.recv_timeout(Duration::from_secs(60)).expect("server did not report readiness");
        let addr: SocketAddr = addr.parse().expect("listening address");
        Self { child, addr }
    }

    pub fn start(data_dir: &Path) -> Self {
        Self::start_in(data_dir, &repo_root(), &[])
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn conn_string(&self) -> String {
        format!("host={} port={} user=ember dbname=ember", self.addr.ip(), self.addr.port())
    }

    pub async fn connect(&self) -> Client {
        let (client, connection) = tokio_postgres::connect(&self.conn_string(), NoTls).await.expect("connect");
        tokio::spawn(async move {
            let _ = connection.await;
        });
        client
    }

    /// `kill -9`: no shutdown hooks run.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait for a clean exit; returns the exit status success.
    pub fn terminate(mut self) -> bool {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        for _ in 0..100 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
