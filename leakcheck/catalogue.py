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
    "parse_kind",
    "rule_for",
    "rules",
    "tomllib",
]


class CatalogueError(ValueError):
    """A kind or rule definition is malformed; the message names the key and the file."""


_ACQUIRE = re.compile(r"^<pool>\.(?P<method>[A-Za-z_]\w*)$")
_RELEASE_POOL = re.compile(r"^<pool>\.(?P<method>[A-Za-z_]\w*)\(<resource>\)$")
_RELEASE_SELF = re.compile(r"^<resource>\.(?P<method>[A-Za-z_]\w*)\(\)$")


@dataclass(frozen=True)
class Kind:
    """One kind of resource: how it is acquired, released and recognised."""

    name: str
    family: str
    resource: str
    container: str
    acquire_methods: frozenset[str]
    release_methods: frozenset[str]  # `<pool>.M(<resource>)`: resource is the first argument
    self_release_methods: frozenset[str]  # `<resource>.M()`
    release_keyword: str
    with_releases: bool
    pool_constructors: frozenset[str]
    pool_names: tuple[str, ...]
    context_manager: str

    def matches_pool_name(self, receiver: str) -> bool:
        last = receiver.rsplit(".", 1)[-1].lower()
        return any(fnmatch.fnmatchcase(last, pattern.lower()) for pattern in self.pool_names)


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    family: str
    leak: str
    message: str
    doc: str


_KIND_KEYS = {
    "name",
    "family",
    "resource",
    "container",
    "acquire",
    "release",
    "release-keyword",
    "with-releases",
    "pool-constructors",
    "pool-names",
    "context-manager",
}


def _strings(value: Any, key: str, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise CatalogueError(f"{where}: `{key}` must be a list of strings")
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
    acquire: set[str] = set()
    for pattern in _strings(raw.get("acquire", []), "acquire", where):
        match = _ACQUIRE.match(pattern)
        if not match:
            raise CatalogueError(f"{where}: `acquire` pattern {pattern!r} is not `<pool>.METHOD`")
        acquire.add(match["method"])
    if not acquire:
        raise CatalogueError(f"{where}: `acquire` must name at least one method")
    release: set[str] = set()
    self_release: set[str] = set()
    for pattern in _strings(raw.get("release", []), "release", where):
        if match := _RELEASE_POOL.match(pattern):
            release.add(match["method"])
        elif match := _RELEASE_SELF.match(pattern):
            self_release.add(match["method"])
        else:
            raise CatalogueError(
                f"{where}: `release` pattern {pattern!r} is neither "
                "`<pool>.METHOD(<resource>)` nor `<resource>.METHOD()`"
            )
    if not release and not self_release:
        raise CatalogueError(f"{where}: `release` must name at least one method")
    texts = {}
    for key, default in (
        ("family", "pool"),
        ("resource", "connection"),
        ("container", "pool"),
        ("release-keyword", ""),
        ("context-manager", ""),
    ):
        value = raw.get(key, default)
        if not isinstance(value, str):
            raise CatalogueError(f"{where}: `{key}` must be a string")
        texts[key] = value
    with_releases = raw.get("with-releases", False)
    if not isinstance(with_releases, bool):
        raise CatalogueError(f"{where}: `with-releases` must be true or false")
    return Kind(
        name=name,
        family=texts["family"],
        resource=texts["resource"],
        container=texts["container"],
        acquire_methods=frozenset(acquire),
        release_methods=frozenset(release),
        self_release_methods=frozenset(self_release),
        release_keyword=texts["release-keyword"],
        with_releases=with_releases,
        pool_constructors=frozenset(
            _strings(raw.get("pool-constructors", []), "pool-constructors", where)
        ),
        pool_names=tuple(_strings(raw.get("pool-names", []), "pool-names", where)),
        context_manager=texts["context-manager"],
    )


def rules_dir() -> Path:
    """The `rules/` data: inside the installed package, or beside it in a source checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "rules", here.parent / "rules"):
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
            )
        )
    return tuple(out)


def rule_for(family: str, leak: str) -> Rule | None:
    """The rule that names a verdict of this family, if the catalogue has one."""
    for rule in rules():
        if rule.family == family and rule.leak == leak:
            return rule
    return None
