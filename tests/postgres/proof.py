"""The steps every proof shares: what leakcheck reports on a case, `--fix` through the CLI, loading
a copy of a case as a module, and counting the case's server connections in `pg_stat_activity`."""

from __future__ import annotations

import atexit
import functools
import importlib.util
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from test_fixtures import expected

CASES = Path(__file__).resolve().parent / "cases"
# `path:line:col: LC102 message`, the first line of each finding in the text output.
FINDING = re.compile(r"^(?P<path>.+?):(?P<line>\d+):\d+: (?P<code>LC\d{3}) ", re.MULTILINE)


def leakcheck(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run the installed CLI (`python -m leakcheck`) in a subprocess, ignoring configuration."""
    return subprocess.run(
        [sys.executable, "-m", "leakcheck", "check", "--isolated", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def findings(output: str) -> set[tuple[str, int]]:
    """(code, line) of each finding in the CLI's text output (one file's)."""
    return {(m["code"], int(m["line"])) for m in FINDING.finditer(output)}


@functools.cache
def reported() -> dict[str, set[tuple[str, int]]]:
    """What the CLI reports on the cases folder, per file name; run once per test session."""
    done = leakcheck(CASES)
    assert done.returncode in (0, 1), done.stderr
    found: dict[str, set[tuple[str, int]]] = {p.name: set() for p in CASES.glob("*.py")}
    for m in FINDING.finditer(done.stdout):
        found[Path(m["path"]).name].add((m["code"], int(m["line"])))
    return found


def expectations(case: str) -> set[tuple[str, int]]:
    """The `# expect:` comments of a case, as the fixture harness reads them."""
    return expected((CASES / case).read_text())


def copy_case(case: str, where: Path) -> Path:
    """A copy of `cases/<case>` in `where`, to fix or import without touching the original."""
    where.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(CASES / case, where / case))


def fix(path: Path, unsafe: bool = False) -> Path:
    """What `leakcheck check --fix [--unsafe-fixes]` makes of the case copied at `path`; returns
    `path`, rewritten.

    Checks first that the CLI reports exactly the case's `# expect:` findings (on the original, the
    same text), and after the fix that the file changed and nothing is reported in it any more."""
    before = path.read_text()
    assert before == (CASES / path.name).read_text()
    assert reported()[path.name] == expected(before), "not what the case expects"
    fixed, left = _fixed_copies(unsafe)
    after = (fixed / path.name).read_text()
    assert after != before, "--fix changed nothing"
    assert left[path.name] == set(), "--fix reports findings it left"
    path.write_text(after)
    return path


@functools.cache
def _fixed_copies(unsafe: bool) -> tuple[Path, dict[str, set[tuple[str, int]]]]:
    """One CLI run of `--fix [--unsafe-fixes]` over copies of all cases (each CLI start costs a
    second or more); the folder and what the run still reports, per file name."""
    where = Path(tempfile.mkdtemp(prefix="leakcheck-fixed-"))
    atexit.register(shutil.rmtree, where, ignore_errors=True)
    for case in CASES.glob("*.py"):
        shutil.copy(case, where / case.name)
    done = leakcheck("--fix", *(["--unsafe-fixes"] if unsafe else []), where)
    assert done.returncode in (0, 1), done.stderr
    left: dict[str, set[tuple[str, int]]] = {p.name: set() for p in where.glob("*.py")}
    for m in FINDING.finditer(done.stdout):
        left[Path(m["path"]).name].add((m["code"], int(m["line"])))
    return where, left


def load(path: Path, name: str) -> ModuleType:
    """Import the file at `path` as a fresh module called `name` (never cached across tests)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


class Activity:
    """Counts this test's server connections in `pg_stat_activity` through a separate connection.

    The cases connect with `application_name` set to `app` (in `DATABASE_URL`), so other tests
    and this monitor are never counted."""

    def __init__(self, uri: str, app: str) -> None:
        import psycopg2

        self.app = app
        self.conn: Any = psycopg2.connect(uri)
        self.conn.autocommit = True

    def count(self, state: str | None = None) -> int:
        """Connections of the app, or only those in `state` ('idle in transaction', ...)."""
        with self.conn.cursor() as cur:
            cur.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s"
                " AND (%s::text IS NULL OR state = %s)",
                (self.app, state, state),
            )
            return int(cur.fetchone()[0])

    def settles_at(self, want: int, within: float = 5.0) -> int:
        """The count once it equals `want`, or after `within` seconds: a server process ends a
        moment after its client closes the socket."""
        deadline = time.monotonic() + within
        while (got := self.count()) != want and time.monotonic() < deadline:
            time.sleep(0.02)
        return got

    def close(self) -> None:
        self.conn.close()


def checked_out(pool: Any, within: float = 5.0) -> int:
    """How many connections a psycopg_pool pool has lent, once none are, or after `within`
    seconds: `putconn()` of a connection left in a failed transaction rolls it back in a pool
    worker thread before counting it available again (psycopg_pool's ReturnConnection task)."""
    deadline = time.monotonic() + within
    while True:
        stats = pool.get_stats()
        lent = int(stats["pool_size"] - stats.get("pool_available", 0))
        if lent == 0 or time.monotonic() >= deadline:
            return lent
        time.sleep(0.02)
