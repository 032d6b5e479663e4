"""What gives a resource back: which expressions a call releases, and whether a scope releases a
name, in plain calls, `closing(...)` or a loop over a list of them.

Read from the module's imports, the kinds and the functions found to release a parameter (the
`releasers` role, filled in after the first pass); kept apart from the records because every
later stage asks these questions and none of them records anything.
"""

from __future__ import annotations

import libcst as cst

from leakcheck.analysis.imports import ModuleImports
from leakcheck.analysis.records import FunctionInfo
from leakcheck.analysis.syntax import dotted, walk
from leakcheck.config.catalogue import Kind

# `closing(x)` calls `x.close()` on exit: a release only for kinds that `close()` releases.
CLOSING = {
    "closing": "close",
    "contextlib.closing": "close",
    "aclosing": "aclose",
    "contextlib.aclosing": "aclose",
}


class Releases:
    """The release questions about one module.

    `imports`: the module's names, and what other modules of the project say about them;
    `releasers`: function key -> index of the argument it releases (shared with the facts, which
    fill it in).
    """

    def __init__(
        self, kinds: tuple[Kind, ...], imports: ModuleImports, releasers: dict[str, int]
    ) -> None:
        self.kinds = kinds
        self.imports = imports
        self.releasers = releasers
        self.release_methods = frozenset(m for k in kinds for m in k.release_methods)

    def releases_any(self, info: FunctionInfo, names: frozenset[str], kind: Kind) -> bool:
        """Does the scope release any of `names` somewhere (is it the resource's owner)?"""
        if self.release_calls(info, names, kind):
            return True
        return self.releases_in_loops(info, names, kind)

    def release_calls(
        self, info: FunctionInfo, names: frozenset[str], kind: Kind
    ) -> list[cst.Call]:
        """The calls of the scope that release one of `names` (`conn.close()`, `putconn(conn)`,
        `closing(conn)`)."""
        found = []
        for call in info.calls:
            released = self.released_args(call, info.class_name, kind)
            if self.is_closing(call, kind):
                released = [a.value for a in call.args]
            if any(isinstance(arg, cst.Name) and arg.value in names for arg in released):
                found.append(call)
        return found

    def releases_in_loops(self, info: FunctionInfo, names: frozenset[str], kind: Kind) -> bool:
        """Does the scope release the elements of a list held in `names` (`releases_elements`)?"""
        node = info.node
        if isinstance(node, cst.FunctionDef):
            for loop in walk(node.body):
                if isinstance(loop, cst.For) and self.releases_elements(loop, names, info, kind):
                    return True
        return False

    def releases_elements(
        self, loop: cst.For, names: frozenset[str], info: FunctionInfo, kind: Kind
    ) -> bool:
        """`for conn in conns: pool.putconn(conn)`: a loop over a list held in `names` that
        releases each element."""
        if not (isinstance(loop.iter, cst.Name) and loop.iter.value in names):
            return False
        if not isinstance(loop.target, cst.Name):
            return False
        element = loop.target.value
        for node in walk(loop.body):
            if isinstance(node, cst.Call):
                released = self.released_args(node, info.class_name, kind)
                if self.is_closing(node, kind):
                    released = [a.value for a in node.args]
                if any(isinstance(a, cst.Name) and a.value == element for a in released):
                    return True
        return False

    def closing_method(self, call: cst.Call) -> str | None:
        """`close` for `closing(x)` however imported; `aclose` for `aclosing(x)`."""
        return CLOSING.get(self.imports.qualify(call.func)) or CLOSING.get(dotted(call.func) or "")

    def is_closing(self, call: cst.Call, kind: Kind) -> bool:
        """Is `call` a `closing(...)` that gives a resource of `kind` back?

        A psycopg2 pool connection is not: `conn.close()` leaves it counted as used by the pool.
        """
        method = self.closing_method(call)
        return method is not None and method in kind.self_release_methods

    def releaser_index(
        self, call: cst.Call, class_name: str | None, external: bool = True
    ) -> int | None:
        """For a call of a module function that releases a parameter: that argument's index."""
        func = call.func
        if isinstance(func, cst.Name) and func.value in self.releasers:
            return self.releasers[func.value]
        if (
            isinstance(func, cst.Attribute)
            and class_name is not None
            and dotted(func.value) in ("self", "cls")
        ):
            return self.releasers.get(f"{class_name}.{func.attr.value}")
        whole = dotted(func)
        export = self.imports.lookup(whole) if whole is not None and external else None
        return export.index if export is not None and export.role == "releaser" else None

    def released_args(
        self, call: cst.Call, class_name: str | None, kind: Kind | None, external: bool = True
    ) -> list[cst.BaseExpression]:
        """The expressions that `call` releases (gives back to their pool or closes)."""
        func = call.func
        out: list[cst.BaseExpression] = []
        if isinstance(func, cst.Attribute):
            method = func.attr.value
            methods = kind.release_methods if kind is not None else self.release_methods
            if method in methods and self.imports.is_library_module(func.value, self.kinds):
                return out  # `psycopg2.putconn(conn)`: a module, not a pool; nothing released
            if method in methods:
                keyword = kind.release_keyword if kind is not None else None
                positional = [a.value for a in call.args if a.keyword is None and not a.star]
                if positional:
                    out.append(positional[0])
                out.extend(
                    a.value
                    for a in call.args
                    if a.keyword is not None and (keyword is None or a.keyword.value == keyword)
                )
                return out
            selfs = (
                kind.self_release_methods
                if kind is not None
                else frozenset(m for k in self.kinds for m in k.self_release_methods)
            )
            if method in selfs:
                out.append(func.value)
        index = self.releaser_index(call, class_name, external)
        if index is not None:
            positional = [a.value for a in call.args if a.keyword is None and not a.star]
            if index < len(positional):
                out.append(positional[index])
        return out
