"""The result cache: `.leakcheck_cache/` at the project root, one small file per checked file.

Like `.ruff_cache`, the directory holds its own `.gitignore` (`*`) and a `CACHEDIR.TAG` (the
Cache Directory Tagging Specification, https://bford.info/cachedir/), so that git and backup tools
leave it alone. An entry is found by a key made of the file's real path and the
digest of everything that can change its result (leakcheck's version, the effective configuration
and the options that select or suppress findings); inside, the file's size and mtime are the quick
check and a hash of its bytes the truth. Whether the entry's result may be reused also depends on
the answers its module got about imported names, which the run checks (`project.pipeline`).

Entries are pickles (the standard library; results, summaries and answers are plain dataclasses
and tuples, so no hand-written format can drift from them) written to a temporary file in the same
directory and moved into place with `os.replace`, which is atomic on POSIX and Windows: concurrent
runs (pre-commit starts hooks in parallel) see an old entry or a new one, never half of one. Reading
goes through an unpickler that only builds leakcheck's own classes and a few standard ones, and
any entry that cannot be read (truncated, corrupt, from another version) is treated as absent.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from leakcheck.model import FileResult
from leakcheck.project.manifest import Manifest
from leakcheck.project.summaries import Summary, safe_loads

DIRECTORY = ".leakcheck_cache"
# The layout of entries: bumped when `Entry`, `Summary` or `FileResult` change shape within a
# version, so that entries written by an older layout are never read as if complete (3:
# `Finding.fixes`, several candidate fixes per finding, replaced `Finding.fix`; 10: `Entry.marker`
# is decided on the code alone, comments and strings blanked).
FORMAT = 11
ENVIRONMENT = "LEAKCHECK_CACHE_DIR"
TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by leakcheck.\n"
    "# For information about cache directory tags, see https://bford.info/cachedir/\n"
)


@dataclass
class Entry:
    """What one run learnt about one file.

    size, mtime_ns, content: the file as it was (content: a hash of its bytes). marker: it can
    export (it has a summary when it parsed). imports: the module names its bytes import.
    summary: what it offers importers. result: its findings, when it was judged. answers: what
    each imported name it looked up resolved to. tokens: the prefilter's token set (a digest) when
    the file was skipped or judged as a file without export markers.
    """

    size: int
    mtime_ns: int
    content: str
    marker: bool
    imports: tuple[str, ...] = ()
    summary: Summary | None = None
    result: FileResult | None = None
    answers: dict[str, Any] = field(default_factory=dict)
    tokens: str = ""
    parsed: bool = False  # `result` comes from parsing the file (not from the prefilter)
    shown: str = ""  # how `result` names the file
    # A Django settings module: its result also depends on the project's `asgi.py`, and holds
    # only while `evidence` (what `asgi_file` found for it then, "" for nothing) is the same.
    volatile: bool = False
    evidence: str = ""
    table: dict[str, str] = field(default_factory=dict)  # a non-marker's import table
    promoted: bool = False  # summarised as a relay that imports a starter (`Project._relay`)


def content_hash(source: bytes) -> str:
    """The truth about a file's content."""
    return hashlib.blake2b(source, digest_size=16).hexdigest()


def cache_dir_for(root: Path, explicit: Path | None = None) -> Path:
    """`--cache-dir`, else `LEAKCHECK_CACHE_DIR`, else `.leakcheck_cache` under `root`."""
    if explicit is not None:
        return explicit
    from_environment = os.environ.get(ENVIRONMENT)
    if from_environment:
        return Path(from_environment)
    return root / DIRECTORY


MANIFEST = "manifest"
MANIFESTS_KEPT = 8


class Cache:
    """Entries under `directory` (created on the first write, with .gitignore and CACHEDIR.TAG).

    Never raises for a problem with the cache itself: an unreadable entry reads as None, and a
    write that fails (read-only tree, full disk) is skipped.
    """

    def __init__(self, directory: Path, version: str) -> None:
        self.directory = directory
        self.entries = directory / f"v{version}-{FORMAT}"
        self._ready = False

    def key(self, *parts: str) -> str:
        """A file name for an entry made of `parts`."""
        return hashlib.blake2b("\0".join(parts).encode(), digest_size=16).hexdigest()

    def is_empty(self) -> bool:
        """Whether this version's folder holds nothing yet (a first run, a cleared cache, or one
        written by another leakcheck version or cache format)."""
        try:
            with os.scandir(self.entries) as found:
                return next(found, None) is None
        except OSError:
            return True

    def load(self, key: str) -> Entry | None:
        """The entry stored under `key`, or None when there is none or it cannot be read."""
        try:
            with open(self.entries / key[:2] / key, "rb") as handle:
                data = handle.read()
            entry = safe_loads(data)
        except Exception:  # missing, truncated, corrupt, foreign: as if absent
            return None
        return entry if isinstance(entry, Entry) else None

    def store(self, key: str, entry: Entry) -> None:
        """Write `entry` under `key` atomically (a temporary file, then `os.replace`)."""
        try:
            self.prepare()
            folder = self.entries / key[:2]
            folder.mkdir(exist_ok=True)
            self._write(folder, key, entry)
        except OSError:
            return

    def load_manifest(self, key: str) -> Manifest | None:
        """The manifest of the last run `key`, or None (also when it cannot be read)."""
        try:
            with open(self.entries / f"{MANIFEST}-{key}", "rb") as handle:
                manifest = safe_loads(handle.read())
        except Exception:  # missing, truncated, corrupt, foreign: as if absent
            return None
        if not isinstance(manifest, Manifest) or manifest.key != key:
            return None
        return manifest

    def store_manifest(self, manifest: Manifest) -> None:
        """Write `manifest` atomically, and keep only the `MANIFESTS_KEPT` most recent: one per
        run (a full run, pre-commit's runs over a few changed files), never growing without
        bound."""
        try:
            self.prepare()
            self._write(self.entries, f"{MANIFEST}-{manifest.key}", manifest)
            kept = sorted(self.entries.glob(f"{MANIFEST}-*"), key=lambda p: p.stat().st_mtime_ns)
            for old in kept[:-MANIFESTS_KEPT]:
                old.unlink()
        except OSError:
            return

    @staticmethod
    def _write(folder: Path, name: str, value: object) -> None:
        import tempfile  # here, not at the top: 5 ms of every start, for a run that writes

        data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.replace(temporary, folder / name)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise

    def prepare(self) -> None:
        """Create the directory (with its .gitignore and CACHEDIR.TAG) if it is not there.
        Raises OSError when it cannot be created."""
        if self._ready:
            return
        self.entries.mkdir(parents=True, exist_ok=True)
        for name, text in ((".gitignore", "# Created by leakcheck.\n*\n"), ("CACHEDIR.TAG", TAG)):
            path = self.directory / name
            if not path.exists():
                with contextlib.suppress(OSError):
                    path.write_text(text, encoding="utf-8")
        self._ready = True
