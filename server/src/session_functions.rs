//! `CREATE FUNCTION ... LANGUAGE python` and `DROP FUNCTION` for a session, and keeping
//! the session's context in step with the server's persistent functions.

use std::sync::atomic::Ordering;

use ember_planner::config::DEFAULT_SCHEMA;
use ember_planner::function::{DropFunctionSpec, FunctionSpec};

use crate::catalog::{ObjectKind, StoredObject};
use crate::error::{Result, ServerError};
use crate::session::{Outcome, Session};

impl Session {
    /// Bring the persistent Python functions into this session's context if they changed.
    pub(crate) fn sync_functions(&self) {
        let functions = self.engine().functions();
        let generation = functions.generation();
        if self.functions_generation().swap(generation, Ordering::AcqRel) == generation {
            return;
        }
        let ctx = self.context();
        let temporary = self.temporary_functions_lock();
        let mut current = self.persistent_functions_lock();
        for (name, registered) in current.drain(..) {
            if !temporary.contains_key(&name) {
                registered.deregister(&name, ctx);
            }
        }
        for (name, registered) in functions.persistent() {
            if !temporary.contains_key(&name) {
                registered.register(&name, ctx);
            }
            current.push((name, registered));
        }
    }

    pub(crate) async fn create_function(&self, spec: FunctionSpec) -> Result<Outcome> {
        let functions = self.engine().functions().clone();
        functions.check_creator(&self.user())?;
        self.sync_functions();
        let name = spec.name.clone();
        let exists_python = functions.is_persistent(&name) || self.temporary_functions_lock().contains_key(&name);
        if exists_python && !spec.or_replace {
            return Err(ServerError::DuplicateFunction { name });
        }
        if !exists_python && self.is_builtin_function(&name) {
            return Err(ServerError::DuplicateFunction { name: format!("{name} (a built-in function)") });
        }
        let (function, registered) = functions.build(&spec)?;
        functions.check(function).await?;
        if spec.temporary {
            if let Some(old) = self.temporary_functions_lock().insert(name.clone(), registered.clone()) {
                old.deregister(&name, self.context());
            }
            registered.register(&name, self.context());
        } else {
            let object = StoredObject { kind: ObjectKind::Function, schema: DEFAULT_SCHEMA.to_string(), name: name.clone(), ddl: spec.sql.clone() };
            let store = self.engine().store().clone();
            tokio::task::spawn_blocking(move || store.put(&object))
                .await
                .map_err(|e| ServerError::io("catalog writer", std::io::Error::other(e)))??;
            functions.insert(spec, registered);
            self.sync_functions();
        }
        Ok(Outcome::Done { tag: "CREATE FUNCTION".to_string(), rows: None, oid: None })
    }

    pub(crate) async fn drop_function(&self, spec: DropFunctionSpec) -> Result<Outcome> {
        let functions = self.engine().functions().clone();
        functions.check_creator(&self.user())?;
        for name in &spec.names {
            let temporary = self.temporary_functions_lock().remove(name);
            if let Some(registered) = temporary {
                registered.deregister(name, self.context());
                // A persistent function of the same name becomes visible again.
                self.functions_generation().store(0, Ordering::Release);
                self.sync_functions();
                continue;
            }
            if functions.is_persistent(name) {
                let store = self.engine().store().clone();
                let stored = name.clone();
                tokio::task::spawn_blocking(move || store.remove(ObjectKind::Function, DEFAULT_SCHEMA, &stored))
                    .await
                    .map_err(|e| ServerError::io("catalog writer", std::io::Error::other(e)))??;
                functions.remove(name);
                self.sync_functions();
            } else if !spec.if_exists {
                return Err(ServerError::UndefinedFunction { name: name.clone() });
            }
        }
        Ok(Outcome::Done { tag: "DROP FUNCTION".to_string(), rows: None, oid: None })
    }

    fn is_builtin_function(&self, name: &str) -> bool {
        let state = self.context().state();
        state.scalar_functions().contains_key(name)
            || state.aggregate_functions().contains_key(name)
            || state.window_functions().contains_key(name)
            || state.table_functions().contains_key(name)
    }
}
