"""Per-tenant vacuum; each iteration takes a connection, one is put back after the loop."""

import psycopg2.pool

pool = psycopg2.pool.ThreadedConnectionPool(1, 3, "dbname=saas")


def vacuum_tenants(tenants: list[str]) -> None:
    for tenant in tenants:
        conn = pool.getconn()  # expect: LC106
        conn.autocommit = True
        cur = conn.cursor()
        cur.execute(f'VACUUM ANALYZE "{tenant}".events')
    pool.putconn(conn)
