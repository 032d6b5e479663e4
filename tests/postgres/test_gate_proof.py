"""The runtime gate (`pytest --leakcheck`, issue 25) on the real PostgreSQL: for each leaky case,
a small workload run under the gate fails, naming the case's acquisition line and the static
finding there; the copy `leakcheck check --fix` rewrote passes the same workload.

Cases the gate has nothing to say about, and why:
- `fitness_cursor.py`: the manager is never entered, so no connection is ever taken (the leaky
  code fails on its own with AttributeError);
- `clinic_stream.py`: a stream holds its connection while it runs and gives it back when it ends:
  a long hold is not a leak at the test's end (the gate has no timers).
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import re

import pytest
from proof import copy_case, expectations, fix

pytestmark = pytest.mark.postgres
pytest_plugins = ["pytester"]

# Imported before pytester snapshots `sys.modules`, so that inner runs share them (see
# tests/test_gate.py).
for _library in (
    "sqlalchemy",
    "sqlalchemy.orm",
    "psycopg2.pool",
    "psycopg",
    "psycopg_pool",
    "asyncpg",
    "asyncpg.pool",
    "fastapi",
    "fastapi.testclient",
    "django.db.backends.base.base",
):
    with contextlib.suppress(ImportError):
        importlib.import_module(_library)

QUIET = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest")

WORKLOADS = {
    "account_import.py": """
        import os
        from contextlib import closing

        import psycopg2
        import account_import

        def clear():
            with closing(psycopg2.connect(os.environ["DATABASE_URL"])) as conn, conn:
                conn.cursor().execute("DELETE FROM accounts")

        def test_import_with_duplicate_emails():
            clear()
            try:
                job = account_import.AccountImport()
                job.run([{"id": n, "email": f"user{n % 2}@example.org"} for n in range(1, 5)])
                assert (job.imported, len(job.failures)) == (2, 2)
            finally:
                clear()  # the other proofs of this session start from an empty table
    """,
    "bot_bookings.py": """
        import psycopg2
        import pytest
        import bot_bookings

        def test_bookings_and_orders_that_fail_in_the_database():
            storage = bot_bookings.Storage()
            try:
                with pytest.raises(psycopg2.Error):
                    storage.add_booking(42, 2**40, 1)
                with pytest.raises(psycopg2.Error):
                    storage.add_order(42, "twelve")
            finally:
                storage.close()
    """,
    "slots_psycopg3.py": """
        import psycopg
        import pytest
        import slots_psycopg3

        def test_more_seats_than_the_slot_has():
            try:
                with pytest.raises(psycopg.errors.CheckViolation):
                    slots_psycopg3.take_seats(1, 100)
            finally:
                slots_psycopg3.pool.close()
    """,
    "reports_asyncpg.py": """
        import asyncio
        import asyncpg
        import pytest
        import reports_asyncpg

        def test_revenue_of_an_out_of_range_user():
            async def work():
                pool = await reports_asyncpg.open_pool()
                try:
                    with pytest.raises(asyncpg.DataError):
                        await reports_asyncpg.revenue(2**70)
                finally:
                    pool.terminate()

            asyncio.run(work())
    """,
    "billing_sessions.py": """
        import pytest
        from sqlalchemy.exc import DataError
        import billing_sessions

        def test_total_then_a_payment_with_a_bad_id():
            try:
                assert billing_sessions.unpaid_total(7) > 0
                with pytest.raises(DataError):
                    billing_sessions.mark_paid("INV-0042")
            finally:
                billing_sessions.engine.dispose()
    """,
    "booking_api.py": """
        from fastapi.testclient import TestClient
        import booking_api

        def test_booking_a_full_slot_is_refused():
            try:
                with TestClient(booking_api.app) as client:
                    response = client.post("/slots/1/bookings", json={"user_id": 42, "seats": 100})
                    assert response.status_code == 409
            finally:
                booking_api.engine.dispose()
    """,
}


def gate(pytester: pytest.Pytester, case: str, folder: str, fixed: bool) -> pytest.RunResult:
    """Copy `case` (fixed by the CLI when `fixed`) and its workload into `folder` of pytester's
    directory and run the workload there under the gate, in this process."""
    where = pytester.path / folder
    path = copy_case(case, where)
    if fixed:
        fix(path)
    (where / f"test_{case}").write_text(_dedent(WORKLOADS[case]))
    try:
        return pytester.runpytest_inprocess("--leakcheck", *QUIET, str(where))
    finally:
        gc.collect()  # the leaked sessions' connections, before the server goes away


def _dedent(text: str) -> str:
    import textwrap

    return textwrap.dedent(text).lstrip()


def summary(result: pytest.RunResult) -> dict[str, int]:
    return {k: v for k, v in result.parseoutcomes().items() if v and k != "seconds"}


def static_lines(text: str, case: str) -> set[tuple[str, int]]:
    """(code, line) of each static finding the gate's failure names in `case`."""
    found = re.finditer(rf"static analysis: (?:\S*/)?{re.escape(case)}:(\d+):\d+: (LC\d+) ", text)
    return {(m[2], int(m[1])) for m in found}


@pytest.mark.parametrize("case", sorted(WORKLOADS))
def test_gate_fails_the_leaky_case_and_passes_its_fix(
    case: str, pytester: pytest.Pytester, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DB_POOL_MAX", "3")
    monkeypatch.setenv("DB_POOL_SIZE", "2")
    monkeypatch.setenv("DB_MAX_OVERFLOW", "0")
    monkeypatch.setenv("DB_POOL_TIMEOUT", "2")
    expected = expectations(case)

    leaky = gate(pytester, case, "leaky", fixed=False)
    text = leaky.stdout.str()
    assert summary(leaky) == {"failed": 1}, text
    for _, line in expected:  # each acquisition line, named as where it was taken
        assert re.search(rf"(acquired|session created) at .*{re.escape(case)}:{line} in ", text)
    assert static_lines(text, case) == expected  # the join names exactly the case's findings
    assert "would rewrite it this way" in text
    assert "leakcheck-gate-miss" not in text

    repaired = gate(pytester, case, "fixed", fixed=True)
    assert summary(repaired) == {"passed": 1}, repaired.stdout.str()


DJANGO_CONFTEST = """
import os

import django
from django.conf import settings

settings.configure(
    DATABASES={
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": "postgres",
            "USER": "postgres",
            "HOST": os.environ["PGHOST_FOR_GATE"],
            "PORT": os.environ["PGPORT_FOR_GATE"],
        }
    },
    USE_TZ=True,
)
django.setup()
"""

DJANGO_WORKLOAD = """
import {module}

def test_visit_counts_on_worker_threads():
    try:
        counts = [job.result(timeout=30) for job in {module}.schedule_counts([1001, 1002])]
        assert all(count >= 0 for count in counts)
    finally:
        pass  # the executor and its threads live on, as in the service
"""


def test_gate_fails_django_worker_threads_and_passes_the_documented_cure(
    pytester: pytest.Pytester, postgres: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("django")
    info = postgres.get_postmaster_info()  # type: ignore[attr-defined]
    monkeypatch.setenv("PGHOST_FOR_GATE", str(info.socket_dir))
    monkeypatch.setenv("PGPORT_FOR_GATE", str(info.port))
    pytester.makeconftest(DJANGO_CONFTEST)
    for case in ("crm_workers.py", "crm_workers_cured.py"):
        copy_case(case, pytester.path)
        module = case.removesuffix(".py")
        (pytester.path / f"test_{module}.py").write_text(DJANGO_WORKLOAD.format(module=module))
    # A subprocess: Django is configured once per process (test_django_proof configures it here).
    result = pytester.runpytest_subprocess("--leakcheck", *QUIET)
    text = result.stdout.str()
    assert summary(result) == {"failed": 1, "passed": 1}, text
    assert "FAILED test_crm_workers.py::test_visit_counts_on_worker_threads" in text
    assert "acquired at crm_workers.py:19 in count_visits" in text
    assert "is still running and holds it open, idle" in text
    assert static_lines(text, "crm_workers.py") == expectations("crm_workers.py")
    assert "no automatic fix: see `leakcheck rule LC506`" in text


POOLS = """
import asyncio
import os

import psycopg
import pytest
from psycopg2.pool import SimpleConnectionPool
from psycopg_pool import AsyncConnectionPool, ConnectionPool

URL = os.environ["DATABASE_URL"]


@pytest.fixture
def pg2():
    pool = SimpleConnectionPool(1, 2, dsn=URL)
    yield pool
    pool.closeall()


def test_psycopg2_uncommitted_insert_returned(pg2):
    conn = pg2.getconn()
    with conn.cursor() as cur:
        cur.execute("INSERT INTO orders (user_id, total) VALUES (1, 1)")
    pg2.putconn(conn)


def test_psycopg2_failed_query_returned_in_finally(pg2):
    conn = pg2.getconn()
    try:
        with pytest.raises(Exception, match="division by zero"):
            with conn.cursor() as cur:
                cur.execute("SELECT 1 / 0")
    finally:
        pg2.putconn(conn)


def test_psycopg3_uncommitted_insert_returned():
    with ConnectionPool(URL, min_size=1, max_size=2, open=True) as pool:
        conn = pool.getconn()
        conn.execute("INSERT INTO orders (user_id, total) VALUES (1, 1)")
        pool.putconn(conn)


def test_async_pool_getconn_never_returned():
    async def work():
        pool = AsyncConnectionPool(URL, min_size=1, max_size=2, open=False)
        await pool.open()
        try:
            conn = await pool.getconn()
            await conn.execute("SELECT 1")
        finally:
            await pool.close(timeout=0.1)

    asyncio.run(work())


def test_async_pool_connection_context_returns():
    async def work():
        async with AsyncConnectionPool(URL, min_size=1, max_size=2, open=False) as pool:
            async with pool.connection() as conn:
                await conn.execute("SELECT 1")

    asyncio.run(work())
"""


def test_gate_on_pools_mid_transaction_and_async(
    pytester: pytest.Pytester, database_url: str
) -> None:
    pytester.makepyfile(test_pools=POOLS)
    result = pytester.runpytest_inprocess("--leakcheck", *QUIET)
    text = result.stdout.str()
    assert summary(result) == {"failed": 3, "passed": 2}, text
    failed = {line.split(" - ")[0] for line in result.outlines if line.startswith("FAILED")}
    assert failed == {
        "FAILED test_pools.py::test_psycopg2_uncommitted_insert_returned",
        "FAILED test_pools.py::test_psycopg3_uncommitted_insert_returned",
        "FAILED test_pools.py::test_async_pool_getconn_never_returned",
    }
    # An INSERT left uncommitted (INTRANS) fails; a query that raised (INERROR), given back in
    # `finally`, does not: the caller saw the exception and the pool rolls it back.
    assert "psycopg2 pool connection taken at test_pools.py:20 returned mid-transaction" in text
    assert "psycopg 3 pool connection taken at test_pools.py:38 returned mid-transaction" in text
    # Never returned: freed with the coroutine's frame, or still out if something holds it.
    assert "psycopg 3 async pool connection taken at test_pools.py:48 " in text
