"""Ctrl-C and SIGTERM: stop the run cleanly, and never in the middle of writing a file.

`signals_noted()` turns SIGTERM into a `Terminated` exception, as Python already turns SIGINT
into KeyboardInterrupt, so that `finally` blocks run and the command line can exit 143 (128 + 15,
the shell's convention) after removing its temporaries; it also remembers either signal, so that
one Python swallows (raised in a weakref callback or `__del__`, where an exception is "ignored")
still ends the run. `deferred_signals()` holds both signals back while a file is being replaced:
the signal is delivered once the file is fully written.
"""

from __future__ import annotations

import signal
import sys
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


class Noted:
    """The signal (SIGINT or SIGTERM) received within `signals_noted()`, if any: `signum` is None
    until one arrives. Read it when the command ends: the exception the signal raised may have
    been swallowed on its way."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def note(self, signum: int, frame: FrameType | None) -> None:
        """The signal handler: remember `signum`, then raise as Python's own handler would
        (KeyboardInterrupt for SIGINT, `Terminated` for SIGTERM)."""
        self.signum = signum
        if signum == signal.SIGINT:
            raise KeyboardInterrupt()
        raise Terminated()


def _swallowed_signals_unraisable(hook: Callable[[Any], object]) -> Callable[[Any], object]:
    def unraisable(info: Any) -> object:
        if isinstance(info.exc_value, KeyboardInterrupt | Terminated):
            return None  # noted: the run reports it as "interrupted" / "terminated" instead
        return hook(info)

    return unraisable


@contextmanager
def signals_noted() -> Iterator[Noted]:
    """Within the block SIGINT raises KeyboardInterrupt, SIGTERM raises `Terminated`, and both
    are remembered in the `Noted` yielded. An interrupt raised where Python can only print
    "Exception ignored" (a weakref callback, `__del__`: `sys.unraisablehook`) is not printed:
    the caller, reading `Noted`, ends the run for it. Outside the main thread: no change, and
    nothing is noted."""
    noted = Noted()
    if not _in_main_thread():
        yield noted
        return
    previous = {held: signal.getsignal(held) for held in _HELD}
    hook = sys.unraisablehook
    for held in _HELD:
        signal.signal(held, noted.note)
    sys.unraisablehook = _swallowed_signals_unraisable(hook)
    try:
        yield noted
    finally:
        sys.unraisablehook = hook
        for held, handler in previous.items():
            if handler is not None:
                signal.signal(held, handler)


def forget_interrupt_in_exec() -> None:
    """Clear CPython's note that a KeyboardInterrupt left a string `exec`.

    When a KeyboardInterrupt propagates out of `exec()` of a string (dataclasses and
    namedtuple build their methods that way, so an interrupt often lands there), CPython
    notes it as unhandled (Python/pythonrun.c `run_eval_code_obj`) and, at exit, kills the
    process with SIGINT instead of exiting with the code the program chose, even though the
    program caught the exception (the note comes from bpo-1054041, Python 3.8; seen on
    3.10 to 3.13: exit status -2 where 130 was meant). The note is reset at the start of each
    string `exec`, so an empty one clears it.
    """
    exec("")  # a constant empty string: runs nothing


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
