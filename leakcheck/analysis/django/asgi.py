"""Whether a settings module's project is served over ASGI, from the files beside it.

Read as bytes, never imported. An `asgi.py` that calls `get_asgi_application()` is looked for in
the settings module's own package (`crm/settings.py` -> `crm/asgi.py`; `crm/settings/prod.py` ->
`crm/asgi.py`), at the project root (the nearest directory above holding `manage.py`,
`pyproject.toml`, `setup.cfg` or `.git`) and in the root's direct subdirectories.

`django-admin startproject` writes both `asgi.py` and `wsgi.py` (Django 3.0+), so an untouched
`asgi.py` proves nothing when a `wsgi.py` calling `get_wsgi_application()` sits beside it: such an
`asgi.py` counts only when it does more than the template (it mentions `ProtocolTypeRouter`,
`URLRouter`, `channels` or `websocket`). `[tool.leakcheck.django] asgi = true/false` overrides.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT_MARKERS = ("manage.py", "pyproject.toml", "setup.cfg", ".git")
MAX_UP = 6  # directories walked up looking for the root
_CALLS_ASGI = re.compile(rb"\bget_asgi_application\s*\(")
_CALLS_WSGI = re.compile(rb"\bget_wsgi_application\s*\(")
_BEYOND_TEMPLATE = re.compile(rb"\b(ProtocolTypeRouter|URLRouter|channels|websocket)\b")


def asgi_file(settings_file: Path) -> Path | None:
    """The `asgi.py` that makes the project of `settings_file` ASGI, or None."""
    try:
        start = settings_file.resolve().parent
    except OSError:
        return None
    return _search(start)


def _search(directory: Path) -> Path | None:
    candidates = [directory / "asgi.py", directory.parent / "asgi.py"]
    root = _root(directory)
    if root is not None:
        candidates.append(root / "asgi.py")
        try:
            subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        except OSError:
            subdirs = []
        candidates.extend(sub / "asgi.py" for sub in subdirs)
    seen: set[Path] = set()
    for candidate in candidates:
        if candidate in seen:
            continue
        seen.add(candidate)
        if _serves_asgi(candidate):
            return candidate
    return None


def _root(directory: Path) -> Path | None:
    current = directory
    for _ in range(MAX_UP):
        if any((current / marker).exists() for marker in ROOT_MARKERS):
            return current
        if current.parent == current:
            return None
        current = current.parent
    return None


def _read(path: Path) -> bytes | None:
    try:
        if not path.is_file():
            return None
        with path.open("rb") as handle:
            return handle.read(200_000)
    except OSError:
        return None


def _serves_asgi(candidate: Path) -> bool:
    data = _read(candidate)
    if data is None or not _CALLS_ASGI.search(data):
        return False
    wsgi = _read(candidate.with_name("wsgi.py"))
    if wsgi is not None and _CALLS_WSGI.search(wsgi):
        return bool(_BEYOND_TEMPLATE.search(data))
    return True
