"""`with pool.getconn() as conn:` commits; the connection is put back after the block."""

from psycopg2.pool import ThreadedConnectionPool

pool = ThreadedConnectionPool(1, 10, "dbname=catalog")


def rename_category(old: str, new: str) -> int:
    with pool.getconn() as conn:  # expect: LC102
        with conn.cursor() as cur:
            cur.execute("UPDATE categories SET name = %s WHERE name = %s", (new, old))
            changed = cur.rowcount
    pool.putconn(conn)
    return changed
