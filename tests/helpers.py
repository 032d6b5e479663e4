"""Shared test helpers: run the engine on a snippet and read back verdicts, not rule codes."""

from __future__ import annotations

import textwrap

import libcst as cst

from leakcheck.catalogue import Kind, builtin_kinds
from leakcheck.facts import ModuleFacts
from leakcheck.positions import locate
from leakcheck.verdicts import judge

HEADER = "from psycopg2.pool import ThreadedConnectionPool\npool = ThreadedConnectionPool(1, 5)\n"


def messages(body: str) -> list[str]:
    """The path part of each finding's message ("if `x()` on line 4 raises"), lines from 1."""
    source = HEADER + textwrap.dedent(body)
    module = cst.parse_module(source)
    facts = ModuleFacts(module, builtin_kinds())
    offset = HEADER.count("\n")
    out = []
    for site in facts.sites():
        verdict = judge(site, facts)
        if verdict is None:
            continue
        spans = locate(module, verdict.nodes())
        out.append(
            "".join(
                text.format(line=spans[id(node)].line - offset) if node is not None else text
                for text, node in verdict.how
            ).strip()
        )
    return out


def verdicts(body: str, kinds: tuple[Kind, ...] = ()) -> list[tuple[int, str, int | None]]:
    """(acquisition line, verdict class, escape line) per leaking acquisition.

    Lines count from the first line of `body` (the pool header is not counted).
    """
    source = HEADER + textwrap.dedent(body)
    module = cst.parse_module(source)
    facts = ModuleFacts(module, kinds or builtin_kinds())
    offset = HEADER.count("\n")
    out = []
    for site in facts.sites():
        verdict = judge(site, facts)
        if verdict is None:
            continue
        spans = locate(module, verdict.nodes())
        escape = spans[id(verdict.node)].line - offset if verdict.node is not None else None
        out.append((spans[id(site.call)].line - offset, verdict.leak, escape))
    return out
