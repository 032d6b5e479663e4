"""A reporting connection class that commits, closes the cursor, then the connection."""

import psycopg2

from settings import DATABASE


class ReportingDB:
    def __enter__(self):
        self.conn = psycopg2.connect(**DATABASE)  # expect: LC202
        self.cur = self.conn.cursor()
        return self.cur

    def __exit__(self, *exc):
        self.conn.commit()
        self.cur.close()
        self.conn.close()
