"""Benchmark: leakcheck's cost against the libcst parse it cannot avoid.

Runs side by side, in one process, over the same files (by default the standard library, which
every machine has; pass directories to use your own tree):
  parse      libcst.parse_module only
  check      leakcheck.engine.check_source (parse + facts + paths + positions where needed)
  project    the CLI's path: check plus resolving imported names through the project index
             (a fresh index each round, so imported modules are read again)
  metadata   parse + MetadataWrapper + PositionProvider (what a generic design would pay)
Prints seconds per pass and the ratios to `parse`. Figures are for notes, never for tests.
"""

from __future__ import annotations

import argparse
import sys
import sysconfig
import time
from collections.abc import Callable
from pathlib import Path

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from leakcheck.config.catalogue import builtin_kinds
from leakcheck.engine import check_source
from leakcheck.project.discovery import iter_files
from leakcheck.project.runner import Checker


def _sources(paths: list[str], limit: int) -> list[tuple[str, bytes]]:
    out = []
    for path in iter_files(paths):
        data = Path(path).read_bytes()
        try:
            cst.parse_module(data)
        except Exception:  # skip files libcst cannot parse (test data)
            continue
        out.append((path, data))
        if len(out) >= limit:
            break
    return out


def _time(
    label: str, func: Callable[[str, bytes], object], sources: list[tuple[str, bytes]], rounds: int
) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for path, data in sources:
            func(path, data)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", default=[sysconfig.get_paths()["stdlib"]])
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--metadata", action="store_true", help="also time PositionProvider")
    args = parser.parse_args()
    sources = _sources(args.paths, args.files)
    kinds = builtin_kinds()
    lines = sum(data.count(b"\n") for _, data in sources)
    findings = sum(len(check_source(d, p, kinds).findings) for p, d in sources)
    print(f"{len(sources)} files, {lines} lines, {findings} findings; best of {args.rounds}")

    def meta(path: str, data: bytes) -> object:
        return MetadataWrapper(cst.parse_module(data)).resolve(PositionProvider)

    checker = [Checker()]

    def project(path: str, data: bytes) -> object:
        if path == sources[0][0]:
            checker[0] = Checker()  # a new run: nothing cached from the previous round
        return checker[0].check_file(path)

    passes: list[tuple[str, Callable[[str, bytes], object]]] = [
        ("parse", lambda p, d: cst.parse_module(d)),
        ("check", lambda p, d: check_source(d, p, kinds)),
        ("project", project),
    ]
    if args.metadata:
        passes.append(("metadata", meta))
    base = None
    for label, func in passes:
        seconds = _time(label, func, sources, args.rounds)
        base = base or seconds
        print(
            f"{label:>9}: {seconds:7.3f} s  {seconds / base:5.2f}x parse  "
            f"{lines / seconds:9.0f} lines/s"
        )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
