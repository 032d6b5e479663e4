"""Module summaries: what one module offers the others, computed once, kept without its tree.

A summary is what `ModuleFacts.exports()` says about the module's names (sources, factories,
releasers, providers, context managers, and whatever `Export` grows to say) plus its import table,
through which re-exports are followed (`from .database import SessionLocal` in a package's
`__init__.py`). It is small plain data: workers send it back to the parent, the cache stores it, and
names are resolved across modules from summaries alone (`project.names`), never by parsing a
module a second time.

The exports travel as a JSON record of the `Export` values (`project.records`: written from their
fields and read back checked against `Export`'s type hints, so fields added to `Export` flow
through untouched and nothing in a cache file can build anything else); next to it each export
has a digest of its canonical form (`digest`), which is what the cache compares to decide whether
a module that depends on it must be judged again, without reading the record (and so without
importing libcst) on a warm run.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import PurePath
from sys import intern
from typing import TYPE_CHECKING, Any

from leakcheck.project import records
from leakcheck.project.linescan import line_statements

if TYPE_CHECKING:
    from leakcheck.analysis.facts import Export


@dataclass(frozen=True)
class Summary:
    """What a module offers importers.

    imports: local name -> qualified name it was imported as (`SessionLocal` ->
    `app.database.SessionLocal`); digests: export name -> `digest` of its `Export`; blob: the
    `dict[str, Export]` as a JSON record (read back by `exports()`, which imports the analysis
    package);
    starters: the exports through which an importer can come to hold a resource (`STARTERS`),
    the names the prefilter looks for in importers' bytes.
    """

    imports: dict[str, str] = field(default_factory=dict)
    digests: dict[str, str] = field(default_factory=dict)
    blob: str = ""
    starters: tuple[str, ...] = ()

    def exports(self) -> dict[str, Export]:
        """The exports themselves; none when the record does not read as exports (a damaged or
        forged cache entry: what it claims to export is then not believed)."""
        if not self.blob:
            return {}
        cached = _EXPORTS.get(self.blob)
        if cached is None:
            try:
                reader, expected = _reader()
                cached = reader.loads(self.blob, expected)
            except records.Invalid:
                cached = {}
            if len(_EXPORTS) >= _EXPORTS_KEPT:  # memory stays flat in the number of modules
                del _EXPORTS[next(iter(_EXPORTS))]
            _EXPORTS[self.blob] = cached
        return cached


# Unpickled exports by blob, the oldest dropped first: a worker reads the same few modules'
# exports (the project's db module) for file after file.
_EXPORTS: dict[str, dict[str, Export]] = {}
_EXPORTS_KEPT = 256
_READER: list[tuple[records.Reader, Any]] = []


def _reader() -> tuple[records.Reader, Any]:
    """The reader of export records, made on first use: it imports the analysis (libcst), which
    a warm run that reads no exports never needs."""
    if not _READER:
        from leakcheck.analysis.records import Export, Manager, ParamEffects

        names = {"Export": Export, "Manager": Manager, "ParamEffects": ParamEffects}
        _READER.append((records.Reader(names), dict[str, Export]))
    return _READER[0]


# Export roles through which an importer can acquire (or release, "the pair") a resource. A
# "function" (parameter effects only) or a quiet "helper" acts on a resource the importer already
# holds, so its name alone can never start a finding: leaving them out keeps a library's thousands
# of classes and functions out of the prefilter's words.
STARTERS = frozenset(
    {"source", "source-factory", "factory", "releaser", "context-manager", "provider"}
)


def summarise(exports: dict[str, Export], imports: dict[str, str]) -> Summary:
    """The summary of a module from its facts' `exports()` and `imports`."""
    if not exports:
        return Summary(dict(imports))
    ordered = dict(sorted(exports.items()))
    return Summary(
        dict(imports),
        {name: digest(value) for name, value in ordered.items()},
        records.dumps(ordered).decode("ascii"),
        tuple(
            name
            for name, value in ordered.items()
            if value.role in STARTERS or value.method_factories  # `Repo`: `repo.sessions()`
        ),
    )


def canonical(value: Any) -> Any:
    """A form of `value` whose `repr` is the same in every process: dataclasses by their fields
    (whatever fields they have), sets sorted, paths as text. Raises TypeError for other objects."""
    if value is None or isinstance(value, (str, int, float, bool, bytes)):
        return value
    if isinstance(value, enum.Enum):
        return (type(value).__qualname__, canonical(value.value))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (
            type(value).__qualname__,
            tuple((f.name, canonical(getattr(value, f.name))) for f in dataclasses.fields(value)),
        )
    if isinstance(value, (frozenset, set)):
        return ("set", tuple(sorted((canonical(v) for v in value), key=repr)))
    if isinstance(value, (tuple, list)):
        return tuple(canonical(v) for v in value)
    if isinstance(value, dict):
        return (
            "dict",
            tuple(sorted(((canonical(k), canonical(v)) for k, v in value.items()), key=repr)),
        )
    if isinstance(value, PurePath):
        return ("path", str(value))
    raise TypeError(f"no canonical form for {type(value).__name__}")


def digest(value: Any) -> str:
    """A short stable hash of `canonical(value)`."""
    return hashlib.blake2b(repr(canonical(value)).encode(), digest_size=12).hexdigest()


_IMPORT = re.compile(
    rb"^[ \t]*(?:from[ \t]+(?P<base>\.*[\w.]*)[ \t]+import[ \t]+(?P<names>\([^)]*\)|[^\n#;]*)"
    rb"|import[ \t]+(?P<modules>[^\n#;]*))",
    re.MULTILINE,
)
_IMPORT_WORD = re.compile(rb"import")
_WORD = re.compile(rb"[A-Za-z_][\w.]*")


_ALIAS = re.compile(rb"([A-Za-z_][\w.]*)(?:[ \t]+as[ \t]+([A-Za-z_]\w*))?")


def import_table(source: bytes, package: str) -> dict[str, str]:
    """Local name -> qualified name for the module-level `from x import a as b` statements of a
    file, read from its bytes with a regular expression (as `ModuleFacts` reads them from the tree:
    `from .db import get_conn` in package `app` gives `get_conn` -> `app.db.get_conn`).

    This is the summary of a module that cannot define anything itself (no export marker): its
    only offer to importers is what it re-exports (a package's `__init__.py` importing from its
    submodules), so a name can be followed through it without parsing it. Only `from` imports at
    the start of a line count; `import x` binds no name another module could import from it.
    """
    return read_imports(source, package)[1]


def _absolute(base: str, package: str) -> str | None:
    """`..db` in package `app.api` -> `app.db`; None when the dots climb above the package."""
    if not base.startswith("."):
        return base
    dots = len(base) - len(base.lstrip("."))
    parts = package.split(".") if package else []
    if dots - 1 >= len(parts) or not parts:
        return None
    anchor = ".".join(parts[: len(parts) - (dots - 1)])
    rest = base[dots:]
    return f"{anchor}.{rest}" if rest else anchor


def scan_imports(source: bytes, package: str) -> tuple[str, ...]:
    """Module names a file may import, read from its bytes with a regular expression.

    Used only to order the work (a module is summarised after the modules it imports): a miss
    (an import split by a backslash, `__import__`) costs a second look at the end of the run, never
    a wrong answer. For `from a import b`, both `a` and `a.b` are listed (b may be a submodule).
    """
    return read_imports(source, package, table=False)[0]


def read_imports(
    source: bytes, package: str, table: bool = True
) -> tuple[tuple[str, ...], dict[str, str]]:
    """`scan_imports` and (if `table`) `import_table` of `source`, from one pass over its bytes.

    The names are interned: every module of a tree imports the same few hundred (`django.db`,
    `typing.Any`), and a run keeps each module's list until it ends, so one string each keeps
    the parent's memory from growing with the tree's size as fast as the number of imports.
    """
    found: list[str] = []
    names_of: dict[str, str] = {}
    for match in line_statements(source, _IMPORT_WORD, _IMPORT):
        if match["modules"] is not None:
            for part in match["modules"].split(b","):
                words = part.split()
                if words:
                    found.append(words[0].decode("ascii", "replace"))
            continue
        base = _absolute(match["base"].decode("ascii", "replace"), package)
        if base is None:
            continue
        found.append(base)
        names = match["names"].replace(b"\\\n", b" ")
        for word in _WORD.findall(names):
            if word not in (b"as",):
                found.append(f"{base}.{word.decode('ascii', 'replace')}")
        if not table or not match[0][:1].isalpha():
            continue  # an import indented inside a block binds nothing an importer sees
        for part in names.strip(b"() \t\r\n").split(b","):
            alias = _ALIAS.fullmatch(part.split(b"#", 1)[0].strip())
            if alias is None:
                continue  # `*`, an empty part after a trailing comma
            name = alias[1].decode("ascii", "replace")
            local = (alias[2] or alias[1]).decode("ascii", "replace")
            names_of[local] = f"{base}.{name}" if base else name
    imports = tuple(intern(name) for name in dict.fromkeys(found))
    return imports, {intern(local): intern(target) for local, target in names_of.items()}
