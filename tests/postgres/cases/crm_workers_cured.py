"""Background jobs of a Django CRM, cured by hand as LC506's documentation shows: each job closes
its thread's connection in `finally` (`close_old_connections()`; with the default `CONN_MAX_AGE = 0`
every connection is old once the job is done).
"""

from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor

from django.db import close_old_connections, connection

executor = ThreadPoolExecutor(
    max_workers=int(os.environ.get("CRM_WORKERS", "4")), thread_name_prefix="crm-jobs"
)


def count_visits(member_id: int) -> int:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM visits WHERE member_id = %s", [member_id])
            return cursor.fetchone()[0]
    finally:
        close_old_connections()


def schedule_counts(member_ids: list[int]) -> list[Future[int]]:
    return [executor.submit(count_visits, member_id) for member_id in member_ids]
