"""The rule catalogue as data: resource kinds and rules, read from `rules/` and user config."""

from __future__ import annotations

import fnmatch
import re
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

__all__ = [
    "CatalogueError",
    "Kind",
    "Rule",
    "builtin_kinds",
    "opt_in_codes",
    "parse_kind",
    "rule_for",
    "rules",
    "tomllib",
]


class CatalogueError(ValueError):
    """A kind or rule definition is malformed; the message names the key and the file."""


_SOURCE = r"<(?:pool|factory|engine|source)>"
_METHOD = r"(?P<method>[A-Za-z_]\w*)"
_ACQUIRE_METHOD = re.compile(rf"^{_SOURCE}\.{_METHOD}$")
_ACQUIRE_SOURCE_CALL = re.compile(rf"^{_SOURCE}\(\)$")
_ACQUIRE_CALLABLE = re.compile(r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+$")
_RELEASE_SOURCE = re.compile(rf"^{_SOURCE}\.{_METHOD}\(<resource>\)$")
_RELEASE_SELF = re.compile(rf"^<resource>\.{_METHOD}\(\)$")
_RELEASE_ALL = re.compile(rf"^{_SOURCE}\.{_METHOD}\(\)$")


@dataclass(frozen=True)
class Kind:
    """One kind of resource: how it is acquired, released and recognised.

    A *source* is the object resources come from: a pool, a session factory, an engine. It is
    recognised by its construction, by its name, or by the module releasing through it.
    """

    name: str
    family: str
    resource: str
    released: str  # how messages say it is given back: "returned to the pool", "closed"
    acquire_methods: frozenset[str]  # `<source>.M(...)`
    acquire_by_calling_source: bool  # `<source>()`: a sessionmaker instance
    acquire_callables: frozenset[str]  # `psycopg2.connect(...)`: qualified names
    release_methods: frozenset[str]  # `<source>.M(<resource>)`: resource is the first argument
    self_release_methods: frozenset[str]  # `<resource>.M()`
    release_keyword: str
    with_releases: bool
    with_note: str  # why `with <acquiring call> as x` does not release, when it does not
    source_constructors: frozenset[str]
    source_names: tuple[str, ...]
    context_manager_methods: frozenset[str]  # `<source>.M()` is meant for `with` only
    context_manager: str
    acquire_awaited: bool = False  # acquisitions are awaited (or `async with`): sync ones are not
    registry: bool = False  # a per-process registry at module level; tracked inside functions only
    direct: bool = False  # a connection opened straight to the server: no pool, fresh when made
    # First arguments that open nothing worth tracking: `sqlite3.connect(":memory:")` holds no
    # file, no server connection and no pool slot.
    untracked_targets: frozenset[str] = frozenset()
    # `<resource>.M()` results that keep the resource reachable (a DB-API cursor's `.connection`,
    # PEP 249): returning one hands the resource over with it.
    handles: frozenset[str] = frozenset()
    # A connection is checked out only at the first use (a SQLAlchemy `Session`): a path that
    # leaves before it loses nothing.
    lazy_checkout: bool = False
    # `<source>.M()`: closes every resource taken from the source, checked out ones included
    # (psycopg2's `closeall()`, asyncpg's and aiopg's `terminate()`).
    release_all_methods: frozenset[str] = frozenset()

    def matches_source_name(self, receiver: str) -> bool:
        last = receiver.rsplit(".", 1)[-1].lower()
        return any(fnmatch.fnmatchcase(last, pattern.lower()) for pattern in self.source_names)


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    family: str
    leak: str
    message: str
    doc: str
    summary: str  # one line for tables: what the rule flags
    opt_in: bool = False  # not in the default selection: enabled only when named by its full code


_KIND_KEYS = {
    "name",
    "family",
    "resource",
    "released",
    "acquire",
    "release",
    "release-keyword",
    "with-releases",
    "with-note",
    "source-constructors",
    "source-names",
    "context-managers",
    "context-manager",
    "acquire-awaited",
    "registry",
    "direct",
    "untracked-targets",
    "handles",
    "lazy-checkout",
}
_FAMILY_RELEASED = {"pool": "returned to the pool", "session": "closed"}


def _strings(value: Any, key: str, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise CatalogueError(f"{where}: `{key}` must be a list of strings")
    return value


def _text(raw: dict[str, Any], key: str, default: str, where: str) -> str:
    value = raw.get(key, default)
    if not isinstance(value, str):
        raise CatalogueError(f"{where}: `{key}` must be a string")
    return value


def _flag(raw: dict[str, Any], key: str, where: str) -> bool:
    value = raw.get(key, False)
    if not isinstance(value, bool):
        raise CatalogueError(f"{where}: `{key}` must be true or false")
    return value


def parse_kind(raw: dict[str, Any], where: str) -> Kind:
    """Build a Kind from one TOML table, rejecting unknown keys and malformed patterns."""
    unknown = sorted(set(raw) - _KIND_KEYS)
    if unknown:
        raise CatalogueError(f"{where}: unknown key `{unknown[0]}` in a resource kind")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise CatalogueError(f"{where}: a resource kind needs a `name`")
    where = f"{where} (kind `{name}`)"
    methods: set[str] = set()
    callables: set[str] = set()
    calls_source = False
    for pattern in _strings(raw.get("acquire", []), "acquire", where):
        if match := _ACQUIRE_METHOD.match(pattern):
            methods.add(match["method"])
        elif _ACQUIRE_SOURCE_CALL.match(pattern):
            calls_source = True
        elif _ACQUIRE_CALLABLE.match(pattern):
            callables.add(pattern)
        else:
            raise CatalogueError(
                f"{where}: `acquire` pattern {pattern!r} is none of `<pool>.METHOD`, "
                "`<factory>()` or a dotted name such as `psycopg2.connect`"
            )
    if not (methods or callables or calls_source):
        raise CatalogueError(f"{where}: `acquire` must name at least one pattern")
    release: set[str] = set()
    self_release: set[str] = set()
    release_all: set[str] = set()
    for pattern in _strings(raw.get("release", []), "release", where):
        if match := _RELEASE_SOURCE.match(pattern):
            release.add(match["method"])
        elif match := _RELEASE_SELF.match(pattern):
            self_release.add(match["method"])
        elif match := _RELEASE_ALL.match(pattern):
            release_all.add(match["method"])
        else:
            raise CatalogueError(
                f"{where}: `release` pattern {pattern!r} is none of "
                "`<pool>.METHOD(<resource>)`, `<resource>.METHOD()` or `<pool>.METHOD()`"
            )
    if not release and not self_release:
        raise CatalogueError(f"{where}: `release` must name at least one method")
    managers: set[str] = set()
    for pattern in _strings(raw.get("context-managers", []), "context-managers", where):
        match = _ACQUIRE_METHOD.match(pattern)
        if not match:
            raise CatalogueError(
                f"{where}: `context-managers` pattern {pattern!r} is not `<source>.METHOD`"
            )
        managers.add(match["method"])
    family = _text(raw, "family", "pool", where)
    with_releases = raw.get("with-releases", False)
    if not isinstance(with_releases, bool):
        raise CatalogueError(f"{where}: `with-releases` must be true or false")
    return Kind(
        name=name,
        family=family,
        resource=_text(raw, "resource", "connection", where),
        released=_text(raw, "released", _FAMILY_RELEASED.get(family, "released"), where),
        acquire_methods=frozenset(methods),
        acquire_by_calling_source=calls_source,
        acquire_callables=frozenset(callables),
        release_methods=frozenset(release),
        self_release_methods=frozenset(self_release),
        release_keyword=_text(raw, "release-keyword", "", where),
        with_releases=with_releases,
        with_note=_text(raw, "with-note", "", where),
        source_constructors=frozenset(
            _strings(raw.get("source-constructors", []), "source-constructors", where)
        ),
        source_names=tuple(_strings(raw.get("source-names", []), "source-names", where)),
        context_manager_methods=frozenset(managers),
        context_manager=_text(raw, "context-manager", "", where),
        acquire_awaited=_flag(raw, "acquire-awaited", where),
        registry=_flag(raw, "registry", where),
        direct=_flag(raw, "direct", where),
        untracked_targets=frozenset(
            _strings(raw.get("untracked-targets", []), "untracked-targets", where)
        ),
        handles=frozenset(_strings(raw.get("handles", []), "handles", where)),
        lazy_checkout=_flag(raw, "lazy-checkout", where),
        release_all_methods=frozenset(release_all),
    )


def rules_dir() -> Path:
    """The `rules/` data: inside the installed package, or beside it in a source checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "rules", here.parent.parent / "rules"):
        if (candidate / "kinds.toml").is_file():
            return candidate
    raise CatalogueError(f"leakcheck's rule data is missing (looked in {here})")


def _load(name: str) -> dict[str, Any]:
    path = rules_dir() / name
    with path.open("rb") as handle:
        data: dict[str, Any] = tomllib.load(handle)
    return data


@cache
def builtin_kinds() -> tuple[Kind, ...]:
    return tuple(parse_kind(raw, "rules/kinds.toml") for raw in _load("kinds.toml")["kind"])


@cache
def rules() -> tuple[Rule, ...]:
    out = []
    for raw in _load("rules.toml")["rule"]:
        out.append(
            Rule(
                code=raw["code"],
                name=raw["name"],
                family=raw["family"],
                leak=raw["leak"],
                message=raw["message"],
                doc=raw["doc"].strip(),
                summary=raw["summary"],
                opt_in=bool(raw.get("opt-in", False)),
            )
        )
    return tuple(out)


def opt_in_codes() -> frozenset[str]:
    """Rules `select = ["ALL"]` or a prefix does not enable (`opt-in = true` in rules.toml)."""
    return frozenset(rule.code for rule in rules() if rule.opt_in)


def rule_for(family: str, leak: str) -> Rule | None:
    """The rule that names a verdict of this family, if the catalogue has one."""
    for rule in rules():
        if rule.family in (family, "any") and rule.leak == leak:
            return rule
    return None
