"""Finding line-anchored statements in a file's bytes without trying every byte."""

from __future__ import annotations

import re
from collections.abc import Iterator


def line_statements(
    source: bytes, word: re.Pattern[bytes], statement: re.Pattern[bytes]
) -> Iterator[re.Match[bytes]]:
    """What `statement.finditer(source)` yields, found faster.

    `statement` is anchored at a line start (`^` with `re.MULTILINE`), and every match of it
    holds a match of `word` (a literal, such as `import`) on the line where it starts. Python's
    regular expressions try a pattern that begins with `^` at every byte of the file; one that
    begins with literal text is searched with a fast scan for that text. So only the lines
    holding `word` are tried, each once, from its start, and a line inside the previous match
    (a parenthesised list going on) is skipped, as `finditer` would.
    """
    end = 0  # where the last match ended
    tried = -1
    for hit in word.finditer(source):
        start = source.rfind(b"\n", 0, hit.start()) + 1
        if start < end or start == tried:
            continue
        tried = start
        match = statement.match(source, start)
        if match is not None:
            end = match.end()
            yield match
