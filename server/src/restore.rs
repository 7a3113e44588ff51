//! Bringing the catalog back at startup: the stored DDL of tables, views and schemas is
//! planned again through a session, and stored Python functions are rebuilt. (A catalog
//! provider reading the store directly will replace the replay.)

use std::sync::Arc;

use ember_planner::statement::{Command, parse};

use ember_planner::config::{DEFAULT_CATALOG, DEFAULT_SCHEMA};

use crate::catalog::{ObjectKind, StoredObject};

use crate::engine::Engine;
use crate::error::{Result, ServerError};
use crate::session::Session;

/// Re-run the stored DDL. An object whose files vanished is reported and kept in the
/// store (it comes back once the files do); it never stops the server from starting.
pub async fn restore(engine: &Arc<Engine>) -> Result<()> {
    let objects = engine.store().objects()?;
    if objects.is_empty() {
        return Ok(());
    }
    let session = Session::new(engine.clone(), "ember".to_string());
    let mut restored = 0usize;
    for object in &objects {
        // Unqualified names in the stored statement resolve in public (Ember's default), or,
        // failing that, in the object's own schema (the search_path it was created under).
        if object.kind == ObjectKind::ManagedTable {
            match restore_managed(engine, &session, object) {
                Ok(()) => restored += 1,
                Err(e) => tracing::warn!(schema = %object.schema, name = %object.name, "could not restore managed table: {}", e.message()),
            }
            continue;
        }
        let mut result = replay(engine, &session, &object.ddl).await;
        if result.is_err() && object.schema != DEFAULT_SCHEMA {
            let path = format!("\"{}\"", object.schema.replace('"', "\"\""));
            let set = session.settings().set("search_path", &path).map(|_| ());
            if set.map_err(ServerError::from).and_then(|()| session.sync_engine_settings()).is_ok() {
                result = replay(engine, &session, &object.ddl).await;
            }
            let reset = session.settings().reset("search_path").map(|_| ());
            if let Err(e) = reset.map_err(ServerError::from).and_then(|()| session.sync_engine_settings()) {
                tracing::warn!("search path after restoring: {}", e.message());
            }
        }
        match result {
            Ok(()) => restored += 1,
            Err(e) => tracing::warn!(
                schema = %object.schema, name = %object.name,
                "could not restore {:?} from the catalog: {}", object.kind, e.message()
            ),
        }
    }
    tracing::info!(restored, total = objects.len(), "catalog restored");
    Ok(())
}

/// Register a managed table under its name; its rows are in the catalog already.
fn restore_managed(engine: &Arc<Engine>, session: &Session, object: &StoredObject) -> Result<()> {
    let id = crate::storage::meta::object_id(&object.ddl).ok_or_else(|| {
        ServerError::DataFusion(datafusion::error::DataFusionError::Internal(format!("managed table entry without an id: {}", object.ddl)))
    })?;
    let table = engine.storage().open_table(id, &object.name, session.context())?;
    let schema = engine
        .catalogs()
        .catalog(DEFAULT_CATALOG)
        .and_then(|c| c.schema(&object.schema))
        .ok_or_else(|| ServerError::UndefinedSchema { name: object.schema.clone() })?;
    schema.register_table(object.name.clone(), table)?;
    Ok(())
}

/// Run one stored object's DDL.
async fn replay(engine: &Arc<Engine>, session: &Session, ddl: &str) -> Result<()> {
    for command in parse(ddl, engine.options().nesting)? {
        match command {
            Command::Plan(statement) => session.restore_statement(*statement).await?,
            // Workers start on first use, not at startup.
            Command::CreateFunction(spec) => {
                let (_, registered) = engine.functions().build(&spec)?;
                engine.functions().insert(*spec, registered);
            }
            _ => {}
        }
    }
    Ok(())
}
