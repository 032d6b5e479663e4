"""Re-opening the database after a schema upgrade, over the old connection."""

import sqlite3

from upgrade import needs_upgrade, upgrade_schema


def open_store(path: str) -> list:
    conn = sqlite3.connect(path)  # expect: LC205
    if needs_upgrade(conn):
        upgrade_schema(path)
        conn = sqlite3.connect(path)  # expect: LC202
    rows = conn.execute("SELECT key, value FROM store").fetchall()
    conn.close()
    return rows
