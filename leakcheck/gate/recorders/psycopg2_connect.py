"""psycopg2 connections opened by the project's own code with `psycopg2.connect()`, outside any
pool: the test fails if one is still open at its end or is freed without `close()`.

Facts relied on (psycopg2 2.9, `psycopg2/__init__.py` and the `connection` docs):
`psycopg2.connect(dsn, connection_factory=None, cursor_factory=None, **kwargs)` builds its
connection with `connection_factory`, which may be any subclass of
`psycopg2.extensions.connection`; `with conn:` ends the transaction but does not close ("the
connection is not closed by the context"); a connection freed by the garbage collector is closed
by its destructor. The gate passes a subclass of its own, which tells it of `close()` and can be
watched with a weakref (the C type cannot), only when the caller gives no factory and is the
project's own code: connections SQLAlchemy, Django or a pool open for themselves are not the
test's to close, and a caller's own factory is left alone.
"""

from __future__ import annotations

import importlib
import sys
import weakref
from collections.abc import Callable
from typing import Any

from leakcheck.gate.ledger import Escape, Ledger
from leakcheck.gate.recorders import Undo

KIND = "psycopg2 connection (no pool)"


def install(ledger: Ledger, library: Any) -> Undo:
    """Wrap `psycopg2.connect`; returns the undo."""
    psycopg2 = library
    extensions: Any = importlib.import_module(f"{library.__name__}.extensions")
    original: Callable[..., Any] = psycopg2.connect

    class TrackedConnection(extensions.connection):  # type: ignore[misc]
        """psycopg2's connection, which reports `close()` to the gate."""

        def close(self) -> None:
            super().close()
            ledger.give_back(id(self))

    def status(ref: Callable[[], Any]) -> Callable[[], str | None]:
        def still_open() -> str | None:
            conn = ref()
            return None if conn is None or conn.closed else "never closed"

        return still_open

    def connect(
        dsn: Any = None, connection_factory: Any = None, cursor_factory: Any = None, **kw: Any
    ) -> Any:
        caller = sys._getframe(1).f_code.co_filename
        if connection_factory is not None or ledger.owner is None:
            return original(dsn, connection_factory, cursor_factory, **kw)
        if not ledger.frames.is_own(caller):
            return original(dsn, connection_factory, cursor_factory, **kw)
        conn = original(dsn, TrackedConnection, cursor_factory, **kw)
        key = id(conn)

        def lost(ref: Any) -> None:
            entry = ledger.out.get(key)
            if entry is not None and entry.ref is ref:
                ledger.give_back(key, Escape.COLLECTED, "never closed")

        ref = weakref.ref(conn, lost)
        ledger.take(key, KIND, ref, status=status(ref))
        return conn

    psycopg2.connect = connect

    def undo() -> None:
        psycopg2.connect = original

    return undo
