"""Bookmark store of a small CLI tool."""

import sqlite3


def add_bookmark(db_file: str, url: str, title: str) -> int:
    conn = sqlite3.connect(db_file)  # expect: LC203
    try:
        cur = conn.execute("INSERT INTO bookmarks (url, title) VALUES (?, ?)", (url, title))
        conn.commit()
        return cur.lastrowid
    except sqlite3.Error:
        conn.close()
        raise
