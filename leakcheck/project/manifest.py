"""The last run again: what a run over a set of files read, and whether any of it changed.

A warm run with nothing changed used to read one cache entry per file and look up every name
each file imported again, to print the same results. The run now leaves a `Manifest` (written by
`Project._remember`, read by `Project.replay`, stored by `Cache.store_manifest`): when the next
run is the same run and `unchanged` says nothing it read changed, its results are the results.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace

from leakcheck.model import FileResult


@dataclass(frozen=True)
class Manifest:
    """What the last run over a set of files saw, to answer the same run again at once.

    key: the run (its checked files' entry keys, in order, with whether each was named; see
    `Project.replay`). files: (real path, size, mtime_ns) of every module the run read, checked
    or only summarised. directories: (path, mtime_ns) of every directory a module name was looked
    up in (a file added or removed there changes it, and with it what an import resolves to).
    results: the checked files' results, in order; shown: how each named its file. evidence:
    (position, evidence) for each Django settings module (`Entry.evidence`).
    """

    key: str
    files: tuple[tuple[str, int, int], ...]
    directories: tuple[tuple[str, int | None], ...]  # None: it did not exist
    results: tuple[FileResult, ...]
    shown: tuple[str, ...]
    evidence: tuple[tuple[int, str], ...] = ()


def unchanged(manifest: Manifest, evidence_at: Callable[[int], str]) -> bool:
    """Whether nothing `manifest`'s run read has changed: every module's size and mtime, every
    directory's mtime (`os.stat` now), and what each Django settings module finds beside it
    (`evidence_at(position)`, the checked file at that position's evidence now)."""
    for real, size, mtime in manifest.files:
        try:
            status = os.stat(real)
        except OSError:
            return False
        if (status.st_size, status.st_mtime_ns) != (size, mtime):
            return False
    for directory, stamp in manifest.directories:
        try:
            now: int | None = os.stat(directory).st_mtime_ns
        except OSError:
            now = None
        if now != stamp:
            return False
    return all(evidence_at(position) == found for position, found in manifest.evidence)


def results_as_shown(manifest: Manifest, shown: list[str]) -> list[FileResult]:
    """`manifest`'s results, each naming its file as `shown` does now (the working directory
    may differ from the last run's). Raises ValueError when the lengths differ."""
    return [
        result if was == now else renamed(result, now)
        for result, was, now in zip(manifest.results, manifest.shown, shown, strict=True)
    ]


def renamed(result: FileResult, shown: str) -> FileResult:
    """`result` with its file, findings and errors named `shown`."""
    return replace(
        result,
        path=shown,
        findings=tuple(replace(f, path=shown) for f in result.findings),
        errors=tuple(replace(e, path=shown) for e in result.errors),
    )
