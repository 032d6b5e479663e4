"""Django: database connections opened in a thread other than the test's own and not closed.

Facts relied on (Django 4.2-5.x, `django/db/backends/base/base.py`): each thread gets its own
`DatabaseWrapper` (`django.db.connections` is thread-local); `BaseDatabaseWrapper.connect()`
opens the server connection and `close()` ends it, leaving `self.connection` None (a close inside
an atomic block only marks it). Django closes connections at the end of a request
(`close_old_connections`, on `request_started` / `request_finished`), never in a thread of the
project's own, so such a thread keeps its connection for as long as it lives and beyond. SQLite
in-memory databases are exempt: their `close()` does nothing on purpose (the sqlite3 backend's
`DatabaseWrapper.close`), since closing would drop the database.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any

from leakcheck.gate.ledger import Ledger
from leakcheck.gate.recorders import Undo
from leakcheck.gate.recorders._patch import patch_methods

KIND = "Django connection opened in a thread of its own"


def _status(
    wrapper_ref: Callable[[], Any], thread_ref: Callable[[], Any], name: str
) -> Callable[[], str | None]:
    def status() -> str | None:
        wrapper = wrapper_ref()
        if wrapper is not None and getattr(wrapper, "connection", None) is None:
            return None  # closed after all
        thread = thread_ref()
        if thread is not None and thread.is_alive():
            return f"thread {name!r} is still running and holds it open, idle"
        return f"thread {name!r} ended without closing it"

    return status


def install(ledger: Ledger, library: Any) -> Undo:
    """Wrap `BaseDatabaseWrapper.connect` and `.close`; returns the undo."""
    base = library  # `django.db.backends.base.base`: no type information
    BaseDatabaseWrapper = base.BaseDatabaseWrapper

    def connect(original: Callable[..., Any]) -> Callable[..., Any]:
        def connect(self: Any, *args: Any, **kwargs: Any) -> Any:
            result = original(self, *args, **kwargs)
            if ledger.owner is None or threading.get_ident() == ledger.test_thread:
                return result
            in_memory = getattr(self, "is_in_memory_db", None)
            if callable(in_memory) and in_memory():
                return result
            thread = threading.current_thread()
            ledger.take(
                id(self),
                KIND,
                weakref.ref(self),
                status=_status(weakref.ref(self), weakref.ref(thread), thread.name),
            )
            return result

        return connect

    def close(original: Callable[..., Any]) -> Callable[..., Any]:
        def close(self: Any, *args: Any, **kwargs: Any) -> Any:
            result = original(self, *args, **kwargs)
            if getattr(self, "connection", None) is None:
                ledger.give_back(id(self))
            return result

        return close

    return patch_methods(
        [(BaseDatabaseWrapper, "connect", connect), (BaseDatabaseWrapper, "close", close)]
    )
