"""Line endings of inserted lines in a file that mixes them.

libcst writes every line it creates with the module's default newline, the first line's. In a
file that mixes LF and CRLF, a line a fix inserts takes the ending of the original line just above
it instead, so that a CRLF region stays CRLF and an LF region stays LF. A line a fix only moves or
re-indents (wrapped in `try:`, under a `with`) keeps its own ending: a lone CRLF line inside a
rewritten block of an LF file stays CRLF.
"""

from __future__ import annotations

import difflib

_ENDINGS = (b"\r\n", b"\n", b"\r")


def _ending(line: bytes) -> bytes:
    return next((e for e in _ENDINGS if line.endswith(e)), b"")


def _body(line: bytes) -> bytes:
    return line[: len(line) - len(_ending(line))]


def match_line_endings(original: bytes, fixed: bytes) -> bytes:
    """`fixed` with each line that is not in `original` ending like the original line above it.

    Inputs: the file's bytes before and after the fix. Output: `fixed` unchanged unless
    `original` mixes line endings; lines kept from `original` keep their own endings, also when
    the fix re-indented them (matched by their text without indentation, within the rewritten
    block, in order). Raises nothing.
    """
    old = original.splitlines(keepends=True)
    if len({_ending(line) for line in old if _ending(line)}) < 2:
        return fixed
    new = fixed.splitlines(keepends=True)
    matcher = difflib.SequenceMatcher(None, [_body(x) for x in old], [_body(x) for x in new], False)
    out: list[bytes] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            out.extend(new[j1:j2])
            continue
        above = old[i1 - 1] if i1 > 0 else old[0] if old else b"\n"
        ending = _ending(above) or b"\n"
        own: dict[bytes, list[bytes]] = {}  # the rewritten block's original lines, by their text
        for line in old[i1:i2]:
            own.setdefault(_body(line).strip(), []).append(_ending(line))
        for line in new[j1:j2]:
            if not _ending(line):
                out.append(line)
                continue
            endings = own.get(_body(line).strip())
            kept = endings.pop(0) if endings else b""
            out.append(_body(line) + (kept or ending))
    return b"".join(out)
