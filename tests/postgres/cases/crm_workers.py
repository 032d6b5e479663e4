"""Background jobs of a Django CRM (incident 3's kind of project): visit counts computed on a thread
pool of the project's own. Django closes a request's connection when the request ends; a worker
thread has no request, so each thread keeps the connection it opened, idle, for as long as it lives.
"""

from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor

from django.db import connection

executor = ThreadPoolExecutor(
    max_workers=int(os.environ.get("CRM_WORKERS", "4")), thread_name_prefix="crm-jobs"
)


def count_visits(member_id: int) -> int:
    with connection.cursor() as cursor:  # expect: LC506
        cursor.execute("SELECT count(*) FROM visits WHERE member_id = %s", [member_id])
        return cursor.fetchone()[0]


def schedule_counts(member_ids: list[int]) -> list[Future[int]]:
    return [executor.submit(count_visits, member_id) for member_id in member_ids]
