"""Loading a CSV: the file and the connection opened in one `with`; only the file is closed."""

import psycopg2


def load_csv(dsn: str, path: str, table: str) -> None:
    with open(path) as fh, psycopg2.connect(dsn) as conn:  # expect: LC201
        with conn.cursor() as cur:
            cur.copy_expert(f"COPY {table} FROM STDIN WITH CSV HEADER", fh)
