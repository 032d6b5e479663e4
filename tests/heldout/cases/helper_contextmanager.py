"""The project already has a pooled-cursor helper; one function bypasses it."""

from contextlib import contextmanager

from psycopg2.pool import ThreadedConnectionPool

pool = ThreadedConnectionPool(1, 8, "dbname=gym")


@contextmanager
def get_db_cursor(commit: bool = False):
    conn = pool.getconn()
    try:
        cursor = conn.cursor()
        yield cursor
        if commit:
            conn.commit()
    finally:
        pool.putconn(conn)


def member_visits(member_id: int) -> int:
    with get_db_cursor() as cursor:
        cursor.execute("SELECT count(*) FROM visits WHERE member_id = %s", (member_id,))
        return cursor.fetchone()[0]


def record_visit(member_id: int) -> None:
    conn = pool.getconn()  # expect: LC102
    cursor = conn.cursor()
    cursor.execute("INSERT INTO visits (member_id) VALUES (%s)", (member_id,))
    conn.commit()
    pool.putconn(conn)
