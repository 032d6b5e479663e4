"""Resource-like calls of no kind: counted, so that a run says what it could not judge.

A value bound to a call (`conn = snowflake.connector.connect(...)`, `c = client.get_conn()`)
whose `close()` or `release()` the same function calls is a resource by its use; when the call is
no acquisition of any kind in effect, leakcheck judged nothing about it. `leakcheck kinds
--unknown` lists these calls with a `[[tool.leakcheck.kinds]]` entry to start from (README,
"Adding a resource kind"). Not counted: callees of the module itself (a project's own function
or class: its summary already says what it returns), builtins and the standard library
(`open()`, `socket.socket()`: files and sockets, not database clients; `sys.stdlib_module_names`,
Python 3.10+), callables whose qualified name has no database word (`DATABASE_WORDS`) and
`.cursor()` (a handle of a connection already held). A function of the module that returns such
a call (`def getConnection(): return pyodbc.connect(s)`) and whose result a function of the same
module closes makes that call counted, once, where it is written.

`unknown_calls` is the one definition: `leakcheck check` counts it in each module it judges
(`summary.unknown_resources`) and `leakcheck kinds --unknown` lists it, for the same modules and
with the same resolver of project names (`unknown_in_source`).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass

import libcst as cst

from leakcheck.analysis.collect import CollectedFacts
from leakcheck.analysis.facts import ModuleFacts
from leakcheck.analysis.parsing import parse_module
from leakcheck.analysis.positions import locate
from leakcheck.analysis.records import Resolver
from leakcheck.analysis.syntax import dotted, unwrap_value
from leakcheck.config.catalogue import Kind

# What the value's use must call for it to count as a resource.
RELEASES = ("close", "release", "aclose")
# Words of a database client's callable (`vertica_python.connect`, `client.get_conn`,
# `make_session`, `ConnectionPool.checkout`): what this count is for. A file, a socket, a video
# capture (`QFile()`, `cv2.VideoCapture()`) is resource-like too but none of leakcheck's business.
DATABASE_WORDS = re.compile(
    r"conn|session|client|pool|db|sql|database|engine|acquire|checkout|lease|driver|dsn",
    re.IGNORECASE,
)
# Methods whose result is a handle of a resource already held (a DB-API cursor, PEP 249).
HANDLES = frozenset({"cursor"})


@dataclass(frozen=True)
class UnknownCall:
    """One resource-like call of no kind: the call (`callee`, as written, and `qualified`, as
    imported), its node, the name bound to it, the method used to give it back, and whether the
    callee is an imported name (`connect` of `from x import connect`) rather than a method of a
    local value (`client.get_conn`)."""

    call: cst.Call
    callee: str
    qualified: str
    name: str
    method: str
    imported: bool

    def entry(self) -> str:
        """A `[[tool.leakcheck.kinds]]` entry to paste and adjust (README, "Adding a resource
        kind"): an imported callable as `acquire`; a method of a local value as `<pool>.METHOD`
        with the value's last name as `source-names`."""
        lines = [
            "[[tool.leakcheck.kinds]]",
            f'name = "{self.qualified.replace(".", "-").replace("_", "-").lower()}"',
            'family = "session"  # "pool" when the release gives it back to a pool',
            'resource = "connection"',
        ]
        if self.imported:
            lines.append(f'acquire = ["{self.qualified}"]')
        else:
            receiver, _, method = self.callee.rpartition(".")
            lines.append(f'acquire = ["<pool>.{method}"]')
            lines.append(f'source-names = ["{receiver.rsplit(".", 1)[-1]}"]')
        lines.append(f'release = ["<resource>.{self.method}()"]')
        return "\n".join(lines)


def unknown_calls(facts: CollectedFacts) -> list[UnknownCall]:
    """The module's resource-like calls of no kind, in source order of their functions."""
    found: list[UnknownCall] = []
    seen: set[int] = set()  # a factory's call, counted once whatever its callers
    for info in facts.functions.values():
        for name, values in info.assigned.items():
            uses = info.attribute_uses.get(name, ())
            methods = [u.attr.value for u in uses if u.attr.value in RELEASES]
            if not methods or len(values) != 1:
                continue
            value = unwrap_value(values[0])
            if not isinstance(value, cst.Call):
                continue
            call = value if _counts(facts, value, info.class_name) else None
            if call is None:
                call = _returned_by_own(facts, value, info.class_name)
                if call is None:
                    continue
            if id(call) in seen:
                continue
            seen.add(id(call))
            callee = dotted(call.func) or ""
            imported = callee.split(".", 1)[0] in facts.imports
            qualified = facts.qualify(call.func)
            found.append(UnknownCall(call, callee, qualified, name, methods[0], imported))
    return found


def _returned_by_own(
    facts: CollectedFacts, call: cst.Call, class_name: str | None
) -> cst.Call | None:
    """When `call` calls a function of the module (`getConnection()`) whose every return is one
    counted call of no kind (`return pyodbc.connect(s)`), that call; else None."""
    callee = dotted(call.func)
    if callee is None or "." in callee:
        return None
    factory = facts.by_key.get(callee)
    if factory is None or factory.yields or len(factory.returns) != 1:
        return None
    returned = unwrap_value(factory.returns[0])
    if not isinstance(returned, cst.Call) or not _counts(facts, returned, factory.class_name):
        return None
    return returned


def _counts(facts: CollectedFacts, call: cst.Call, class_name: str | None) -> bool:
    """Is `call` a callee leakcheck knows nothing of, outside the module and the standard
    library, and no acquisition of any kind?"""
    callee = dotted(call.func)
    if callee is None:
        return False
    head = callee.split(".", 1)[0]
    if head in ("self", "cls") or head in facts.by_key or head in facts.classes:
        return False  # the module's own: its role is known (or it is not a resource)
    if head not in facts.imports and "." not in callee:
        return False  # a builtin (`open`) or a name of unknown origin
    qualified = facts.qualify(call.func)
    if qualified.split(".", 1)[0] in sys.stdlib_module_names:
        return False
    if callee.rsplit(".", 1)[-1] in HANDLES or not DATABASE_WORDS.search(qualified):
        return False
    if facts.imported(callee) is not None:
        return False  # another module of the project: its summary says what it returns
    return facts.acquisition(call, class_name) is None


def unknown_in_source(
    source: bytes, kinds: tuple[Kind, ...], package: str = "", resolver: Resolver | None = None
) -> list[tuple[int, UnknownCall]]:
    """(line, call) for each resource-like call of no kind in a module's source (`unknown_calls`):
    `package` and `resolver` are those `leakcheck check` judges the module with (the names it
    imports from other modules of the project are answered by their summaries). A module libcst
    cannot parse gives none (`leakcheck check` reports it); RecursionError for a tree too deep
    to walk."""
    try:
        module = parse_module(source)
    except cst.ParserSyntaxError:
        return []  # `leakcheck check` reports a module it cannot read
    found = unknown_calls(ModuleFacts(module, kinds, package, resolver))
    spans = locate(module, [u.call for u in found])
    return sorted(((spans[id(u.call)].line, u) for u in found), key=lambda pair: pair[0])


def kind_line(kind: Kind) -> str:
    """One line for `leakcheck kinds`: the kind's name, family, acquisitions and releases, in
    the catalogue's notation (rules/kinds.toml's header)."""
    acquire = sorted(
        [*kind.acquire_callables, *(f"<source>.{m}" for m in kind.acquire_methods)]
        + (["<factory>()"] if kind.acquire_by_calling_source else [])
    )
    release = sorted(
        [
            *(f"<source>.{m}(<resource>)" for m in kind.release_methods),
            *(f"<resource>.{m}()" for m in kind.self_release_methods),
            *(f"<source>.{m}()" for m in kind.release_all_methods),
        ]
    )
    taken, given = ", ".join(acquire), ", ".join(release)
    return f"{kind.name}  ({kind.family})  acquire: {taken}  release: {given}"
