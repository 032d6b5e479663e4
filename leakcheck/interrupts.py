"""Ctrl-C and SIGTERM: stop the run cleanly, and never in the middle of writing a file.

`terminate_raises()` turns SIGTERM into a `Terminated` exception, as Python already turns SIGINT
into KeyboardInterrupt, so that `finally` blocks run and the command line can exit 143 (128 + 15,
the shell's convention) after removing its temporaries. `deferred_signals()` holds both signals
back while a file is being replaced: the signal is delivered once the file is fully written.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

EXIT_INTERRUPTED = 130  # 128 + SIGINT
EXIT_TERMINATED = 143  # 128 + SIGTERM
_HELD = (signal.SIGINT, signal.SIGTERM)


class Terminated(BaseException):
    """SIGTERM was received. A BaseException, like KeyboardInterrupt, so that the code that turns
    a file's unexpected exception into an error entry does not swallow it."""


def _in_main_thread() -> bool:
    # Python runs signal handlers, and lets them be installed, only in the main thread.
    return threading.current_thread() is threading.main_thread()


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated()


@contextmanager
def terminate_raises() -> Iterator[None]:
    """Within the block, SIGTERM raises `Terminated` (outside the main thread: no change)."""
    if not _in_main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


Handler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None


@contextmanager
def deferred_signals() -> Iterator[None]:
    """Hold SIGINT and SIGTERM during the block; deliver them (to the handlers in force before
    it) when it ends. Outside the main thread, or for a handler not installed from Python (which
    could not be restored), nothing is held."""
    if not _in_main_thread():
        yield
        return
    caught: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        caught.append(signum)

    previous: dict[signal.Signals, Handler] = {}
    for held in _HELD:
        handler = signal.getsignal(held)
        if handler is not None:
            previous[held] = handler
            signal.signal(held, hold)
    try:
        yield
    finally:
        for held, handler in previous.items():
            signal.signal(held, handler)
        for signum in dict.fromkeys(caught):
            signal.raise_signal(signum)
