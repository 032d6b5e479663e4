"""Resource-like calls of no kind: counted, so that a run says what it could not judge.

A value bound to a call (`conn = snowflake.connector.connect(...)`, `c = client.get_conn()`)
whose `close()` or `release()` the same function calls is a resource by its use; when the call is
no acquisition of any kind in effect, leakcheck judged nothing about it. `leakcheck kinds
--unknown` lists these calls with a `[[tool.leakcheck.kinds]]` entry to start from (README,
"Adding a resource kind"). Not counted: callees of the module itself (a project's own function
or class: its summary already says what it returns), builtins and the standard library
(`open()`, `socket.socket()`: files and sockets, not database clients; `sys.stdlib_module_names`,
Python 3.10+), callables whose qualified name has no database word (`DATABASE_WORDS`) and
`.cursor()` (a handle of a connection already held).
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass

import libcst as cst

from leakcheck.analysis.collect import CollectedFacts
from leakcheck.analysis.facts import ModuleFacts
from leakcheck.analysis.parsing import parse_module
from leakcheck.analysis.positions import locate
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
    found = []
    for info in facts.functions.values():
        for name, values in info.assigned.items():
            uses = info.attribute_uses.get(name, ())
            methods = [u.attr.value for u in uses if u.attr.value in RELEASES]
            if not methods or len(values) != 1:
                continue
            call = unwrap_value(values[0])
            if not isinstance(call, cst.Call):
                continue
            if _counts(facts, call, info.class_name):
                callee = dotted(call.func) or ""
                imported = callee.split(".", 1)[0] in facts.imports
                qualified = facts.qualify(call.func)
                found.append(UnknownCall(call, callee, qualified, name, methods[0], imported))
    return found


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
    source: bytes, kinds: tuple[Kind, ...], package: str = "", path: str | None = None
) -> list[tuple[int, UnknownCall]]:
    """(line, call) for each resource-like call of no kind in a module's source, the module read
    alone; with the module's `path`, names imported from a module of the project (a file beside
    it or above it, `in_project`) are left out: the project's summaries judge those. A module
    libcst cannot parse gives none (`leakcheck check` reports it); RecursionError for a tree too
    deep to walk."""
    try:
        module = parse_module(source)
    except cst.ParserSyntaxError:
        return []  # `leakcheck check` reports a module it cannot read
    found = unknown_calls(ModuleFacts(module, kinds, package))
    if path is not None:
        found = [u for u in found if not (u.imported and in_project(path, u.qualified))]
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


def in_project(path: str, qualified: str) -> bool:
    """Is `qualified` (`utils.db.Database`) a name of a module found on disk in the directory of
    `path` or one of its parents (`utils/db.py`, `utils/db/__init__.py`), as `sys.path` entries
    such as the script's directory would find it?"""
    parts = qualified.split(".")[:-1]
    if not parts:
        return False
    directory = os.path.dirname(os.path.abspath(path))
    for _ in range(8):
        base = os.path.join(directory, *parts)
        if os.path.isfile(base + ".py") or os.path.isfile(os.path.join(base, "__init__.py")):
            return True
        parent = os.path.dirname(directory)
        if parent == directory:
            break
        directory = parent
    return False
