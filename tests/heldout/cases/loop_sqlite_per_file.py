"""Summing sizes over many SQLite files; closed per iteration, but not if a query fails."""

import sqlite3


def total_rows(paths: list[str]) -> int:
    total = 0
    for path in paths:
        conn = sqlite3.connect(path)  # expect: LC202
        total += conn.execute("SELECT count(*) FROM log").fetchone()[0]
        conn.close()
    return total
