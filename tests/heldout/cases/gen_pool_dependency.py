"""A FastAPI dependency handing out a pooled connection, put back after the yield."""

from psycopg2.pool import ThreadedConnectionPool

pool = ThreadedConnectionPool(1, 10, "dbname=api")


def get_conn():
    conn = pool.getconn()  # expect: LC107
    yield conn
    conn.commit()
    pool.putconn(conn)
