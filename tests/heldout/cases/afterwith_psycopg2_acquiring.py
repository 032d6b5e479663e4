"""Refreshing a materialised view from a cron script."""

import psycopg2


def refresh_dashboard(dsn: str) -> None:
    with psycopg2.connect(dsn) as conn:  # expect: LC202
        with conn.cursor() as cur:
            cur.execute("REFRESH MATERIALIZED VIEW CONCURRENTLY dashboard_totals")
    conn.close()
