//! Authentication and TLS over the wire: SCRAM-SHA-256 and md5 passwords (28P01 on a wrong
//! password or unknown user), TLS with sslmode=require / verify-full (tokio-postgres over
//! rustls, and psql), --tls-required, and the configurations that must refuse to start.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls};

use crate::common::{TestServer, repo_root, temp_dir};

/// A self-signed certificate for `localhost` / 127.0.0.1, written as PEM files.
struct Cert {
    cert: PathBuf,
    key: PathBuf,
    der: Vec<u8>,
}

fn self_signed(dir: &Path) -> Cert {
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    let cert = dir.join("server.crt");
    let key = dir.join("server.key");
    std::fs::write(&cert, generated.cert.pem()).unwrap();
    std::fs::write(&key, generated.key_pair.serialize_pem()).unwrap();
    Cert { cert, key, der: generated.cert.der().to_vec() }
}

fn start(name: &str, flags: &[&str]) -> (TestServer, PathBuf) {
    let dir = temp_dir(name);
    let server = TestServer::start_in(&dir.join("data"), &repo_root(), flags);
    (server, dir)
}

fn conn_string(server: &TestServer, host: &str, user: &str, password: &str) -> String {
    format!("host={host} port={} user={user} password={password} dbname=ember", server.addr.port())
}

async fn connect_plain(config: &str) -> Result<Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(config, NoTls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

async fn connect_tls(config: &str, root_der: &[u8]) -> Result<Client, tokio_postgres::Error> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(rustls::pki_types::CertificateDer::from(root_der.to_vec())).unwrap();
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let (client, connection) =
        tokio_postgres::connect(config, tokio_postgres_rustls::MakeRustlsConnect::new(tls)).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

fn sqlstate(result: Result<Client, tokio_postgres::Error>) -> SqlState {
    match result {
        Ok(_) => panic!("connection should have been refused"),
        Err(e) => e.code().cloned().unwrap_or_else(|| panic!("no SQLSTATE in {e:?}")),
    }
}

async fn answers(client: &Client) -> i64 {
    client.query_one("SELECT 40 + 2", &[]).await.unwrap().get::<_, i32>(0).into()
}

/// psql with the given libpq environment; returns (success, stdout + stderr).
fn psql(server: &TestServer, host: &str, user: &str, env: &[(&str, &str)], sql: &str) -> (bool, String) {
    let out = Command::new("psql")
        .args(["-X", "-At", "-h", host, "-p", &server.addr.port().to_string(), "-U", user, "-d", "ember", "-c", sql])
        .env_remove("PGPASSWORD")
        .env_remove("PGSSLMODE")
        .envs(env.iter().copied())
        .output()
        .expect("run psql (scripts/setup.sh installs postgresql-client)");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[tokio::test]
async fn scram_password() {
    let (server, _dir) = start("auth-scram", &["--auth", "password", "--user", "alice:wonder land", "--user", "bob:b:u:i:l:d"]);
    let alice = connect_plain(&conn_string(&server, "127.0.0.1", "alice", "'wonder land'")).await.unwrap();
    assert_eq!(answers(&alice).await, 42);
    let bob = connect_plain(&conn_string(&server, "127.0.0.1", "bob", "b:u:i:l:d")).await.unwrap();
    assert_eq!(answers(&bob).await, 42);

    let wrong = connect_plain(&conn_string(&server, "127.0.0.1", "alice", "wonder")).await;
    assert_eq!(sqlstate(wrong), SqlState::INVALID_PASSWORD);
    let unknown = connect_plain(&conn_string(&server, "127.0.0.1", "mallory", "wonder")).await;
    assert_eq!(sqlstate(unknown), SqlState::INVALID_PASSWORD);

    // libpq: the password from PGPASSWORD, the server's message on failure.
    let (ok, out) = psql(&server, "127.0.0.1", "alice", &[("PGPASSWORD", "wonder land")], "select 1");
    assert!(ok && out.trim() == "1", "{out}");
    let (ok, out) = psql(&server, "127.0.0.1", "alice", &[("PGPASSWORD", "nope")], "select 1");
    assert!(!ok && out.contains("password authentication failed for user \"alice\""), "{out}");
    // Plain-text connection: SCRAM without channel binding; requiring it must fail cleanly.
    let (ok, out) = psql(&server, "127.0.0.1", "alice", &[("PGPASSWORD", "wonder land"), ("PGCHANNELBINDING", "require")], "select 1");
    assert!(!ok, "{out}");
}

#[tokio::test]
async fn md5_password_from_users_file() {
    let dir = temp_dir("auth-md5-users");
    let users = dir.join("users");
    std::fs::write(&users, "# Ember users: name:password\ncarol:pa:ss\n\ndave:hunter2\n").unwrap();
    let (server, _data) = start("auth-md5", &["--auth", "password", "--password-method", "md5", "--users-file", users.to_str().unwrap()]);
    let carol = connect_plain(&conn_string(&server, "127.0.0.1", "carol", "pa:ss")).await.unwrap();
    assert_eq!(answers(&carol).await, 42);
    assert_eq!(sqlstate(connect_plain(&conn_string(&server, "127.0.0.1", "carol", "pass")).await), SqlState::INVALID_PASSWORD);
    assert_eq!(sqlstate(connect_plain(&conn_string(&server, "127.0.0.1", "eve", "hunter2")).await), SqlState::INVALID_PASSWORD);
    let (ok, out) = psql(&server, "127.0.0.1", "dave", &[("PGPASSWORD", "hunter2")], "select 'md5 ok'");
    assert!(ok && out.trim() == "md5 ok", "{out}");
}

#[tokio::test]
async fn tls_with_scram_channel_binding() {
    let dir = temp_dir("auth-tls-certs");
    let cert = self_signed(&dir);
    let (server, _data) = start(
        "auth-tls",
        &[
            "--auth", "password", "--user", "alice:wonder",
            "--tls-cert", cert.cert.to_str().unwrap(), "--tls-key", cert.key.to_str().unwrap(),
        ],
    );
    // rustls verifies the chain and the host name: verify-full.
    let tls = connect_tls(&format!("{} sslmode=require", conn_string(&server, "localhost", "alice", "wonder")), &cert.der).await.unwrap();
    assert_eq!(answers(&tls).await, 42);
    let wrong = connect_tls(&format!("{} sslmode=require", conn_string(&server, "localhost", "alice", "nope")), &cert.der).await;
    assert_eq!(sqlstate(wrong), SqlState::INVALID_PASSWORD);
    // TLS is optional here: plain connections still work.
    assert_eq!(answers(&connect_plain(&conn_string(&server, "127.0.0.1", "alice", "wonder")).await.unwrap()).await, 42);

    let root = cert.cert.to_str().unwrap();
    for mode in ["require", "verify-ca", "verify-full"] {
        let env = [("PGPASSWORD", "wonder"), ("PGSSLMODE", mode), ("PGSSLROOTCERT", root), ("PGCHANNELBINDING", "require")];
        let (ok, out) = psql(&server, "localhost", "alice", &env, "select 'tls ok'");
        assert!(ok && out.trim() == "tls ok", "sslmode={mode}: {out}");
    }
    // verify-full checks the name: the certificate is not for this one.
    let other = temp_dir("auth-tls-other");
    let other_cert = self_signed(&other);
    let env = [("PGPASSWORD", "wonder"), ("PGSSLMODE", "verify-full"), ("PGSSLROOTCERT", other_cert.cert.to_str().unwrap())];
    let (ok, out) = psql(&server, "localhost", "alice", &env, "select 1");
    assert!(!ok && out.to_lowercase().contains("certificate"), "{out}");
}

#[tokio::test]
async fn tls_required_rejects_plain_connections() {
    let dir = temp_dir("auth-tls-req-certs");
    let cert = self_signed(&dir);
    let (server, _data) = start(
        "auth-tls-req",
        &["--tls-cert", cert.cert.to_str().unwrap(), "--tls-key", cert.key.to_str().unwrap(), "--tls-required"],
    );
    let plain = connect_plain(&format!("host=127.0.0.1 port={} user=ember dbname=ember", server.addr.port())).await;
    assert_eq!(sqlstate(plain), SqlState::INVALID_AUTHORIZATION_SPECIFICATION);
    let (ok, out) = psql(&server, "127.0.0.1", "ember", &[("PGSSLMODE", "disable")], "select 1");
    assert!(!ok && out.contains("requires TLS"), "{out}");
    let tls = connect_tls(&format!("host=localhost port={} user=ember dbname=ember sslmode=require", server.addr.port()), &cert.der).await.unwrap();
    assert_eq!(answers(&tls).await, 42);
    let (ok, out) = psql(&server, "localhost", "ember", &[("PGSSLMODE", "verify-full"), ("PGSSLROOTCERT", cert.cert.to_str().unwrap())], "select 3");
    assert!(ok && out.trim() == "3", "{out}");
}

#[tokio::test]
async fn no_tls_configured_answers_n() {
    let (server, _dir) = start("auth-no-tls", &[]);
    // The server refuses SSLRequest ('N'): sslmode=require fails in the client, prefer falls back.
    let (ok, out) = psql(&server, "127.0.0.1", "ember", &[("PGSSLMODE", "require")], "select 1");
    assert!(!ok && out.contains("does not support SSL"), "{out}");
    let (ok, out) = psql(&server, "127.0.0.1", "ember", &[("PGSSLMODE", "prefer")], "select 1");
    assert!(ok && out.trim() == "1", "{out}");
}

/// Run `ember serve` with flags that must make it exit with an error; returns stderr.
fn refused(flags: &[&str]) -> String {
    let data = temp_dir("auth-refused");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ember"))
        .arg("serve")
        .args(["--port", "0", "--data-dir"])
        .arg(&data)
        .args(flags)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
            assert!(!status.success(), "ember serve {flags:?} should fail: {stderr}");
            return stderr;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("ember serve {flags:?} started instead of refusing");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn unsafe_or_broken_configurations_do_not_start() {
    let message = refused(&["--host", "0.0.0.0"]);
    assert!(message.contains("refusing to listen on 0.0.0.0") && message.contains("--allow-trust-remote"), "{message}");
    let message = refused(&["--tls-cert", "/nonexistent/server.crt", "--tls-key", "/nonexistent/server.key"]);
    assert!(message.contains("--tls-cert /nonexistent/server.crt"), "{message}");
    let dir = temp_dir("auth-refused-files");
    let garbage = dir.join("garbage.pem");
    std::fs::write(&garbage, "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n").unwrap();
    let cert = self_signed(&dir);
    let message = refused(&["--tls-cert", garbage.to_str().unwrap(), "--tls-key", cert.key.to_str().unwrap()]);
    assert!(message.contains("--tls-cert"), "{message}");
    let message = refused(&["--auth", "password"]);
    assert!(message.contains("needs users"), "{message}");
    let message = refused(&["--tls-required"]);
    assert!(message.contains("tls-cert"), "{message}");
}
