"""A pooled-connection context manager whose `__exit__` puts back in `finally`."""

from psycopg2.pool import ThreadedConnectionPool


class Transaction:
    def __init__(self, pool: ThreadedConnectionPool) -> None:
        self.pool = pool

    def __enter__(self):
        self.conn = self.pool.getconn()
        return self.conn

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                self.conn.commit()
            else:
                self.conn.rollback()
        finally:
            self.pool.putconn(self.conn)
