"""asyncpg pools (`asyncpg.create_pool`, `asyncpg.pool.Pool`).

Facts relied on (asyncpg `pool.py`, 0.29-0.30): `await pool.acquire()` and `async with
pool.acquire()` both go through `Pool._acquire(timeout)` (`PoolAcquireContext.__await__` and
`__aenter__`), and both give the connection back through `Pool.release(connection)` (the context
manager's `__aexit__` calls it). The returned `PoolConnectionProxy` is held by its pool holder
while out. `release` resets the connection, rolling back an open transaction (asyncpg
`Connection.reset`); the gate asks `connection.is_in_transaction()` before the call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from leakcheck.gate.ledger import Escape, Ledger
from leakcheck.gate.recorders import Undo
from leakcheck.gate.recorders._patch import patch_methods
from leakcheck.gate.transactions import in_transaction

KIND = "asyncpg pool connection"


def install(ledger: Ledger, library: Any) -> Undo:
    """Wrap `Pool._acquire` and `Pool.release`; returns the undo."""
    Pool = library.Pool  # `asyncpg.pool`: no type information

    def acquire(original: Callable[..., Any]) -> Callable[..., Any]:
        async def _acquire(self: Any, *args: Any, **kwargs: Any) -> Any:
            # The caller's frames are on the stack only before the first suspension.
            frames = ledger.frames.capture(None) if ledger.owner is not None else ()
            proxy = await original(self, *args, **kwargs)
            if ledger.owner is not None:
                ledger.take(id(proxy), KIND, lambda: proxy, frames=frames)
            return proxy

        return _acquire

    def release(original: Callable[..., Any]) -> Callable[..., Any]:
        async def release(self: Any, connection: Any, *args: Any, **kwargs: Any) -> None:
            open_transaction = in_transaction(connection)
            await original(self, connection, *args, **kwargs)
            ledger.give_back(id(connection), Escape.MID_TRANSACTION if open_transaction else None)

        return release

    return patch_methods([(Pool, "_acquire", acquire), (Pool, "release", release)])
