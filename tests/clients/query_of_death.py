"""Statements of the shapes that tools generate and that recurse once per level when planned.

Each shape is a function of a size that returns one SQL statement. The same generator
drives the query-of-death test (`test_query_of_death.py`, against Ember) and records
PostgreSQL 15's answers (`--record`, against a PostgreSQL server), so the expected
answers are PostgreSQL's own, never written by hand:

    python3 tests/clients/query_of_death.py --record --dsn "host=127.0.0.1 port=54329 user=postgres"

writes `query_of_death.json` beside this file: for each shape and size, the first column
of the one result row as text, or the SQLSTATE PostgreSQL answered with.

    python3 tests/clients/query_of_death.py --dsn "host=127.0.0.1 port=5432 user=ember" [--sizes 1000,10000]

runs the shapes against a server and prints the answer and the time of each;
`--explain` times planning alone instead (`EXPLAIN` of each statement, best of two), which
is how README's planning-time table is measured, on Ember and on PostgreSQL alike.
"""

import argparse
import json
import pathlib
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
EXPECTED = HERE / "query_of_death.json"


def _rows(n: int) -> str:
    return f"generate_series(1, {n}) AS t(v)"


def or_chain(n):
    terms = " OR ".join(f"v = {i}" for i in range(n))
    return f"SELECT count(*) FROM {_rows(1000)} WHERE {terms}"


def and_chain(n):
    terms = " AND ".join(f"v <> {-i}" for i in range(n))
    return f"SELECT count(*) FROM {_rows(1000)} WHERE {terms}"


def in_list(n):
    values = ", ".join(str(i * 7) for i in range(n))
    return f"SELECT count(*) FROM {_rows(1000)} WHERE v IN ({values})"


def union_all(n):
    branches = " UNION ALL ".join(f"SELECT {i} AS x" for i in range(n))
    return f"SELECT sum(x) FROM ({branches}) AS u"


def case_branches(n):
    whens = " ".join(f"WHEN v = {i} THEN {i * 2}" for i in range(n))
    return f"SELECT sum(CASE {whens} ELSE 0 END) FROM {_rows(100)}"


def concat_chain(n):
    return "SELECT length(" + " || ".join("'ab'" for _ in range(n)) + ")"


def plus_chain(n):
    return "SELECT " + " + ".join("1" for _ in range(n))


def nested_parens(n):
    return "SELECT " + "(1 + " * n + "1" + ")" * n


def nested_functions(n):
    return "SELECT " + "abs(" * n + "-1" + ")" * n


def nested_subqueries(n):
    return "SELECT " + "(SELECT " * n + "1" + ")" * n


def nested_from(n):
    return "SELECT x FROM " + "(SELECT x FROM " * n + "(SELECT 1 AS x) AS t0" + ") AS t" * n


def nested_case(n):
    return "SELECT " + "CASE WHEN v > 0 THEN " * n + "v" + " ELSE 0 END" * n + f" FROM {_rows(3)} ORDER BY 1 DESC LIMIT 1"


def nested_not(n):
    return "SELECT " + "NOT " * n + "true"


def joins(n):
    tables = " ".join(f"JOIN (VALUES (1, {i})) AS t{i}(k, v) ON t{i}.k = t{i - 1}.k" for i in range(1, n))
    return f"SELECT count(*) FROM (VALUES (1, 0)) AS t0(k, v) {tables}"


def nested_joins(n):
    joined = "(VALUES (1)) AS t0(k)"
    for i in range(1, n):
        joined = f"({joined} JOIN (VALUES (1)) AS t{i}(k{i}) ON k{i} = k)"
    return f"SELECT count(*) FROM {joined}"


class Shape:
    """A shape: its statement of a size; `documented`, the largest size Ember must answer
    as PostgreSQL does (README, "Limits"); `sizes`, every size recorded (up to twice the
    documented size and past PostgreSQL's own limit); `ci`, the sizes the test suite runs
    against the debug build; `answer`, the closed form where PostgreSQL refuses a size
    Ember may still answer."""

    def __init__(self, make, documented, sizes, ci, answer=None):
        self.make, self.documented, self.sizes, self.ci, self.answer = make, documented, sizes, ci, answer


SHAPES = {
    "or_chain": Shape(or_chain, 10000, [10, 1000, 10000, 20000], [10, 1000, 10000]),
    "and_chain": Shape(and_chain, 10000, [10, 1000, 10000, 20000], [10, 1000]),
    "in_list": Shape(in_list, 100000, [10, 10000, 100000, 200000], [10, 10000, 100000]),
    "union_all": Shape(union_all, 5000, [10, 500, 1000, 5000, 10000], [10, 1000], lambda n: str(n * (n - 1) // 2)),
    "case_branches": Shape(case_branches, 5000, [10, 1000, 5000, 10000], [10, 1000, 5000]),
    "concat_chain": Shape(concat_chain, 1000, [10, 1000, 2000], [10, 1000]),
    "plus_chain": Shape(plus_chain, 1000, [10, 1000, 5000, 10000, 20000], [10, 1000, 20000], str),
    "nested_parens": Shape(nested_parens, 1000, [10, 100, 1000, 2000, 8000], [10, 1000, 8000], lambda n: str(n + 1)),
    "nested_functions": Shape(nested_functions, 1000, [10, 100, 200, 1000, 2000], [10, 1000, 2000]),
    "nested_subqueries": Shape(nested_subqueries, 100, [10, 15, 100, 200], [10, 100, 200]),
    "nested_from": Shape(nested_from, 200, [10, 100, 200], [10, 100]),
    "nested_case": Shape(nested_case, 1000, [10, 100, 500, 1000, 2000], [10, 500], lambda n: "3"),
    "nested_not": Shape(nested_not, 1000, [10, 1000, 2000], [10, 1000]),
    "joins": Shape(joins, 60, [10, 60, 120], [10, 60]),
    "nested_joins": Shape(nested_joins, 60, [10, 60, 120], [10, 60]),
}

# What a server may answer instead where a size is past what it must answer.
LIMIT_STATES = {"54001", "54000"}


def verdict(name, size, expected, got):
    """None if `got` is an acceptable answer for the shape at this size, else why not."""
    shape = SHAPES[name]
    refused = isinstance(got, dict) and got.get("sqlstate") in LIMIT_STATES
    if isinstance(expected, dict):  # PostgreSQL refused it
        if refused or (shape.answer is not None and got == shape.answer(size)):
            return None
        return f"PostgreSQL refused with {expected['sqlstate']}; got {got!r}"
    if got == expected or (refused and size > shape.documented):
        return None
    return f"expected {expected!r}; got {got!r}"


def run(conn, sql):
    """The first column of the first row as text, or ('error', SQLSTATE, message)."""
    import psycopg

    try:
        with conn.cursor() as cur:
            cur.execute(sql.encode(), prepare=False)
            row = cur.fetchone()
            return None if row is None or row[0] is None else str(row[0]).lower()
    except psycopg.Error as e:
        return {"sqlstate": e.sqlstate, "message": str(e).splitlines()[0] if str(e) else ""}


def main():
    import psycopg

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--record", action="store_true", help=f"write the answers to {EXPECTED.name}")
    parser.add_argument("--shapes", help="comma-separated shape names (default: all)")
    parser.add_argument("--sizes", help="comma-separated sizes instead of each shape's own")
    parser.add_argument("--ci", action="store_true", help="only the sizes the test suite runs")
    parser.add_argument("--explain", action="store_true", help="time planning only: EXPLAIN, best of two")
    args = parser.parse_args()
    names = args.shapes.split(",") if args.shapes else list(SHAPES)
    answers = {}
    with psycopg.connect(args.dsn, autocommit=True) as conn:
        for name in names:
            shape = SHAPES[name]
            sizes = shape.ci if args.ci else shape.sizes
            sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else sizes
            for size in sizes:
                if args.explain:
                    times = []
                    for _ in range(2):
                        start = time.perf_counter()
                        answer = run(conn, "EXPLAIN " + shape.make(size))
                        times.append(time.perf_counter() - start)
                    failed = isinstance(answer, dict)
                    print(f"{name:18} {size:>7} {min(times):8.3f} s  {answer if failed else 'planned'}", flush=True)
                    continue
                start = time.perf_counter()
                answer = run(conn, shape.make(size))
                elapsed = time.perf_counter() - start
                answers.setdefault(name, {})[str(size)] = answer
                note = ""
                if not args.record and EXPECTED.exists():
                    expected = json.loads(EXPECTED.read_text()).get(name, {}).get(str(size))
                    note = "" if expected is None else (verdict(name, size, expected, answer) or "ok")
                print(f"{name:18} {size:>7} {elapsed:8.3f} s  {answer}  {note}", flush=True)
    if args.record:
        EXPECTED.write_text(json.dumps(answers, indent=1, sort_keys=True) + "\n")
        print(f"wrote {EXPECTED}", file=sys.stderr)


if __name__ == "__main__":
    main()
