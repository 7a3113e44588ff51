//! PostgreSQL session settings (`SET`/`SHOW`/`RESET`, ParameterStatus).
//!
//! One table: name as PostgreSQL spells it, default, whether a change is reported to the
//! client in a ParameterStatus message, and whether it may be changed.

use std::collections::BTreeMap;

use ember_planner::PlannerError;

/// A PostgreSQL setting Ember knows.
#[derive(Debug)]
pub struct PgSetting {
    /// The name as PostgreSQL spells it in ParameterStatus and `SHOW` headers.
    pub name: &'static str,
    pub default: &'static str,
    /// Sent in ParameterStatus at startup and when changed.
    pub report: bool,
    /// `SET` refuses it (server facts).
    pub read_only: bool,
}

const fn s(name: &'static str, default: &'static str, report: bool, read_only: bool) -> PgSetting {
    PgSetting { name, default, report, read_only }
}

/// The version PostgreSQL clients are told they talk to; its major is what client feature
/// detection keys on.
pub const SERVER_VERSION: &str = concat!("16.6 (Ember ", env!("CARGO_PKG_VERSION"), ")");

pub static SETTINGS: &[PgSetting] = &[
    s("application_name", "", true, false),
    s("client_encoding", "UTF8", true, false),
    s("DateStyle", "ISO, MDY", true, false),
    s("IntervalStyle", "postgres", true, false),
    s("TimeZone", "UTC", true, false),
    s("search_path", "\"$user\", public", true, false),
    s("extra_float_digits", "1", true, false),
    s("standard_conforming_strings", "on", true, false),
    s("statement_timeout", "0", true, false),
    // PostgreSQL's default is 0 (off); Ember checks every second, so a statement whose
    // client went away stops (see crate::statement).
    s("client_connection_check_interval", "1000", false, false),
    s("server_version", SERVER_VERSION, true, true),
    s("server_version_num", "160006", false, true),
    s("server_encoding", "UTF8", true, true),
    s("integer_datetimes", "on", true, true),
    s("is_superuser", "on", true, true),
    s("in_hot_standby", "off", true, true),
    s("default_transaction_read_only", "off", true, false),
    s("transaction_isolation", "read committed", false, false),
    s("default_transaction_isolation", "read committed", false, false),
    s("transaction_read_only", "off", false, false),
    s("lock_timeout", "0", false, false),
    s("idle_in_transaction_session_timeout", "0", false, false),
    s("client_min_messages", "notice", false, false),
    s("bytea_output", "hex", false, false),
    s("max_identifier_length", "63", false, true),
    // Compile-time limits clients read from pg_settings (pgjdbc's getImportedKeys needs
    // max_index_keys); PostgreSQL's defaults.
    s("max_index_keys", "32", false, true),
    s("max_function_args", "100", false, true),
    s("block_size", "8192", false, true),
    s("lc_collate", "C.UTF-8", false, true),
    s("lc_ctype", "C.UTF-8", false, true),
    s("lc_messages", "C.UTF-8", false, false),
    s("lc_monetary", "C.UTF-8", false, false),
    s("lc_numeric", "C.UTF-8", false, false),
    s("lc_time", "C.UTF-8", false, false),
    s("jit", "off", false, false),
    s("row_security", "on", false, false),
    s("synchronous_commit", "on", false, false),
    // Ember's own: integer and float arithmetic raises PostgreSQL's overflow and division
    // errors (off: DataFusion's wrapping kernels; bench/tpch measures the difference).
    s("ember.checked_arithmetic", "on", false, false),
];

/// Look a setting up by any spelling (`datestyle`, `DateStyle`).
pub fn find(name: &str) -> Option<&'static PgSetting> {
    let name = match name.to_lowercase().as_str() {
        "transaction isolation level" => "transaction_isolation".to_string(),
        "time zone" => "timezone".to_string(),
        other => other.to_string(),
    };
    SETTINGS.iter().find(|s| s.name.eq_ignore_ascii_case(&name))
}

/// One session's values, keyed by the canonical name.
#[derive(Debug, Clone, Default)]
pub struct SessionSettings {
    values: BTreeMap<&'static str, String>,
}

impl SessionSettings {
    pub fn get(&self, name: &str) -> Result<String, PlannerError> {
        let setting = find(name).ok_or_else(|| PlannerError::UnknownSetting { name: name.to_string() })?;
        Ok(self.values.get(setting.name).cloned().unwrap_or_else(|| setting.default.to_string()))
    }

    /// Validate and store a value; returns the setting and its normalized value.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(&'static PgSetting, String), PlannerError> {
        let setting = find(name).ok_or_else(|| PlannerError::UnknownSetting { name: name.to_string() })?;
        if setting.read_only {
            return Err(PlannerError::Unsupported { feature: format!("changing parameter \"{}\"", setting.name) });
        }
        let value = normalize(setting, value)?;
        self.values.insert(setting.name, value.clone());
        Ok((setting, value))
    }

    pub fn reset(&mut self, name: &str) -> Result<(&'static PgSetting, String), PlannerError> {
        let setting = find(name).ok_or_else(|| PlannerError::UnknownSetting { name: name.to_string() })?;
        self.values.remove(setting.name);
        Ok((setting, setting.default.to_string()))
    }

    /// Apply startup-packet parameters (`options`, `application_name`, ...); unknown ones are ignored
    /// as PostgreSQL ignores unknown startup keys it does not recognise as GUCs only with a warning.
    pub fn apply_startup(&mut self, name: &str, value: &str) {
        if find(name).is_some_and(|s| !s.read_only) {
            let _ = self.set(name, value);
        }
    }

    /// How often a running statement's client is checked (zero = never).
    pub fn client_check_interval(&self) -> std::time::Duration {
        let ms = self.get("client_connection_check_interval").ok().and_then(|v| parse_duration_ms(&v)).unwrap_or(0);
        std::time::Duration::from_millis(ms)
    }

    /// The statement timeout in milliseconds (0 = none).
    pub fn statement_timeout_ms(&self) -> u64 {
        self.get("statement_timeout").ok().and_then(|v| parse_duration_ms(&v)).unwrap_or(0)
    }
}

fn invalid(setting: &PgSetting, value: &str) -> PlannerError {
    PlannerError::InvalidSetting { name: setting.name.to_string(), value: value.to_string() }
}

fn normalize(setting: &PgSetting, value: &str) -> Result<String, PlannerError> {
    let trimmed = value.trim();
    match setting.name {
        "client_encoding" => match trimmed.to_uppercase().replace(['-', '_'], "").as_str() {
            "UTF8" | "UNICODE" => Ok("UTF8".to_string()),
            _ => Err(PlannerError::Unsupported { feature: format!("client_encoding \"{trimmed}\" (only UTF8)") }),
        },
        "DateStyle" => {
            let upper = trimmed.to_uppercase();
            if upper.contains("ISO") || upper.is_empty() {
                let order = if upper.contains("DMY") { "DMY" } else if upper.contains("YMD") { "YMD" } else { "MDY" };
                Ok(format!("ISO, {order}"))
            } else {
                Err(PlannerError::Unsupported { feature: format!("DateStyle \"{trimmed}\" (only ISO)") })
            }
        }
        "IntervalStyle" => match trimmed.to_lowercase().as_str() {
            "postgres" => Ok("postgres".to_string()),
            _ => Err(PlannerError::Unsupported { feature: format!("IntervalStyle \"{trimmed}\"") }),
        },
        "ember.checked_arithmetic" => match ember_planner::bool_literals::parse_bool(trimmed) {
            Some(on) => Ok(if on { "on" } else { "off" }.to_string()),
            None => Err(invalid(setting, trimmed)),
        },
        "standard_conforming_strings" => match trimmed.to_lowercase().as_str() {
            "on" | "true" | "1" => Ok("on".to_string()),
            _ => Err(PlannerError::Unsupported { feature: "standard_conforming_strings = off".to_string() }),
        },
        "extra_float_digits" => match trimmed.parse::<i32>() {
            Ok(n) if (-15..=3).contains(&n) => Ok(n.to_string()),
            _ => Err(invalid(setting, trimmed)),
        },
        "statement_timeout" | "lock_timeout" | "idle_in_transaction_session_timeout" | "client_connection_check_interval" => {
            parse_duration_ms(trimmed).map(|ms| ms.to_string()).ok_or_else(|| invalid(setting, trimmed))
        }
        "TimeZone" => {
            if trimmed.is_empty() {
                Err(invalid(setting, trimmed))
            } else if trimmed.eq_ignore_ascii_case("utc") || trimmed.eq_ignore_ascii_case("gmt") {
                Ok("UTC".to_string())
            } else {
                Ok(trimmed.to_string())
            }
        }
        _ => Ok(trimmed.to_string()),
    }
}

/// PostgreSQL durations: a bare number is milliseconds; units ms, s, min, h, d.
pub fn parse_duration_ms(value: &str) -> Option<u64> {
    let value = value.trim();
    let split = value.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let number: f64 = number.parse().ok()?;
    let factor = match unit.trim().to_lowercase().as_str() {
        "" | "ms" => 1.0,
        "s" => 1000.0,
        "min" => 60_000.0,
        "h" => 3_600_000.0,
        "d" => 86_400_000.0,
        _ => return None,
    };
    Some((number * factor).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_case_insensitive_and_normalized() {
        let mut settings = SessionSettings::default();
        assert_eq!(settings.get("datestyle").unwrap(), "ISO, MDY");
        let (setting, value) = settings.set("DATESTYLE", "iso, dmy").unwrap();
        assert_eq!((setting.name, value.as_str()), ("DateStyle", "ISO, DMY"));
        assert_eq!(settings.get("DateStyle").unwrap(), "ISO, DMY");
        settings.reset("datestyle").unwrap();
        assert_eq!(settings.get("DateStyle").unwrap(), "ISO, MDY");
    }

    #[test]
    fn bad_values_and_names_are_refused() {
        let mut settings = SessionSettings::default();
        assert!(matches!(settings.set("extra_float_digits", "9"), Err(PlannerError::InvalidSetting { .. })));
        assert!(matches!(settings.set("no_such_thing", "1"), Err(PlannerError::UnknownSetting { .. })));
        assert!(matches!(settings.set("server_version", "1"), Err(PlannerError::Unsupported { .. })));
        assert!(matches!(settings.set("client_encoding", "LATIN1"), Err(PlannerError::Unsupported { .. })));
    }

    #[test]
    fn statement_timeout_units() {
        let mut settings = SessionSettings::default();
        settings.set("statement_timeout", "5s").unwrap();
        assert_eq!(settings.statement_timeout_ms(), 5000);
        settings.set("statement_timeout", "250").unwrap();
        assert_eq!(settings.statement_timeout_ms(), 250);
        assert_eq!(parse_duration_ms("1min"), Some(60_000));
        assert_eq!(parse_duration_ms("abc"), None);
    }
}
