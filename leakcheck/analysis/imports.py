"""What a module's names refer to: its import statements, recorded, and the questions they answer.

The first pass records every `import` here (`record`); later every question about a name asks
here what it qualifies to (`qualify`), what another module of the project says about it
(`lookup`), and whether it is a library module rather than an object (`is_library_module`).
Kept apart from the other records because only names decide these answers.
"""

from __future__ import annotations

from collections.abc import Container, Sequence

import libcst as cst

from leakcheck.analysis.records import Export, Resolver
from leakcheck.analysis.syntax import dotted
from leakcheck.config.catalogue import Kind


class ModuleImports:
    """The names one module imports: local name -> what it names, `from x import *` bases, and
    the names bound to modules. `package`: for relative imports; `resolver`: the project's
    answers about names other modules define (None: none); `local`: the names the module
    defines itself, which no other module answers for (filled in as the walk finds them)."""

    def __init__(
        self,
        package: str = "",
        resolver: Resolver | None = None,
        local: Sequence[Container[str]] = (),
    ) -> None:
        self.package = package  # `app.routers` for app/routers/items.py: for relative imports
        self.resolver = resolver
        self.local = local
        self.imports: dict[str, str] = {}
        self.star_imports: list[str] = []  # `from x import *`: where other names may come from
        self.module_aliases: set[str] = set()  # names bound by `import x` / `import x as y`

    def record(self, node: cst.Import | cst.ImportFrom) -> None:
        """Add what one import statement binds."""
        if isinstance(node, cst.Import):
            for alias in node.names:
                full = dotted(alias.name) or ""
                if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                    self.imports[alias.asname.name.value] = full
                    self.module_aliases.add(alias.asname.name.value)
                else:
                    head = full.split(".", 1)[0]
                    self.imports[head] = head
                    self.module_aliases.add(head)
            return
        base = (dotted(node.module) or "") if node.module is not None else ""
        if node.relative:
            # `from ..db import X` in package `app.routers` means `app.db`.
            package = self.package.split(".") if self.package else []
            up = len(node.relative) - 1
            if package and up < len(package):
                anchor = package[: len(package) - up]
                base = ".".join([*anchor, base] if base else anchor)
            # Else the package is unknown (a single file): read it as the absolute import it
            # names, so that conventional names (`SessionLocal`) still apply.
        if isinstance(node.names, cst.ImportStar):
            if base:
                self.star_imports.append(base)
            return
        for alias in node.names:
            name = dotted(alias.name) or ""
            local = name
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                local = alias.asname.name.value
            self.imports[local] = f"{base}.{name}" if base else name

    def qualify(self, expr: cst.BaseExpression) -> str:
        """The imported name an expression refers to: `pool.X` after `from psycopg2 import pool`."""
        text = dotted(expr)
        if text is None:
            return ""
        head, _, rest = text.partition(".")
        full = self.imports.get(head, head)
        return f"{full}.{rest}" if rest else full

    def lookup(self, text: str, callee: bool = False) -> Export | None:
        """What another module says about an imported name (`SessionLocal`, `db.pool`), or about
        a name none of the module's imports binds but a `from x import *` may (the last star
        import that exports it wins, as at run time), unless the module defines it itself.
        `callee`: the name is called with a resource (`Resolver.lookup_callee`)."""
        if self.resolver is None:
            return None
        ask = self.resolver.lookup_callee if callee else self.resolver.lookup
        head, _, rest = text.partition(".")
        if head not in self.imports:
            if any(head in names for names in self.local):
                return None  # defined here
            for base in reversed(self.star_imports):
                export = ask(f"{base}.{text}")
                if export is not None:
                    return export
            return None
        full = self.imports[head]
        return ask(f"{full}.{rest}" if rest else full)

    def is_library_module(self, receiver: cst.BaseExpression, kinds: tuple[Kind, ...]) -> bool:
        """Is `receiver` a module (`import psycopg2`, `from psycopg2 import pool`) rather than an
        object such as a pool? A module-level `putconn` does not exist: it releases nothing."""
        text = dotted(receiver)
        if text is None or text.split(".", 1)[0] not in self.imports:
            return False
        if text in self.module_aliases:
            return True
        qualified = self.qualify(receiver)
        return any(qualified in kind.library_modules for kind in kinds)
