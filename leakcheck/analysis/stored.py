"""Stored sources: a source (a pool, an engine, a session factory) or a callable that acquires
(`SessionLocal`, a factory function) kept under an attribute or a constant key of a container,
and loaded by the same path elsewhere in the project (issue 27, "a factory kept in app state, a
dict, a registry"):

    app.state.session_factory = sessionmaker(bind=engine)     # main.py, in a lifespan function
    FACTORIES = {"main": SessionLocal}                          # registry.py, at module level
    db = request.app.state.session_factory()                    # routes.py: acquires
    make = FACTORIES["main"]; db = make()                        # acquires
    conn = request.app.state.pg.getconn()                       # checks out from the pool

A store is keyed by its path's shape (`store_key`): the last name of the container and the
attribute or the string key (`state.session_factory`, `FACTORIES["main"]`), so that
`app.state.X` and `request.app.state.X` meet. Its value is described by an `Export` (`describe`):
"stored-source" (a source of `kind`), "stored-factory" (calling it acquires `kind`) or
"stored-other" (anything else: an opened session, `dict`, a plain function). A key bound to two
different things, in one module or across the project (`merge`), is "stored-other": no guess.

Each module exports its stores under `PREFIX + key` (`exports.py`); the project answers a query
for `PREFIX + key` with every other module's store of that key, merged (`project.names`,
`project.pipeline`), and records the answer like any other, so a change in the storing module
judges the loading one again. Nothing is imported or run: only assignments are read.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable

import libcst as cst

from leakcheck.analysis.records import Export
from leakcheck.analysis.syntax import dotted, unwrap_value
from leakcheck.config.catalogue import Kind

# The prefix of a stored source's export name and of the project query for it; never a Python
# name, so no import can ask for it. `project.names` knows it by the same text.
PREFIX = "<stored>:"
# The prefix of the export name of a key stored as something else ("stored-other"): the project
# merges only the keys stored as a source, and these make such a key a conflict.
OTHER_PREFIX = "<stored>?:"
SOURCE = "stored-source"
FACTORY = "stored-factory"
OTHER = "stored-other"
# Holders that are per-request state objects (Starlette's `request.state`): what one request
# keeps there is not what the application stores (`analysis/contexts.py` judges those).
_PER_REQUEST = frozenset({"request", "websocket", "req"})


def store_key(target: cst.BaseExpression) -> str | None:
    """The key of a stored path: `app.state.pool` -> `state.pool`, `FACTORIES["main"]` ->
    `FACTORIES["main"]`, `current_app.extensions["pool"]` -> `extensions["pool"]`; None for
    anything else (`self.x`, `self.app.state.x`: the object's own state; a computed key; a
    per-request `request.state.x`)."""
    if isinstance(target, cst.Attribute):
        holder, access = target.value, f".{target.attr.value}"
    elif (
        isinstance(target, cst.Subscript)
        and len(target.slice) == 1
        and isinstance(target.slice[0].slice, cst.Index)
        and isinstance(target.slice[0].slice.value, cst.SimpleString)
    ):
        value = target.slice[0].slice.value.evaluated_value
        if not isinstance(value, str):
            return None
        holder, access = target.value, f"[{value!r}]"
    else:
        return None
    text = dotted(holder)
    if text is None:
        return None
    parts = text.split(".")
    if parts[0] in ("self", "cls"):
        return None  # the object's own state (`self.conn.autocommit`; `collaborators.py`)
    if len(parts) > 1 and parts[-2] in _PER_REQUEST:
        return None
    return f"{parts[-1]}{access}"


def dict_keys(name: str, value: cst.BaseExpression) -> Iterable[tuple[str, cst.BaseExpression]]:
    """(key, value) for each constant string key of a dict literal bound to `name`
    (`FACTORIES = {"main": SessionLocal}` -> `FACTORIES["main"]`, `SessionLocal`)."""
    if not isinstance(value, cst.Dict):
        return
    for element in value.elements:
        if isinstance(element, cst.DictElement) and isinstance(element.key, cst.SimpleString):
            key = element.key.evaluated_value
            if isinstance(key, str):
                yield f"{name}[{key!r}]", element.value


class Describe:
    """What a stored value is, asked of the module that stores it (after its roles are known).

    `constructor(call)`: the (kind, async) a call builds a source of (a constructor or a source
    factory of the module or the project), or None; `named(text)`: the `Export` a name written in
    the module stands for (a source or factory of its own or imported), or None.
    """

    def __init__(
        self,
        constructor: Callable[[cst.Call], tuple[Kind, bool | None] | None],
        named: Callable[[str], Export | None],
    ) -> None:
        self.constructor = constructor
        self.named = named

    def __call__(self, value: cst.BaseExpression) -> Export:
        """The description of `value`, the right-hand side of one store."""
        inner = unwrap_value(value)
        if isinstance(inner, cst.Call):
            built = self.constructor(inner)
            if built is not None:
                return Export(SOURCE, built[0], asynchronous=built[1])
            return Export(OTHER)  # an opened session, a client, a computed value
        text = dotted(inner)
        export = self.named(text) if text is not None else None
        if export is None or export.kind is None:
            return Export(OTHER)
        if export.role == "source":
            return Export(SOURCE, export.kind, asynchronous=export.asynchronous)
        if export.role == "factory" and export.slot is None:
            return Export(FACTORY, export.kind)
        return Export(OTHER)


def conflict() -> Export:
    """The description of a key stored as two different things."""
    return Export(OTHER)


def export_name(key: str, stored: Export) -> str:
    """The name a module exports its store under `key` by (`PREFIX` or `OTHER_PREFIX`)."""
    return (OTHER_PREFIX if stored.role == OTHER else PREFIX) + key


def merge(found: Iterable[Export]) -> Export | None:
    """The one description of a key stored once or several times the same way; "stored-other"
    when it is stored as two different things; None when it is not stored at all."""
    seen = list(found)
    if not seen:
        return None
    first = seen[0]
    same = (first.role, first.kind, first.asynchronous)
    if all((e.role, e.kind, e.asynchronous) == same for e in seen):
        return first
    return Export(OTHER)


class Stores:
    """The stores one module makes, and the questions about loads (by `store_key`).

    Recorded during the first pass (`assigned`, `module_dict`); described once the module's roles
    are known (`describe` given to `settle`); `project(key)` asks the other modules (the resolver
    query `PREFIX + key`).
    """

    def __init__(self) -> None:
        self.values: dict[str, list[cst.BaseExpression]] = {}
        self._described: dict[str, Export] | None = None

    def assigned(self, target: cst.BaseExpression, value: cst.BaseExpression) -> None:
        """`target = value` somewhere in the module (a store when `target` has a key)."""
        key = store_key(target)
        if key is not None:
            self.values.setdefault(key, []).append(value)

    def module_dict(self, name: str, value: cst.BaseExpression) -> None:
        """`name = {...}` at module level: each constant key is a store."""
        for key, element in dict_keys(name, value):
            self.values.setdefault(key, []).append(element)

    def own(self, describe: Describe) -> dict[str, Export]:
        """key -> the description of what this module stores under it (computed once)."""
        if self._described is None:
            out: dict[str, Export] = {}
            for key, values in self.values.items():
                merged = merge(describe(v) for v in values)
                if merged is not None:
                    out[key] = merged
            self._described = out
        return self._described

    def loaded(
        self,
        expr: cst.BaseExpression,
        describe: Describe,
        project: Callable[[str], Export | None],
        imported: Container[str],
    ) -> Export | None:
        """What the stored path `expr` (`request.app.state.session_factory`, `FACTORIES["main"]`)
        holds, from this module's stores and the project's (`project(PREFIX + key)`), if it is
        a stored source or factory; None otherwise (not stored, stored as something else, or
        stored as two different things). `imported`: the module's imported names; an attribute
        path is asked about only when it reads like a container's (`a.b.c`, its head not an
        imported module: `os.path.join` is no store), so the project is not asked
        about every method call."""
        key = store_key(expr)
        if key is None:
            return None
        if isinstance(expr, cst.Attribute) and key not in self.values:
            head = (dotted(expr) or "").split(".")
            if len(head) < 3 or head[0] in imported:
                return None
        here = self.own(describe).get(key)
        there = project(PREFIX + key)
        merged = merge(e for e in (here, there) if e is not None)
        if merged is None or merged.role == OTHER or merged.kind is None:
            return None
        return merged


def called_kind(stored: Export) -> Kind | None:
    """The kind a call of the stored value acquires: a stored factory's, or a stored source's
    whose kind acquires by calling the source (a session factory)."""
    if stored.kind is None:
        return None
    if stored.role == FACTORY:
        return stored.kind
    if stored.role == SOURCE and stored.kind.acquire_by_calling_source:
        return stored.kind
    return None
