"""A cursor-from-pool class; `__exit__` commits and closes the cursor before putting back."""

from psycopg2.pool import SimpleConnectionPool


class PooledCursor:
    pool = SimpleConnectionPool(1, 10, "dbname=blog")

    def __init__(self) -> None:
        self.conn = None
        self.cursor = None

    def __enter__(self):
        self.conn = self.pool.getconn()  # expect: LC102
        self.cursor = self.conn.cursor()
        return self.cursor

    def __exit__(self, exc_type, exc_val, exc_tb):
        self.cursor.close()
        if exc_val is None:
            self.conn.commit()
        else:
            self.conn.rollback()
        self.pool.putconn(self.conn)
