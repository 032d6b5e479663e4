"""A classic sqlite wrapper: commit, then close, in `__exit__`."""

import sqlite3


class Database:
    def __init__(self, path: str) -> None:
        self.path = path

    def __enter__(self):
        self.conn = sqlite3.connect(self.path)  # expect: LC202
        return self.conn

    def __exit__(self, exc_type, exc_value, traceback):
        self.conn.commit()
        self.conn.close()
