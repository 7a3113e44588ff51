"""node-postgres (`pg` from npm, pinned in tests/clients/node/package-lock.json)."""

import json
import os
import pathlib
import shutil
import subprocess

import pytest

import clientlib as lib

NODE_DIR = pathlib.Path(__file__).parent / "node"

# Skipped on a developer machine without node; in CI (CI=true) a missing install fails.
pytestmark = pytest.mark.skipif(
    not os.environ.get("CI") and (shutil.which("node") is None or not (NODE_DIR / "node_modules" / "pg").exists()),
    reason="needs node and `npm ci` in tests/clients/node (scripts/setup.sh does it)",
)


def test_scenario(ember):
    proc = subprocess.run(
        ["node", str(NODE_DIR / "scenario.js"), ember.host, str(ember.port), str(lib.EMPLOYEES_CSV), lib.TYPED_QUERY],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = json.loads(proc.stdout)
    assert out["count"] == str(len(lib.employees()))  # int8 arrives as a string in node-postgres
    assert out["names"] == lib.names_paid_over(4000.0, True)
    assert out["prepared"] == [lib.names_paid_over(1000.0 * i, False) for i in range(3)]
    typed = out["typed"]
    assert typed["b"] is True and typed["i2"] == 1 and typed["i4"] == 2 and typed["i8"] == "3000000000"
    assert typed["f4"] == 1.5 and typed["f8"] == 2.25
    assert typed["n"] == "12345.678" and typed["big_n"] == "123456789012345678901234567890.12345678"
    assert typed["t"] == "héllo" and typed["by"] == "\\xdeadbeef"
    assert typed["tstz"] == "2024-02-29T13:14:15.250Z"
    assert typed["tm"] == "13:14:15.5"
    assert typed["u"] == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
    assert typed["j"] == {"a": [1, 2]} and typed["jb"] == {"a": [1, 2]}
    assert typed["ai"] == [1, 2, 3]  # ARRAY[1, 2, 3] is int4[], as in PostgreSQL
    assert typed["at"] == ["x", "y z", None] and typed["nul"] is None
    assert typed["iv"] == {"days": 1, "hours": 2, "minutes": 3, "seconds": 4}
    assert out["typed_oids"] == {
        "b": 16, "i2": 21, "i4": 23, "i8": 20, "f4": 700, "f8": 701, "n": 1700, "big_n": 1700, "t": 25,
        "by": 17, "d": 1082, "tm": 1083, "ts": 1114, "tstz": 1184, "iv": 1186, "u": 2950, "j": 114,
        "jb": 3802, "ai": 1007, "at": 1009, "nul": 23,
    }
    assert out["params"] == {
        "i": "1099511627776", "n": "-98765.4321000000", "t": "it's ünï", "b": "00ff62", "z": True,
        "u": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
    }
    assert out["error"] == "42P01" and out["after_error"] == 2
    assert out["tx_error"] == "22012" and out["tx_aborted"] == "25P02" and out["after_rollback"] == 3
    assert out["columns"] == lib.EMPLOYEE_COLUMNS
