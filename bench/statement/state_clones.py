#!/usr/bin/env python3
"""Count DataFusion `SessionState` clones per statement, as the server really runs them.

Runs `ember serve` under valgrind's callgrind (which counts calls exactly), sends the same
statement N times over one connection through the simple query protocol (psql) and through
the extended protocol (psycopg 3 with a prepared statement), stops the server cleanly and
reads how often `<SessionState as Clone>::clone` was called. (Functions that are inlined
cannot be counted this way: `ConfigOptions::clone` shows no calls at all.) A run with no statements
gives the fixed cost of starting and connecting, which is subtracted.

    python3 bench/statement/state_clones.py --ember /path/to/ember [--statements 40]

Needs valgrind, psql and psycopg (the project's virtualenv has it).
"""

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

CLONES = {
    "SessionState": "<datafusion::execution::session_state::SessionState as core::clone::Clone>::clone",
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clone_calls(profile):
    """Calls of each of CLONES in a callgrind output file (summed over every caller)."""
    wanted = {name: kind for kind, name in CLONES.items()}
    names = {}
    totals = dict.fromkeys(CLONES, 0)
    pending = None
    with open(profile, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith(("fn=", "cfn=")):
                m = re.match(r"c?fn=\((\d+)\)(?: (.*))?", line.rstrip("\n"))
                if m:
                    if m.group(2):
                        names[m.group(1)] = m.group(2)
                    pending = wanted.get(names.get(m.group(1))) if line.startswith("cfn=") else None
                continue
            if line.startswith("calls=") and pending:
                totals[pending] += int(line.split("=", 1)[1].split()[0])
                pending = None
            elif not line.startswith(("calls=", "cob=", "cfi=", "cfl=")):
                pending = None
    return totals


def run(ember, workload, statements):
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        profile = os.path.join(tmp, "callgrind.out")
        server = subprocess.Popen(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={profile}", ember, "serve",
             "--port", str(port), "--data-dir", os.path.join(tmp, "data"), "--threads", "2"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 300
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    sys.exit("ember did not start under valgrind")
                time.sleep(0.5)
        workload(port, statements)
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=300)
        return clone_calls(profile)


def simple(port, n):
    args = ["psql", "-X", "-q", "-h", "127.0.0.1", "-p", str(port), "-U", "ember", "-d", "ember"]
    for _ in range(n):
        args += ["-c", "SELECT 1"]
    if n == 0:
        args += ["-c", "\\echo connected"]
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)


def extended(port, n):
    import psycopg
    with psycopg.connect(f"host=127.0.0.1 port={port} user=ember dbname=ember", autocommit=True) as conn:
        for _ in range(n):
            conn.execute("SELECT %s::bigint + 1", (1,), prepare=True).fetchall()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ember", required=True)
    parser.add_argument("--statements", type=int, default=40)
    args = parser.parse_args()
    n = args.statements
    print(f"clones per statement ({n} statements over one connection, startup subtracted)")
    for name, workload in [("simple query protocol, SELECT 1", simple), ("extended protocol, prepared SELECT $1::bigint + 1", extended)]:
        base = run(args.ember, workload, 0)
        loaded = run(args.ember, workload, n)
        for kind in CLONES:
            per = (loaded[kind] - base[kind]) / n
            print(f"  {name:50} {kind:13} {per:6.2f}   (calls: {base[kind]} with none, {loaded[kind]} with {n})")


if __name__ == "__main__":
    main()
