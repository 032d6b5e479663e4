"""A factory configuring a fresh direct connection and returning it: the caller owns it."""

import psycopg2


def autocommit_connection(dsn: str):
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    return conn
