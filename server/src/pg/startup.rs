//! Connection startup: trust authentication, session parameters, cancel registration.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, LazyLock};

use async_trait::async_trait;
use futures::Sink;
use pgwire::api::auth::{
    ServerParameterProvider, StartupHandler, finish_authentication, protocol_negotiation,
    save_startup_parameters_to_metadata,
};
use pgwire::api::{ClientInfo, PidSecretKeyGenerator, RandomPidSecretKeyGenerator};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};

use crate::session::Session;
use crate::settings::SETTINGS;

static PIDS: LazyLock<RandomPidSecretKeyGenerator> = LazyLock::new(RandomPidSecretKeyGenerator::default);

pub struct Startup {
    session: Arc<Session>,
    registry: Arc<super::cancel::SessionRegistry>,
}

impl Startup {
    pub fn new(session: Arc<Session>, registry: Arc<super::cancel::SessionRegistry>) -> Self {
        Self { session, registry }
    }
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
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let PgWireFrontendMessage::Startup(startup) = message else {
            return Ok(());
        };
        protocol_negotiation(client, &startup).await?;
        save_startup_parameters_to_metadata(client, &startup);
        let (pid, secret) = PIDS.generate(client);
        self.registry.register(pid, &secret, &self.session);
        client.set_pid_and_secret_key(pid, secret);

        let user = client.metadata().get("user").cloned().unwrap_or_else(|| "ember".to_string());
        self.session.set_user(&user);
        {
            let mut settings = self.session.settings();
            for (key, value) in &startup.parameters {
                settings.apply_startup(key, value);
            }
        }
        self.session.sync_engine_settings()?;
        finish_authentication(client, &SessionParameters { session: &self.session, user }).await
    }
}
