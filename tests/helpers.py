"""Shared test helpers: run the engine on a snippet and read back verdicts, not rule codes."""

from __future__ import annotations

import textwrap

import libcst as cst
import pytest

from leakcheck.analysis.facts import ModuleFacts
from leakcheck.analysis.judge import all_verdicts
from leakcheck.analysis.positions import Span, locate
from leakcheck.analysis.verdicts import Verdict
from leakcheck.config.catalogue import Kind, builtin_kinds

HEADER = "from psycopg2.pool import ThreadedConnectionPool\npool = ThreadedConnectionPool(1, 5)\n"
OFFSET = HEADER.count("\n")


def _judged(body: str, kinds: tuple[Kind, ...]) -> list[tuple[Verdict, dict[int, Span]]]:
    module = cst.parse_module(HEADER + textwrap.dedent(body))
    facts = ModuleFacts(module, kinds or builtin_kinds())
    return [(verdict, locate(module, verdict.nodes())) for verdict in all_verdicts(facts)]


def verdicts(body: str, kinds: tuple[Kind, ...] = ()) -> list[tuple[int, str, int | None]]:
    """(acquisition line, verdict class, escape line) per finding.

    Lines count from the first line of `body` (the pool header is not counted).
    """
    out = []
    for verdict, spans in _judged(body, kinds):
        anchor = verdict.anchor or verdict.site.call
        escape = spans[id(verdict.node)].line - OFFSET if verdict.node is not None else None
        out.append((spans[id(anchor)].line - OFFSET, verdict.leak, escape))
    return sorted(out, key=lambda found: (found[0], found[1]))


def messages(body: str) -> list[str]:
    """The path part of each finding's message ("if `x()` on line 4 raises"), lines from 1."""
    return [
        "".join(
            text.format(line=spans[id(node)].line - OFFSET) if node is not None else text
            for text, node in verdict.how
        ).strip()
        for verdict, spans in _judged(body, ())
    ]


def record_parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """From now on, the path of every file the engine parses (in this process: run with
    `jobs=1`), in order."""
    from leakcheck import engine

    parsed: list[str] = []
    original = engine.analyse

    def counting(source: bytes, path: str, *args: object, **kwargs: object) -> object:
        parsed.append(path)
        return original(source, path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(engine, "analyse", counting)
    return parsed


def record_libcst_parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """From now on, the first line of every file the engine hands to libcst (in this process:
    run with `jobs=1`)."""
    from leakcheck import engine

    parsed: list[str] = []
    original = engine.parse_module

    def counting(source: bytes | str) -> object:
        text = source.decode(errors="replace") if isinstance(source, bytes) else source
        parsed.append(text.split("\n", 1)[0].rstrip("\r"))
        return original(source)

    monkeypatch.setattr(engine, "parse_module", counting)
    return parsed
