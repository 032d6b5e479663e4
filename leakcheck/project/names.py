"""Project-wide names: what other modules of the project define, for names a module imports.

Real services define `SessionLocal`, the pool or `get_db` in one module and use them in twenty. When
a checked module calls a name it imported (`from app.database import SessionLocal`, relative
imports, `import app.db as db; db.SessionLocal()`), the index finds the defining module on disk
(from the project root: the nearest directory holding pyproject.toml, setup.cfg, setup.py or .git,
also under `src/`, and from the importing file's own package root), reads its module-level facts
with the same single pass the checker uses, and caches them: each module is read at most once per
run, whether or not it is among the checked paths, so the cost stays linear in the number of files.
Names from modules that cannot be found (installed packages, missing files) fall back to the
configured names and to the conventional factory names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import libcst as cst

from leakcheck.analysis.facts import Export, ModuleFacts
from leakcheck.config.catalogue import Kind
from leakcheck.config.settings import Names

ROOT_MARKERS = ("pyproject.toml", "setup.cfg", "setup.py", ".git")
MAX_REEXPORTS = 8


@dataclass
class _Module:
    facts: ModuleFacts | None  # None when the file does not parse
    exports: dict[str, Export] = field(default_factory=dict)


def module_name(path: Path) -> tuple[str, str, Path]:
    """(`app.routers.items`, its package `app.routers`, the directory imports start from)."""
    path = path.resolve()
    parts = [path.stem]
    directory = path.parent
    while (directory / "__init__.py").is_file() and directory.parent != directory:
        parts.insert(0, directory.name)
        directory = directory.parent
    is_package = parts[-1] == "__init__"
    if is_package:
        parts.pop()
    name = ".".join(parts)
    package = name if is_package else ".".join(parts[:-1])
    return name, package, directory


def project_root(path: Path) -> Path | None:
    for directory in path.resolve().parents:
        if any((directory / marker).exists() for marker in ROOT_MARKERS):
            return directory
    return None


class ProjectIndex:
    """Module facts of the project, read on demand and cached, for one run."""

    def __init__(self) -> None:
        self._modules: dict[tuple[Path, tuple[Kind, ...]], _Module] = {}
        self._files: dict[tuple[Path, str], Path | None] = {}

    def resolver_for(self, path: Path, kinds: tuple[Kind, ...], names: Names) -> FileResolver:
        _, _, import_root = module_name(path)
        roots = [import_root]
        root = project_root(path)
        if root is not None:
            roots += [r for r in (root, root / "src") if r not in roots and r.is_dir()]
        return FileResolver(self, tuple(roots), kinds, names)

    def find(self, roots: tuple[Path, ...], module: str) -> Path | None:
        for root in roots:
            key = (root, module)
            if key not in self._files:
                base = root.joinpath(*module.split("."))
                candidates = (base.with_suffix(".py"), base / "__init__.py")
                self._files[key] = next((c for c in candidates if c.is_file()), None)
            if self._files[key] is not None:
                return self._files[key]
        return None

    def module(self, path: Path, kinds: tuple[Kind, ...], names: Names) -> _Module:
        key = (path, kinds)
        if key not in self._modules:
            self._modules[key] = _Module(None)  # guards against import cycles
            try:
                source = path.read_bytes()
                if not _may_export(source, kinds, names):
                    return self._modules[key]
                tree = cst.parse_module(source)
            except Exception:  # unreadable or unparsable: it simply offers nothing
                return self._modules[key]
            _, package, _ = module_name(path)
            resolver = self.resolver_for(path, kinds, names)
            facts = ModuleFacts(tree, kinds, package, resolver)
            self._modules[key] = _Module(facts, facts.exports())
        return self._modules[key]


@cache
def _markers(kinds: tuple[Kind, ...], names: Names) -> tuple[bytes, ...]:
    words: set[str] = {"contextmanager"}
    for kind in kinds:
        words |= {c.rsplit(".", 1)[-1] for c in kind.source_constructors | kind.acquire_callables}
        words |= kind.acquire_methods
    for group in (names.session_factories, names.pools, names.engines, names.conventional):
        words |= {n.rsplit(".", 1)[-1] for n in group}
    return tuple(sorted(w.encode() for w in words))


def _may_export(source: bytes, kinds: tuple[Kind, ...], names: Names) -> bool:
    """Can this module define a source, factory, releaser or helper? A substring test, so that
    modules that mention no pool, factory, engine or context manager are never parsed here.
    (A helper built only on a source imported under another name is missed: see README.)"""
    return any(word in source for word in _markers(kinds, names))


@dataclass
class FileResolver:
    """Answers `lookup` for the modules one file imports (it knows where to look)."""

    index: ProjectIndex
    roots: tuple[Path, ...]
    kinds: tuple[Kind, ...]
    names: Names

    def lookup(self, qualified: str, depth: int = 0) -> Export | None:
        configured = self._configured(qualified)
        if configured is not None:
            return configured
        parts = qualified.split(".")
        path = self.index.find(self.roots, ".".join(parts[:-1])) if len(parts) > 1 else None
        if path is not None:
            module = self.index.module(path, self.kinds, self.names)
            name = parts[-1]
            if name in module.exports:
                return module.exports[name]
            target = module.facts.imports.get(name) if module.facts is not None else None
            if target is not None and depth < MAX_REEXPORTS:
                return self.lookup(target, depth + 1)  # re-exported: `from .database import X`
            return None
        if parts[-1] in self.names.conventional:
            return self._source("sqlalchemy-session")
        return None

    def _configured(self, qualified: str) -> Export | None:
        names = self.names
        if qualified in names.session_factories:
            return self._source("sqlalchemy-session")
        if qualified in names.engines:
            return self._source("sqlalchemy-connection")
        if qualified in names.pools:
            return Export("source", None)  # any pool kind whose acquire method is called on it
        return None

    def _source(self, kind_name: str) -> Export | None:
        kind = next((k for k in self.kinds if k.name == kind_name), None)
        return Export("source", kind) if kind is not None else None
