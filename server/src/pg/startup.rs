//! Connection startup: TLS requirement, authentication (trust, SCRAM-SHA-256 or md5, see
//! [`super::security`]), session parameters, cancel registration.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;
use std::sync::{Arc, LazyLock, Mutex};

use async_trait::async_trait;
use futures::{Sink, SinkExt};
use pgwire::api::auth::sasl::SASLState;
use pgwire::api::auth::sasl::{SCRAM_SHA_256_METHOD, SCRAM_SHA_256_PLUS_METHOD};
use pgwire::api::auth::{
    ServerParameterProvider, StartupHandler, finish_authentication, protocol_negotiation,
    save_startup_parameters_to_metadata,
};
use pgwire::api::{ClientInfo, PgWireConnectionState, PidSecretKeyGenerator, RandomPidSecretKeyGenerator};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::startup::{Authentication, PasswordMessageFamily};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};

use super::security::{Auth, Security};
use crate::error::ServerError;
use crate::session::Session;
use crate::settings::SETTINGS;

static PIDS: LazyLock<RandomPidSecretKeyGenerator> = LazyLock::new(RandomPidSecretKeyGenerator::default);

pub struct Startup {
    session: Arc<Session>,
    registry: Arc<super::cancel::SessionRegistry>,
    security: Arc<Security>,
    /// This connection's place among `--max-connections`.
    slot: Arc<super::admission::Slot>,
    /// Where this connection's password exchange stands.
    pending: Mutex<Pending>,
}

/// A password exchange in progress, with the startup parameters to apply once it succeeds.
enum Pending {
    None,
    Scram { parameters: BTreeMap<String, String>, state: SASLState },
    Md5 { parameters: BTreeMap<String, String>, expected: Option<String> },
}

impl Startup {
    pub fn new(
        session: Arc<Session>,
        registry: Arc<super::cancel::SessionRegistry>,
        security: Arc<Security>,
        slot: Arc<super::admission::Slot>,
    ) -> Self {
        Self { session, registry, security, slot, pending: Mutex::new(Pending::None) }
    }

    fn take_pending(&self) -> Pending {
        match self.pending.lock() {
            Ok(mut pending) => std::mem::replace(&mut *pending, Pending::None),
            Err(_) => Pending::None,
        }
    }

    fn set_pending(&self, next: Pending) {
        if let Ok(mut pending) = self.pending.lock() {
            *pending = next;
        }
    }

    /// Authenticated (or trusted): set up the session and send AuthenticationOk,
    /// ParameterStatus, BackendKeyData and ReadyForQuery.
    async fn finish<C>(&self, client: &mut C, parameters: &BTreeMap<String, String>) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let user = client.metadata().get("user").cloned().unwrap_or_else(|| "ember".to_string());
        if let Err(e) = self.security.admission().admit(&user) {
            self.slot.release();
            return Err(fatal(e.sqlstate(), e.message()));
        }
        let (pid, secret) = PIDS.generate(client);
        self.registry.register(pid, &secret, &self.session);
        client.set_pid_and_secret_key(pid, secret);
        self.session.set_user(&user);
        {
            let mut settings = self.session.settings();
            for (key, value) in parameters {
                settings.apply_startup(key, value);
            }
        }
        self.session.sync_engine_settings()?;
        finish_authentication(client, &SessionParameters { session: &self.session, user }).await
    }
}

/// A FATAL startup error with PostgreSQL's SQLSTATE and wording.
fn fatal(code: &str, message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new("FATAL".to_string(), code.to_string(), message)))
}

fn password_failed<C: ClientInfo>(client: &C, user: &str) -> PgWireError {
    tracing::info!(peer = %client.socket_addr(), "password authentication failed for user {user:?}");
    fatal("28P01", format!("password authentication failed for user \"{user}\""))
}

/// ParameterStatus at startup: every reported setting with this session's value.
struct SessionParameters<'a> {
    session: &'a Session,
    user: String,
}

impl ServerParameterProvider for SessionParameters<'_> {
    fn server_parameters<C>(&self, _client: &C) -> Option<HashMap<String, String>>
    where
        C: ClientInfo,
    {
        let settings = self.session.settings();
        let mut params: HashMap<String, String> = SETTINGS
            .iter()
            .filter(|s| s.report)
            .map(|s| (s.name.to_string(), settings.get(s.name).unwrap_or_else(|_| s.default.to_string())))
            .collect();
        params.insert("session_authorization".to_string(), self.user.clone());
        Some(params)
    }
}

#[async_trait]
impl StartupHandler for Startup {
    async fn on_startup<C>(&self, client: &mut C, message: PgWireFrontendMessage) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match message {
            PgWireFrontendMessage::Startup(startup) => {
                protocol_negotiation(client, &startup).await?;
                save_startup_parameters_to_metadata(client, &startup);
                if self.security.tls_required() && !client.is_secure() {
                    return Err(fatal(
                        "28000",
                        "this server requires TLS (started with --tls-required): connect with sslmode=require".to_string(),
                    ));
                }
                let Some(user) = client.metadata().get("user").cloned() else {
                    return Err(fatal("28000", "no PostgreSQL user name specified in startup packet".to_string()));
                };
                let parameters = startup.parameters;
                match self.security.auth() {
                    Auth::Trust => self.finish(client, &parameters).await,
                    Auth::Scram(scram) => {
                        let mut mechanisms = vec![SCRAM_SHA_256_METHOD.to_string()];
                        // Channel binding only over TLS: libpq rejects -PLUS offered in plain text.
                        if client.is_secure() && scram.supports_channel_binding() {
                            mechanisms.push(SCRAM_SHA_256_PLUS_METHOD.to_string());
                        }
                        self.set_pending(Pending::Scram { parameters, state: SASLState::Initial });
                        client.set_state(PgWireConnectionState::AuthenticationInProgress);
                        client.send(PgWireBackendMessage::Authentication(Authentication::SASL(mechanisms))).await?;
                        Ok(())
                    }
                    Auth::Md5(users) => {
                        let salt = users.random_bytes::<4>().map_err(ServerError::into_pgwire)?;
                        let expected = users.md5_response(&user, &salt);
                        self.set_pending(Pending::Md5 { parameters, expected });
                        client.set_state(PgWireConnectionState::AuthenticationInProgress);
                        client.send(PgWireBackendMessage::Authentication(Authentication::MD5Password(salt.to_vec()))).await?;
                        Ok(())
                    }
                }
            }
            PgWireFrontendMessage::PasswordMessageFamily(message) => {
                let user = client.metadata().get("user").cloned().unwrap_or_default();
                match (self.take_pending(), self.security.auth()) {
                    (Pending::Scram { parameters, state }, Auth::Scram(scram)) => {
                        let (message, state) = if let SASLState::Initial = state {
                            let initial = message.into_sasl_initial_response()?;
                            let offered = initial.auth_method == SCRAM_SHA_256_METHOD
                                || (initial.auth_method == SCRAM_SHA_256_PLUS_METHOD && client.is_secure());
                            if !offered {
                                return Err(PgWireError::UnsupportedSASLAuthMethod(initial.auth_method));
                            }
                            (PasswordMessageFamily::SASLInitialResponse(initial), SASLState::ScramClientFirstReceived)
                        } else {
                            (PasswordMessageFamily::SASLResponse(message.into_sasl_response()?), state)
                        };
                        let (reply, next) = match scram.process_scram_message(client, message, &state).await {
                            Ok(step) => step,
                            Err(PgWireError::InvalidPassword(_)) => return Err(password_failed(client, &user)),
                            Err(e) => return Err(e),
                        };
                        client.send(PgWireBackendMessage::Authentication(reply)).await?;
                        if let SASLState::Finished = next {
                            self.finish(client, &parameters).await
                        } else {
                            self.set_pending(Pending::Scram { parameters, state: next });
                            Ok(())
                        }
                    }
                    (Pending::Md5 { parameters, expected }, Auth::Md5(_)) => {
                        let password = message.into_password()?;
                        match expected {
                            Some(expected) if expected == password.password => self.finish(client, &parameters).await,
                            _ => Err(password_failed(client, &user)),
                        }
                    }
                    _ => Err(fatal("08P01", "unexpected password message".to_string())),
                }
            }
            _ => Ok(()),
        }
    }
}
