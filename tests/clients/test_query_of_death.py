"""No query takes the server down: the shapes tools generate, at sizes up to past
PostgreSQL's own limits, each answered as PostgreSQL 15 answered it (recorded in
query_of_death.json by `query_of_death.py --record`) or, past the size Ember documents,
refused with a clean 54001/54000; and random deep expression trees, each answered with
the value three-valued logic gives or 54001. After every statement the server must still
serve. CI runs each shape's `ci` sizes; EMBER_QOD_FULL=1 runs all of them.
"""

import json
import os
import random
import sys

import psycopg
import pytest

from conftest import start_ember
from query_of_death import EXPECTED, SHAPES, run, verdict

FULL = os.environ.get("EMBER_QOD_FULL") == "1"
ANSWERS = json.loads(EXPECTED.read_text())
sys.setrecursionlimit(20000)  # build() recurses once per level


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    proc, ember = start_ember(tmp_path_factory.mktemp("qod"))
    yield ember
    alive = proc.poll() is None
    proc.terminate()
    proc.wait(20)
    assert alive, f"ember died; log:\n{ember.log.read_text()[-4000:]}"


def connect(server):
    return psycopg.connect(server.dsn(), autocommit=True)


CASES = [
    (name, size)
    for name, shape in SHAPES.items()
    for size in (shape.sizes if FULL else shape.ci)
]


@pytest.mark.parametrize("name,size", CASES, ids=[f"{n}-{s}" for n, s in CASES])
def test_shape(server, name, size):
    expected = ANSWERS[name][str(size)]
    with connect(server) as conn:
        got = run(conn, SHAPES[name].make(size))
        problem = verdict(name, size, expected, got)
        assert problem is None, f"{name} at {size}: {problem}"
        # The same connection goes on.
        assert conn.execute("SELECT 41 + 1").fetchone()[0] == 42


# Random boolean expression trees: values are SQL's three-valued logic (None is NULL).
LEAVES = [("TRUE", True), ("FALSE", False), ("NULL::boolean", None)]


def sql_and(a, b):
    if a is False or b is False:
        return False
    return None if a is None or b is None else True


def sql_or(a, b):
    if a is True or b is True:
        return True
    return None if a is None or b is None else False


def build(rng, depth, subqueries=4):
    """A random expression of about `depth` levels and its value."""
    if depth <= 0:
        return rng.choice(LEAVES)
    kind = rng.randrange(8)
    if kind == 0:
        text, value = build(rng, depth - 1, subqueries)
        return f"NOT ({text})", None if value is None else not value
    if kind in (1, 2):
        (lt, lv), (rt, rv) = build(rng, depth - 1, subqueries), build(rng, rng.randrange(min(depth, 4)), 0)
        if rng.random() < 0.5:
            lt, lv, rt, rv = rt, rv, lt, lv
        return (f"({lt} AND {rt})", sql_and(lv, rv)) if kind == 1 else (f"({lt} OR {rt})", sql_or(lv, rv))
    if kind == 3:
        small = min(2, depth - 1)
        (ct, cv), (tt, tv), (et, ev) = build(rng, depth - 1, subqueries), build(rng, small, 0), build(rng, small, 0)
        return f"CASE WHEN {ct} THEN {tt} ELSE {et} END", tv if cv is True else ev
    if kind == 4:
        (at, av), (bt, bv) = build(rng, depth - 1, subqueries), build(rng, min(1, depth - 1), 0)
        return f"COALESCE({at}, {bt})", bv if av is None else av
    if kind == 5:
        text, value = build(rng, depth - 1, subqueries)
        return f"({text}) IS TRUE", value is True
    if kind == 6 and subqueries > 0 and rng.random() < 0.05:
        # Nested scalar subqueries take planning time exponential in their nesting
        # (README, "Limits"): a few levels at most.
        text, value = build(rng, depth - 1, subqueries - 1)
        return f"(SELECT {text})", value
    # A flat chain: the parser builds it as deep as it is long.
    op = rng.choice(["AND", "OR"])
    terms = [build(rng, rng.randrange(min(3, depth)), 0) for _ in range(rng.randrange(2, 100))]
    value = terms[0][1]
    for _, v in terms[1:]:
        value = sql_and(value, v) if op == "AND" else sql_or(value, v)
    return "(" + f" {op} ".join(t for t, _ in terms) + ")", value


SEEDS = range(40 if not FULL else 400)


@pytest.mark.parametrize("seed", SEEDS)
def test_random_deep_expressions(server, seed):
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 50000))
    rng = random.Random(seed)
    # Planning time grows faster than linearly with depth (README, "Limits"): CI keeps
    # to the depths the debug build plans in a second or so.
    depth = rng.choice([10, 100, 500, 1000, 2000] if FULL else [10, 50, 200, 400])
    text, value = build(rng, depth)
    with connect(server) as conn:
        got = run(conn, f"SELECT {text}")
        expected = None if value is None else str(value).lower()
        refused = isinstance(got, dict) and got.get("sqlstate") == "54001"
        assert got == expected or refused, f"seed {seed} (depth {depth}): expected {expected!r}, got {got!r}"
        assert conn.execute("SELECT 1").fetchone()[0] == 1
