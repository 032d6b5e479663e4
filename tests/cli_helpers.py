"""Shared by the adoption tests: a small project with known findings, and the CLI driven through
click's runner or through the installed console script."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from leakcheck.cli import main

# LC102 on line 5 (`pool.getconn()`, column 12), escaping through line 6.
POOL = """\
from psycopg2.pool import ThreadedConnectionPool
pool = ThreadedConnectionPool(1, 5)

def count(sql):
    conn = pool.getconn()
    cur = conn.cursor()
    cur.execute(sql)
    pool.putconn(conn)
"""
# LC201 on line 5 (`SessionLocal()`, column 10).
SESSION = """\
from sqlalchemy.orm import sessionmaker
SessionLocal = sessionmaker()

def items():
    db = SessionLocal()
    return db.execute("select 1").all()
"""


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def invoke_split(*args: str) -> tuple[int, str, str]:
    try:
        runner = CliRunner(mix_stderr=False)  # type: ignore[call-arg]  # click < 8.2
    except TypeError:
        runner = CliRunner()  # click 8.2 keeps stderr apart by default
    result = runner.invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def found(*args: str) -> list[tuple[str, int, str]]:
    """(path, line, code) of each finding of `leakcheck check --format json ARGS`."""
    code, out = invoke("check", "--format", "json", *args)
    assert code in (0, 1), out
    return [(f["path"], f["line"], f["code"]) for f in json.loads(out)["findings"]]


def script(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The installed console script, in a subprocess."""
    path = shutil.which("leakcheck", path=os.path.dirname(sys.executable))
    assert path is not None, "the leakcheck console script is not installed beside python"
    return subprocess.run([path, *args], capture_output=True, text=True, check=False, cwd=cwd)


def as_json(text: str) -> Any:
    return json.loads(text)
