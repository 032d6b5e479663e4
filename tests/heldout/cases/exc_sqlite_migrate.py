"""Tiny schema migration for a desktop app's local cache."""

import sqlite3

SCHEMA = """
CREATE TABLE IF NOT EXISTS thumbnails (path TEXT PRIMARY KEY, blob BLOB, mtime REAL);
"""


def migrate(db_path: str) -> None:
    conn = sqlite3.connect(db_path)  # expect: LC202
    conn.executescript(SCHEMA)
    conn.execute("PRAGMA user_version = 2")
    conn.commit()
    conn.close()
