"""The failure text of a test that leaked: per leak, the kind, where it was taken (the short stack
into the project's code), how it escaped, and the static finding with its fix, or the line to
paste into a bug report when the static analysis is silent."""

from __future__ import annotations

import linecache
from collections import Counter

from leakcheck import __version__
from leakcheck.gate.frames import RawFrame, format_frame, shown
from leakcheck.gate.ledger import Leak
from leakcheck.gate.static import Join, StaticJoin

ISSUES = "https://github.com/leakcheck-db/leakcheck/issues"
INDENT = "    "


def _code(frame: RawFrame) -> str:
    return linecache.getline(frame.filename, frame.lineno).strip()


def _key(leak: Leak) -> tuple[object, ...]:
    c = leak.checkout
    return (c.kind, leak.escape, leak.detail, c.frames, c.origin, c.origin_label)


def headline(leaks: list[Leak], base: str) -> str:
    """The first line, which pytest's short summary shows: how many, and the first one's site."""
    first = leaks[0]
    site = (first.checkout.origin or first.checkout.frames or (None,))[0]
    where = f" taken at {shown(site.filename, base)}:{site.lineno}" if site else ""
    more = f" (and {len(leaks) - 1} more)" if len(leaks) > 1 else ""
    return f"leakcheck: {first.checkout.kind}{where} {first.escape.short}{more}"


def render(leaks: list[Leak], static: StaticJoin, base: str) -> str:
    """The whole failure text for one test's `leaks` (not empty); file names relative to `base`.
    Identical leaks (same kind, escape and stack, as in a loop) are shown once with a count."""
    counts = Counter(_key(leak) for leak in leaks)
    unique: dict[tuple[object, ...], Leak] = {}
    for leak in leaks:
        unique.setdefault(_key(leak), leak)
    lines = [headline(leaks, base), ""]
    for number, (key, leak) in enumerate(unique.items(), 1):
        lines += _one(number, leak, counts[key], static, base)
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _one(number: int, leak: Leak, count: int, static: StaticJoin, base: str) -> list[str]:
    c = leak.checkout
    times = f" (x{count})" if count > 1 else ""
    detail = f": {leak.detail}" if leak.detail else ""
    out = [f"[{number}] {c.kind}, {leak.escape.value}{detail}{times}"]
    if c.note:
        out.append(f"{INDENT}note: {c.note}")
    if c.origin:
        out.append(f"{INDENT}{c.origin_label} at {format_frame(c.origin[0], base)}")
        out.append(f"{INDENT}{INDENT}{_code(c.origin[0])}")
    if c.frames:
        out.append(f"{INDENT}acquired at {format_frame(c.frames[0], base)}")
        out.append(f"{INDENT}{INDENT}{_code(c.frames[0])}")
        if len(c.frames) > 1:
            out.append(f"{INDENT}called from:")
            out += [f"{INDENT}{INDENT}{format_frame(frame, base)}" for frame in c.frames[1:]]
    else:
        out.append(f"{INDENT}acquired outside the project's code (no frame of it on the stack)")
    sites = list(c.origin[:1]) + list(c.frames)
    joined = static.join(sites) if sites else None
    if isinstance(joined, Join):
        out += _static(joined)
    elif isinstance(joined, str):
        out.append(f"{INDENT}static analysis could not run on this file: {joined}")
    else:
        out += _miss(leak, base)
    return out


def _static(joined: Join) -> list[str]:
    f = joined.finding
    out = [f"{INDENT}static analysis: {joined.shown}:{f.line}:{f.column}: {f.code} {f.message}"]
    if joined.diff.startswith("---"):
        flags = "--fix --unsafe-fixes" if joined.unsafe else "--fix"
        out.append(f"{INDENT}`leakcheck check {flags}` would rewrite it this way:")
        out += [f"{INDENT}{INDENT}{line}" for line in joined.diff.rstrip("\n").splitlines()]
    elif joined.diff:
        out.append(f"{INDENT}{joined.diff}")
    else:
        out.append(f"{INDENT}no automatic fix: see `leakcheck rule {f.code}`")
    return out


def _miss(leak: Leak, base: str) -> list[str]:
    c = leak.checkout
    site = (c.origin or c.frames or (None,))[0]
    where = "no project frame"
    if site is not None:
        where = f"{shown(site.filename, base)}:{site.lineno} in {site.function}: `{_code(site)}`"
    return [
        f"{INDENT}static analysis: leakcheck check reports nothing at this acquisition; that is a",
        f"{INDENT}miss we want to hear about. Paste this line into a bug report at {ISSUES}:",
        f"{INDENT}{INDENT}leakcheck-gate-miss leakcheck={__version__} kind={c.kind!r} "
        f"escape={leak.escape.name} site={where}",
    ]
