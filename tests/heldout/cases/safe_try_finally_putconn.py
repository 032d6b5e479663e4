"""getconn/putconn with the release in `finally` and nothing before it."""

from psycopg2.pool import ThreadedConnectionPool

pool = ThreadedConnectionPool(1, 5, "dbname=hr")


def headcount(department: str) -> int:
    conn = pool.getconn()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM staff WHERE department = %s", (department,))
            return cur.fetchone()[0]
    finally:
        pool.putconn(conn)
