"""One real PostgreSQL for the whole test session, started with `pgserver` (PyPI).

pgserver ships PostgreSQL's binaries in its wheel: nothing is installed on the system. PostgreSQL
refuses to run as root; pgserver handles that itself (pgserver 0.1.4, `PostgresServer.__init__`):
when the effective uid is 0 it creates a system user `pgserver` with `useradd`, opens read and
traverse permissions on the data directory's parents and on its binaries, and runs `initdb` and
`pg_ctl` as that user. The server listens on a Unix socket of its own (no TCP port), so concurrent
sessions on one machine do not collide. It is stopped and its directory deleted at the end of the
session, also when a test fails (fixture finalizer), on Ctrl-C or SIGTERM (pytest's teardown, see
`postgres`), and at interpreter exit (the atexit hook pgserver registers); only a SIGKILL leaves it.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# The fixture harness's `# expect:` reader lives in tests/test_fixtures.py, imported by proof.py.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from proof import Activity

SCHEMA = """
CREATE TABLE clinics (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE slots (id serial PRIMARY KEY, clinic_id int NOT NULL REFERENCES clinics,
                    day date NOT NULL, free int NOT NULL CHECK (free >= 0));
CREATE TABLE bookings (id serial PRIMARY KEY, user_id bigint NOT NULL, slot_id int NOT NULL,
                       seats int NOT NULL CHECK (seats > 0));
CREATE TABLE orders (id serial PRIMARY KEY, user_id bigint NOT NULL, total numeric NOT NULL);
CREATE TABLE members (telegram_id bigint PRIMARY KEY, name text NOT NULL);
CREATE TABLE visits (id serial PRIMARY KEY, member_id bigint NOT NULL REFERENCES members,
                     club_id int NOT NULL, visited_at timestamptz NOT NULL);
CREATE TABLE invoices (id serial PRIMARY KEY, customer_id int NOT NULL, amount numeric NOT NULL,
                       paid boolean NOT NULL DEFAULT false);
CREATE TABLE accounts (id int PRIMARY KEY, email text NOT NULL UNIQUE);
INSERT INTO clinics VALUES (1, 'North'), (2, 'South');
INSERT INTO slots (clinic_id, day, free)
    SELECT c, current_date + d, 3 FROM generate_series(1, 2) c, generate_series(0, 6) d;
INSERT INTO members VALUES (1001, 'Ann'), (1002, 'Bo');
INSERT INTO invoices (customer_id, amount) SELECT 7, n FROM generate_series(1, 5) n;
"""


@pytest.fixture(scope="session")
def postgres() -> Iterator[Any]:
    """The session's server (a `pgserver.PostgresServer`) with the cases' schema loaded.

    Skipped when pgserver is not installed (it is in the `test` extra). A SIGTERM (a CI timeout)
    is turned into KeyboardInterrupt while the server runs, so pytest's teardown still stops it;
    only a SIGKILL leaves it running."""
    pgserver = pytest.importorskip("pgserver")
    parent = Path(tempfile.mkdtemp(prefix="leakcheck-pg-"))
    server = None
    previous = signal.getsignal(signal.SIGTERM)
    if previous is signal.SIG_DFL and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)
    try:
        server = pgserver.get_server(parent / "data", cleanup_mode="delete")
        server.psql(SCHEMA)
        yield server
    finally:
        try:
            if server is not None:
                server.cleanup()
            shutil.rmtree(parent, ignore_errors=True)
        finally:
            if signal.getsignal(signal.SIGTERM) is _interrupt:
                signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


PROOF_APP = "leakcheck-proof"


@pytest.fixture
def database_url(
    postgres: Any, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[str]:
    """`DATABASE_URL` for this test's case modules, tagged with an application_name of its own."""
    app = re.sub(r"[^A-Za-z0-9_]+", "-", f"{PROOF_APP}-{request.node.name}")[:63]
    url = f"{postgres.get_uri()}&application_name={app}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("APP_NAME", app)
    yield url


@pytest.fixture
def activity(postgres: Any, database_url: str) -> Iterator[Activity]:
    """Counts this test's connections in pg_stat_activity; starts at zero."""
    monitor = Activity(postgres.get_uri(), os.environ["APP_NAME"])
    try:
        assert monitor.count() == 0
        yield monitor
    finally:
        monitor.close()
