"""Exporting notes: the cursor is closed, the connection is not."""

import sqlite3
from contextlib import closing


def export_notes(db_path: str) -> list[tuple[str, str]]:
    with sqlite3.connect(db_path) as conn, closing(conn.cursor()) as cur:  # expect: LC201
        cur.execute("SELECT title, body FROM notes ORDER BY created")
        return cur.fetchall()
