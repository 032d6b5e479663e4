"""Where a connection was taken: the raw frames of the project's own code, captured cheaply at
each checkout (file, line, function, first line of the function) and formatted only on failure.

A frame is the project's when its file is neither in the standard library, nor in an installed
package (site-packages, dist-packages), nor in this gate, nor synthetic (`<frozen ...>`,
`<string>`). The verdict is cached per file name, so a capture costs one dict lookup per frame.
"""

from __future__ import annotations

import contextlib
import os
import site
import sys
import sysconfig
from types import CodeType, FrameType
from typing import NamedTuple

GATE_DIR = os.path.dirname(os.path.abspath(__file__))
# How many of the project's frames a capture keeps, innermost first.
DEPTH = 6


class RawFrame(NamedTuple):
    """One frame of the project's code as captured: nothing is formatted or read from disk."""

    filename: str
    lineno: int
    function: str
    first_line: int  # the `def` line of the function (`co_firstlineno`), for the static join


def _outside_roots() -> tuple[str, ...]:
    """Folders whose files are not the project's: the standard library, every installed-package
    folder this interpreter knows (sysconfig, `site`), its scripts folder (the `pytest`
    launcher), and this gate."""
    roots = {GATE_DIR}
    for key in ("stdlib", "platstdlib", "purelib", "platlib", "scripts"):
        path = sysconfig.get_paths().get(key)
        if path:
            roots.add(path)
    with contextlib.suppress(AttributeError):  # virtualenv's old `site` module has none
        roots.update(site.getsitepackages())
    user = getattr(site, "USER_SITE", None)
    if user:
        roots.add(user)
    expanded = set()
    for root in roots:
        expanded.add(os.path.join(root, ""))
        expanded.add(os.path.join(os.path.realpath(root), ""))
    return tuple(sorted(expanded))


OUTSIDE, OWN, STOP = 0, 1, 2  # what a code object's frames are, cached per code object


class FrameFilter:
    """Decides, once per code object, whether its frames belong to the project; captures stacks."""

    def __init__(self, outside: tuple[str, ...] | None = None) -> None:
        self.outside = _outside_roots() if outside is None else outside
        self._own: dict[str, bool] = {}
        self._codes: dict[CodeType, int] = {}

    def stop_at(self, codes: list[CodeType]) -> None:
        """Functions past which no frame is the project's (pytest's call of a test function):
        the walk ends there instead of climbing pytest's and pluggy's forty-odd frames."""
        for code in codes:
            self._codes[code] = STOP

    def is_own(self, filename: str) -> bool:
        """Whether frames of `filename` are the project's own code (see the module docstring)."""
        own = self._own.get(filename)
        if own is None:
            own = not (
                filename.startswith("<")
                or filename.startswith(self.outside)
                or "/site-packages/" in filename
                or "/dist-packages/" in filename
                or os.path.join(os.path.realpath(filename), "").startswith(self.outside)
            )
            self._own[filename] = own
        return own

    def capture(self, frame: FrameType | None = None, depth: int = DEPTH) -> tuple[RawFrame, ...]:
        """The project's frames on the stack, innermost first, at most `depth`; from `frame`
        (default: the caller's). Reads only code objects and line numbers (`sys._getframe`)."""
        frame = sys._getframe(1) if frame is None else frame
        codes = self._codes
        kept: list[RawFrame] = []
        while frame is not None:
            code = frame.f_code
            what = codes.get(code)
            if what is None:
                what = codes[code] = OWN if self.is_own(code.co_filename) else OUTSIDE
            if what == OWN:
                kept.append(
                    RawFrame(code.co_filename, frame.f_lineno, code.co_name, code.co_firstlineno)
                )
                if len(kept) >= depth:
                    break
            elif what == STOP:
                break
            frame = frame.f_back
        return tuple(kept)


def shown(filename: str, base: str) -> str:
    """`filename` relative to `base` when it lies under it, else as it is."""
    try:
        relative = os.path.relpath(filename, base)
    except ValueError:  # another drive (Windows)
        return filename
    return filename if relative.startswith("..") else relative


def format_frame(frame: RawFrame, base: str) -> str:
    """`path:line in function`."""
    return f"{shown(frame.filename, base)}:{frame.lineno} in {frame.function}"
