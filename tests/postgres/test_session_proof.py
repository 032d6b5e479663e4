"""SQLAlchemy sessions and FastAPI on a real PostgreSQL: a small QueuePool runs out under the
leaky code (`QueuePool limit of size N overflow M reached`) and not under the fixed code."""

from __future__ import annotations

import gc
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from proof import Activity, copy_case, expectations, fix, load, reported

pytestmark = pytest.mark.postgres

sqlalchemy = pytest.importorskip("sqlalchemy")
from sqlalchemy.exc import DataError, TimeoutError  # noqa: E402

EXHAUSTED = r"QueuePool limit of size 2 overflow 0 reached, connection timed out, timeout 0.30"


def collected() -> None:
    """Run the garbage collector: an unclosed session and its transaction point at each other, so
    only the collector frees them and gives their connections back (or closes them)."""
    gc.collect()


@pytest.fixture
def small_pool(monkeypatch: pytest.MonkeyPatch, database_url: str) -> None:
    """The cases' engines get a QueuePool of 2 connections that waits 0.3 s for one."""
    monkeypatch.setenv("DB_POOL_SIZE", "2")
    monkeypatch.setenv("DB_MAX_OVERFLOW", "0")
    monkeypatch.setenv("DB_POOL_TIMEOUT", "0.3")


def billing_workload(module: object) -> int:
    """Totals read through bare sessions, and a payment for an invoice number where the id goes.

    A leaked session goes back to the pool only when the garbage collector breaks its cycle, at a
    moment of its choosing: ten rounds drain a pool of two long before that, every run."""
    failed = 0
    for _ in range(10):
        assert module.unpaid_total(7) > 0  # type: ignore[attr-defined]
        try:
            module.mark_paid("INV-0042")  # type: ignore[attr-defined]
        except DataError:  # invalid input syntax for type integer
            failed += 1
    assert module.ping() == 1  # type: ignore[attr-defined]
    return failed


@pytest.mark.usefixtures("small_pool")
def test_bare_sessions_exhaust_queuepool_then_fixed(tmp_path: Path, activity: Activity) -> None:
    leaky = load(copy_case("billing_sessions.py", tmp_path / "leaky"), "billing_sessions_leaky")
    try:
        with pytest.raises(TimeoutError, match=EXHAUSTED):
            billing_workload(leaky)
        assert leaky.engine.pool.checkedout() == 2
    finally:
        collected()  # the leaked connections go back to the pool
        leaky.engine.dispose()
    assert activity.settles_at(0) == 0

    fixed = load(
        fix(copy_case("billing_sessions.py", tmp_path / "fixed")), "billing_sessions_fixed"
    )
    try:
        assert billing_workload(fixed) == 10
        assert fixed.engine.pool.checkedout() == 0
        assert activity.count("idle in transaction") == 0
    finally:
        fixed.engine.dispose()
    assert activity.settles_at(0) == 0


def booking_workload(app: object) -> list[int]:
    """Requests that the endpoint refuses (409 full, 404 unknown slot), then one it accepts."""
    from fastapi.testclient import TestClient

    with TestClient(app) as client:  # type: ignore[arg-type]
        codes = [
            client.post(f"/slots/{slot}/bookings", json={"user_id": 42, "seats": seats}).status_code
            for slot, seats in [(1, 100), (999, 1), (2, 100), (3, 100)] * 3
        ]
        codes.append(client.post("/slots/4/bookings", json={"user_id": 42, "seats": 1}).status_code)
    return codes


@pytest.mark.usefixtures("small_pool")
def test_get_db_without_finally_exhausts_queuepool_then_fixed(
    tmp_path: Path, activity: Activity
) -> None:
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    leaky = load(copy_case("booking_api.py", tmp_path / "leaky"), "booking_api_leaky")
    try:
        with pytest.raises(TimeoutError, match=EXHAUSTED):
            booking_workload(leaky.app)
    finally:
        collected()
        leaky.engine.dispose()
    assert activity.settles_at(0) == 0

    fixed = load(fix(copy_case("booking_api.py", tmp_path / "fixed")), "booking_api_fixed")
    try:
        assert booking_workload(fixed.app) == [409, 404, 409, 409] * 3 + [201]
        assert fixed.engine.pool.checkedout() == 0
        assert activity.count("idle in transaction") == 0
    finally:
        fixed.engine.dispose()
    assert activity.settles_at(0) == 0


def open_streams(app: object, streams: int) -> list[BaseException | int]:
    """`streams` clients reading the SSE endpoint at once, 3 polls each; per client, the number
    of events it received or the exception the server raised."""
    from fastapi.testclient import TestClient

    def read(client: TestClient) -> BaseException | int:
        try:
            response = client.get("/clinics/1/days/stream", params={"polls": 3})
        except Exception as exc:  # raised in the app, re-raised by the test client
            return exc
        assert response.status_code == 200
        return response.text.count("data: ")

    with TestClient(app) as client, ThreadPoolExecutor(streams) as executor:  # type: ignore[arg-type]
        return list(executor.map(read, [client] * streams))


@pytest.mark.usefixtures("small_pool")
def test_sse_streams_pin_connections_and_neither_the_cure_nor_the_fix_does(
    tmp_path: Path, activity: Activity, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    monkeypatch.setenv("POLL_INTERVAL", "0.2")
    # The README's hand-written cure, on which leakcheck must stay silent, and the unsafe fix
    # (a session per poll, from what `get_db` opens) both keep every stream going.
    assert reported()["clinic_stream.py"] == expectations("clinic_stream.py") != set()
    assert reported()["clinic_stream_cured.py"] == expectations("clinic_stream_cured.py") == set()

    leaky = load(copy_case("clinic_stream.py", tmp_path), "clinic_stream_leaky")
    try:
        results = open_streams(leaky.app, 4)
        timeouts = [r for r in results if isinstance(r, TimeoutError)]
        assert timeouts and all(EXHAUSTED in str(r) for r in timeouts)
        assert [r for r in results if not isinstance(r, TimeoutError)] == [3] * (4 - len(timeouts))
    finally:
        collected()
        leaky.engine.dispose()
    assert activity.settles_at(0) == 0

    cured = load(copy_case("clinic_stream_cured.py", tmp_path), "clinic_stream_cured")
    try:
        assert open_streams(cured.app, 4) == [3, 3, 3, 3]
        assert cured.engine.pool.checkedout() == 0
        assert activity.count("idle in transaction") == 0
    finally:
        cured.engine.dispose()
    assert activity.settles_at(0) == 0

    fixed_case = fix(copy_case("clinic_stream.py", tmp_path / "fixed"), unsafe=True)
    fixed = load(fixed_case, "clinic_stream_fixed")
    try:
        assert open_streams(fixed.app, 4) == [3, 3, 3, 3]
        assert fixed.engine.pool.checkedout() == 0
        assert activity.count("idle in transaction") == 0
    finally:
        fixed.engine.dispose()
    assert activity.settles_at(0) == 0
