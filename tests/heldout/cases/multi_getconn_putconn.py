"""Multi-item `with` on a pooled connection, put back after the block."""

from psycopg2.pool import SimpleConnectionPool

pool = SimpleConnectionPool(1, 4, "dbname=inventory")


def stock_level(sku: str) -> int:
    with pool.getconn() as conn, conn.cursor() as cur:  # expect: LC102
        cur.execute("SELECT quantity FROM stock WHERE sku = %s", (sku,))
        (quantity,) = cur.fetchone()
    pool.putconn(conn)
    return quantity
