//! PostgreSQL types DataFusion has no Arrow type for.
//!
//! `uuid`, `json` and `jsonb` are planned as Arrow `Utf8` carrying the PostgreSQL type
//! name in field metadata ([`PG_TYPE_KEY`]); the wire layer reports and encodes them as
//! the real PostgreSQL types (text and binary).
//!
//! Every other name DataFusion rejects is handed to datafusion-pg-catalog's
//! `PgOidTypePlanner`: the OID alias types (`oid`, `regclass`, `regtype`, ...) plan as
//! `Int32` (Ember's one OID width, as in its `pg_catalog` tables) and `pg_catalog.int4`-style
//! qualified built-ins plan as the unqualified type.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::Result;
use datafusion::logical_expr::planner::TypePlanner;
use datafusion::sql::sqlparser::ast::DataType as SqlType;
use datafusion_pg_catalog::pg_catalog::oid_type_planner::PgOidTypePlanner;

/// Field metadata key naming the PostgreSQL type of a `Utf8` column.
pub const PG_TYPE_KEY: &str = "ember.pg_type";

/// Plans `uuid`, `json`, `jsonb` (in casts and column definitions).
#[derive(Debug, Default)]
pub struct PgTypePlanner;

/// The PostgreSQL type name for SQL types planned as tagged `Utf8`.
pub fn tagged_type_name(sql_type: &SqlType) -> Option<&'static str> {
    match sql_type {
        SqlType::Uuid => Some("uuid"),
        SqlType::JSON => Some("json"),
        SqlType::JSONB => Some("jsonb"),
        SqlType::Custom(name, _) => match name.to_string().to_lowercase().as_str() {
            "uuid" => Some("uuid"),
            "json" => Some("json"),
            "jsonb" => Some("jsonb"),
            _ => None,
        },
        _ => None,
    }
}

impl TypePlanner for PgTypePlanner {
    fn plan_type_field(&self, sql_type: &SqlType) -> Result<Option<FieldRef>> {
        match tagged_type_name(sql_type) {
            Some(name) => Ok(Some(Arc::new(
                Field::new("", DataType::Utf8, true)
                    .with_metadata(HashMap::from([(PG_TYPE_KEY.to_string(), name.to_string())])),
            ))),
            None => PgOidTypePlanner.plan_type_field(sql_type),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_and_json_are_tagged_text() {
        let field = PgTypePlanner.plan_type_field(&SqlType::Uuid).unwrap().unwrap();
        assert_eq!(field.data_type(), &DataType::Utf8);
        assert_eq!(field.metadata().get(PG_TYPE_KEY).map(String::as_str), Some("uuid"));
        assert!(PgTypePlanner.plan_type_field(&SqlType::JSONB).unwrap().is_some());
        assert!(PgTypePlanner.plan_type_field(&SqlType::Text).unwrap().is_none());
    }

    #[test]
    fn oid_aliases_are_int4() {
        let field = PgTypePlanner.plan_type_field(&SqlType::Regclass).unwrap().unwrap();
        assert_eq!(field.data_type(), &DataType::Int32);
    }
}
