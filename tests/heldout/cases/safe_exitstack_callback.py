"""ExitStack registers the release right after the acquisition."""

from contextlib import ExitStack

from psycopg2.pool import SimpleConnectionPool

pool = SimpleConnectionPool(1, 4, "dbname=geo")


def nearest_city(lat: float, lon: float) -> str:
    with ExitStack() as stack:
        conn = pool.getconn()
        stack.callback(pool.putconn, conn)
        cur = conn.cursor()
        cur.execute("SELECT name FROM cities ORDER BY geom <-> ST_Point(%s, %s) LIMIT 1", (lon, lat))
        return cur.fetchone()[0]
