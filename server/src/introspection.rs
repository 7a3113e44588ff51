//! What the `pg_catalog` layer (ember-planner's `pg_catalog` module) needs from the server:
//! the settings registry as `pg_settings` rows, and a session handle for
//! `current_setting`, `set_config`, `session_user` and `version()`.

use std::sync::{Arc, Mutex};

use ember_planner::pg_catalog::SessionInfo;
use ember_planner::pg_catalog::overrides::SettingRow;

use crate::settings::{SERVER_VERSION, SETTINGS, SessionSettings};

/// `pg_settings` rows: every registered setting with its default.
pub fn setting_rows() -> Vec<SettingRow> {
    SETTINGS
        .iter()
        .map(|s| SettingRow {
            name: s.name.to_string(),
            setting: s.default.to_string(),
            context: if s.read_only { "internal" } else { "user" },
        })
        .collect()
}

/// One session's settings and user, shared with its catalog functions.
#[derive(Debug)]
pub struct SessionHandle {
    pub settings: Arc<Mutex<SessionSettings>>,
    pub user: Arc<Mutex<String>>,
}

impl SessionInfo for SessionHandle {
    fn setting(&self, name: &str) -> Option<String> {
        self.settings.lock().unwrap_or_else(|p| p.into_inner()).get(name).ok()
    }

    fn set_setting(&self, name: &str, value: &str) -> Result<String, String> {
        let mut settings = self.settings.lock().unwrap_or_else(|p| p.into_inner());
        settings.set(name, value).map(|(_, value)| value).map_err(|e| e.to_string())
    }

    fn user(&self) -> String {
        self.user.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn server_version(&self) -> String {
        SERVER_VERSION.to_string()
    }
}
