"""Looking up an API key; returns early when the key is unknown."""

from psycopg2.pool import ThreadedConnectionPool

keys_pool = ThreadedConnectionPool(1, 5, "dbname=auth")


def owner_of(api_key: str):
    conn = keys_pool.getconn()  # expect: LC103
    cur = conn.cursor()
    cur.execute("SELECT owner_id, revoked FROM api_keys WHERE key = %s", (api_key,))
    row = cur.fetchone()
    if row is None:
        return None
    keys_pool.putconn(conn)
    owner_id, revoked = row
    return None if revoked else owner_id
