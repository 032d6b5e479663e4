"""The resource kinds as data, read from `rules/kinds.toml` and user config (the rules are
modules: `leakcheck.checks`)."""

from __future__ import annotations

import fnmatch
import re
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from leakcheck.model import Severity

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

__all__ = [
    "CatalogueError",
    "Kind",
    "builtin_kinds",
    "parse_kind",
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
    # `with <acquiring call> as x:` gives the resource back and does nothing else (no commit):
    # a fix may write that form instead of try/finally (SQLAlchemy 2.0: `Session.__exit__` and
    # `Connection.__exit__` call `close()`; asyncpg: `async with pool.acquire()` releases).
    with_only_releases: bool = False
    # `<source>.M()` acquisitions whose result is not known to be a context manager: a fix uses
    # try/finally for them (`engine.raw_connection()`: none before SQLAlchemy 2.0).
    not_context_manager_methods: frozenset[str] = frozenset()
    # Why a release the fix writes may not be the one the code needs (a project pool whose release
    # takes more than the connection: `release(conn, txn_id)`): every fix of the kind is then
    # unsafe, with this reason. Derived kinds only; "" for the catalogue's.
    fix_caveat: str = ""
    # Releasing a second time does nothing (sqlite3, psycopg2 and SQLAlchemy's `close()` on a
    # closed connection or session return at once): a fix may release before a reassignment
    # and again in `finally`.
    release_is_idempotent: bool = False
    # The keyword that makes the release discard the connection instead of keeping it in the
    # pool (psycopg2: `putconn(conn, close=True)`): a fix releasing a connection replaced after a
    # broken-connection error (`OperationalError`, `InterfaceError`, PEP 249) passes it.
    discard_keyword: str = ""
    # Objects loaded through the resource are detached when it closes (SQLAlchemy: `Session.
    # close()` expunges them; unloaded attributes then raise `DetachedInstanceError`): a fix that
    # closes earlier is unsafe when they are read after it.
    detaches_objects: bool = False
    # Results read from the resource cannot be read once it closes (SQLAlchemy: a `Result` of a
    # `Connection` is closed with it): a fix that closes earlier is unsafe when one leaves.
    closes_results: bool = False
    # Closing ends the current use only: the resource can be used again after it (SQLAlchemy 2.0,
    # "Closing": the session starts anew): a fix may close before a long wait.
    usable_after_close: bool = False
    # Top-level packages of drivers whose connections run in autocommit (asyncpg, aiopg: each
    # statement in its own transaction): a leaked one holds no transaction open. A resource
    # acquired by one of the kind's `acquire` callables has that callable's driver; one taken
    # from a source has the driver the module imports, when all it imports of the kind's
    # `source-constructors` packages are listed here.
    autocommit_drivers: frozenset[str] = frozenset()
    # Classes whose annotation names this kind (`db: Session = make()`, a parameter `db:
    # AsyncSession`), as `package.Class`: any `package.<modules>.Class` matches.
    annotations: frozenset[str] = frozenset()
    # `[tool.leakcheck]` keys whose names are sources of this kind (`session-factories`,
    # `engines`, `conventional-factory-names`); `pools` names sources of any pool kind.
    sources_listed_in: tuple[str, ...] = ()
    # Modules of the library a `from X import Y` binds (`from psycopg2 import pool`): a call on
    # one is a module function, never a release through a source.
    library_modules: frozenset[str] = frozenset()
    # The resource is held by the source itself, not returned by the acquiring call: peewee's
    # `db.connect()` opens the database object's connection for the thread and `db.close()`
    # closes it (peewee docs, "Connection Lifecycle"). The acquisition is judged as a resource
    # named by the source's text (`db`), given back by the `<source>.METHOD()` releases, which
    # are then also its `<resource>.METHOD()` ones.
    resource_is_source: bool = False
    # For such a kind: callables that run a coroutine and close the kind's resources when it
    # ends (`tortoise.run_async(main())`): a function whose call is given to one is not judged.
    closing_runners: frozenset[str] = frozenset()
    # For such a kind: other calls that close it (`tortoise.connections.close_all()`), as
    # qualified names. The analysis follows `<source>.METHOD()` releases only, so a function
    # calling one of these is not judged (no finding rather than a wrong one).
    also_released_by: frozenset[str] = frozenset()
    # How much a leak of it weighs (`model.Severity`): "high" unless the kind says otherwise
    # (a local database file is "medium"); `acquire_severity` overrides it for resources made by
    # one of its `acquire` callables (`sqlite3.connect` in a kind shared with `psycopg2.connect`).
    severity: Severity = Severity.HIGH
    acquire_severity: tuple[tuple[str, Severity], ...] = ()
    # Per source constructor (`peewee.SqliteDatabase`, a local file, in a kind whose other
    # sources are servers): a resource taken from a source built by it in the module weighs this.
    source_severity: tuple[tuple[str, Severity], ...] = ()
    # Per URL scheme (`sqlite`; a driver after `+` is ignored): a resource made by a call, or
    # taken from a source built by a call, whose URL argument is a literal (or an f-string whose
    # scheme is literal) with that scheme weighs this (`create_engine("sqlite:///app.db")`).
    url_severity: tuple[tuple[str, Severity], ...] = ()
    # For a `resource-is-source` kind: `<source>.METHOD()`, a context manager that opens the
    # source's resource on entry when it is closed and closes it on exit (peewee's
    # `db.connection_context()`): a fix may write `with db.connection_context():` around the range
    # instead of the acquisition and its release.
    source_context_manager: str = ""
    # The acquisition's keyword that, true, makes opening an open resource reuse it (peewee's
    # `connect(reuse_if_open=True)`), as `source_context_manager` does: an acquisition without it
    # raises there instead, so the `with` form changes that path and is unsafe.
    reuse_keyword: str = ""

    def severity_of(self, acquired_by: str) -> Severity:
        """The severity of a resource of this kind made by the call `acquired_by` (its
        qualified name): `acquire_severity`'s entry for it, else the kind's `severity`."""
        for callable_name, severity in self.acquire_severity:
            if callable_name == acquired_by:
                return severity
        return self.severity

    def severity_of_source(self, constructor: str, url: str | None) -> Severity | None:
        """The severity of a resource taken from (or made by) a call of `constructor` (its
        qualified name) whose URL argument reads `url` (None: no literal one): `url_severity`'s
        entry for the URL's scheme, else `source_severity`'s for the constructor, else None."""
        if url is not None and "://" in url:
            scheme = url.split("://", 1)[0].split("+", 1)[0].lower()
            for known, severity in self.url_severity:
                if known == scheme:
                    return severity
        for name, severity in self.source_severity:
            if name == constructor:
                return severity
        return None

    def matches_source_name(self, receiver: str) -> bool:
        last = receiver.rsplit(".", 1)[-1].lower()
        return any(fnmatch.fnmatchcase(last, pattern.lower()) for pattern in self.source_names)

    def names_annotation(self, qualified: str) -> bool:
        """Does the qualified annotation (`sqlalchemy.orm.Session`) name this kind? True when
        one of `annotations` has its top-level package and its last name."""
        if "." not in qualified:
            return False
        top, last = qualified.split(".", 1)[0], qualified.rsplit(".", 1)[-1]
        return any(
            a.split(".", 1)[0] == top and a.rsplit(".", 1)[-1] == last for a in self.annotations
        )

    def autocommits(self, acquired_by: str, imported: frozenset[str]) -> bool:
        """Does a resource of this kind run in autocommit? `acquired_by`: the acquiring call's
        qualified name; `imported`: the top-level packages the module imports. See
        `autocommit_drivers` (asyncpg docs, "Transactions": outside a transaction block,
        changes apply at once; psycopg2 docs, "Asynchronous support": an asynchronous connection,
        which aiopg uses, is always in autocommit)."""
        if not self.autocommit_drivers:
            return False
        if acquired_by in self.acquire_callables:
            return acquired_by.split(".", 1)[0] in self.autocommit_drivers
        drivers = {c.split(".", 1)[0] for c in self.source_constructors} & imported
        return bool(drivers) and drivers <= self.autocommit_drivers


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
    "with-only-releases",
    "not-context-managers",
    "release-is-idempotent",
    "discard-keyword",
    "detaches-objects",
    "closes-results",
    "usable-after-close",
    "autocommit-drivers",
    "annotations",
    "sources-listed-in",
    "library-modules",
    "resource-is-source",
    "closing-runners",
    "also-released-by",
    "severity",
    "acquire-severity",
    "source-severity",
    "url-severity",
    "source-context-manager",
    "reuse-keyword",
}
# `[tool.leakcheck]` keys that name sources (`sources-listed-in`); `pools` is any pool kind's.
SOURCE_LIST_KEYS = frozenset({"session-factories", "engines", "conventional-factory-names"})
_PACKAGE = re.compile(r"^[A-Za-z_]\w*$")
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


def _severity(value: Any, key: str, where: str) -> Severity:
    if not isinstance(value, str) or value not in {s.value for s in Severity}:
        raise CatalogueError(
            f"{where}: `{key}` must be one of {', '.join(repr(s.value) for s in Severity)}"
        )
    return Severity(value)


def _acquire_severity(
    raw: dict[str, Any], callables: set[str], where: str
) -> tuple[tuple[str, Severity], ...]:
    """`acquire-severity = { "sqlite3.connect" = "medium" }`: each key one of the kind's
    `acquire` callables, each value a severity."""
    table = raw.get("acquire-severity", {})
    if not isinstance(table, dict):
        raise CatalogueError(
            f"{where}: `acquire-severity` must be a table such as "
            '{ "sqlite3.connect" = "medium" }'
        )
    out = []
    for name, value in sorted(table.items()):
        if name not in callables:
            raise CatalogueError(
                f"{where}: `acquire-severity` key {name!r} is not one of the kind's `acquire` "
                "callables"
            )
        out.append((name, _severity(value, f"acquire-severity.{name}", where)))
    return tuple(out)


def _severity_table(
    raw: dict[str, Any], key: str, allowed: set[str] | None, where: str
) -> tuple[tuple[str, Severity], ...]:
    """`key = { "peewee.SqliteDatabase" = "medium" }`: each value a severity, each key one of
    `allowed` (None: any URL scheme, lower case, no `+driver`)."""
    table = raw.get(key, {})
    if not isinstance(table, dict):
        raise CatalogueError(f'{where}: `{key}` must be a table such as {{ "name" = "medium" }}')
    out = []
    for name, value in sorted(table.items()):
        if allowed is not None and name not in allowed:
            raise CatalogueError(
                f"{where}: `{key}` key {name!r} is not one of the kind's `source-constructors`"
            )
        if allowed is None and not re.fullmatch(r"[a-z][a-z0-9.-]*", name):
            raise CatalogueError(
                f"{where}: `{key}` key {name!r} is not a URL scheme (such as `sqlite`)"
            )
        out.append((name, _severity(value, f"{key}.{name}", where)))
    return tuple(out)


def _source_context(raw: dict[str, Any], held_by_source: bool, where: str) -> tuple[str, str]:
    """`source-context-manager = "<source>.METHOD()"` and `reuse-keyword`, for a
    `resource-is-source` kind only: (METHOD, keyword)."""
    pattern = _text(raw, "source-context-manager", "", where)
    keyword = _text(raw, "reuse-keyword", "", where)
    if not pattern:
        if keyword:
            raise CatalogueError(f"{where}: `reuse-keyword` needs a `source-context-manager`")
        return "", ""
    match = _RELEASE_ALL.match(pattern)
    if not held_by_source or match is None:
        raise CatalogueError(
            f"{where}: `source-context-manager` must be `<source>.METHOD()`, for a "
            "`resource-is-source` kind"
        )
    if keyword and not keyword.isidentifier():
        raise CatalogueError(f"{where}: `reuse-keyword` must be a keyword name")
    return match["method"], keyword


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
    held_by_source = _flag(raw, "resource-is-source", where)
    if held_by_source:
        if callables or calls_source or not release_all:
            raise CatalogueError(
                f"{where}: a `resource-is-source` kind acquires by `<source>.METHOD` only and "
                "releases by `<source>.METHOD()`"
            )
        self_release |= release_all  # `db.close()`: the source is the resource
    runners = _strings(raw.get("closing-runners", []), "closing-runners", where)
    also = _strings(raw.get("also-released-by", []), "also-released-by", where)
    for entry in (*runners, *also):
        if not held_by_source or not _ACQUIRE_CALLABLE.match(entry):
            raise CatalogueError(
                f"{where}: `closing-runners` and `also-released-by` take dotted names "
                f"(not {entry!r}), for a `resource-is-source` kind"
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
    not_managers: set[str] = set()
    for pattern in _strings(raw.get("not-context-managers", []), "not-context-managers", where):
        match = _ACQUIRE_METHOD.match(pattern)
        if not match or match["method"] not in methods:
            raise CatalogueError(
                f"{where}: `not-context-managers` pattern {pattern!r} is not `<source>.METHOD` "
                "for one of the kind's `acquire` methods"
            )
        not_managers.add(match["method"])
    annotations = _strings(raw.get("annotations", []), "annotations", where)
    for annotation in annotations:
        if not _ACQUIRE_CALLABLE.match(annotation):
            raise CatalogueError(
                f"{where}: `annotations` entry {annotation!r} is not `package.Class` "
                "(such as `sqlalchemy.Session`)"
            )
    drivers = _strings(raw.get("autocommit-drivers", []), "autocommit-drivers", where)
    for driver in drivers:
        if not _PACKAGE.match(driver):
            raise CatalogueError(
                f"{where}: `autocommit-drivers` entry {driver!r} is not a top-level package name"
            )
    listed_in = _strings(raw.get("sources-listed-in", []), "sources-listed-in", where)
    for key in listed_in:
        if key not in SOURCE_LIST_KEYS:
            raise CatalogueError(
                f"{where}: `sources-listed-in` entry {key!r} is none of "
                f"{', '.join(f'`{k}`' for k in sorted(SOURCE_LIST_KEYS))}"
            )
    modules = _strings(raw.get("library-modules", []), "library-modules", where)
    for module in modules:
        if not _ACQUIRE_CALLABLE.match(module) and not _PACKAGE.match(module):
            raise CatalogueError(
                f"{where}: `library-modules` entry {module!r} is not a module name"
            )
    discard = _text(raw, "discard-keyword", "", where)
    if discard and not (release and discard.isidentifier()):
        raise CatalogueError(
            f"{where}: `discard-keyword` must be a keyword of a `<pool>.METHOD(<resource>)` release"
        )
    family = _text(raw, "family", "pool", where)
    constructors = _strings(raw.get("source-constructors", []), "source-constructors", where)
    context_method, reuse_keyword = _source_context(raw, held_by_source, where)
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
        source_constructors=frozenset(constructors),
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
        with_only_releases=_flag(raw, "with-only-releases", where),
        not_context_manager_methods=frozenset(not_managers),
        release_is_idempotent=_flag(raw, "release-is-idempotent", where),
        discard_keyword=discard,
        detaches_objects=_flag(raw, "detaches-objects", where),
        closes_results=_flag(raw, "closes-results", where),
        usable_after_close=_flag(raw, "usable-after-close", where),
        autocommit_drivers=frozenset(drivers),
        annotations=frozenset(annotations),
        sources_listed_in=tuple(listed_in),
        library_modules=frozenset(modules),
        resource_is_source=held_by_source,
        closing_runners=frozenset(runners),
        also_released_by=frozenset(also),
        severity=_severity(raw.get("severity", "high"), "severity", where),
        acquire_severity=_acquire_severity(raw, callables, where),
        source_severity=_severity_table(raw, "source-severity", set(constructors), where),
        url_severity=_severity_table(raw, "url-severity", None, where),
        source_context_manager=context_method,
        reuse_keyword=reuse_keyword,
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
