"""Creating a tenant schema; the transaction block ends before the connection is closed."""

import psycopg2
from psycopg2 import sql


def create_tenant_schema(dsn: str, tenant: str) -> None:
    conn = psycopg2.connect(dsn)  # expect: LC202
    with conn:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(tenant)))
    conn.close()
