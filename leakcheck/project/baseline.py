"""Record today's findings and fail only on new ones.

A finding's fingerprint is its code, its path (relative to the baseline file's directory), its
enclosing function and its acquiring call as text (arguments elided), plus a counter for the
same four seen earlier in the file: lines can move, and an edit elsewhere in the file or in
another function changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from leakcheck import __version__
from leakcheck.config.catalogue import CatalogueError
from leakcheck.fix.writer import replace_text
from leakcheck.model import Finding
from leakcheck.shown import shown

FORMAT = 1


class BaselineError(CatalogueError):
    """The baseline file is missing or malformed; the message names it."""


def _relative(path: str, base: Path) -> str:
    """`path` relative to `base` (else absolute), `/`-separated and as `leakcheck.shown` shows it:
    a name's undecodable bytes as `\\xNN`, so that the fingerprint and the recorded path are
    valid UTF-8 and the same on every run."""
    absolute = Path(os.path.abspath(path))
    try:
        return shown(absolute.relative_to(base.resolve()).as_posix())
    except ValueError:
        return shown(absolute.as_posix())


def fingerprints(findings: Iterable[Finding], base: Path) -> list[tuple[str, Finding]]:
    """(fingerprint, finding) in the findings' order (sorted by position)."""
    seen: Counter[tuple[str, str, str, str]] = Counter()
    out = []
    for finding in findings:
        key = (finding.code, _relative(finding.path, base), finding.function, finding.acquisition)
        occurrence = seen[key]
        seen[key] += 1
        text = "\0".join((*key, str(occurrence)))
        out.append((hashlib.sha256(text.encode()).hexdigest()[:32], finding))
    return out


def write(path: Path, findings: list[Finding]) -> None:
    base = path.absolute().parent
    entries = [
        {
            "fingerprint": fingerprint,
            "code": f.code,
            "path": _relative(f.path, base),
            "function": f.function,
            "acquisition": f.acquisition,
            "line": f.line,  # for readers; matching ignores it
        }
        for fingerprint, f in fingerprints(findings, base)
    ]
    document = {"leakcheck": __version__, "format": FORMAT, "findings": entries}
    replace_text(path, json.dumps(document, indent=2) + "\n")  # whole or not at all


def read(path: Path) -> frozenset[str]:
    """The fingerprints a baseline file records."""
    try:
        document: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BaselineError(f"{path}: cannot read the baseline: {error}") from error
    except RecursionError as error:  # `[[[[...`: the json module recurses per level
        raise BaselineError(f"{path}: cannot read the baseline: nested too deeply") from error
    entries = document.get("findings") if isinstance(document, dict) else None
    if (
        not isinstance(document, dict)
        or document.get("format") != FORMAT
        or not isinstance(entries, list)
        or not all(isinstance(e, dict) and isinstance(e.get("fingerprint"), str) for e in entries)
    ):
        raise BaselineError(
            f"{path}: not a leakcheck baseline (format {FORMAT}); "
            "write one with `leakcheck check --write-baseline FILE`"
        )
    return frozenset(e["fingerprint"] for e in entries)


def new_findings(findings: list[Finding], path: Path, known: frozenset[str]) -> list[Finding]:
    """The findings the baseline does not record."""
    base = path.absolute().parent
    return [f for fingerprint, f in fingerprints(findings, base) if fingerprint not in known]
