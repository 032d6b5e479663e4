"""Django's ORM on a thread of the project's own (LC506, no automatic fix) on a real PostgreSQL:
every worker thread keeps an idle server connection; the cure from LC506's documentation
(`close_old_connections()` in `finally`) leaves none."""

from __future__ import annotations

import gc
import os
from pathlib import Path
from typing import Any

import pytest
from proof import Activity, copy_case, expectations, load, reported

pytestmark = pytest.mark.postgres

MEMBERS = [1001, 1002] * 4


@pytest.fixture
def django_settings(postgres: Any, database_url: str) -> None:
    """Django configured for the session's server, connections tagged with this test's name."""
    django = pytest.importorskip("django")
    from django.conf import settings

    if settings.configured:
        pytest.skip("Django was configured elsewhere in this process")
    info = postgres.get_postmaster_info()
    settings.configure(
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.postgresql",
                "NAME": "postgres",
                "USER": "postgres",
                "HOST": str(info.socket_dir),
                "PORT": str(info.port),
                "OPTIONS": {"application_name": os.environ["APP_NAME"]},
            }
        },
        USE_TZ=True,
    )
    django.setup()


@pytest.mark.usefixtures("django_settings")
def test_django_worker_threads_keep_connections_and_the_documented_cure_does_not(
    tmp_path: Path, activity: Activity
) -> None:
    assert reported()["crm_workers.py"] == expectations("crm_workers.py") != set()
    assert reported()["crm_workers_cured.py"] == expectations("crm_workers_cured.py") == set()

    with activity.conn.cursor() as cur:
        cur.execute("SELECT member_id, count(*) FROM visits GROUP BY member_id")
        visits = dict(cur.fetchall())
    want = [visits.get(member, 0) for member in MEMBERS]

    leaky = load(copy_case("crm_workers.py", tmp_path), "crm_workers_leaky")
    try:
        counts = [job.result(timeout=30) for job in leaky.schedule_counts(MEMBERS)]
        assert counts == want
        threads = len(leaky.executor._threads)  # the workers that ran a job, still alive
        assert threads >= 1
        assert activity.settles_at(threads) == threads
        assert activity.count("idle") == threads  # open, unused, held by an idle thread
    finally:
        leaky.executor.shutdown(wait=True)
        gc.collect()  # the dead threads' connection wrappers go; psycopg closes their sockets
    assert activity.settles_at(0) == 0

    cured = load(copy_case("crm_workers_cured.py", tmp_path), "crm_workers_cured")
    try:
        counts = [job.result(timeout=30) for job in cured.schedule_counts(MEMBERS)]
        assert counts == want
        assert len(cured.executor._threads) >= 1
        assert activity.settles_at(0) == 0  # the same threads, alive, hold nothing
    finally:
        cured.executor.shutdown(wait=True)
