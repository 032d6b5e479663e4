"""A job-queue producer on a direct psycopg2 connection."""

import psycopg2


def enqueue(dsn: str, payload: str) -> None:
    conn = psycopg2.connect(dsn)  # expect: LC203
    try:
        with conn.cursor() as cur:
            cur.execute("INSERT INTO jobs (payload) VALUES (%s)", (payload,))
            cur.execute("NOTIFY jobs")
        conn.commit()
    except Exception:
        conn.rollback()
        conn.close()
        raise
