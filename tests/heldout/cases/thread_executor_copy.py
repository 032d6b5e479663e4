"""A bulk copy run on an executor; the caller prepares the session settings first."""

from concurrent.futures import ThreadPoolExecutor

import psycopg2

executor = ThreadPoolExecutor(max_workers=2)


def copy_table(conn, table: str) -> None:
    try:
        with conn.cursor() as cur:
            cur.execute(f"INSERT INTO archive.{table} SELECT * FROM {table}")
        conn.commit()
    finally:
        conn.close()


def schedule_copy(dsn: str, table: str):
    conn = psycopg2.connect(dsn)  # expect: LC202
    conn.cursor().execute("SET statement_timeout = '10min'")
    return executor.submit(copy_table, conn, table)
