"""Retrying on a dropped connection by taking a new one into the same name."""

import psycopg2
from psycopg2.pool import ThreadedConnectionPool

pool = ThreadedConnectionPool(1, 6, "dbname=metrics")


def latest_value(metric: str):
    conn = pool.getconn()  # expect: LC105
    try:
        cur = conn.cursor()
        cur.execute("SELECT value FROM metrics WHERE name = %s ORDER BY at DESC LIMIT 1", (metric,))
    except psycopg2.OperationalError:
        conn = pool.getconn()  # expect: LC102
        cur = conn.cursor()
        cur.execute("SELECT value FROM metrics WHERE name = %s ORDER BY at DESC LIMIT 1", (metric,))
    row = cur.fetchone()
    pool.putconn(conn)
    return row[0] if row else None
