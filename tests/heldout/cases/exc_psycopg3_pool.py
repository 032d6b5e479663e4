"""Feature flags read through a psycopg 3 pool, checked out by hand."""

from psycopg_pool import ConnectionPool

pool = ConnectionPool("dbname=flags", min_size=1, max_size=4)


def load_flags(tenant_id: int) -> dict[str, bool]:
    conn = pool.getconn()  # expect: LC102
    rows = conn.execute(
        "SELECT name, enabled FROM flags WHERE tenant_id = %s", (tenant_id,)
    ).fetchall()
    pool.putconn(conn)
    return {name: enabled for name, enabled in rows}
