"""Saving user preferences: `with conn:` commits, and the close comes after it."""

import json
import sqlite3


def save_preferences(db_path: str, user: str, prefs: dict) -> None:
    conn = sqlite3.connect(db_path)  # expect: LC202
    with conn:
        conn.execute(
            "INSERT OR REPLACE INTO prefs (user, data) VALUES (?, ?)", (user, json.dumps(prefs))
        )
    conn.close()
