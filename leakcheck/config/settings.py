"""`[tool.leakcheck]` in pyproject.toml (or a `.leakcheck.toml` or `leakcheck.toml`): rule
selection, file exclusion, fixes allowed, resource kinds and project names; `extend` chains one
file to another (`config.inherit`).

Like ruff, each file uses the closest configuration found by walking up from its directory; a
pyproject.toml without a `[tool.leakcheck]` table does not count.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from leakcheck.checks import EXAMPLE, rules
from leakcheck.config.catalogue import (
    CatalogueError,
    Kind,
    builtin_kinds,
    parse_kind,
    tomllib,
)
from leakcheck.config.inherit import MAX_DEPTH, extended_path, merge
from leakcheck.model import Severity


@dataclass(frozen=True)
class Names:
    """Names the user declares in `[tool.leakcheck]`, and the conventional factory names."""

    session_factories: frozenset[str] = frozenset()
    pools: frozenset[str] = frozenset()
    engines: frozenset[str] = frozenset()
    conventional: frozenset[str] = frozenset()


KNOWN_KEYS = frozenset(
    {
        "kinds",
        "session-factories",
        "pools",
        "engines",
        "conventional-factory-names",
        "select",
        "extend-select",
        "ignore",
        "extend-ignore",
        "per-file-ignores",
        "respect-gitignore",
        "exclude",
        "extend-exclude",
        "fix-helpers",
        "django",
        "extend",
        "fixable",
        "unfixable",
        "preview",
        "min-severity",
    }
)
DJANGO_KEYS = frozenset({"poolers", "asgi"})
# Skipped when walking directories, unless `exclude` replaces them (a virtual environment, any
# directory holding `pyvenv.cfg`, is always skipped).
DEFAULT_EXCLUDE = (
    ".*",
    "__pycache__",
    "__pypackages__",
    "_build",
    "buck-out",
    "build",
    "dist",
    "node_modules",
    "site-packages",
    "venv",
    "*.egg-info",
)
# Names that, imported from a module leakcheck cannot find, are taken for session factories.
CONVENTIONAL_FACTORIES = frozenset(
    {
        "SessionLocal",
        "AsyncSessionLocal",
        "async_session",
        "async_session_maker",
        "async_session_factory",
        "session_factory",
        "SessionFactory",
    }
)


class ConfigError(CatalogueError):
    """A configuration file is malformed; the message names the file and the key."""


@dataclass(frozen=True)
class Config:
    path: Path | None
    kinds: tuple[Kind, ...]
    names: Names
    select: tuple[str, ...] | None = None  # None: every rule
    extend_select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    extend_ignore: tuple[str, ...] = ()  # added to `ignore` (ruff's key of the same name)
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (glob, codes)
    exclude: tuple[str, ...] = DEFAULT_EXCLUDE
    extend_exclude: tuple[str, ...] = ()
    # Calls that give a connection back (`self.get_connection`): stored for the fixes to come.
    fix_helpers: tuple[str, ...] = ()
    respect_gitignore: bool = True  # skip what `.gitignore` / `.ignore` files ignore
    # `[tool.leakcheck.django]`: hosts (shell patterns) or ports of transaction-mode poolers, and
    # whether the project is ASGI (None: detect it from settings and asgi.py).
    django_poolers: tuple[str, ...] = ()
    django_asgi: bool | None = None
    # Codes or prefixes whose fixes `--fix` may apply, and those it never applies (ruff's keys).
    fixable: tuple[str, ...] = ("ALL",)
    unfixable: tuple[str, ...] = ()
    # ruff's `preview`: opt in to rules and fixes marked preview. None is marked yet, so this
    # changes nothing until one is; it is read, shown and passed on so that it is honoured then.
    preview: bool = False
    # Findings that weigh less than this are left out of the report and the exit status
    # (`min-severity`, `--min-severity`; `model.Severity`). "low", the default, leaves out none.
    min_severity: Severity = Severity.LOW
    # The files `extend` chained this one to, nearest first.
    extends: tuple[Path, ...] = ()

    @property
    def root(self) -> Path:
        """`per-file-ignores` and `exclude` globs are relative to the configuration's directory."""
        return self.path.resolve().parent if self.path is not None else Path.cwd().resolve()


DEFAULT_NAMES = Names(conventional=CONVENTIONAL_FACTORIES)
DEFAULT = Config(None, (), DEFAULT_NAMES)


def _table(path: Path) -> dict[str, Any] | None:
    try:
        raw = path.read_bytes()
    except OSError as error:  # unreadable: whether it configures leakcheck cannot be known
        raise ConfigError(f"{path}: cannot read: {error.strerror or error}") from error
    try:
        data: dict[str, Any] = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError) as error:
        # A broken pyproject.toml of some other tool's test data is none of our business; one
        # that tries to configure leakcheck is.
        if path.name == "pyproject.toml" and b"leakcheck" not in raw:
            return None
        # tomllib recurses once per nested array or table: 600 levels exhaust the stack.
        why = "nested too deeply to read" if isinstance(error, RecursionError) else error
        raise ConfigError(f"{path}: invalid TOML: {why}") from error
    if path.name != "pyproject.toml":  # leakcheck.toml, or any file given to --config
        tool = data.get("tool")
        if isinstance(tool, dict) and "leakcheck" in tool:
            raise ConfigError(
                f"{path}: `[tool.leakcheck]` belongs in pyproject.toml; "
                "in this file, write the keys at the top level"
            )
        return data
    tool = data.get("tool", {})
    table = tool.get("leakcheck") if isinstance(tool, dict) else None
    if table is None:
        return None
    if not isinstance(table, dict):  # `[tool] leakcheck = 1`: meant for us, and not a table
        raise ConfigError(
            f"{path}: `tool.leakcheck` must be a table ([tool.leakcheck]), "
            f"not {type(table).__name__} {table!r}"
        )
    found: dict[str, Any] = table
    return found


def load(path: Path) -> Config:
    """Read one configuration file (and those its `extend` key chains it to, see
    `config.inherit`). Raises ConfigError for an unknown key (suggesting the closest known
    one), a malformed value or kind, or an `extend` that is missing, cyclic or too deep."""
    table, extends = _resolved(path, ())
    if table is None:
        return Config(path, (), DEFAULT_NAMES)
    return _build(path, table, extends)


def _unknown_keys(keys: Collection[str], known: frozenset[str], path: Path, where: str) -> None:
    """Raise ConfigError for the first key not in `known`, with the closest known key if one
    is close (`difflib.get_close_matches`: `extend-selct` -> `extend-select`)."""
    unknown = sorted(set(keys) - known)
    if unknown:
        close = difflib.get_close_matches(unknown[0], sorted(known), n=1)
        hint = f" (did you mean `{close[0]}`?)" if close else ""
        raise ConfigError(f"{path}: unknown key `{unknown[0]}` in {where}{hint}")


Table = dict[str, Any]


def _resolved(path: Path, chain: tuple[Path, ...]) -> tuple[Table | None, tuple[Path, ...]]:
    """`path`'s table with what its `extend` chain inherits laid under it, and that chain.
    `chain`: the files that extend `path`, outermost first (for cycles and depth)."""
    table = _table(path)
    if table is None:
        return None, ()
    _unknown_keys(table, KNOWN_KEYS, path, "[tool.leakcheck]")
    if "extend" not in table:
        return table, ()
    value = table["extend"]
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{path}: `extend` must be the path of a configuration file")
    here = path.resolve()
    base = extended_path(value, path)
    seen = (*chain, here)
    if base in seen:
        loop = " -> ".join(str(p) for p in (*seen[seen.index(base) :], base))
        raise ConfigError(f"{path}: `extend` makes a cycle: {loop}")
    if len(seen) >= MAX_DEPTH:
        raise ConfigError(f"{path}: `extend` chains more than {MAX_DEPTH} files")
    if not base.is_file():
        raise ConfigError(f"{path}: `extend`: {value!r} is not a file ({base})")
    inherited, further = _resolved(base, seen)
    inherited = inherited or {}  # a pyproject.toml without [tool.leakcheck]: nothing inherited
    _build(base, inherited, further)  # a bad value is named in the file that holds it
    return merge(inherited, base.parent, table, here.parent), (base, *further)


def _build(path: Path, table: dict[str, Any], extends: tuple[Path, ...]) -> Config:
    """The configuration `table` (read from `path`) describes; raises ConfigError."""
    raw_kinds = table.get("kinds", [])
    if not isinstance(raw_kinds, list) or not all(isinstance(k, dict) for k in raw_kinds):
        raise ConfigError(f"{path}: `kinds` must be an array of tables ([[tool.leakcheck.kinds]])")
    families = {rule.family for rule in rules() if rule.family not in ("suppression", "django")}
    kinds = []
    for raw in raw_kinds:
        kind = parse_kind(raw, str(path))
        if kind.family not in families:
            raise ConfigError(
                f"{path}: kind `{kind.name}`: unknown `family` {kind.family!r} "
                f"(known: {', '.join(sorted(families))})"
            )
        kinds.append(kind)
    return Config(
        path,
        tuple(kinds),
        _names(table, path),
        select=_select(table, path),
        extend_select=_codes(table, "extend-select", path),
        ignore=_codes(table, "ignore", path),
        extend_ignore=_codes(table, "extend-ignore", path),
        per_file_ignores=_per_file_ignores(table, path),
        exclude=_string_list(table, "exclude", path) if "exclude" in table else DEFAULT_EXCLUDE,
        extend_exclude=_string_list(table, "extend-exclude", path),
        fix_helpers=_fix_helpers(table, path),
        respect_gitignore=_boolean(table, "respect-gitignore", path, True),
        **_django(table, path),
        fixable=_codes(table, "fixable", path) if "fixable" in table else ("ALL",),
        unfixable=_codes(table, "unfixable", path),
        preview=_boolean(table, "preview", path, False),
        min_severity=_min_severity(table, path),
        extends=extends,
    )


def _django(table: dict[str, Any], path: Path) -> dict[str, Any]:
    """`[tool.leakcheck.django]`: `poolers = ["pgbouncer.internal", "*.pooler.example", "6543"]`
    and `asgi = true | false`."""
    raw = table.get("django", {})
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: `django` must be a table ([tool.leakcheck.django])")
    _unknown_keys(raw, DJANGO_KEYS, path, "[tool.leakcheck.django]")
    poolers = _string_list(raw, "poolers", path)
    asgi = raw.get("asgi")
    if asgi is not None and not isinstance(asgi, bool):
        raise ConfigError(f"{path}: `django.asgi` must be true or false")
    return {"django_poolers": poolers, "django_asgi": asgi}


def _min_severity(table: dict[str, Any], path: Path) -> Severity:
    """`min-severity = "low" | "medium" | "high"` (default "low": every finding)."""
    value = table.get("min-severity", Severity.LOW.value)
    if not isinstance(value, str) or value not in {s.value for s in Severity}:
        known = ", ".join(f'"{s.value}"' for s in Severity)
        raise ConfigError(f"{path}: `min-severity` must be one of {known}, not {value!r}")
    return Severity(value)


def _boolean(table: dict[str, Any], key: str, path: Path, default: bool) -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{path}: `{key}` must be true or false")
    return value


def _string_list(table: dict[str, Any], key: str, path: Path) -> tuple[str, ...]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{path}: `{key}` must be a list of strings")
    return tuple(value)


def check_codes(codes: list[str] | tuple[str, ...], where: str) -> tuple[str, ...]:
    """Codes and prefixes (a full code, `LC1`, `LC`, `ALL`) that name at least one rule."""
    known = [rule.code for rule in rules()]
    for code in codes:
        if not code.strip():  # "" would be a prefix of every code
            raise ConfigError(f"{where}: empty rule code {code!r}")
        if code != "ALL" and not any(k.startswith(code) for k in known):
            raise ConfigError(f"{where}: unknown rule code or prefix {code!r}")
    return tuple(codes)


def _select(table: dict[str, Any], path: Path) -> tuple[str, ...] | None:
    if "select" not in table:
        return None
    select = _codes(table, "select", path)
    if not select and not table.get("extend-select"):  # never a run that silently checks nothing
        raise ConfigError(
            f'{path}: `select` is empty: no rule would be checked (every rule: ["ALL"])'
        )
    return select


def _codes(table: dict[str, Any], key: str, path: Path) -> tuple[str, ...]:
    return check_codes(_string_list(table, key, path), f"{path}: `{key}`")


def _per_file_ignores(table: dict[str, Any], path: Path) -> tuple[tuple[str, tuple[str, ...]], ...]:
    value = table.get("per-file-ignores", {})
    if not isinstance(value, dict):
        raise ConfigError(
            f"{path}: `per-file-ignores` must be a table of glob = [codes] "
            f'(`"tests/*" = ["{EXAMPLE.code}"]`)'
        )
    out = []
    for glob, codes in value.items():
        if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
            raise ConfigError(f"{path}: `per-file-ignores` {glob!r} must be a list of codes")
        out.append((glob, check_codes(codes, f"{path}: `per-file-ignores` {glob!r}")))
    return tuple(out)


_HELPER = re.compile(r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*$")


def _fix_helpers(table: dict[str, Any], path: Path) -> tuple[str, ...]:
    helpers = _string_list(table, "fix-helpers", path)
    for helper in helpers:
        if not _HELPER.match(helper):
            raise ConfigError(
                f"{path}: `fix-helpers` entry {helper!r} is not a dotted name "
                "such as `self.get_connection`"
            )
    return helpers


def _names(table: dict[str, Any], path: Path) -> Names:
    def strings(key: str, default: frozenset[str] = frozenset()) -> frozenset[str]:
        value = table.get(key)
        if value is None:
            return default
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{path}: `{key}` must be a list of strings")
        return frozenset(value)

    return Names(
        session_factories=strings("session-factories"),
        pools=strings("pools"),
        engines=strings("engines"),
        conventional=strings("conventional-factory-names", CONVENTIONAL_FACTORIES),
    )


# The first with a table wins (ruff's order: `.ruff.toml`, `ruff.toml`, `pyproject.toml`).
CONFIG_FILES = (".leakcheck.toml", "leakcheck.toml", "pyproject.toml")


class ConfigFinder:
    """The configuration for each directory, found once and cached."""

    def __init__(
        self,
        explicit: Path | None = None,
        isolated: bool = False,
        adjust: Callable[[Config], Config] | None = None,
    ) -> None:
        """`explicit`: one file for everything (`--config`); `isolated`: no file at all;
        `adjust`: applied to each configuration read (the command line's overrides)."""
        self._adjust = adjust or (lambda config: config)
        self._explicit = self._adjust(load(explicit)) if explicit is not None else None
        self._default = self._adjust(DEFAULT)
        if isolated:
            self._explicit = self._default
        self._by_dir: dict[str, Config] = {}
        self._without: set[str] = set()  # directories listed without either file (`listed`)

    def for_file(self, path: Path | str) -> Config:
        """The configuration in force for the file `path` (resolved through links)."""
        return self.for_dir(os.path.dirname(os.path.realpath(path)))

    def listed(self, directory: str, names: Collection[str]) -> None:
        """Learn from a listing of `directory` (an absolute, resolved path) that a walk made
        anyway: without `leakcheck.toml` or `pyproject.toml` among `names`, `for_dir` need not
        look for them there (two `stat` calls per directory of a big tree)."""
        if not any(name in names for name in CONFIG_FILES):
            self._without.add(directory)

    def for_dir(self, directory: Path | str) -> Config:
        """The configuration in force in `directory` (an absolute, resolved path): the nearest
        `leakcheck.toml` or `pyproject.toml` with a `[tool.leakcheck]` table at or above it."""
        if self._explicit is not None:
            return self._explicit
        return self._for_dir(os.fspath(directory))

    def _for_dir(self, directory: str) -> Config:
        # Strings, not `Path`s: a run over a big tree asks once per directory and per file, and
        # building and hashing `Path` objects was a fifth of a warm run.
        cached = self._by_dir.get(directory)
        if cached is not None:
            return cached
        found: Config | None = None
        for name in () if directory in self._without else CONFIG_FILES:
            candidate = os.path.join(directory, name)
            if os.path.isfile(candidate) and _table(Path(candidate)) is not None:
                found = self._adjust(load(Path(candidate)))
                break
        if found is None:
            parent = os.path.dirname(directory)
            found = self._default if parent == directory else self._for_dir(parent)
        self._by_dir[directory] = found
        return found


def kinds_for(config: Config) -> tuple[Kind, ...]:
    """Built-in kinds with the user's added; a user kind replaces a built-in of the same name."""
    if not config.kinds:
        return builtin_kinds()
    names = {k.name for k in config.kinds}
    return tuple(k for k in builtin_kinds() if k.name not in names) + config.kinds
