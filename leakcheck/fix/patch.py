"""Unified diffs that `patch` and `git apply` accept."""

from __future__ import annotations

import difflib

NO_NEWLINE = "\\ No newline at end of file\n"


def patch_text(old: bytes, new: bytes, shown: str) -> str:
    """The unified diff from `old` to `new` (a file's bytes), both named `shown`; "" if equal.

    A last line without a newline gets GNU diff's marker line (`\\ No newline at end of file`),
    which `difflib.unified_diff` leaves out: without it the line runs into the next one and
    `patch` rejects the diff as malformed (GNU diffutils manual, "Incomplete Lines").
    """
    lines = difflib.unified_diff(
        old.decode(errors="replace").splitlines(keepends=True),
        new.decode(errors="replace").splitlines(keepends=True),
        shown,
        shown,
    )
    out = []
    for line in lines:
        out.append(line)
        if not line.endswith(("\n", "\r")):
            out.append("\n" + NO_NEWLINE)
    return "".join(out)
