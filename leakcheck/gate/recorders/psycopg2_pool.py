"""psycopg2's pools (`SimpleConnectionPool`, `ThreadedConnectionPool`, `PersistentConnectionPool`).

Facts relied on (psycopg2 `lib/pool.py`, 2.9): every pool's `getconn` / `putconn` end in
`AbstractConnectionPool._getconn(key=None)` and `_putconn(conn, key=None, close=False)`, so those
two are wrapped, and `SimpleConnectionPool.getconn` / `putconn`, which are the same functions
bound as class attributes when the class was made. `_getconn` with a key already out returns the
same connection again (not a new checkout). The pool keeps lent connections in `_used`, so
holding one strongly changes nothing. `_putconn` rolls back a connection whose
`info.transaction_status` is not idle before pooling it; the gate reads
`conn.get_transaction_status()` (psycopg2 `connection` docs) before the call, unless
`close=True` (the connection is discarded, not reused) or it is closed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from leakcheck.gate.ledger import Escape, Ledger
from leakcheck.gate.recorders import Undo
from leakcheck.gate.recorders._patch import patch_methods

KIND = "psycopg2 pool connection"
# psycopg2.extensions.TRANSACTION_STATUS_ACTIVE, _INTRANS; not _INERROR (see `transactions`).
OPEN = (1, 2)


def _open_transaction(conn: Any, close: bool) -> bool:
    try:
        return not close and not conn.closed and conn.get_transaction_status() in OPEN
    except Exception:
        return False


def install(ledger: Ledger, library: Any) -> Undo:
    """Wrap `AbstractConnectionPool._getconn` / `_putconn` (and `SimpleConnectionPool`'s copies);
    returns the undo."""
    pool = library  # `psycopg2.pool`: no type information
    AbstractConnectionPool = pool.AbstractConnectionPool
    SimpleConnectionPool = pool.SimpleConnectionPool

    def getconn(original: Callable[..., Any]) -> Callable[..., Any]:
        def _getconn(self: Any, *args: Any, **kwargs: Any) -> Any:
            conn = original(self, *args, **kwargs)
            if ledger.owner is not None:
                ledger.take(id(conn), KIND, lambda: None if conn.closed else conn)
            return conn

        return _getconn

    def putconn(original: Callable[..., Any]) -> Callable[..., Any]:
        def _putconn(
            self: Any, conn: Any, key: Any = None, close: bool = False, *args: Any, **kw: Any
        ) -> None:
            if conn is None:  # `putconn(key=...)`: the pool finds the connection by its key
                conn = getattr(self, "_used", {}).get(key)
            open_transaction = _open_transaction(conn, close)
            original(self, conn, key, close, *args, **kw)
            ledger.give_back(id(conn), Escape.MID_TRANSACTION if open_transaction else None)

        return _putconn

    return patch_methods(
        [
            (AbstractConnectionPool, "_getconn", getconn),
            (AbstractConnectionPool, "_putconn", putconn),
            (SimpleConnectionPool, "getconn", getconn),
            (SimpleConnectionPool, "putconn", putconn),
        ]
    )
