"""psycopg 3's pools: `ConnectionPool` and `AsyncConnectionPool` (psycopg_pool 3.1+).

Facts relied on (psycopg_pool `pool.py`, `pool_async.py`): `getconn()` lends a connection and
`putconn(conn)` takes it back; the `connection()` context manager calls both through `self`, so
wrapping the two methods on the classes covers it (and subclasses such as `NullConnectionPool`
that do not redefine them). The pool keeps no reference to a lent connection, only a count: the
gate holds a weakref, and a connection freed while lent is "reclaimed by the garbage collector"
(the pool still counts it as taken). `putconn` of a connection in a transaction is a programming
error the pool repairs: it rolls back and logs "rolling back returned connection" (psycopg_pool
`_reset_connection`); the gate reads `conn.info.transaction_status` before the call.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from leakcheck.gate.ledger import Escape, Ledger
from leakcheck.gate.recorders import Undo
from leakcheck.gate.recorders._patch import patch_methods
from leakcheck.gate.transactions import in_transaction

KIND = "psycopg 3 pool connection"
ASYNC_KIND = "psycopg 3 async pool connection"


def _took(ledger: Ledger, conn: Any, kind: str, frames: Any = None) -> None:
    key = id(conn)
    ledger.take(key, kind, weakref.ref(conn, lambda ref: ledger.lost(key, ref)), frames=frames)


def install(ledger: Ledger, library: Any) -> Undo:
    """Wrap getconn/putconn of both pool classes; returns the undo."""
    ConnectionPool, AsyncConnectionPool = library.ConnectionPool, library.AsyncConnectionPool

    def getconn(original: Callable[..., Any]) -> Callable[..., Any]:
        def getconn(self: Any, *args: Any, **kwargs: Any) -> Any:
            conn = original(self, *args, **kwargs)
            if ledger.owner is not None:
                _took(ledger, conn, KIND)
            return conn

        return getconn

    def putconn(original: Callable[..., Any]) -> Callable[..., Any]:
        def putconn(self: Any, conn: Any, *args: Any, **kwargs: Any) -> None:
            open_transaction = in_transaction(conn)
            original(self, conn, *args, **kwargs)
            ledger.give_back(id(conn), Escape.MID_TRANSACTION if open_transaction else None)

        return putconn

    def agetconn(original: Callable[..., Any]) -> Callable[..., Any]:
        async def getconn(self: Any, *args: Any, **kwargs: Any) -> Any:
            # The caller's frames are on the stack only before the first suspension.
            frames = ledger.frames.capture(None) if ledger.owner is not None else ()
            conn = await original(self, *args, **kwargs)
            if ledger.owner is not None:
                _took(ledger, conn, ASYNC_KIND, frames)
            return conn

        return getconn

    def aputconn(original: Callable[..., Any]) -> Callable[..., Any]:
        async def putconn(self: Any, conn: Any, *args: Any, **kwargs: Any) -> None:
            open_transaction = in_transaction(conn)
            await original(self, conn, *args, **kwargs)
            ledger.give_back(id(conn), Escape.MID_TRANSACTION if open_transaction else None)

        return putconn

    return patch_methods(
        [
            (ConnectionPool, "getconn", getconn),
            (ConnectionPool, "putconn", putconn),
            (AsyncConnectionPool, "getconn", agetconn),
            (AsyncConnectionPool, "putconn", aputconn),
        ]
    )
