"""The record of checkouts while the gate is on: who took each connection (the running test, or
nobody while a wider-scoped fixture sets up), where (raw frames), and how each one ended.

Recorders call `take` at a checkout and `give_back` / `lost` at its end; the plugin calls `begin`
when a test starts and `settle` once it and its function-scoped fixtures are done. The ledger
holds no lock: its writes are single dict and list operations, atomic under the GIL, and a lock
could deadlock when a weakref callback runs inside a locked section of the same thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from leakcheck.gate.frames import FrameFilter, RawFrame
from leakcheck.model import TextEnum


class Escape(TextEnum):
    """How a connection escaped the test that took it."""

    STILL_OUT = "still checked out when the test ended (after its function-scoped fixtures)"
    COLLECTED = "reclaimed by the garbage collector instead of being returned"
    MID_TRANSACTION = "returned to its pool with a transaction still open"

    @property
    def short(self) -> str:
        """A few words for the one-line summary."""
        return {
            "STILL_OUT": "still checked out",
            "COLLECTED": "collected, never returned",
            "MID_TRANSACTION": "returned mid-transaction",
        }[self.name]


@dataclass
class Checkout:
    """One connection a test took and has not given back yet."""

    kind: str  # what was taken, for people: "SQLAlchemy pool connection"
    frames: tuple[RawFrame, ...]  # the project's frames at the checkout, innermost first
    owner: str  # the test's node id
    ref: Callable[[], Any]  # the connection, or None once it is gone (a weakref or a closure)
    origin: tuple[RawFrame, ...] = ()  # where the object that took it was made (a Session)
    origin_label: str = ""  # "session created"
    # At the test's end, whether it is still out, and how: None when it is in fact released
    # (a Django wrapper closed by a path no recorder sees), else the detail to print.
    status: Callable[[], str | None] | None = None
    flagged: Escape | None = None  # a problem seen before the return completed (a reset)
    note: str = ""  # what a reader needs to know about this pool to read the site right
    reset: bool = False  # the pool reset it on return (SQLAlchemy), so its state was judged then


@dataclass(frozen=True)
class Leak:
    """A checkout that escaped its test, and how."""

    checkout: Checkout
    escape: Escape
    detail: str = ""


@dataclass
class Ledger:
    """Checkouts in flight, keyed by the identity of the pooled object, and escapes found."""

    frames: FrameFilter = field(default_factory=FrameFilter)
    owner: str | None = None  # the running test's node id; None: nobody's (not recorded)
    test_thread: int = 0  # the thread that runs the tests
    out: dict[int, Checkout] = field(default_factory=dict)
    leaks: list[Leak] = field(default_factory=list)
    recorded: int = 0  # checkouts recorded this session, for the summary line

    def begin(self, owner: str) -> None:
        """A test starts: what is taken from now on is `owner`'s."""
        self.owner = owner
        self.test_thread = threading.get_ident()

    def take(
        self,
        key: int,
        kind: str,
        ref: Callable[[], Any],
        frames: tuple[RawFrame, ...] | None = None,
        origin: tuple[RawFrame, ...] = (),
        origin_label: str = "",
        status: Callable[[], str | None] | None = None,
        note: str = "",
    ) -> None:
        """Record a checkout of the object whose `id()` is `key`, unless nobody owns it (a
        wider-scoped fixture, collection) or it is already out (psycopg2's keyed `getconn`)."""
        owner = self.owner
        if owner is None:
            return
        known = self.out.get(key)
        if known is not None and known.ref() is not None:
            return
        if frames is None:
            frames = self.frames.capture(None)
        self.out[key] = Checkout(kind, frames, owner, ref, origin, origin_label, status, note=note)
        self.recorded += 1

    def flag(self, key: int, escape: Escape) -> None:
        """Note a problem with a checkout that is being returned (the reset before a checkin)."""
        entry = self.out.get(key)
        if entry is not None:
            entry.flagged = escape

    def give_back(self, key: int, escape: Escape | None = None, detail: str = "") -> None:
        """The object `key` went back; with `escape`, in a way that fails its test."""
        entry = self.out.pop(key, None)
        if entry is None:
            return
        escape = escape or entry.flagged
        if escape is not None:
            self.leaks.append(Leak(entry, escape, detail))

    def lost(self, key: int, ref: object) -> None:
        """The weakref `ref` of checkout `key` died while it was out: the garbage collector
        freed the connection, nobody returned it (a weakref callback)."""
        entry = self.out.get(key)
        if entry is not None and entry.ref is ref:
            self.give_back(key, Escape.COLLECTED)

    def settle(self, owner: str) -> list[Leak]:
        """What `owner` (a test, now finished) leaked; its checkouts leave the ledger."""
        self.owner = None
        found = [leak for leak in self.leaks if leak.checkout.owner == owner]
        self.leaks = [leak for leak in self.leaks if leak.checkout.owner != owner]
        for key, entry in list(self.out.items()):
            if entry.owner != owner:
                continue
            del self.out[key]
            detail = entry.status() if entry.status is not None else ""
            if detail is not None:
                found.append(Leak(entry, Escape.STILL_OUT, detail))
        return found
