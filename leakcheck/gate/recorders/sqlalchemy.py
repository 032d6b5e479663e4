"""SQLAlchemy: every engine's pool, through the pool events registered on the `Pool` class.

Facts relied on (SQLAlchemy 2.0 / 2.1, `sqlalchemy/pool/events.py` and `pool/base.py`):
- `PoolEvents.checkout(dbapi_connection, connection_record, connection_proxy)` fires when a
  connection leaves the pool; `connection_proxy` is the `_ConnectionFairy` the caller holds.
  A listener on the `Pool` class applies to every pool, existing and future ("listen on the Pool
  class", `PoolEvents` docs).
- `PoolEvents.checkin(dbapi_connection, connection_record)` fires when it comes back, both from
  an explicit close and from the garbage collector: the fairy is watched by `weakref.finalize`
  (`_ConnectionFairy.__init__`), whose callback `_finalize_fairy(..., is_gc_cleanup=True)` checks
  the record in. A checkin whose fairy is already dead is therefore a garbage-collector reclaim
  (the same reclaim SQLAlchemy warns about, "The garbage collector is trying to clean up
  non-checked-in connection", for async drivers). `PoolEvents.detach` is the way out of the pool
  for `Connection.detach()` and for that async garbage-collector path.
- `PoolEvents.reset(dbapi_connection, connection_record, reset_state)` (2.0+) fires before the
  pool's rollback-on-return; `PoolResetState.transaction_was_reset` is True when the `Connection`
  (or `Session`) ended its transaction itself. `Connection.close()` and `Session.close()` always
  do, as documented ("Reset On Return"), so only a raw DB-API connection (`engine.raw_connection()`,
  `pool.connect()`) handed back mid-transaction, or a pool with `reset_on_return=None`, is
  "returned with a transaction still open".
- A `Session` takes its connection lazily, in `Session._connection_for_bind` (orm/session.py);
  the gate notes where each Session was created (`Session.__init__`) to name that line as well.
- `SingletonThreadPool` (SQLite `:memory:`) and `StaticPool` lend one connection: a second
  `connect()` while it is out reuses it (`_ConnectionFairy._checkout_existing`, no event), and it
  goes back only when every such user has closed. The checkout named is then the first one.
"""

from __future__ import annotations

import sys
import weakref
from collections.abc import Callable
from types import FrameType
from typing import Any

from leakcheck.gate.frames import RawFrame
from leakcheck.gate.ledger import Escape, Ledger
from leakcheck.gate.recorders import Undo
from leakcheck.gate.recorders._patch import patch_methods
from leakcheck.gate.transactions import in_transaction

KIND = "SQLAlchemy pool connection"
ORIGIN = "_leakcheck_gate_origin"  # where a Session was created, set on the Session
# Frames searched for the Session that asked for the connection: from the listener (through the
# event's call, the pool's checkout, `Engine.connect`) to `Session._connection_for_bind` are about
# a dozen.
SEARCH = 24
SHARED = (
    "a {} lends one connection to every connect() of a thread; it stays out until the last of"
    " them is closed, which may be a later connect() than the one named here"
)


def install(ledger: Ledger, library: Any) -> Undo:
    """Listen to checkout/checkin/detach/reset on `sqlalchemy.pool.Pool` and note Sessions'
    creation sites; returns the undo (removes the listeners, restores `Session.__init__`)."""
    from sqlalchemy import event
    from sqlalchemy.orm import Session
    from sqlalchemy.pool import Pool, SingletonThreadPool, StaticPool

    session_code = getattr(getattr(Session, "_connection_for_bind", None), "__code__", None)

    sessions_made = [False]  # no Session yet: no Session can be asking, skip the search

    def origin() -> tuple[RawFrame, ...] | None:
        """Where the Session asking for this connection was made; () when no Session asks;
        None when a Session made outside any test (a wider-scoped fixture's) asks."""
        if session_code is None or not sessions_made[0]:
            return ()
        frame: FrameType | None = sys._getframe(1)
        for _ in range(SEARCH):
            if frame is None:
                return ()
            if frame.f_code is session_code:
                session = frame.f_locals.get("self")
                made: tuple[RawFrame, ...] | None = getattr(session, ORIGIN, None)
                return made
            frame = frame.f_back
        return ()

    def on_checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        if ledger.owner is None:
            return
        made = origin()
        if made is None:
            return  # the connection of a Session a wider-scoped fixture made
        pool = getattr(proxy, "_pool", None)
        shared = isinstance(pool, (SingletonThreadPool, StaticPool))
        ledger.take(
            id(record),
            KIND,
            weakref.ref(proxy),
            origin=made,
            origin_label="session created" if made else "",
            note=SHARED.format(type(pool).__name__) if shared else "",
        )

    def on_reset(dbapi_connection: Any, record: Any, state: Any) -> None:
        entry = ledger.out.get(id(record))
        if entry is None:
            return
        entry.reset = True
        if not getattr(state, "transaction_was_reset", True) and in_transaction(dbapi_connection):
            entry.flagged = Escape.MID_TRANSACTION

    def returned(dbapi_connection: Any, record: Any) -> None:
        entry = ledger.out.get(id(record))
        if entry is None:
            return
        if entry.ref() is None:
            ledger.give_back(id(record), Escape.COLLECTED)
        elif entry.flagged is not None:
            ledger.give_back(id(record))
        elif not entry.reset and dbapi_connection is not None and in_transaction(dbapi_connection):
            ledger.give_back(id(record), Escape.MID_TRANSACTION, "the pool does not reset it")
        else:
            ledger.give_back(id(record))

    listeners: list[tuple[str, Callable[..., Any]]] = [
        ("checkout", on_checkout),
        ("reset", on_reset),
        ("checkin", returned),
        ("detach", returned),
    ]
    for name, listener in listeners:
        event.listen(Pool, name, listener)

    def wrap_init(original: Any) -> Any:
        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            original(self, *args, **kwargs)
            sessions_made[0] = True
            if ledger.owner is not None:
                setattr(self, ORIGIN, ledger.frames.capture(sys._getframe(1)))

        __init__.__wrapped__ = original  # type: ignore[attr-defined]
        return __init__

    restore = patch_methods([(Session, "__init__", wrap_init)])

    def undo() -> None:
        restore()
        for name, listener in listeners:
            if event.contains(Pool, name, listener):
                event.remove(Pool, name, listener)

    return undo
