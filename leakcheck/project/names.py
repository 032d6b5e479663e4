"""Project-wide names: what other modules of the project define, answered from their summaries.

Real services define `SessionLocal`, the pool or `get_db` in one module and use them in twenty. When
a checked module calls a name it imported (`from app.database import SessionLocal`, relative
imports, `import app.db as db; db.SessionLocal()`), `NameResolver` finds the defining module on
disk (from the importing file's own package root, and from the project root: the nearest directory
holding pyproject.toml, setup.cfg, setup.py or .git, also its `src/`) and answers from that module's
summary (`project.summaries`), following re-exports through the summaries' import tables. Summaries
come from a `SummarySource`: the run's store (`project.pipeline`), or `LazySummaries`, which
computes each one on first use, in this process, and keeps only the summary, never the tree.
Names from modules that cannot be found (installed packages, missing files) fall back to the
configured names and to the conventional factory names.

Every answer a resolver gives is also recorded as a plain tuple (`Answer`), so that the cache can
tell, without importing the analysis, whether a file would now get a different answer.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from leakcheck.config import dependencies, line_length
from leakcheck.config.catalogue import Kind
from leakcheck.config.roots import ROOT_MARKERS
from leakcheck.config.settings import Names
from leakcheck.project.summaries import Summary

if TYPE_CHECKING:
    from leakcheck.analysis.facts import Export

MAX_REEXPORTS = 8
# What a lookup answered: ("config", kind name), ("conventional", kind name), ("export", module
# path, name, digest of the Export), or None.
Answer = tuple[str, ...] | None
# Stored sources (`analysis/stored.py`): a query `STORED + key` is answered from the summary the
# project makes of every module's stores under that key (`STORES` stands for its path).
STORED = "<stored>:"
STORED_OTHER = "<stored>?:"  # a key stored as anything else, for conflicts
STORES = "<stored>"
# The key under which a resolver records a `lookup_callee` (a name no Python name can hold).
CALLEE = "callee "

_PACKAGES: dict[str, tuple[tuple[str, ...], str]] = {}
_REAL_DIRECTORIES: dict[str, str] = {}
_REAL_FILES: dict[str, str] = {}
_RELATIVE_FILES: dict[str, dict[str, str]] = {}  # by working directory
_PATHS: dict[str, Path] = {}


def real_path(path: str | os.PathLike[str]) -> str:
    """`os.path.realpath(path)`, with each directory resolved once per process: a run over a
    tree asks for thousands of files' real paths, and `realpath` lstat()s every component of
    every one. Only the file itself is checked for being a link. Paths with a `..` component take
    `realpath` itself (`link/..` is not the directory above the link's text)."""
    text = os.fspath(path)
    files = _REAL_FILES
    if not os.path.isabs(text):  # its meaning moves with the working directory
        files = _RELATIVE_FILES.setdefault(os.getcwd(), {})
    known = files.get(text)
    if known is not None:  # asked again in the same run (discovery, the project, the cache)
        return known
    if ".." in text.replace("\\", "/").split("/"):
        return os.path.realpath(text)
    directory, base = os.path.split(os.path.abspath(text))
    real_directory = _REAL_DIRECTORIES.get(directory)
    if real_directory is None:
        real_directory = _REAL_DIRECTORIES[directory] = os.path.realpath(directory)
    candidate = os.path.join(real_directory, base)
    found = os.path.realpath(candidate) if os.path.islink(candidate) else candidate
    files[text] = found
    return found


def module_name(path: str | os.PathLike[str]) -> tuple[str, str, Path]:
    """(`app.routers.items`, its package `app.routers`, the directory imports start from)."""
    real = real_path(path)
    directory, stem = os.path.dirname(real), os.path.splitext(os.path.basename(real))[0]
    parents, import_root = _package_of(directory)
    parts = [*parents, stem]
    is_package = stem == "__init__"
    if is_package:
        parts.pop()
    name = ".".join(parts)
    package = name if is_package else ".".join(parts[:-1])
    if not parents and not is_package:
        package = _namespace_package(directory)
    return name, package, _as_path(import_root)


def _namespace_package(directory: str) -> str:
    """The package a module in `directory` belongs to when no `__init__.py` makes one: the folders
    from the project root down (`postgres_proj.services`), as namespace packages (PEP 420) are
    named when the project runs from its root (`python -m postgres_proj.app`), so that
    `from ..db import get_db_connection` names `postgres_proj.db`. "" when there is no project
    root above, the folder is the root, or a folder's name is no identifier (then a relative
    import is read as the absolute one it names, as before)."""
    root = _root_of(directory)
    if root is None or directory == root or not directory.startswith(root + os.sep):
        return ""
    parts = os.path.relpath(directory, root).split(os.sep)
    return ".".join(parts) if all(p.isidentifier() for p in parts) else ""


def _as_path(directory: str) -> Path:
    """One `Path` per directory and process (building one per file was a tenth of a warm run)."""
    known = _PATHS.get(directory)
    if known is None:
        known = _PATHS[directory] = Path(directory)
    return known


def _package_of(directory: str) -> tuple[tuple[str, ...], str]:
    """The package names leading to `directory` and the directory above the topmost package."""
    cached = _PACKAGES.get(directory)
    if cached is not None:
        return cached
    parent = os.path.dirname(directory)
    if parent != directory and os.path.isfile(os.path.join(directory, "__init__.py")):
        above, root = _package_of(parent)
        found = ((*above, os.path.basename(directory)), root)
    else:
        found = ((), directory)
    _PACKAGES[directory] = found
    return found


def project_root(path: str | os.PathLike[str]) -> Path | None:
    """The nearest directory above `path` holding a project marker (pyproject.toml, .git, ...)."""
    found = _root_of(os.path.dirname(real_path(path)))
    return Path(found) if found is not None else None


_ROOTS: dict[str, str | None] = {}


def _root_of(directory: str) -> str | None:
    """`directory` itself or the nearest directory above it with a marker (remembered)."""
    if directory in _ROOTS:
        return _ROOTS[directory]
    if any(os.path.exists(os.path.join(directory, marker)) for marker in ROOT_MARKERS):
        found: str | None = directory
    else:
        parent = os.path.dirname(directory)
        found = None if parent == directory else _root_of(parent)
    _ROOTS[directory] = found
    return found


_IMPORT_ROOTS: dict[str, tuple[Path, ...]] = {}
# Roots tuples (`import_roots`) whose roots from an index on are confined to a folder: a module
# found there counts only if its real path is inside that folder (no link out of the tree).
_CONFINED: dict[tuple[Path, ...], tuple[int, str]] = {}


def import_roots(path: str | os.PathLike[str]) -> tuple[Path, ...]:
    """Where imports in `path` are looked for: its package root, the project root and its src/,
    the file's own directory, and last the folders between it and the top (`_top`: the project
    root, else the working directory), nearest first.

    A module inside a package that imports a sibling by its bare name (`from connexion_pool
    import get_connection` next to connexion_pool.py) runs only because the project puts that
    directory on `sys.path` (`sys.path.append(dirname(__file__))`, or the script run from
    there). A script repository without `__init__.py` files (namespace packages, PEP 420) and
    often without any marker imports its top folder absolutely from a nested file (`from
    src.utils.db import get_connection` in src/transform/transform.py): it runs from the folder
    holding `src/` (`python -m src.transform.transform` puts the working directory on
    `sys.path`), which is one of the file's ancestors. Those ancestors come last, and a module
    found through one counts only if its real path is inside the top (a link out of the tree
    is not followed: `ModuleFinder`), so every import the roots before them answer (every one
    Python 3 itself resolves) is answered as before."""
    directory = os.path.dirname(real_path(path))
    cached = _IMPORT_ROOTS.get(directory)
    if cached is not None:
        return cached
    _, _, import_root = module_name(path)
    roots = [import_root]
    root = project_root(path)
    if root is not None:
        roots += [r for r in (root, root / "src") if r not in roots and r.is_dir()]
    own = _as_path(directory)
    if own not in roots:
        roots.append(own)
    confined = len(roots)
    top = _top(directory)
    if top is not None:
        roots += [a for a in map(_as_path, _ancestors(directory, top)) if a not in roots]
    found = _IMPORT_ROOTS[directory] = tuple(roots)
    if top is not None and len(found) > confined:
        _CONFINED[found] = (confined, top)
    return found  # the same tuple for every file of the directory (`ModuleFinder` keys on it)


def _top(directory: str) -> str | None:
    """The highest folder an import of a module in `directory` is looked for in: its project
    root (a marker: `config.roots`), else the working directory when `directory` is inside it
    (where `python -m` runs and what leakcheck takes for the project root when there is no
    marker), else None. Never the file system's root."""
    top = _root_of(directory)
    if top is None:
        try:
            cwd = os.path.realpath(os.getcwd())
        except OSError:  # the working directory is gone
            return None
        if cwd != directory and not directory.startswith(cwd.rstrip(os.sep) + os.sep):
            return None
        top = cwd
    return None if os.path.dirname(top) == top else top


def _ancestors(directory: str, top: str) -> list[str]:
    """The folders above `directory` up to `top` included, nearest first ([] when `directory`
    is `top` or not inside it)."""
    found: list[str] = []
    while directory != top and directory.startswith(top + os.sep):
        directory = os.path.dirname(directory)
        found.append(directory)
    return found


def forget() -> None:
    """Drop what this process remembers about directories (packages, project roots): a
    long-lived process (a language server) calls it when files may have moved."""
    _PACKAGES.clear()
    _REAL_DIRECTORIES.clear()
    _REAL_FILES.clear()
    _RELATIVE_FILES.clear()
    _PATHS.clear()
    _ROOTS.clear()
    _IMPORT_ROOTS.clear()
    _CONFINED.clear()
    dependencies.forget()  # the versions read from dependency files (FastAPI: `pinned-by-stream`)
    line_length.forget()  # the `line-length` read from ruff's or black's configuration
    global _GENERATION
    _GENERATION += 1  # every `ModuleFinder` starts afresh (a worker's is long-lived)


_GENERATION = 0  # how many times `forget` was called


class ModuleFinder:
    """Module name -> file, through a list of roots; every answer remembered for the run."""

    def __init__(self) -> None:
        self._start()

    def _start(self) -> None:
        self._generation = _GENERATION
        self._files: dict[tuple[Path, str], str | None] = {}
        self._listings: dict[str, frozenset[str]] = {}
        # The answer for a whole list of roots (asked tens of thousands of times in a run over a
        # big tree): one dict lookup instead of hashing and comparing paths per root.
        # Keyed by the tuple's identity first (`import_roots` hands out one tuple per
        # directory), which spares hashing its `Path`s; then by value, for other callers.
        self._by_id: dict[int, tuple[tuple[Path, ...], dict[str, str | None]]] = {}
        self._answers: dict[tuple[Path, ...], dict[str, str | None]] = {}
        # Every directory whose entries decided an answer (listed, or probed for an
        # `__init__.py`), with its mtime from before it was read (None: it does not exist).
        self._stamps: dict[str, int | None] = {}

    def watched(self) -> dict[str, int | None]:
        """The directories whose entries decided an answer so far, with their mtimes (ns) as
        they were read: a file added or removed in one of them may change what a module name
        resolves to."""
        return dict(self._stamps)

    def _stamp(self, directory: str) -> None:
        if directory not in self._stamps:
            try:
                self._stamps[directory] = os.stat(directory).st_mtime_ns
            except OSError:
                self._stamps[directory] = None

    def find(self, roots: tuple[Path, ...], module: str) -> str | None:
        """The real path of `module`'s file (`a/b.py` or `a/b/__init__.py`) under the first root
        that has it, or None."""
        if self._generation != _GENERATION:
            self._start()  # `forget` was called: directories may have changed since
        known = self._by_id.get(id(roots))
        if known is not None and known[0] is roots:
            answers = known[1]
        else:
            answers = self._answers.setdefault(roots, {})
            self._by_id[id(roots)] = (roots, answers)  # holds `roots`: its id stays its own
        if module in answers:
            return answers[module]
        answers[module] = found = self._find(roots, module)
        return found

    def _find(self, roots: tuple[Path, ...], module: str) -> str | None:
        parts = module.split(".")
        confined, top = _CONFINED.get(roots, (len(roots), ""))
        for index, root in enumerate(roots):
            key = (root, module)
            if key not in self._files:
                self._files[key] = self._under(os.fspath(root), parts)
            hit = self._files[key]
            if hit is not None and (index < confined or hit.startswith(top + os.sep)):
                return hit  # an ancestor root's module must be inside the top (`import_roots`)
        return None

    def _under(self, root: str, parts: list[str]) -> str | None:
        """`parts` as `a/b.py` or `a/b/__init__.py` below `root`. Directory listings are read
        once per run: most imports name the standard library or installed packages, which a
        look-up in the root's listing rules out without a `stat` per candidate. Names match
        case-sensitively, as Python's imports do."""
        directory = root
        for part in parts[:-1]:
            if part not in self._listing(directory):
                return None
            directory = os.path.join(directory, part)
        last, listing = parts[-1], self._listing(directory)
        candidates = []
        if last + ".py" in listing:
            candidates.append(os.path.join(directory, last + ".py"))
        if last in listing:
            package = os.path.join(directory, last)
            self._stamp(package)
            candidates.append(os.path.join(package, "__init__.py"))
        for candidate in candidates:
            if os.path.isfile(candidate):
                return real_path(candidate)
        return None

    def _listing(self, directory: str) -> frozenset[str]:
        known = self._listings.get(directory)
        if known is None:
            self._stamp(directory)
            try:
                known = frozenset(os.listdir(directory))
            except OSError:
                known = frozenset()
            self._listings[directory] = known
        return known


class SummarySource(Protocol):
    """Gives the summary of the module at a real path, or None when it offers nothing (not a
    module that can export, unreadable, unparsable, or not visible from the asking module).

    `whole`: the module is asked about a function that is given a resource, so a module that
    defines nothing the prefilter's words name is summarised all the same (on demand, at most
    once per run); None while what it imports is not summarised yet."""

    def summary(self, path: str, whole: bool = False) -> Summary | None: ...


class NameResolver:
    """Answers `lookup` (the analysis's `Resolver`) for the modules one file imports."""

    def __init__(
        self,
        finder: ModuleFinder,
        roots: tuple[Path, ...],
        kinds: tuple[Kind, ...],
        names: Names,
        source: SummarySource,
    ) -> None:
        self.finder = finder
        self.roots = roots
        self.kinds = kinds
        self.names = names
        self.source = source
        self.queries: dict[str, Answer] = {}  # every lookup made through this resolver

    def lookup(self, qualified: str) -> Export | None:
        """What the project says about `qualified` (`app.database.SessionLocal`), or None."""
        answer, export = self._resolve(qualified, 0, materialise=True)
        self.queries[qualified] = answer
        return export

    def lookup_callee(self, qualified: str) -> Export | None:
        """`lookup` for a function given a resource: its module is summarised even if it has
        no export marker (`SummarySource.summary`'s `whole`). Recorded under `CALLEE` +
        `qualified`, so that `answer` checks it the same way."""
        answer, export = self._resolve(qualified, 0, materialise=True, whole=True)
        self.queries[CALLEE + qualified] = answer
        return export

    def answer(self, qualified: str) -> Answer:
        """What `lookup` (or, for a key starting with `CALLEE`, `lookup_callee`) would record
        for `qualified`, without building any `Export`."""
        if qualified.startswith(CALLEE):
            return self._resolve(qualified[len(CALLEE) :], 0, materialise=False, whole=True)[0]
        return self._resolve(qualified, 0, materialise=False)[0]

    def _resolve(
        self, qualified: str, depth: int, materialise: bool, whole: bool = False
    ) -> tuple[Answer, Export | None]:
        if qualified.startswith(STORED):
            stores = self.source.summary(STORES)
            if stores is None or qualified not in stores.digests:
                return None, None
            kept: Answer = ("export", STORES, qualified, stores.digests[qualified])
            return kept, stores.exports().get(qualified) if materialise else None
        configured = self._configured(qualified)
        if configured is not None:
            return ("config", configured), self._export(configured, materialise)
        parts = qualified.split(".")
        path = self.finder.find(self.roots, ".".join(parts[:-1])) if len(parts) > 1 else None
        if path is not None:
            summary = self.source.summary(path)
            name = parts[-1]
            if whole and (
                summary is None or (name not in summary.digests and name not in summary.imports)
            ):
                summary = self.source.summary(path, whole)  # a helper of a module with no marker
            if summary is None:
                return None, None
            if name in summary.digests:
                answer: Answer = ("export", path, name, summary.digests[name])
                return answer, summary.exports().get(name) if materialise else None
            target = summary.imports.get(name)
            if target is not None and depth < MAX_REEXPORTS:
                return self._resolve(target, depth + 1, materialise, whole)  # `from .db import X`
            return None, None
        conventional = self._listing("conventional-factory-names")
        if parts[-1] in self.names.conventional and conventional is not None:
            return ("conventional", conventional), self._export(conventional, materialise)
        return None, None

    def _configured(self, qualified: str) -> str | None:
        names = self.names
        if qualified in names.session_factories:
            return self._listing("session-factories")
        if qualified in names.engines:
            return self._listing("engines")
        if qualified in names.pools:
            return "<any pool>"  # any pool kind whose acquire method is called on it
        return None

    def _listing(self, key: str) -> str | None:
        """The name of the kind whose sources `key` of `[tool.leakcheck]` lists
        (`Kind.sources_listed_in`: `session-factories` for SQLAlchemy sessions), or None."""
        return next((k.name for k in self.kinds if key in k.sources_listed_in), None)

    def _kind(self, name: str) -> Kind | None:
        return next((k for k in self.kinds if k.name == name), None)

    def _export(self, kind_name: str, materialise: bool) -> Export | None:
        if not materialise:
            return None
        from leakcheck.analysis.facts import Export  # only when the analysis runs

        return Export("source", self._kind(kind_name))


def uses_a_starter(
    table: dict[str, str], resolver: NameResolver, read: Callable[[], bytes]
) -> bool:
    """Whether a module without an export marker is to be summarised after all: it imports a
    starter (a name its module's summary exports as a way to acquire or release,
    `Summary.starters`, or a configured or conventional factory) and uses it beyond the import.
    Such a module wraps it (`def reporting_conn(): return get_conn()`), and only its own summary
    says what it exports; a package's `__init__.py` that only re-exports it does not.

    `table`: its import table (`summaries.import_table`); `resolver`: answers its names, from the
    summaries its `source` offers; `read`: its bytes, called only when a starter is imported.
    """
    starters = []
    for local, target in sorted(table.items()):
        answer = resolver.answer(target)
        if answer is None:
            continue
        summary = resolver.source.summary(answer[1]) if answer[0] == "export" else None
        if answer[0] != "export" or (summary is not None and answer[2] in summary.starters):
            starters.append(local)
    if not starters:
        return False
    source = read()
    return any(len(re.findall(rb"\b%s\b" % name.encode(), source)) > 1 for name in starters)


class LazySummaries:
    """Summaries computed on first use, in this process (for one file checked alone: the
    language server, `project.api`, tests). Each module is parsed at most once; an import cycle
    answers None for the module still being summarised."""

    def __init__(
        self,
        finder: ModuleFinder,
        settings: Callable[[Path], tuple[tuple[Kind, ...], Names]],
        known: Callable[[str], Summary | None] | None = None,
    ) -> None:
        """`settings(path)`: the kinds and names that apply to the file at `path`; `known`: a
        summary already at hand (the cache's), tried first."""
        self.finder = finder
        self.settings = settings
        self.known = known
        self._summaries: dict[tuple[str, bool], Summary | None] = {}

    def summary(self, path: str, whole: bool = False) -> Summary | None:
        if path == STORES:
            return None  # one file alone: the project's stores are not read
        if (path, whole) in self._summaries:
            return self._summaries[path, whole]
        self._summaries[path, whole] = None  # guards against import cycles
        found = self.known(path) if self.known is not None else None
        if found is None or (whole and not found.digests):
            found = self._compute(path, whole)
        self._summaries[path, whole] = found
        return found

    def _compute(self, path: str, whole: bool = False) -> Summary | None:
        from leakcheck.project.prefilter import export_markers

        kinds, names = self.settings(Path(path))
        try:
            with open(path, "rb") as handle:
                source = handle.read()
        except OSError:
            return None
        _, package, _ = module_name(Path(path))
        resolver = NameResolver(self.finder, import_roots(Path(path)), kinds, names, self)
        if not whole and not export_markers(kinds, names).matches(source, package):
            from leakcheck.project.summaries import import_table

            table = import_table(source, package)  # it may pass on what it imports
            if not uses_a_starter(table, resolver, lambda: source):
                return Summary(table) if table else None
        from leakcheck.engine import analyse
        from leakcheck.project.summaries import summarise

        done = analyse(source, path, kinds, package, resolver, judge=False)
        if done.exports is None or done.imports is None:
            return None
        return summarise(done.exports, done.imports)
