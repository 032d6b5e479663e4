"""Archiving an order: the connection goes back only when something fails."""

import psycopg2
from psycopg2.pool import SimpleConnectionPool

orders_pool = SimpleConnectionPool(1, 10, "dbname=orders")


def archive_order(order_id: int) -> None:
    conn = orders_pool.getconn()  # expect: LC103
    try:
        cur = conn.cursor()
        cur.execute("INSERT INTO orders_archive SELECT * FROM orders WHERE id = %s", (order_id,))
        cur.execute("DELETE FROM orders WHERE id = %s", (order_id,))
        conn.commit()
    except psycopg2.Error:
        conn.rollback()
        orders_pool.putconn(conn)
        raise
