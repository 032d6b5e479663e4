"""Ownership returned to the caller, and the caller's `with closing()`."""

import sqlite3
from contextlib import closing


def open_readonly(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    return conn


def count_rows(path: str, table: str) -> int:
    with closing(open_readonly(path)) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
