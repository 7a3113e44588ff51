//! Rule (catalog queries): `generate_subscripts(a, d)` becomes
//! `unnest(range(1, CAST(coalesce(array_length(a, d), 0) AS BIGINT) + 1))`. DataFusion has
//! no `generate_subscripts`; SQLAlchemy's constraint reflection pairs it with `unnest(a)`
//! in one select list, and two `unnest`s there run in step, as PostgreSQL's set-returning
//! functions do.

use std::sync::LazyLock;

use datafusion::sql::sqlparser::ast::Query;

use super::Site;
use super::ast::{Template, replace_calls};

static SUBSCRIPTS: LazyLock<Option<Template>> =
    LazyLock::new(|| Template::expr("unnest(range(1, CAST(coalesce(array_length($1, $2), 0) AS BIGINT) + 1))"));

pub fn apply(query: &mut Query, _: &Site<'_>) {
    if let Some(template) = SUBSCRIPTS.as_ref() {
        replace_calls(query, "generate_subscripts", 2, template);
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::rewritten;

    #[test]
    fn generate_subscripts_runs_beside_unnest() {
        let out = rewritten("SELECT unnest(i.indkey), generate_subscripts(i.indkey, 1) FROM pg_catalog.pg_index i");
        assert!(out.contains("unnest(range(1, CAST(coalesce(array_length(i.indkey, 1), 0) AS BIGINT) + 1))"), "{out}");
        let user = "SELECT generate_subscripts(a, 1) FROM t";
        assert_eq!(rewritten(user), user);
    }
}
