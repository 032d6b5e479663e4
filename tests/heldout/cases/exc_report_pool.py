"""Daily sales report over a psycopg2 threaded pool (shape common in Flask back offices)."""

import psycopg2.pool

from settings import DSN

db_pool = psycopg2.pool.ThreadedConnectionPool(2, 10, DSN)


def sales_for_day(day):
    conn = db_pool.getconn()  # expect: LC102
    cur = conn.cursor()
    cur.execute("SELECT sku, sum(qty) FROM sales WHERE day = %s GROUP BY sku", (day,))
    totals = dict(cur.fetchall())
    cur.close()
    db_pool.putconn(conn)
    return totals
