"""Whether a DB-API connection is inside a transaction, asked the way each driver answers it.

- psycopg 3: `conn.info.transaction_status`, a `psycopg.pq.TransactionStatus`; psycopg2 >= 2.8:
  the same `conn.info.transaction_status`. Both are libpq's `PQtransactionStatus`: IDLE 0, ACTIVE
  1, INTRANS 2, INERROR 3, UNKNOWN 4 (no usable connection). ACTIVE and INTRANS count; INERROR
  does not: the transaction already failed and the caller saw the exception, and every pool rolls
  it back on return (psycopg_pool `_reset_connection`, psycopg2 `_putconn`), so the ordinary
  `try: ... finally: pool.putconn(conn)` around a query that raised is not a failure. INTRANS is
  work neither committed nor rolled back, which the pool's rollback throws away unseen.
- sqlite3: `conn.in_transaction` (Python docs, `sqlite3.Connection.in_transaction`).
- asyncpg: `conn.is_in_transaction()` (asyncpg API reference, `Connection.is_in_transaction`).

Anything else, or a connection that cannot answer (closed, released), is "not known": never a
failure.
"""

from __future__ import annotations

from typing import Any

_OPEN = (1, 2)  # libpq PQTRANS_ACTIVE, PQTRANS_INTRANS


def in_transaction(conn: Any) -> bool:
    """True when `conn` (a DB-API connection, an asyncpg connection or pool proxy) reports an
    open transaction; False when it reports none or cannot say. Never raises."""
    try:
        flag = getattr(conn, "in_transaction", None)
        if isinstance(flag, bool):
            return flag
        info = getattr(conn, "info", None)
        status = getattr(info, "transaction_status", None)
        if status is not None:
            return int(status) in _OPEN
        method = getattr(conn, "is_in_transaction", None)
        if callable(method):
            return bool(method())
    except Exception:
        return False
    return False
