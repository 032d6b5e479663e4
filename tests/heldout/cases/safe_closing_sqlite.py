"""sqlite: `closing()` closes, the inner `with conn` commits."""

import sqlite3
from contextlib import closing


def add_tag(db_path: str, tag: str) -> None:
    with closing(sqlite3.connect(db_path)) as conn, conn:
        conn.execute("INSERT OR IGNORE INTO tags (name) VALUES (?)", (tag,))
