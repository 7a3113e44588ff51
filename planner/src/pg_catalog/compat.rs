//! datafusion-pg-catalog's SQL compatibility rules, applied where they are safe.
//!
//! Most rules only make PostgreSQL spellings plannable (`pg_catalog.func()`,
//! `OPERATOR(pg_catalog.~)`, `x = ANY(arr)`, `'t'::regclass`, `COLLATE`, unqualified
//! `pg_class`) and run on every statement. Two change what a query means and run only on
//! catalog introspection queries (those naming `pg_catalog` tables or schemas): the
//! crate's whole-query replacements for client queries DataFusion cannot plan (psql's
//! `\d` publication/policy/statistics lookups answer no rows), and
//! `RemoveSubqueryFromProjection`, which turns correlated scalar subqueries in a select
//! list into NULL — never acceptable for user data.

use std::collections::VecDeque;
use std::sync::{Arc, LazyLock};

use datafusion::sql::parser::Statement as DfStatement;
use datafusion_pg_catalog::pg_catalog::PG_CATALOG_TABLES;
use datafusion_pg_catalog::sql::PostgresCompatibilityParser;
use datafusion_pg_catalog::sql::rules::{
    AliasDuplicatedProjectionRewrite, CurrentUserVariableToSessionUserFunctionCall, FixArrayLiteral,
    PrependUnqualifiedPgTableName, ResolveUnqualifiedIdentifier, RewriteArrayAnyAllOperation,
    RewritePgCatalogOperator, RewriteRegCastToSubquery, SqlStatementRewriteRule, StripCallableQualifier, StripCollate,
};

static CATALOG_PARSER: LazyLock<PostgresCompatibilityParser> = LazyLock::new(PostgresCompatibilityParser::new);

static SAFE_RULES: LazyLock<Vec<Arc<dyn SqlStatementRewriteRule>>> = LazyLock::new(|| {
    vec![
        Arc::new(AliasDuplicatedProjectionRewrite),
        Arc::new(ResolveUnqualifiedIdentifier),
        Arc::new(RewriteArrayAnyAllOperation),
        Arc::new(PrependUnqualifiedPgTableName),
        Arc::new(StripCallableQualifier),
        Arc::new(FixArrayLiteral),
        Arc::new(CurrentUserVariableToSessionUserFunctionCall),
        Arc::new(StripCollate),
        Arc::new(RewritePgCatalogOperator),
        Arc::new(RewriteRegCastToSubquery::new()),
    ]
});

/// Whether `sql` reads PostgreSQL's catalog (a `pg_catalog` table or schema name).
pub fn is_catalog_query(sql: &str) -> bool {
    let lower = sql.to_ascii_lowercase();
    lower
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .any(|word| word == "pg_catalog" || (word.starts_with("pg_") && PG_CATALOG_TABLES.contains(&word)))
}

/// Parse one PostgreSQL expression (the rules build their replacements as SQL text).
fn parse_expr(text: &str) -> Result<datafusion::sql::sqlparser::ast::Expr, datafusion::sql::sqlparser::parser::ParserError> {
    datafusion::sql::sqlparser::parser::Parser::new(&datafusion::sql::sqlparser::dialect::PostgreSqlDialect {}).try_with_sql(text)?.parse_expr()
}

/// Apply the compatibility rules to statements DataFusion's parser produced from `sql`.
pub fn rewrite(sql: &str, statements: VecDeque<DfStatement>) -> Vec<DfStatement> {
    let names_views = super::information_schema::mentions(sql);
    let plain = statements.iter().all(|s| matches!(s, DfStatement::Statement(_)));
    if plain && is_catalog_query(sql) {
        // The crate's parser applies the whole-query replacements and every rule; it sees
        // the same text, so it yields the same statements (or we keep DataFusion's).
        if let Ok(parsed) = CATALOG_PARSER.parse(sql)
            && parsed.len() == statements.len()
        {
            return parsed
                .into_iter()
                .map(|s| {
                    let s = generate_subscripts_as_unnest(s);
                    let s = regtype_text_as_format_type(oidvector_as_text_array(regexp_split_as_unnest(s)));
                    let s = correlated_case_subqueries(empty_catalog_arrays(to_regclass_as_cast(text_regclass_casts(no_comments(s)))));
                    let s = unnest_alias_names_column(lateral_unnest_as_projection(regproc_names(s)));
                    let s = aggregated_lookups(expandarray_as_unnest(s));
                    let s = if names_views { super::information_schema::rewrite(s) } else { s };
                    DfStatement::Statement(Box::new(s))
                })
                .collect();
        }
    }
    statements
        .into_iter()
        .map(|statement| match statement {
            DfStatement::Statement(inner) => {
                let mut inner = to_regclass_as_cast(text_regclass_casts(no_comments(*inner)));
                for rule in SAFE_RULES.iter() {
                    inner = rule.rewrite(inner);
                }
                if names_views {
                    inner = super::information_schema::rewrite(inner);
                }
                DfStatement::Statement(Box::new(inner))
            }
            other => other,
        })
        .collect()
}

/// Rule (catalog queries only): `generate_subscripts(a, 1)` becomes
/// `unnest(range(1, CAST(coalesce(array_length(a, 1), 0) AS BIGINT) + 1))`. DataFusion has no
/// `generate_subscripts`; SQLAlchemy's constraint reflection pairs it with `unnest(a)` in
/// one select list, and two `unnest`s there run in step, as PostgreSQL's set-returning
/// functions do.
fn generate_subscripts_as_unnest(statement: datafusion::sql::sqlparser::ast::Statement) -> datafusion::sql::sqlparser::ast::Statement {
    use datafusion::sql::sqlparser::ast::{Expr, FunctionArg, FunctionArgExpr, FunctionArguments, VisitMut, VisitorMut};
    use std::ops::ControlFlow;

    struct Visitor;
    impl VisitorMut for Visitor {
        type Break = ();
        fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
            if let Expr::Function(f) = expr
                && f.name.0.last().and_then(|p| p.as_ident()).is_some_and(|i| i.value.eq_ignore_ascii_case("generate_subscripts"))
                && let FunctionArguments::List(list) = &f.args
                && let [FunctionArg::Unnamed(FunctionArgExpr::Expr(array)), FunctionArg::Unnamed(FunctionArgExpr::Expr(dim))] = list.args.as_slice()
            {
                let text = format!("unnest(range(1, CAST(coalesce(array_length({array}, {dim}), 0) AS BIGINT) + 1))");
                if let Ok(replacement) = parse_expr(&text) {
                    *expr = replacement;
                }
            }
            ControlFlow::Continue(())
        }
    }
    let mut statement = statement;
    let _ = statement.visit(&mut Visitor);
    statement
}

/// Rule (catalog queries only): `oid::regtype::text` becomes `format_type(oid, NULL)`, the
/// type's name as PostgreSQL's `regtype` output spells it (`bigint`, `character varying`).
/// Ember's `regtype` is the OID itself, so the cast chain answered `20`; pgcli reads column
/// and return types this way (`att.atttypid::regtype::text`, `prorettype::regtype::text`).
fn regtype_text_as_format_type(statement: datafusion::sql::sqlparser::ast::Statement) -> datafusion::sql::sqlparser::ast::Statement {
    use datafusion::sql::sqlparser::ast::{Expr, VisitMut, VisitorMut};
    use std::ops::ControlFlow;

    let named = |t: &datafusion::sql::sqlparser::ast::DataType, names: &[&str]| {
        let t = t.to_string().to_ascii_lowercase();
        names.contains(&t.strip_prefix("pg_catalog.").unwrap_or(&t))
    };
    struct Visitor<F>(F);
    impl<F: Fn(&datafusion::sql::sqlparser::ast::DataType, &[&str]) -> bool> VisitorMut for Visitor<F> {
        type Break = ();
        fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
            if let Expr::Cast { expr: inner, data_type: outer, .. } = expr
                && (self.0)(outer, &["text", "varchar", "name"])
                && let Expr::Cast { expr: oid, data_type: middle, .. } = inner.as_ref()
                && (self.0)(middle, &["regtype"])
            {
                let sql = format!("format_type({oid}, NULL)");
                if let Ok(replacement) = parse_expr(&sql) {
                    *expr = replacement;
                }
            }
            ControlFlow::Continue(())
        }
    }
    let mut statement = statement;
    let _ = statement.visit(&mut Visitor(named));
    statement
}

/// Rule (catalog queries only): `proargtypes::regtype[]` / `proallargtypes::regtype[]`
/// (an `oidvector` / `oid[]`, which Ember's `pg_proc` holds as space-separated text) becomes
/// `string_to_array(col, ' ')`: the argument type OIDs as a text array. pgcli's function
/// query reads them as `COALESCE(proallargtypes::regtype[], proargtypes::regtype[])::text[]`;
/// PostgreSQL's answer names the types (`{integer,text}`), Ember's gives their OIDs, as its
/// `::regtype::text` does.
fn oidvector_as_text_array(statement: datafusion::sql::sqlparser::ast::Statement) -> datafusion::sql::sqlparser::ast::Statement {
    use datafusion::sql::sqlparser::ast::{Expr, VisitMut, VisitorMut};
    use std::ops::ControlFlow;

    struct Visitor;
    impl VisitorMut for Visitor {
        type Break = ();
        fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
            if let Expr::Cast { expr: inner, data_type, .. } = expr
                && matches!(data_type.to_string().to_ascii_lowercase().as_str(), "regtype[]" | "oid[]")
                && let Some(column) = match inner.as_ref() {
                    Expr::Identifier(id) => Some(id),
                    Expr::CompoundIdentifier(ids) => ids.last(),
                    _ => None,
                }
                && matches!(column.value.to_ascii_lowercase().as_str(), "proargtypes" | "proallargtypes")
            {
                let sql = format!("string_to_array({inner}, ' ')");
                if let Ok(replacement) = parse_expr(&sql) {
                    *expr = replacement;
                }
            }
            ControlFlow::Continue(())
        }
    }
    let mut statement = statement;
    let _ = statement.visit(&mut Visitor);
    statement
}

/// Rule (catalog queries only): `regexp_split_to_table(s, p)` becomes
/// `unnest(string_to_array(regexp_replace(s, p, chr(31), 'g'), chr(31)))`. DataFusion has
/// no `regexp_split_to_table`; pgcli's casing query splits function sources (`prosrc`)
/// into words with it. (Text that holds the unit separator itself would split there too.)
fn regexp_split_as_unnest(statement: datafusion::sql::sqlparser::ast::Statement) -> datafusion::sql::sqlparser::ast::Statement {
    use datafusion::sql::sqlparser::ast::{Expr, FunctionArg, FunctionArgExpr, FunctionArguments, VisitMut, VisitorMut};
    use std::ops::ControlFlow;

    struct Visitor;
    impl VisitorMut for Visitor {
        type Break = ();
        fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
            if let Expr::Function(f) = expr
                && f.name.0.last().and_then(|p| p.as_ident()).is_some_and(|i| i.value.eq_ignore_ascii_case("regexp_split_to_table"))
                && let FunctionArguments::List(list) = &f.args
                && let [FunctionArg::Unnamed(FunctionArgExpr::Expr(text)), FunctionArg::Unnamed(FunctionArgExpr::Expr(pattern))] = list.args.as_slice()
            {
                let sql = format!("unnest(string_to_array(regexp_replace({text}, {pattern}, chr(31), 'g'), chr(31)))");
                if let Ok(replacement) = parse_expr(&sql) {
                    *expr = replacement;
                }
            }
            ControlFlow::Continue(())
        }
    }
    let mut statement = statement;
    let _ = statement.visit(&mut Visitor);
    statement
}

/// Rule (catalog queries only): `ARRAY(SELECT ...)` becomes NULL. DataFusion has no
/// array-from-subquery constructor; in catalog queries it collects array columns Ember
/// always leaves NULL (`reloptions`, `polroles`, `stxkind`), so NULL is PostgreSQL's
/// answer for Ember's objects too (`NULL || array(...)` is NULL).
fn empty_catalog_arrays(statement: datafusion::sql::sqlparser::ast::Statement) -> datafusion::sql::sqlparser::ast::Statement {
    use datafusion::sql::sqlparser::ast::{Expr, FunctionArguments, Value, VisitMut, VisitorMut};
    use std::ops::ControlFlow;

    struct Visitor;
    impl VisitorMut for Visitor {
        type Break = ();
        fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
            if let Expr::Function(f) = expr
                && matches!(f.args, FunctionArguments::Subquery(_))
                && f.name.0.len() == 1
                && f.name.0[0].as_ident().is_some_and(|i| i.value.eq_ignore_ascii_case("array"))
            {
                *expr = Expr::Value(Value::Null.into());
            }
            ControlFlow::Continue(())
        }
    }
    let mut statement = statement;
    let _ = statement.visit(&mut Visitor);
    statement
}

/// Rule (catalog queries only): a correlated scalar subquery inside a `CASE` (condition or
/// branch) becomes NULL. DataFusion cannot decorrelate subqueries under `CASE`; clients put
/// lookups there for objects Ember does not have — domains and composite types (asyncpg's
/// typeinfo), multiranges (Npgsql), identity sequences and collations (SQLAlchemy) — whose
/// `WHEN` guard never holds for Ember's catalog rows.
fn correlated_case_subqueries(statement: datafusion::sql::sqlparser::ast::Statement) -> datafusion::sql::sqlparser::ast::Statement {
    use datafusion::sql::sqlparser::ast::{Expr, Value, VisitMut, VisitorMut};
    use std::ops::ControlFlow;

    /// Replaces correlated subqueries within one CASE part.
    struct Inner;
    impl VisitorMut for Inner {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
            if let Expr::Subquery(query) = expr
                && is_correlated(query)
            {
                *expr = Expr::Value(Value::Null.into());
            }
            ControlFlow::Continue(())
        }
    }
    struct Visitor;
    impl VisitorMut for Visitor {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
            if let Expr::Case { conditions, else_result, .. } = expr {
                for when in conditions.iter_mut() {
                    let _ = when.condition.visit(&mut Inner);
                    let _ = when.result.visit(&mut Inner);
                }
                if let Some(e) = else_result {
                    let _ = e.visit(&mut Inner);
                }
            }
            ControlFlow::Continue(())
        }
    }
    let mut statement = statement;
    let _ = statement.visit(&mut Visitor);
    statement
}

/// Rule (catalog queries only): a `regproc` column of `pg_type` reads as its function's name
/// where PostgreSQL prints it — cast to text (`typreceive::TEXT != 'array_recv'`) or selected
/// by the outermost query (ADBC's type resolver reads `typreceive` as `int4recv`) — and stays
/// an OID everywhere else, so joins to `pg_proc.oid` (Npgsql) and `typreceive != 0` work.
/// OID 0 reads as `-`, as in PostgreSQL.
fn regproc_names(statement: datafusion::sql::sqlparser::ast::Statement) -> datafusion::sql::sqlparser::ast::Statement {
    use datafusion::sql::sqlparser::ast::{DataType, Expr, SelectItem, SetExpr, Statement, VisitMut, VisitorMut};
    use std::ops::ControlFlow;

    fn regproc_column(expr: &Expr) -> Option<&str> {
        let ident = match expr {
            Expr::Identifier(i) => i,
            Expr::CompoundIdentifier(parts) => parts.last()?,
            _ => return None,
        };
        super::patch::REGPROC_COLUMNS.iter().copied().find(|c| ident.value.eq_ignore_ascii_case(c))
    }
    fn name_of(column: &Expr) -> Option<Expr> {
        let text = format!(
            "coalesce((SELECT max(regproc_lookup.proname) FROM pg_catalog.pg_proc regproc_lookup WHERE regproc_lookup.oid = {column}), '-')"
        );
        parse_expr(&text).ok()
    }
    struct Casts;
    impl VisitorMut for Casts {
        type Break = ();
        fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
            if let Expr::Cast { expr: inner, data_type: DataType::Text | DataType::Varchar(_) | DataType::String(_), .. } = expr
                && regproc_column(inner).is_some()
                && let Some(name) = name_of(inner)
            {
                *expr = name;
            }
            ControlFlow::Continue(())
        }
    }
    fn outermost(body: &mut SetExpr) {
        match body {
            SetExpr::Select(select) => {
                for item in select.projection.iter_mut() {
                    if let SelectItem::UnnamedExpr(expr) = item
                        && let Some(column) = regproc_column(expr)
                        && let Some(name) = name_of(expr)
                    {
                        *item = SelectItem::ExprWithAlias { expr: name, alias: column.into() };
                    }
                }
            }
            SetExpr::SetOperation { left, right, .. } => {
                outermost(left);
                outermost(right);
            }
            SetExpr::Query(query) => outermost(&mut query.body),
            _ => {}
        }
    }
    let mut statement = statement;
    let _ = statement.visit(&mut Casts);
    if let Statement::Query(query) = &mut statement {
        outermost(&mut query.body);
    }
    statement
}

/// Rule (catalog queries only): `FROM t AS c CROSS JOIN unnest(c.col) AS x` — a lateral
/// reference DataFusion cannot plan — becomes `FROM (SELECT c.*, unnest(c.col) AS x FROM t AS c)
/// AS c`, the same rows (ADBC's constraint query unnests `pg_constraint.conkey` this way).
fn lateral_unnest_as_projection(statement: datafusion::sql::sqlparser::ast::Statement) -> datafusion::sql::sqlparser::ast::Statement {
    use datafusion::sql::sqlparser::ast::{
        Expr, JoinOperator, Select, Statement, TableAlias, TableFactor, VisitMut, VisitorMut,
    };
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;
    use std::ops::ControlFlow;

    struct Visitor;
    impl VisitorMut for Visitor {
        type Break = ();
        fn pre_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
            for from in select.from.iter_mut() {
                let Some(first) = from.joins.first() else { continue };
                let (JoinOperator::CrossJoin(_), TableFactor::UNNEST { alias: Some(alias), array_exprs, with_offset: false, with_ordinality: false, .. }) =
                    (&first.join_operator, &first.relation)
                else {
                    continue;
                };
                let TableFactor::Table { name, alias: base_alias, args: None, .. } = &from.relation else { continue };
                let base = base_alias.as_ref().map(|a| a.name.clone()).or_else(|| name.0.last().and_then(|p| p.as_ident()).cloned());
                let (Some(base), [array], true) = (base, array_exprs.as_slice(), alias.columns.len() <= 1) else { continue };
                let refers_to_base = match array {
                    Expr::Identifier(_) => true,
                    Expr::CompoundIdentifier(parts) => parts.len() == 2 && parts[0].value.eq_ignore_ascii_case(&base.value),
                    _ => false,
                };
                if !refers_to_base {
                    continue;
                }
                let column = alias.columns.first().map(|c| c.name.clone()).unwrap_or_else(|| alias.name.clone());
                let sql = format!("SELECT {base}.*, unnest({array}) AS {column} FROM {name} AS {base}");
                let Ok(Some(Statement::Query(subquery))) = Parser::parse_sql(&PostgreSqlDialect {}, &sql).map(|mut v| v.pop()) else {
                    continue;
                };
                from.relation = TableFactor::Derived {
                    lateral: false,
                    subquery,
                    alias: Some(TableAlias { explicit: true, name: base, columns: vec![], at: None }),
                    sample: None,
                };
                from.joins.remove(0);
            }
            ControlFlow::Continue(())
        }
    }
    let mut statement = statement;
    let _ = statement.visit(&mut Visitor);
    statement
}

/// Rule (catalog queries only): `FROM unnest(a) AS x` names its one column `x`, as in
/// PostgreSQL (a function in FROM with a table alias and no column aliases); DataFusion
/// would name it `UNNEST(a)`. ADBC's constraint query joins on `attnum = conkeys`.
fn unnest_alias_names_column(statement: datafusion::sql::sqlparser::ast::Statement) -> datafusion::sql::sqlparser::ast::Statement {
    use datafusion::sql::sqlparser::ast::{TableAliasColumnDef, TableFactor, VisitMut, VisitorMut};
    use std::ops::ControlFlow;

    struct Visitor;
    impl VisitorMut for Visitor {
        type Break = ();
        fn post_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
            if let TableFactor::UNNEST { alias: Some(alias), array_exprs, with_offset: false, with_ordinality: false, .. } = factor
                && array_exprs.len() == 1
                && alias.columns.is_empty()
            {
                alias.columns.push(TableAliasColumnDef { name: alias.name.clone(), data_type: None });
            }
            ControlFlow::Continue(())
        }
    }
    let mut statement = statement;
    let _ = statement.visit(&mut Visitor);
    statement
}

/// Rule (catalog queries only): `information_schema._pg_expandarray(a)` — a set-returning
/// function of `(x, n)` records that pgjdbc's `getPrimaryKeys`/`getIndexInfo` apply to
/// `pg_index.indkey` — becomes `named_struct('x', unnest(a), 'n', unnest(range(1, len + 1)))`
/// (calls in one select list run in step, like PostgreSQL's), and a composite field access
/// `(e).f` becomes `get_field(e, 'f')`.
fn expandarray_as_unnest(statement: datafusion::sql::sqlparser::ast::Statement) -> datafusion::sql::sqlparser::ast::Statement {
    use datafusion::sql::sqlparser::ast::{AccessExpr, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, VisitMut, VisitorMut};
    use std::ops::ControlFlow;

    struct Visitor;
    impl VisitorMut for Visitor {
        type Break = ();
        fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
            let replacement = match expr {
                Expr::Function(f)
                    if f.name.0.last().and_then(|p| p.as_ident()).is_some_and(|i| i.value.eq_ignore_ascii_case("_pg_expandarray")) =>
                {
                    let FunctionArguments::List(list) = &f.args else { return ControlFlow::Continue(()) };
                    let [FunctionArg::Unnamed(FunctionArgExpr::Expr(array))] = list.args.as_slice() else {
                        return ControlFlow::Continue(());
                    };
                    parse_expr(&format!(
                        "named_struct('x', unnest({array}), 'n', unnest(range(1, CAST(coalesce(array_length({array}, 1), 0) AS BIGINT) + 1)))"
                    ))
                    .ok()
                }
                Expr::CompoundFieldAccess { root, access_chain } if matches!(root.as_ref(), Expr::Nested(_)) => {
                    let mut text = root.to_string();
                    for access in access_chain.iter() {
                        let AccessExpr::Dot(Expr::Identifier(field)) = access else { return ControlFlow::Continue(()) };
                        text = format!("get_field({text}, '{}')", field.value);
                    }
                    parse_expr(&text).ok()
                }
                _ => None,
            };
            if let Some(replacement) = replacement {
                *expr = replacement;
            }
            ControlFlow::Continue(())
        }
    }
    let mut statement = statement;
    let _ = statement.visit(&mut Visitor);
    statement
}

/// Rule (catalog queries only): a correlated scalar subquery whose one select item is not
/// an aggregate — a lookup by OID such as pgjdbc's `getTypeInfo`
/// `(SELECT c.relkind = 'c' FROM pg_class c WHERE c.oid = t.typrelid)` — is aggregated with
/// `max(...)`, which DataFusion needs to decorrelate it. A lookup by a unique OID has at most
/// one row, so the answer is the same.
fn aggregated_lookups(statement: datafusion::sql::sqlparser::ast::Statement) -> datafusion::sql::sqlparser::ast::Statement {
    use datafusion::sql::sqlparser::ast::{Expr, SelectItem, SetExpr, VisitMut, VisitorMut};
    use std::ops::ControlFlow;

    const AGGREGATES: &[&str] = &["max", "min", "count", "sum", "avg", "array_agg", "string_agg", "bool_and", "bool_or", "every"];
    fn has_aggregate(expr: &Expr) -> bool {
        use datafusion::sql::sqlparser::ast::{Visit, Visitor};
        struct Find(bool);
        impl Visitor for Find {
            type Break = ();
            fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
                if let Expr::Function(f) = expr
                    && f.name.0.last().and_then(|p| p.as_ident()).is_some_and(|i| AGGREGATES.contains(&i.value.to_ascii_lowercase().as_str()))
                {
                    self.0 = true;
                    return ControlFlow::Break(());
                }
                ControlFlow::Continue(())
            }
        }
        let mut find = Find(false);
        let _ = expr.visit(&mut find);
        find.0
    }
    struct Visitor;
    impl VisitorMut for Visitor {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
            let Expr::Subquery(query) = expr else { return ControlFlow::Continue(()) };
            if query.limit_clause.is_some() || !is_correlated(query) {
                return ControlFlow::Continue(());
            }
            let SetExpr::Select(select) = query.body.as_mut() else { return ControlFlow::Continue(()) };
            if select.projection.len() != 1 || select.having.is_some() || !matches!(&select.group_by, datafusion::sql::sqlparser::ast::GroupByExpr::Expressions(e, _) if e.is_empty()) {
                return ControlFlow::Continue(());
            }
            let (item, alias) = match &select.projection[0] {
                SelectItem::UnnamedExpr(e) => (e, None),
                SelectItem::ExprWithAlias { expr, alias } => (expr, Some(alias.clone())),
                _ => return ControlFlow::Continue(()),
            };
            if has_aggregate(item) {
                return ControlFlow::Continue(());
            }
            let Ok(aggregated) = parse_expr(&format!("max({item})")) else {
                return ControlFlow::Continue(());
            };
            select.projection[0] = match alias {
                Some(alias) => SelectItem::ExprWithAlias { expr: aggregated, alias },
                None => SelectItem::UnnamedExpr(aggregated),
            };
            ControlFlow::Continue(())
        }
    }
    let mut statement = statement;
    let _ = statement.visit(&mut Visitor);
    statement
}

/// Whether `query` names a table qualifier (`t.col`) it does not declare itself.
fn is_correlated(query: &datafusion::sql::sqlparser::ast::Query) -> bool {
    use datafusion::sql::sqlparser::ast::{Expr, TableFactor, Visit, Visitor};
    use std::collections::HashSet;
    use std::ops::ControlFlow;

    #[derive(Default)]
    struct Names {
        declared: HashSet<String>,
        qualifiers: HashSet<String>,
    }
    impl Visitor for Names {
        type Break = ();
        fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
            match factor {
                TableFactor::Table { name, alias, .. } => {
                    if let Some(last) = name.0.last().and_then(|p| p.as_ident()) {
                        self.declared.insert(last.value.to_lowercase());
                    }
                    if let Some(alias) = alias {
                        self.declared.insert(alias.name.value.to_lowercase());
                    }
                }
                TableFactor::Derived { alias: Some(alias), .. } | TableFactor::UNNEST { alias: Some(alias), .. } => {
                    self.declared.insert(alias.name.value.to_lowercase());
                }
                TableFactor::Function { alias: Some(alias), .. } => {
                    self.declared.insert(alias.name.value.to_lowercase());
                }
                _ => {}
            }
            ControlFlow::Continue(())
        }
        fn pre_visit_query(&mut self, query: &datafusion::sql::sqlparser::ast::Query) -> ControlFlow<()> {
            if let Some(with) = &query.with {
                for cte in &with.cte_tables {
                    self.declared.insert(cte.alias.name.value.to_lowercase());
                }
            }
            ControlFlow::Continue(())
        }
        fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
            if let Expr::CompoundIdentifier(parts) = expr
                && parts.len() >= 2
            {
                self.qualifiers.insert(parts[parts.len() - 2].value.to_lowercase());
            }
            ControlFlow::Continue(())
        }
    }
    let mut names = Names::default();
    let _ = query.visit(&mut names);
    names.qualifiers.iter().any(|q| !names.declared.contains(q))
}

/// `to_regclass('t')` (and `to_regtype`, `to_regnamespace`, `to_regproc`) looks the name up
/// like the `::regclass` cast does, but answers NULL for a missing object: the lookup is an
/// aggregated scalar subquery (`max(oid)`), which has exactly one, nullable, row.
static TO_REG_TEMPLATES: LazyLock<Vec<(&'static str, Box<datafusion::sql::sqlparser::ast::Query>)>> = LazyLock::new(|| {
    use datafusion::sql::sqlparser::ast::Statement;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;
    [
        (
            "to_regclass",
            "SELECT max(c.oid) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON c.relnamespace = n.oid \
             CROSS JOIN (SELECT parse_ident($1::TEXT) AS parts) \
             WHERE (array_length(parts, 1) = 1 AND n.nspname = current_schema() AND c.relname = parts[1]) \
             OR (array_length(parts, 1) = 2 AND n.nspname = parts[1] AND c.relname = parts[2])",
        ),
        ("to_regtype", "SELECT max(oid) FROM pg_catalog.pg_type WHERE typname = $1"),
        ("to_regnamespace", "SELECT max(oid) FROM pg_catalog.pg_namespace WHERE nspname = $1"),
        ("to_regproc", "SELECT max(oid) FROM pg_catalog.pg_proc WHERE proname = $1"),
    ]
    .into_iter()
    .filter_map(|(name, sql)| match Parser::parse_sql(&PostgreSqlDialect {}, sql).ok()?.pop()? {
        Statement::Query(query) => Some((name, query)),
        _ => None,
    })
    .collect()
});

/// `obj_description(...)`, `col_description(...)` and `shobj_description(...)` are NULL:
/// Ember keeps no comments. The call is replaced by a typed NULL so its arguments — often
/// catalog lookups such as Metabase's `col_description(format(...)::regclass::oid, n)`,
/// which DataFusion cannot decorrelate inside a function argument — need not be planned.
fn no_comments(statement: datafusion::sql::sqlparser::ast::Statement) -> datafusion::sql::sqlparser::ast::Statement {
    use datafusion::sql::sqlparser::ast::{Expr, VisitMut, VisitorMut};
    use std::ops::ControlFlow;

    struct Visitor;
    impl VisitorMut for Visitor {
        type Break = ();
        fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
            if let Expr::Function(f) = expr
                && f.over.is_none()
                && f.name.0.last().and_then(|p| p.as_ident()).is_some_and(|i| {
                    matches!(i.value.to_ascii_lowercase().as_str(), "obj_description" | "col_description" | "shobj_description")
                })
            {
                if let Ok(null) = parse_expr("CAST(NULL AS TEXT)") {
                    *expr = null;
                }
            }
            ControlFlow::Continue(())
        }
    }
    let mut statement = statement;
    let _ = statement.visit(&mut Visitor);
    statement
}

/// `CAST(<text expression> AS regclass)` — a name built at run time, as in Metabase's
/// `format('%I.%I', schema, table)::regclass` — looks the relation up like `to_regclass`.
/// (A string literal is the crate's rule; a column is taken as an OID.)
fn text_regclass_casts(statement: datafusion::sql::sqlparser::ast::Statement) -> datafusion::sql::sqlparser::ast::Statement {
    use datafusion::sql::sqlparser::ast::{
        BinaryOperator, DataType, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentList, FunctionArguments, ObjectName,
        VisitMut, VisitorMut,
    };
    use std::ops::ControlFlow;

    const TEXT_FUNCTIONS: &[&str] = &["format", "concat", "concat_ws", "quote_ident", "lower", "upper", "trim", "btrim"];
    fn is_text(expr: &Expr) -> bool {
        match expr {
            Expr::Nested(inner) => is_text(inner),
            Expr::BinaryOp { op: BinaryOperator::StringConcat, .. } => true,
            Expr::Cast { data_type: DataType::Text | DataType::Varchar(_) | DataType::String(_), .. } => true,
            Expr::Function(f) => f.name.0.last().and_then(|p| p.as_ident()).is_some_and(|i| TEXT_FUNCTIONS.contains(&i.value.to_ascii_lowercase().as_str())),
            _ => false,
        }
    }
    struct Visitor;
    impl VisitorMut for Visitor {
        type Break = ();
        fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
            if let Expr::Cast { expr: inner, data_type, .. } = expr
                && data_type.to_string().to_ascii_lowercase().trim_start_matches("pg_catalog.") == "regclass"
                && is_text(inner)
            {
                *expr = Expr::Function(Function {
                    name: ObjectName::from(vec!["to_regclass".into()]),
                    uses_odbc_syntax: false,
                    parameters: FunctionArguments::None,
                    args: FunctionArguments::List(FunctionArgumentList {
                        duplicate_treatment: None,
                        args: vec![FunctionArg::Unnamed(FunctionArgExpr::Expr(inner.as_ref().clone()))],
                        clauses: vec![],
                    }),
                    filter: None,
                    null_treatment: None,
                    over: None,
                    within_group: vec![],
                });
            }
            ControlFlow::Continue(())
        }
    }
    let mut statement = statement;
    let _ = statement.visit(&mut Visitor);
    statement
}

fn to_regclass_as_cast(statement: datafusion::sql::sqlparser::ast::Statement) -> datafusion::sql::sqlparser::ast::Statement {
    use datafusion::sql::sqlparser::ast::{Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Value, ValueWithSpan, VisitMut, VisitorMut};
    use std::ops::ControlFlow;

    struct Placeholder(Expr);
    impl VisitorMut for Placeholder {
        type Break = ();
        fn pre_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
            if let Expr::Value(ValueWithSpan { value: Value::Placeholder(p), .. }) = e
                && p == "$1"
            {
                *e = self.0.clone();
            }
            ControlFlow::Continue(())
        }
    }
    struct Visitor;
    impl VisitorMut for Visitor {
        type Break = ();
        fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
            let Expr::Function(f) = expr else { return ControlFlow::Continue(()) };
            let Some(name) = f.name.0.last().and_then(|p| p.as_ident()).map(|i| i.value.to_ascii_lowercase()) else {
                return ControlFlow::Continue(());
            };
            let Some((_, template)) = TO_REG_TEMPLATES.iter().find(|(n, _)| *n == name) else {
                return ControlFlow::Continue(());
            };
            let FunctionArguments::List(list) = &f.args else { return ControlFlow::Continue(()) };
            let [FunctionArg::Unnamed(FunctionArgExpr::Expr(arg))] = list.args.as_slice() else {
                return ControlFlow::Continue(());
            };
            let mut query = template.clone();
            let _ = query.visit(&mut Placeholder(arg.clone()));
            *expr = Expr::Subquery(query);
            ControlFlow::Continue(())
        }
    }
    let mut statement = statement;
    let _ = statement.visit(&mut Visitor);
    statement
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::parser::DFParserBuilder;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;

    fn rewritten(sql: &str) -> String {
        let dialect = PostgreSqlDialect {};
        let statements = DFParserBuilder::new(sql).with_dialect(&dialect).build().unwrap().parse_statements().unwrap();
        rewrite(sql, statements).iter().map(|s| s.to_string()).collect::<Vec<_>>().join("; ")
    }

    #[test]
    fn correlated_case_subqueries_in_catalog_queries() {
        let sql = "SELECT CASE WHEN t.typtype = 'd' THEN (SELECT b.oid FROM pg_catalog.pg_type b WHERE b.oid = t.typbasetype) \
                   WHEN t.typtype = 'x' THEN (SELECT max(oid) FROM pg_catalog.pg_type) END FROM pg_catalog.pg_type t";
        let out = rewritten(sql);
        assert!(out.contains("THEN NULL"), "{out}");
        assert!(out.contains("SELECT max(oid)"), "{out}");
    }

    #[test]
    fn regtype_names_through_format_type() {
        let out = rewritten("SELECT att.atttypid::regtype::text, prorettype::pg_catalog.regtype::text AS r FROM pg_catalog.pg_attribute att");
        assert!(out.contains("format_type(att.atttypid, NULL)") && out.contains("format_type(prorettype, NULL) AS r"), "{out}");
    }

    #[test]
    fn argument_types_as_text_arrays() {
        let out = rewritten("SELECT COALESCE(proallargtypes::regtype[], p.proargtypes::regtype[])::text[] FROM pg_catalog.pg_proc p");
        assert!(out.contains("COALESCE(string_to_array(proallargtypes, ' '), string_to_array(p.proargtypes, ' '))"), "{out}");
        let other = rewritten("SELECT typname::regtype[] FROM pg_catalog.pg_type");
        assert!(!other.contains("string_to_array"), "{other}");
    }

    #[test]
    fn regexp_split_to_table_as_unnest() {
        let out = rewritten("SELECT regexp_split_to_table(prosrc, '\\W+') AS word FROM pg_catalog.pg_proc");
        assert!(out.contains("unnest(string_to_array(regexp_replace(prosrc, '\\W+', chr(31), 'g'), chr(31))) AS word"), "{out}");
    }

    #[test]
    fn generate_subscripts_runs_beside_unnest() {
        let out = rewritten("SELECT unnest(i.indkey), generate_subscripts(i.indkey, 1) FROM pg_catalog.pg_index i");
        assert!(out.contains("unnest(range(1, CAST(coalesce(array_length(i.indkey, 1), 0) AS BIGINT) + 1))"), "{out}");
    }

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
    }

    #[test]
    fn unnest_alias_names_its_column_in_catalog_queries() {
        let out = rewritten("SELECT x FROM pg_catalog.pg_index i, UNNEST(i.indkey) AS x");
        assert!(out.contains("UNNEST(i.indkey) AS x (x)"), "{out}");
        let out = rewritten("SELECT conkeys FROM pg_catalog.pg_constraint AS con CROSS JOIN UNNEST(conkey) AS conkeys JOIN pg_catalog.pg_class c ON true");
        assert!(
            out.contains("FROM (SELECT con.*, unnest(conkey) AS conkeys FROM pg_catalog.pg_constraint AS con) AS con JOIN pg_catalog.pg_class"),
            "{out}"
        );
    }

    #[test]
    fn pgjdbc_key_and_type_lookups_become_plannable() {
        let out = rewritten(
            "SELECT (information_schema._pg_expandarray(i.indkey)).n AS KEY_SEQ, information_schema._pg_expandarray(i.indkey) AS KEYS FROM pg_catalog.pg_index i",
        );
        assert!(out.contains("get_field((named_struct('x', unnest(i.indkey), 'n', unnest(range(1,"), "{out}");
        let out = rewritten("SELECT 1 FROM (SELECT 1 AS k) AS result, pg_catalog.pg_class WHERE 1 = (result.k).x");
        assert!(out.contains("get_field((result.k), 'x')"), "{out}");
        let out = rewritten(
            "SELECT t.typname FROM pg_catalog.pg_type t WHERE t.typrelid = 0 OR (SELECT c.relkind = 'c' FROM pg_catalog.pg_class c WHERE c.oid = t.typrelid)",
        );
        assert!(out.contains("(SELECT max(c.relkind = 'c') FROM"), "{out}");
        let kept = rewritten("SELECT (SELECT count(*) FROM pg_catalog.pg_class c WHERE c.oid = t.typrelid) FROM pg_catalog.pg_type t");
        assert!(!kept.contains("max(count"), "{kept}");
    }

    #[test]
    fn catalog_queries_are_recognised() {
        assert!(is_catalog_query("SELECT * FROM pg_catalog.pg_class"));
        assert!(is_catalog_query("select relname from pg_class"));
        assert!(!is_catalog_query("SELECT pg_col FROM my_pg_class_copy"));
        assert!(!is_catalog_query("SELECT * FROM lineitem"));
    }

    #[test]
    fn user_subqueries_are_left_alone() {
        let sql = "SELECT (SELECT max(b) FROM u WHERE u.a = t.a) AS m FROM t";
        assert_eq!(rewritten(sql), sql);
    }

    #[test]
    fn postgres_spellings_become_plannable() {
        assert_eq!(rewritten("SELECT pg_catalog.format_type(1, 2)"), "SELECT format_type(1, 2)");
        assert!(rewritten("SELECT relname FROM pg_class").contains("pg_catalog.pg_class"));
        assert!(rewritten("SELECT 'lineitem'::regclass").contains("SELECT c.oid FROM pg_catalog.pg_class"));
        assert!(rewritten("SELECT to_regclass('public.lineitem')").contains("SELECT max(c.oid)"));
        assert_eq!(rewritten("SELECT col_description(c.oid, 1) AS d FROM t c"), "SELECT CAST(NULL AS TEXT) AS d FROM t c");
        let built = rewritten("SELECT CAST(CAST(format('%I.%I', s, t) AS REGCLASS) AS OID) FROM x");
        assert!(built.contains("SELECT max(c.oid) FROM pg_catalog.pg_class") && built.contains("parse_ident(format('%I.%I', s, t)::TEXT)"), "{built}");
        assert!(!rewritten("SELECT c.oid::regclass FROM pg_catalog.pg_class c").contains("max(c.oid)"));
        assert_eq!(
            rewritten("SELECT array_to_string(c.reloptions || array(select x from unnest(c.reloptions) x), ', ') FROM pg_catalog.pg_class c"),
            "SELECT array_to_string(c.reloptions || NULL, ', ') FROM pg_catalog.pg_class c"
        );
    }
}
