"""Nightly copy of yesterday's events into the warehouse."""

import psycopg2


def copy_events(dsn: str, csv_file) -> None:
    conn = psycopg2.connect(dsn)  # expect: LC202
    cur = conn.cursor()
    cur.copy_expert("COPY events_staging FROM STDIN WITH CSV HEADER", csv_file)
    cur.execute("INSERT INTO events SELECT * FROM events_staging ON CONFLICT DO NOTHING")
    conn.commit()
    conn.close()
