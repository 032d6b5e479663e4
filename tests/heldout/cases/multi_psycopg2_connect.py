"""A management command: `with connect() as conn, conn.cursor() as cur` leaves the connection open."""

import psycopg2


def count_pending_emails(dsn: str) -> int:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:  # expect: LC201
        cur.execute("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
        return cur.fetchone()[0]
