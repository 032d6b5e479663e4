"""A connection factory that configures pooled connections before handing them out."""

import psycopg2.pool

pool = psycopg2.pool.SimpleConnectionPool(1, 8, "dbname=ledger")


def ledger_connection(read_only: bool = False):
    conn = pool.getconn()  # expect: LC102
    conn.set_session(readonly=read_only, autocommit=True)
    return conn


def release(conn):
    pool.putconn(conn)
