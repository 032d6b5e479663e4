"""The lifetimes frameworks decide, as data: paired request hooks, request-wrapping middleware,
and the entry points that run code outside any request.

Data from `rules/lifecycles.toml` (see docs/semantics.md, "Framework lifetimes"); each entry
there cites the framework's documentation. Raises `CatalogueError` for a malformed entry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from leakcheck.config.catalogue import CatalogueError, rules_dir, tomllib

__all__ = [
    "CloseHook",
    "EntryPoint",
    "HookPair",
    "Lifecycles",
    "Middleware",
    "lifecycles",
]

_FILE = "rules/lifecycles.toml"


@dataclass(frozen=True)
class CloseHook:
    """A hook that runs after the view: `on_error`, whether it runs when the request raises,
    and `why` (for messages) when it does not."""

    hook: str
    on_error: bool
    why: str = ""


@dataclass(frozen=True)
class HookPair:
    """One framework's opening and closing request hooks and the context objects they share."""

    framework: str
    modules: tuple[str, ...]
    holders: frozenset[str]  # qualified: `flask.g`
    opening: frozenset[str]
    closing: dict[str, CloseHook]
    safe: str  # the closing hook messages recommend

    def closer(self, name: str) -> CloseHook | None:
        """The closing hook called `name`, if this framework has one."""
        return self.closing.get(name)


@dataclass(frozen=True)
class Middleware:
    """A middleware that wraps the rest of the request in one function (`dispatch`)."""

    framework: str
    modules: tuple[str, ...]
    decorator: str  # `@app.middleware("http")`
    bases: frozenset[str]
    method: str
    next: str  # the parameter that hands the request on (`call_next`)
    stores: tuple[str, ...]  # `<request>.state.<key>`: where the resource is kept

    def stored(self, target: str, request: str) -> bool:
        """Is `target` (an assignment target as written) one of `stores` on the request
        parameter named `request` (`request.state.db`, `request["db"]`)?"""
        return any(_pattern(store, request).fullmatch(target) for store in self.stores)


@dataclass(frozen=True)
class EntryPoint:
    """A call that runs a function outside any request: `name` is a qualified callable or a
    method name (`receiver` then filters the receiver's last name, "" for any), and the function
    is its `keyword` argument or else the positional one at `position`."""

    name: str
    keyword: str
    position: int
    receiver: str = ""
    method: bool = False
    thread: bool = False  # runs the function on another thread (not the caller's event loop)
    run_method: str = ""  # a subclass's method run on the new thread (`threading.Thread.run`)

    def accepts(self, receiver: str) -> bool:
        """Does a method call on `receiver` (dotted text) count?"""
        return not self.receiver or self.receiver in receiver.rsplit(".", 1)[-1].lower()


@dataclass(frozen=True)
class Lifecycles:
    """Everything `rules/lifecycles.toml` says."""

    hooks: tuple[HookPair, ...]
    middleware: tuple[Middleware, ...]
    callables: dict[str, EntryPoint]  # qualified name -> entry point
    methods: dict[str, tuple[EntryPoint, ...]]  # method name -> entry points
    decorators: frozenset[str]  # `@scheduler.scheduled_job(...)`
    executors: frozenset[str] = frozenset()  # `pool = ThreadPoolExecutor()`: `pool.submit(f)`


def _pattern(store: str, request: str) -> re.Pattern[str]:
    """`<request>.state.<key>` as a regular expression for `request`."""
    parts = re.split(r"(<request>|<key>)", store)
    words = {"<request>": re.escape(request), "<key>": r"(?:\w+|'[^']*'|\"[^\"]*\")"}
    return re.compile("".join(words.get(part, re.escape(part)) for part in parts))


def _strings(entry: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = entry.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise CatalogueError(f"{_FILE}: {where}: `{key}` must be a list of strings")
    return tuple(value)


def _string(entry: dict[str, Any], key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str):
        raise CatalogueError(f"{_FILE}: {where}: `{key}` must be a string")
    return value


def _hooks(raw: dict[str, Any]) -> HookPair:
    where = f"hooks `{raw.get('framework')}`"
    closing = {}
    for close in raw.get("close", []):
        name = _string(close, "hook", where)
        on_error = close.get("on-error")
        if not isinstance(on_error, bool):
            raise CatalogueError(f"{_FILE}: {where}: `{name}` needs `on-error = true|false`")
        why = close.get("why", "")
        if not on_error and not why:
            raise CatalogueError(f"{_FILE}: {where}: `{name}` runs not on errors: say `why`")
        closing[name] = CloseHook(name, on_error, why)
    safe = _string(raw.get("safe", {}), "hook", where)
    if safe not in closing or not closing[safe].on_error:
        raise CatalogueError(f"{_FILE}: {where}: `safe` must name a closing hook run on errors")
    return HookPair(
        framework=_string(raw, "framework", where),
        modules=_strings(raw, "modules", where),
        holders=frozenset(_strings(raw, "holders", where)),
        opening=frozenset(_strings(raw, "open", where)),
        closing=closing,
        safe=safe,
    )


def _middleware(raw: dict[str, Any]) -> Middleware:
    where = f"middleware `{raw.get('framework')}`"
    return Middleware(
        framework=_string(raw, "framework", where),
        modules=_strings(raw, "modules", where),
        decorator=_string(raw, "decorator", where),
        bases=frozenset(_strings(raw, "bases", where)),
        method=_string(raw, "method", where),
        next=_string(raw, "next", where),
        stores=_strings(raw, "stores", where),
    )


def _entry(raw: dict[str, Any], key: str) -> EntryPoint:
    where = f"outside `{raw.get(key)}`"
    position = raw.get("position")
    if not isinstance(position, int):
        raise CatalogueError(f"{_FILE}: {where}: `position` must be an integer")
    return EntryPoint(
        name=_string(raw, key, where),
        keyword=_string(raw, "keyword", where),
        position=position,
        receiver=str(raw.get("receiver", "")),
        method=key == "method",
        thread=bool(raw.get("thread", False)),
        run_method=str(raw.get("run-method", "")),
    )


def parse_lifecycles(data: dict[str, Any]) -> Lifecycles:
    """The `Lifecycles` a parsed `rules/lifecycles.toml` describes; raises CatalogueError."""
    outside = data.get("outside", {})
    methods: dict[str, list[EntryPoint]] = {}
    for raw in outside.get("methods", []):
        entry = _entry(raw, "method")
        methods.setdefault(entry.name, []).append(entry)
    callables = {}
    for raw in outside.get("callables", []):
        entry = _entry(raw, "name")
        callables[entry.name] = entry
    return Lifecycles(
        hooks=tuple(_hooks(raw) for raw in data.get("hooks", [])),
        middleware=tuple(_middleware(raw) for raw in data.get("middleware", [])),
        callables=callables,
        methods={name: tuple(found) for name, found in methods.items()},
        decorators=frozenset(_strings(outside, "decorators", "outside")),
        executors=frozenset(_strings(outside, "executors", "outside")),
    )


@cache
def lifecycles() -> Lifecycles:
    """The built-in lifecycle data (read once)."""
    with (rules_dir() / "lifecycles.toml").open("rb") as handle:
        return parse_lifecycles(tomllib.load(handle))
