"""Which external calls take over a resource passed to them, and which only borrow it.

Data from `rules/ownership.toml` (see docs/semantics.md, "Ownership across calls"). The facts come
from each library's documented behaviour: `threading.Thread(args=...)` and `executor.submit(fn,
*args)` keep their arguments for a later run (Python docs, `threading`, `concurrent.futures`);
`BackgroundTasks.add_task(func, *args)` runs after the response is sent (Starlette docs,
"Background Tasks"); `ExitStack.enter_context/callback` and `weakref.finalize` keep a reference
until the stack closes or the object dies (Python docs, `contextlib`, `weakref`).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from functools import cache

from leakcheck.config.catalogue import CatalogueError, rules_dir, tomllib


@dataclass(frozen=True)
class Ownership:
    """The ownership data: callables and methods that take a resource, and what borrows."""

    takes_callables: frozenset[str]
    takes_methods: frozenset[str]  # `managing_methods` included
    managing_methods: frozenset[str]  # ExitStack's: take over for the rest of the scope
    borrowing_packages: frozenset[str]
    borrowing_builtins: frozenset[str]
    borrowing_callables: frozenset[str] = frozenset()  # `sqlite_vec.load`, qualified
    # method name -> (keyword, position) of the argument it only uses (`to_sql`: `con`, 1)
    borrowing_methods: dict[str, tuple[str, int]] = field(default_factory=dict)
    # top-level packages of drivers whose client-side cursor may talk to the server on `close()`
    cursor_close_reads: frozenset[str] = frozenset()
    # qualified callable -> {form: position of the callable it calls} (`calling-callables`)
    calling_callables: dict[str, dict[str, int]] = field(default_factory=dict)
    # method name -> position of the callable it calls (`calling-methods`)
    calling_methods: dict[str, int] = field(default_factory=dict)
    # qualified decorators under which a function returns a shared object (`caching-decorators`)
    caching_decorators: frozenset[str] = frozenset()

    def borrows_module(self, qualified: str) -> bool:
        """Is `qualified` (`pandas.read_sql`) a function of the standard library or of a package
        listed as borrowing? `sys.stdlib_module_names` (Python >= 3.10) names the former."""
        root = qualified.split(".", 1)[0]
        return (
            root in self.borrowing_packages
            or root in sys.stdlib_module_names
            or qualified in self.borrowing_callables
        )

    def borrowing_method(self, method: str, keyword: str | None, position: int) -> bool:
        """Does `<anything>.method(...)` only use the argument passed as `keyword` (or, without
        one, at `position`)? (`df.to_sql("t", conn)`, `df.to_sql("t", con=conn)`.)"""
        spec = self.borrowing_methods.get(method)
        if spec is None:
            return False
        return keyword == spec[0] if keyword is not None else position == spec[1]


def _methods(data: dict[str, object], key: str) -> dict[str, tuple[str, int]]:
    value = data.get(key, [])
    out: dict[str, tuple[str, int]] = {}
    if not isinstance(value, list):
        raise CatalogueError(f"rules/ownership.toml: `{key}` must be a list of tables")
    for entry in value:
        if not (
            isinstance(entry, dict)
            and isinstance(entry.get("method"), str)
            and isinstance(entry.get("keyword"), str)
            and isinstance(entry.get("position"), int)
        ):
            raise CatalogueError(
                f"rules/ownership.toml: each `{key}` entry needs `method`, `keyword`, `position`"
            )
        out[entry["method"]] = (entry["keyword"], entry["position"])
    return out


CALLING_FORMS = frozenset({"call", "await", "instance-call", "decorator", "decorator-factory"})


def _calling(data: dict[str, object], key: str, field_name: str) -> list[tuple[str, str, int]]:
    """(name, form, position) of each entry of a `calling-*` list (form "call" by default)."""
    value = data.get(key, [])
    if not isinstance(value, list):
        raise CatalogueError(f"rules/ownership.toml: `{key}` must be a list of tables")
    out = []
    for entry in value:
        if not (
            isinstance(entry, dict)
            and isinstance(entry.get(field_name), str)
            and isinstance(entry.get("position"), int)
            and entry.get("form", "call") in CALLING_FORMS
        ):
            raise CatalogueError(
                f"rules/ownership.toml: each `{key}` entry needs `{field_name}`, `position` and "
                f"a `form` among {sorted(CALLING_FORMS)}"
            )
        out.append((entry[field_name], entry.get("form", "call"), entry["position"]))
    return out


def _strings(data: dict[str, object], key: str) -> frozenset[str]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise CatalogueError(f"rules/ownership.toml: `{key}` must be a list of strings")
    return frozenset(value)


@cache
def ownership() -> Ownership:
    """The built-in ownership data. Raises CatalogueError when the file is malformed."""
    with (rules_dir() / "ownership.toml").open("rb") as handle:
        data = tomllib.load(handle)
    return Ownership(
        takes_callables=_strings(data, "takes-callables"),
        takes_methods=_strings(data, "takes-methods") | _strings(data, "managing-methods"),
        managing_methods=_strings(data, "managing-methods"),
        borrowing_packages=_strings(data, "borrowing-packages"),
        borrowing_builtins=_strings(data, "borrowing-builtins"),
        caching_decorators=_strings(data, "caching-decorators"),
        borrowing_callables=_strings(data, "borrowing-callables"),
        borrowing_methods=_methods(data, "borrowing-methods"),
        cursor_close_reads=_strings(data, "cursor-close-reads"),
        calling_callables=_by_form(_calling(data, "calling-callables", "name")),
        calling_methods={
            name: position for name, _, position in _calling(data, "calling-methods", "method")
        },
    )


def _by_form(entries: list[tuple[str, str, int]]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for name, form, position in entries:
        out.setdefault(name, {})[form] = position
    return out
