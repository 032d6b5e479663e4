"""The version of a package the project depends on, read from its dependency files.

Never imports the package: the version a fix may rely on is the one the project declares. Looked
for from the checked file's directory up to the project root (the nearest directory holding
`pyproject.toml`, `setup.cfg`, `setup.py` or `.git`), the nearest directory with an answer
winning; in a directory, a lock file's pin (`uv.lock`, `poetry.lock`) before a declared lower
bound (`pyproject.toml` `[project] dependencies` or `[tool.poetry.dependencies]`, then
`requirements*.txt`). A declared range gives its lower bound (`>=`, `==`, `~=`, poetry's `^` and
`~`): the oldest version the project may run on. An upper bound alone gives nothing.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

from leakcheck.config.files import read_regular, read_toml
from leakcheck.config.roots import ROOT_MARKERS

LOCKS = ("uv.lock", "poetry.lock")
# `fastapi[standard]>=0.121.1,<1`: the name, extras, and the first lower-bounding clause.
_REQUIREMENT = re.compile(
    r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*(?P<spec>[^;#]*)"
)
_LOWER = re.compile(r"(===|==|>=|~=|\^|~(?!=)|>)\s*v?(?P<version>\d+(?:\.\d+)*)")


@dataclass(frozen=True)
class Found:
    """A version of the package: `version` (`(0, 121, 1)`), how it was written (`>=0.121.1`,
    `0.121.2` for a pin) and the file it was read from."""

    version: tuple[int, ...]
    text: str
    file: Path

    def at_least(self, *wanted: int) -> bool:
        """Whether the project runs this version or a later one."""
        return self.version >= tuple(wanted)


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _parse(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def _lower_bound(spec: str) -> tuple[tuple[int, ...], str] | None:
    """`>=0.121.1,<1` -> ((0, 121, 1), ">=0.121.1"); None without a lower bound."""
    for clause in spec.split(","):
        match = _LOWER.search(clause)
        if match is not None:
            bound = _parse(match["version"])
            if match[1] == ">":  # strictly above: the next release at least
                bound = (*bound[:-1], bound[-1] + 1)
            return bound, clause.strip()
    return None


def _from_requirements(lines: list[str], name: str, file: Path) -> Found | None:
    for line in lines:
        match = _REQUIREMENT.match(line)
        if match is None or _normal(match["name"]) != name:
            continue
        bound = _lower_bound(match["spec"])
        if bound is not None:
            return Found(bound[0], bound[1], file)
    return None


def _from_lock(path: Path, name: str) -> Found | None:
    data = read_toml(path)
    for package in (data or {}).get("package", []):
        if isinstance(package, dict) and _normal(str(package.get("name", ""))) == name:
            version = str(package.get("version", ""))
            if re.fullmatch(r"\d+(\.\d+)*", version):
                return Found(_parse(version), version, path)
    return None


def _from_pyproject(path: Path, name: str) -> Found | None:
    data = read_toml(path) or {}
    declared = data.get("project", {}).get("dependencies", [])
    if isinstance(declared, list):
        found = _from_requirements([str(d) for d in declared], name, path)
        if found is not None:
            return found
    poetry = data.get("tool", {}).get("poetry", {}).get("dependencies", {})
    for key, value in poetry.items() if isinstance(poetry, dict) else ():
        if _normal(str(key)) != name:
            continue
        spec = value.get("version", "") if isinstance(value, dict) else str(value)
        bound = _lower_bound(str(spec)) or (
            (_parse(str(spec)), str(spec)) if re.fullmatch(r"\d+(\.\d+)*", str(spec)) else None
        )
        if bound is not None:
            return Found(bound[0], bound[1], path)
    return None


def _in_directory(directory: Path, name: str) -> Found | None:
    for lock in LOCKS:
        if (directory / lock).is_file():
            found = _from_lock(directory / lock, name)
            if found is not None:
                return found
    if (directory / "pyproject.toml").is_file():
        found = _from_pyproject(directory / "pyproject.toml", name)
        if found is not None:
            return found
    for requirements in sorted(directory.glob("requirements*.txt")):
        raw = read_regular(requirements)
        if raw is None:
            continue
        lines = raw.decode("utf-8", "replace").splitlines()
        found = _from_requirements(lines, name, requirements)
        if found is not None:
            return found
    return None


@functools.lru_cache(maxsize=256)
def _search(directory: Path, name: str) -> Found | None:
    for folder in (directory, *directory.parents):
        found = _in_directory(folder, name)
        if found is not None:
            return found
        if any((folder / marker).exists() for marker in ROOT_MARKERS):
            return None  # the project root: its dependency files were the last to read
    return None


def forget() -> None:
    """Drop the answers kept so far: a long-lived process (a language server) calls it when
    files may have changed (see `project.names.forget`)."""
    _search.cache_clear()


def package_version(package: str, file: Path) -> Found | None:
    """The version of `package` the project of `file` declares or pins, or None when none of
    its dependency files names it with a lower bound. Never raises for an unreadable file."""
    return _search(file.resolve().parent, _normal(package))
