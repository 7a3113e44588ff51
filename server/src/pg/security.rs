//! Connection security, built once at startup from the command line and shared by every
//! connection: who may connect (`trust`, or passwords checked with SCRAM-SHA-256 or md5)
//! and TLS (rustls). Bad configuration -- unreadable or mismatched TLS files, a malformed
//! users file, `trust` on a network address -- is a startup error, never a silent downgrade.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use pgwire::api::auth::md5pass::hash_md5_password;
use pgwire::api::auth::sasl::scram::{ScramAuth, gen_salted_password};
use pgwire::api::auth::{AuthSource, LoginInfo, Password};
use pgwire::error::PgWireResult;
use pgwire::tokio::TlsAcceptor;
use pgwire::tokio::tokio_rustls::rustls;
use ring::rand::{SecureRandom, SystemRandom};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::cli::{AuthMode, PasswordMethod, SecurityArgs};
use crate::error::{Result, ServerError};

/// PostgreSQL's default SCRAM iteration count.
const SCRAM_ITERATIONS: usize = 4096;

/// How connections authenticate and whether they are encrypted.
pub struct Security {
    auth: Auth,
    tls: Option<TlsAcceptor>,
    tls_required: bool,
    admission: Arc<super::admission::Admission>,
}

/// The configured password check.
pub enum Auth {
    Trust,
    Scram(ScramAuth),
    Md5(Arc<Users>),
}

impl Security {
    /// Trust authentication, no TLS (what tests and loopback development use).
    pub fn trust() -> Self {
        let admission = super::admission::Admission::new(100, 3, []).unwrap_or_else(|_| unreachable!("3 < 100"));
        Self { auth: Auth::Trust, tls: None, tls_required: false, admission }
    }

    /// Build from `ember serve`'s flags, validating them against the listen address.
    pub fn from_args(args: &SecurityArgs, listen: SocketAddr) -> Result<Self> {
        let mut entries: Vec<(String, String)> = Vec::new();
        for (n, user) in args.users.iter().enumerate() {
            entries.push(parse_user(user).map_err(|message| config(format!("--user #{}: {message}", n + 1)))?);
        }
        if let Some(path) = &args.users_file {
            entries.extend(read_users_file(path)?);
        }
        let mut seen = std::collections::HashSet::new();
        for (name, _) in &entries {
            if !seen.insert(name.as_str()) {
                return Err(config(format!("user {name:?} is given more than once")));
            }
        }

        let tls = match (&args.tls_cert, &args.tls_key) {
            (Some(cert), Some(key)) => Some(load_tls(cert, key)?),
            (None, None) => None,
            _ => return Err(config("--tls-cert and --tls-key must be given together".to_string())),
        };
        if args.tls_required && tls.is_none() {
            return Err(config("--tls-required needs --tls-cert and --tls-key".to_string()));
        }

        let auth = match args.auth {
            AuthMode::Trust => {
                if !entries.is_empty() {
                    return Err(config(
                        "users are given but --auth is trust (passwords would not be checked); add --auth password"
                            .to_string(),
                    ));
                }
                if !listen.ip().is_loopback() && !args.allow_trust_remote {
                    return Err(config(format!(
                        "refusing to listen on {listen} with --auth trust: anyone who can reach this address could \
                         connect as any user. Use --auth password with --user/--users-file (and --tls-cert/--tls-key), \
                         or pass --allow-trust-remote if the network is trusted"
                    )));
                }
                Auth::Trust
            }
            AuthMode::Password => {
                if entries.is_empty() {
                    return Err(config("--auth password needs users: --user NAME:PASSWORD or --users-file FILE".to_string()));
                }
                let users = Arc::new(Users::new(args.password_method, &entries)?);
                match args.password_method {
                    PasswordMethod::Md5 => Auth::Md5(users),
                    PasswordMethod::Scram => {
                        let mut scram = ScramAuth::new(users);
                        scram.set_iterations(SCRAM_ITERATIONS);
                        if let (Some(_), Some(cert)) = (&tls, &args.tls_cert) {
                            // Channel binding (SCRAM-SHA-256-PLUS) needs the certificate's
                            // signature algorithm; without it clients still use SCRAM-SHA-256.
                            let pem = std::fs::read(cert).map_err(|e| ServerError::io(format!("cannot read {}", cert.display()), e))?;
                            if let Err(e) = scram.configure_certificate(&pem) {
                                tracing::warn!("SCRAM channel binding disabled for {}: {e}", cert.display());
                            }
                        }
                        Auth::Scram(scram)
                    }
                }
            }
        };
        let admission = super::admission::Admission::new(args.max_connections, args.superuser_reserved_connections, args.superusers.iter().cloned())?;
        Ok(Self { auth, tls, tls_required: args.tls_required, admission })
    }

    pub fn auth(&self) -> &Auth {
        &self.auth
    }

    /// How many sessions may be open, and whose ([`super::admission`]).
    pub fn admission(&self) -> &Arc<super::admission::Admission> {
        &self.admission
    }

    pub fn tls_acceptor(&self) -> Option<TlsAcceptor> {
        self.tls.clone()
    }

    pub fn tls_required(&self) -> bool {
        self.tls_required
    }

    /// One line for the startup log.
    pub fn describe(&self) -> String {
        let auth = match &self.auth {
            Auth::Trust => "trust",
            Auth::Scram(_) => "password (SCRAM-SHA-256)",
            Auth::Md5(_) => "password (md5)",
        };
        let tls = match (&self.tls, self.tls_required) {
            (None, _) => "off",
            (Some(_), false) => "on",
            (Some(_), true) => "required",
        };
        format!("auth {auth}, TLS {tls}")
    }
}

fn config(message: String) -> ServerError {
    ServerError::Config { message }
}

/// `name:password` -- the password is everything after the first colon.
fn parse_user(text: &str) -> std::result::Result<(String, String), String> {
    let Some((name, password)) = text.split_once(':') else {
        return Err("expected NAME:PASSWORD".to_string());
    };
    let name = name.trim();
    if name.is_empty() {
        return Err("empty user name".to_string());
    }
    if password.is_empty() {
        return Err(format!("empty password for user {name:?}"));
    }
    Ok((name.to_string(), password.to_string()))
}

/// A users file: one `name:password` per line; blank lines and lines starting with `#`
/// are ignored; the password is the rest of the line after the first colon, verbatim.
fn read_users_file(path: &Path) -> Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path).map_err(|e| ServerError::io(format!("cannot read users file {}", path.display()), e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!("users file {} is readable by other users; chmod 600 it", path.display());
        }
    }
    let mut users = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        users.push(parse_user(line).map_err(|message| config(format!("{} line {}: {message}", path.display(), n + 1)))?);
    }
    if users.is_empty() {
        return Err(config(format!("users file {} has no users", path.display())));
    }
    Ok(users)
}

fn load_tls(cert: &Path, key: &Path) -> Result<TlsAcceptor> {
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<std::result::Result<Vec<_>, _>>())
        .map_err(|e| config(format!("--tls-cert {}: {e}", cert.display())))?;
    if certs.is_empty() {
        return Err(config(format!("--tls-cert {}: no PEM certificate in the file", cert.display())));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| config(format!("--tls-key {}: {e}", key.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| config(format!("TLS: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .map_err(|e| config(format!("--tls-cert {} / --tls-key {}: {e}", cert.display(), key.display())))?;
    // PostgreSQL 17's direct TLS negotiation (sslnegotiation=direct) requires this ALPN.
    server.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(server)))
}

/// The configured users: SCRAM keeps only salted passwords; md5 needs the password itself
/// (md5's stored form, `md5(password || user)`, is password-equivalent anyway). Unknown users get a mock secret so a failed login looks the
/// same (28P01 after the full exchange) whether or not the user exists, as in PostgreSQL.
pub struct Users {
    scram: HashMap<String, (Vec<u8>, Vec<u8>)>,
    md5: HashMap<String, String>, // user -> password
    mock_key: ring::hmac::Key,
    random: SystemRandom,
}

impl fmt::Debug for Users {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Users").field("scram", &self.scram.len()).field("md5", &self.md5.len()).finish_non_exhaustive()
    }
}

impl Users {
    fn new(method: PasswordMethod, entries: &[(String, String)]) -> Result<Self> {
        let random = SystemRandom::new();
        let mut key = [0u8; 32];
        random.fill(&mut key).map_err(|_| config("no system randomness".to_string()))?;
        let mut users = Self {
            scram: HashMap::new(),
            md5: HashMap::new(),
            mock_key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key),
            random,
        };
        for (name, password) in entries {
            match method {
                PasswordMethod::Scram => {
                    let salt = users.random_bytes::<16>()?.to_vec();
                    let salted = gen_salted_password(password, &salt, SCRAM_ITERATIONS);
                    users.scram.insert(name.clone(), (salt, salted));
                }
                PasswordMethod::Md5 => {
                    users.md5.insert(name.clone(), password.clone());
                }
            }
        }
        Ok(users)
    }

    pub fn random_bytes<const N: usize>(&self) -> Result<[u8; N]> {
        let mut bytes = [0u8; N];
        self.random.fill(&mut bytes).map_err(|_| config("no system randomness".to_string()))?;
        Ok(bytes)
    }

    /// The md5 response a client must send for `user` and `salt`, `None` for unknown users.
    pub fn md5_response(&self, user: &str, salt: &[u8]) -> Option<String> {
        let password = self.md5.get(user)?;
        Some(hash_md5_password(user, password, salt))
    }

    fn mock_secret(&self, user: &str, label: &[u8]) -> Vec<u8> {
        let mut input = label.to_vec();
        input.extend_from_slice(user.as_bytes());
        ring::hmac::sign(&self.mock_key, &input).as_ref().to_vec()
    }
}

#[async_trait]
impl AuthSource for Users {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        let user = login.user().unwrap_or_default();
        Ok(match self.scram.get(user) {
            Some((salt, salted)) => Password::new(Some(salt.clone()), salted.clone()),
            None => {
                let mut salt = self.mock_secret(user, b"salt");
                salt.truncate(16);
                Password::new(Some(salt), self.mock_secret(user, b"password"))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, CommandLine};
    use clap::Parser;

    fn args(flags: &[&str]) -> SecurityArgs {
        let mut argv = vec!["ember", "serve"];
        argv.extend_from_slice(flags);
        let CommandLine::Serve(serve) = Cli::try_parse_from(argv).unwrap().command;
        serve.security
    }

    fn build(flags: &[&str], host: &str) -> Result<Security> {
        let addr = if host.contains(':') { format!("[{host}]:5432") } else { format!("{host}:5432") };
        Security::from_args(&args(flags), addr.parse().unwrap())
    }

    fn error(flags: &[&str], host: &str) -> String {
        match build(flags, host) {
            Ok(_) => panic!("{flags:?} on {host} should be refused"),
            Err(e) => e.to_string(),
        }
    }

    fn temp(name: &str, contents: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("ember-security-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    #[test]
    fn user_entries() {
        assert_eq!(parse_user("alice:s3cret").unwrap(), ("alice".into(), "s3cret".into()));
        assert_eq!(parse_user("bob:a:b c").unwrap(), ("bob".into(), "a:b c".into()));
        assert!(parse_user("nocolon").is_err());
        assert!(parse_user(":pw").is_err());
        assert!(parse_user("carol:").is_err());
    }

    #[test]
    fn users_file() {
        let path = temp("users", "# Ember users\nalice:one\r\n\n  # indented comment\nbob:two:three\n");
        let users = read_users_file(&path).unwrap();
        assert_eq!(users, vec![("alice".into(), "one".into()), ("bob".into(), "two:three".into())]);
        let bad = temp("bad-users", "alice:one\njust-a-name\n");
        let message = read_users_file(&bad).unwrap_err().to_string();
        assert!(message.contains("line 2"), "{message}");
        assert!(read_users_file(&temp("empty-users", "# nobody\n")).is_err());
        assert!(read_users_file(Path::new("/nonexistent/users")).is_err());
    }

    #[test]
    fn trust_only_on_loopback_unless_allowed() {
        assert!(build(&[], "127.0.0.1").is_ok());
        assert!(build(&[], "::1").is_ok());
        let message = error(&[], "0.0.0.0");
        assert!(message.contains("--auth trust") && message.contains("--allow-trust-remote"), "{message}");
        assert!(build(&["--allow-trust-remote"], "0.0.0.0").is_ok());
        assert!(build(&["--auth", "password", "--user", "a:b"], "0.0.0.0").is_ok());
    }

    #[test]
    fn inconsistent_flags_are_errors() {
        assert!(error(&["--user", "a:b"], "127.0.0.1").contains("--auth password"));
        assert!(error(&["--auth", "password"], "127.0.0.1").contains("needs users"));
        assert!(error(&["--auth", "password", "--user", "a:b", "--user", "a:c"], "127.0.0.1").contains("more than once"));
        assert!(error(&["--auth", "password", "--user", "a"], "127.0.0.1").contains("NAME:PASSWORD"));
    }

    #[test]
    fn tls_files_are_checked() {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let other = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let cert_pem = temp("cert.pem", &cert.cert.pem());
        let key_pem = temp("key.pem", &cert.key_pair.serialize_pem());
        let other_key = temp("other-key.pem", &other.key_pair.serialize_pem());
        let garbage = temp("garbage.pem", "not a certificate\n");
        let c = cert_pem.to_str().unwrap();
        let k = key_pem.to_str().unwrap();

        let ok = build(&["--tls-cert", c, "--tls-key", k, "--tls-required"], "127.0.0.1").unwrap();
        assert!(ok.tls_acceptor().is_some() && ok.tls_required());
        assert_eq!(ok.describe(), "auth trust, TLS required");
        let scram = build(&["--tls-cert", c, "--tls-key", k, "--auth", "password", "--user", "a:b"], "127.0.0.1").unwrap();
        match scram.auth() {
            Auth::Scram(scram) => assert!(scram.supports_channel_binding()),
            _ => panic!("expected SCRAM"),
        }
        assert!(error(&["--tls-cert", c, "--tls-key", "/nonexistent.pem"], "127.0.0.1").contains("--tls-key"));
        assert!(error(&["--tls-cert", garbage.to_str().unwrap(), "--tls-key", k], "127.0.0.1").contains("no PEM certificate"));
        assert!(error(&["--tls-cert", c, "--tls-key", garbage.to_str().unwrap()], "127.0.0.1").contains("--tls-key"));
        // A key that does not belong to the certificate.
        assert!(error(&["--tls-cert", c, "--tls-key", other_key.to_str().unwrap()], "127.0.0.1").contains("--tls-cert"));
    }

    #[test]
    fn md5_responses() {
        let users = Users::new(PasswordMethod::Md5, &[("zmjiang".into(), "themanwhochangedchina".into())]).unwrap();
        // PostgreSQL's concat('md5', md5(md5(password || user) || salt)).
        assert_eq!(
            users.md5_response("zmjiang", &[20, 247, 107, 249]).unwrap(),
            "md521fe459d77d3e3ea9c9fcd5c11030d30"
        );
        assert!(users.md5_response("nobody", &[1, 2, 3, 4]).is_none());
    }

    #[tokio::test]
    async fn unknown_users_get_a_stable_mock_secret() {
        let users = Users::new(PasswordMethod::Scram, &[("alice".into(), "pw".into())]).unwrap();
        let login = |user: &'static str| LoginInfo::new(Some(user), None, "127.0.0.1".to_string());
        let alice = users.get_password(&login("alice")).await.unwrap();
        assert_eq!(alice.password(), gen_salted_password("pw", alice.salt().unwrap(), SCRAM_ITERATIONS).as_slice());
        let ghost1 = users.get_password(&login("ghost")).await.unwrap();
        let ghost2 = users.get_password(&login("ghost")).await.unwrap();
        assert_eq!(ghost1.salt(), ghost2.salt(), "a probing client must not see the salt change");
        assert_eq!(ghost1.salt().unwrap().len(), 16);
    }
}
