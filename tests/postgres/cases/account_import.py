"""Nightly account import with `with psycopg2.connect(...) as conn:`, which commits or rolls back
but does not close the connection (psycopg2 documents this: "the connection is not closed by the
context"). Rows that fail are kept with their exception for the morning report; each exception's
traceback holds the frame, and so the still-open connection, until the report is sent.
"""

from __future__ import annotations

import os

import psycopg2


class AccountImport:
    def __init__(self) -> None:
        self.failures: list[tuple[dict[str, object], Exception]] = []
        self.imported = 0

    def run(self, rows: list[dict[str, object]]) -> None:
        for row in rows:
            try:
                self.import_row(row)
            except psycopg2.IntegrityError as exc:
                self.failures.append((row, exc))
            else:
                self.imported += 1

    def import_row(self, row: dict[str, object]) -> None:
        with psycopg2.connect(os.environ["DATABASE_URL"]) as conn:  # expect: LC201
            with conn.cursor() as cur:
                cur.execute(
                    "INSERT INTO accounts (id, email) VALUES (%(id)s, %(email)s)", row
                )
