"""A warehouse client whose `open()` hands out a raw connection."""

import psycopg2


class Warehouse:
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    def open(self):
        return psycopg2.connect(self.dsn)


def load_dimension(dsn: str, rows) -> None:
    conn = Warehouse(dsn).open()  # expect: LC202
    cur = conn.cursor()
    cur.executemany("INSERT INTO dim_store (code, city) VALUES (%s, %s)", rows)
    conn.commit()
    conn.close()
