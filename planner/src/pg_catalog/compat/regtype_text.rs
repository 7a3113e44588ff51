//! Rule (everywhere): `oid::regtype::text` becomes `format_type(oid, NULL)`, the type's name
//! as PostgreSQL's `regtype` output spells it (`bigint`, `character varying`). Ember's
//! `regtype` is the OID itself, so the cast chain would answer `20`; pgcli reads column and
//! return types this way (`att.atttypid::regtype::text`, `prorettype::regtype::text`).
//!
//! A type *name* (`'int4'::regtype::text`, `$1::regtype::text`) keeps its cast inside the
//! call, `format_type('int4'::regtype, NULL)`: the `postgres_spellings` rule, which runs
//! later, turns that cast into the lookup of the name's OID.

use std::sync::LazyLock;

use datafusion::sql::sqlparser::ast::{Expr, Statement, Value, ValueWithSpan};

use super::ast::{Template, each_expr, type_is};

static FORMAT_TYPE: LazyLock<Option<Template>> = LazyLock::new(|| Template::expr("format_type($1, NULL)"));

pub fn apply(statement: &mut Statement) {
    let Some(template) = FORMAT_TYPE.as_ref() else { return };
    each_expr(statement, |expr| {
        if let Expr::Cast { expr: inner, data_type: outer, .. } = expr
            && type_is(outer, &["text", "varchar", "name"])
            && let Expr::Cast { expr: operand, data_type: middle, .. } = inner.as_ref()
            && type_is(middle, &["regtype"])
        {
            let oid = if is_name(operand) { inner.as_ref() } else { operand.as_ref() };
            let replacement = template.fill(&[oid]);
            *expr = replacement;
        }
    });
}

/// A type name to look up (a string literal or a parameter), not an OID.
fn is_name(operand: &Expr) -> bool {
    matches!(
        operand,
        Expr::Value(ValueWithSpan { value: Value::SingleQuotedString(_) | Value::EscapedStringLiteral(_) | Value::Placeholder(_), .. })
    )
}

#[cfg(test)]
mod tests {
    use super::super::tests::rewritten;

    #[test]
    fn regtype_names_through_format_type() {
        let out = rewritten("SELECT att.atttypid::regtype::text, prorettype::pg_catalog.regtype::text AS r FROM pg_catalog.pg_attribute att");
        assert!(out.contains("format_type(att.atttypid, NULL)") && out.contains("format_type(prorettype, NULL) AS r"), "{out}");
        assert_eq!(rewritten("SELECT 23::regtype::text"), "SELECT format_type(23, NULL)");
        assert_eq!(rewritten("SELECT 23::regtype"), "SELECT 23::regtype");
    }

    #[test]
    fn type_names_are_looked_up_first() {
        let lookup = "format_type((SELECT oid FROM pg_catalog.pg_type WHERE typname = 'int4'), NULL)";
        let out = rewritten("SELECT 'int4'::regtype::text");
        assert!(out.contains(lookup), "{out}");
        let out = rewritten("SELECT CAST(CAST('int4' AS pg_catalog.regtype) AS TEXT) AS t");
        assert!(out.contains(lookup) && out.ends_with(" AS t"), "{out}");
        let out = rewritten("SELECT $1::regtype::text");
        assert!(out.contains("format_type((SELECT oid FROM pg_catalog.pg_type WHERE typname = $1), NULL)"), "{out}");
        // Without the cast to text the answer is the OID: the rule does not apply.
        let oid = rewritten("SELECT 'int4'::regtype");
        assert!(!oid.contains("format_type") && oid.contains("WHERE typname = 'int4'"), "{oid}");
    }
}
