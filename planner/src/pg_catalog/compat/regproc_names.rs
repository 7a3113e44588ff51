//! Rule (catalog queries): a `regproc` column of `pg_type` reads as its function's name
//! where PostgreSQL prints it — cast to text (`typreceive::TEXT != 'array_recv'`) or
//! selected by the outermost query (ADBC's type resolver reads `typreceive` as `int4recv`)
//! — and stays an OID everywhere else, so joins to `pg_proc.oid` (Npgsql) and
//! `typreceive != 0` work. OID 0 reads as `-`, as in PostgreSQL.

use std::sync::LazyLock;

use datafusion::sql::sqlparser::ast::{DataType, Expr, Query, SelectItem, SetExpr};

use super::{Position, Site};
use super::ast::{Template, column_name, each_expr};

static NAME_OF: LazyLock<Option<Template>> = LazyLock::new(|| {
    Template::expr("coalesce((SELECT max(regproc_lookup.proname) FROM pg_catalog.pg_proc regproc_lookup WHERE regproc_lookup.oid = $1), '-')")
});

fn regproc_column(expr: &Expr) -> Option<&'static str> {
    let ident = column_name(expr)?;
    crate::pg_catalog::patch::REGPROC_COLUMNS.iter().copied().find(|c| ident.value.eq_ignore_ascii_case(c))
}

fn outermost(body: &mut SetExpr, name_of: &Template) {
    match body {
        SetExpr::Select(select) => {
            for item in select.projection.iter_mut() {
                if let SelectItem::UnnamedExpr(expr) = item
                    && let Some(column) = regproc_column(expr)
                {
                    let name = name_of.fill(&[expr]);
                    *item = SelectItem::ExprWithAlias { expr: name, alias: column.into() };
                }
            }
        }
        SetExpr::SetOperation { left, right, .. } => {
            outermost(left, name_of);
            outermost(right, name_of);
        }
        SetExpr::Query(query) => outermost(&mut query.body, name_of),
        _ => {}
    }
}

pub fn apply(query: &mut Query, site: &Site<'_>) {
    let Some(name_of) = NAME_OF.as_ref() else { return };
    each_expr(query, |expr| {
        if let Expr::Cast { expr: inner, data_type: DataType::Text | DataType::Varchar(_) | DataType::String(_), .. } = expr
            && regproc_column(inner).is_some()
        {
            let name = name_of.fill(&[inner]);
            *expr = name;
        }
    });
    if site.position == Position::Outermost {
        outermost(&mut query.body, name_of);
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::rewritten;

    #[test]
    fn regproc_columns_print_as_names_and_compare_as_oids() {
        let out = rewritten(
            "SELECT oid, typname, typreceive FROM pg_catalog.pg_type WHERE (typreceive != 0 OR typsend != 0) AND typreceive::TEXT != 'array_recv'",
        );
        assert!(out.contains("(typreceive <> 0 OR typsend <> 0)"), "{out}");
        assert!(out.contains("WHERE regproc_lookup.oid = typreceive), '-') AS typreceive FROM"), "{out}");
        assert!(out.contains("WHERE regproc_lookup.oid = typreceive), '-') <> 'array_recv'"), "{out}");
        let join = rewritten("SELECT t.oid FROM pg_catalog.pg_type t LEFT JOIN pg_catalog.pg_proc p ON p.oid = t.typreceive");
        assert!(!join.contains("regproc_lookup"), "{join}");
        let user = "SELECT typreceive FROM my_types";
        assert_eq!(rewritten(user), user);
    }
}
