"""The result cache: `.leakcheck_cache/` at the project root, one small file per checked file.

Like `.ruff_cache`, the directory holds its own `.gitignore` (`*`) and a `CACHEDIR.TAG` (the
Cache Directory Tagging Specification, https://bford.info/cachedir/), so that git and backup tools
leave it alone. An entry is found by a key made of the file's real path and the
digest of everything that can change its result (leakcheck's version, the effective configuration
and the options that select or suppress findings); inside, the file's size and mtime are the quick
check and a hash of its bytes the truth. Whether the entry's result may be reused also depends on
the answers its module got about imported names, which the run checks (`project.pipeline`).

The cache lives inside the repository under check, so it is untrusted: a repository can commit
one. Nothing read from it can run code or write outside it:
- Entries and manifests are JSON records (`project.records`), read back as the dataclass they
  must be, every field checked against its type; results, summaries and answers are plain
  dataclasses and tuples, so no hand-written format can drift from them. Anything that does not
  read (truncated, corrupt, forged, from another version) is treated as absent. No `pickle`: an
  unpickler runs whatever callable the data names.
- Entries are kept per leakcheck version, record layout and interpreter
  (`sys.implementation.cache_tag`): what CPython 3.11 rejects as a syntax error, 3.12 may accept.
- No link is followed: the default folder, its version folder and its subfolders must be real
  folders, files are opened with `O_NOFOLLOW` (and `O_NONBLOCK`: a FIFO never blocks the run), the
  `.gitignore` and `CACHEDIR.TAG` are created with `O_EXCL`. A link found there makes the cache
  unused for the run, and `problem` says why (the run reports it as an error entry). A folder the
  user names (`--cache-dir`, `LEAKCHECK_CACHE_DIR`) may itself be a link: that is their choice.
Entries are written to a temporary file in the same directory (`mkstemp`: a random name,
`O_EXCL`) and moved into place with `os.replace`, which is atomic on POSIX and Windows and
replaces a link rather than writing through it: concurrent runs (pre-commit starts hooks in
parallel) see an old entry or a new one, never half of one.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from leakcheck.model import Edit, FileResult, Finding
from leakcheck.project import records
from leakcheck.project.manifest import Manifest
from leakcheck.project.names import Answer
from leakcheck.project.summaries import Summary

DIRECTORY = ".leakcheck_cache"
# The layout of entries: bumped when `Entry`, `Summary` or `FileResult` change shape within a
# version, so that entries written by an older layout are never read as if complete (3:
# `Finding.fixes`, several candidate fixes per finding, replaced `Finding.fix`; 10: `Entry.marker`
# is decided on the code alone, comments and strings blanked; 12: JSON records, not pickles;
# 13: `FileResult.handoffs_assumed`, `Export.quiet_methods`; 14: `Finding.no_fix_reason`;
# 15: `FileResult.unknown_resources`; 16: `Finding.severity`; 17: `FileResult.handoffs`, where
# each hand-off was assumed, replaced its count).
FORMAT = 17
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
    answers: dict[str, Answer] = field(default_factory=dict)
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


def cache_dir_for(root: Path, explicit: Path | None = None) -> tuple[Path, bool]:
    """Where the cache is, and whether the user chose it: `--cache-dir`, else
    `LEAKCHECK_CACHE_DIR` (both chosen), else `.leakcheck_cache` under `root` (not chosen: the
    repository controls what is there)."""
    if explicit is not None:
        return explicit, True
    from_environment = os.environ.get(ENVIRONMENT)
    if from_environment:
        return Path(from_environment), True
    return root / DIRECTORY, False


MANIFEST = "manifest"
MANIFESTS_KEPT = 8
_READER = records.Reader()
_Record = TypeVar("_Record", Entry, Manifest)
# Opening a cache file: never through a link, never waiting on a FIFO.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)


@functools.cache
def code_stamp() -> str:
    """A short digest of leakcheck's own code and rule data as installed: each `.py` and `.toml`
    file's path, size and modification time under the package and its `rules/` folder. An
    editable install (or a checkout run from source) that changes a rule or a kind then reads no
    result an older build wrote, though the version string is the same. Costs a `stat` per file
    (about 200); never raises (an unreadable file counts as absent)."""
    package = Path(__file__).resolve().parents[1]
    parts: list[str] = []
    for root in (package, package / "rules", package.parent / "rules"):
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*")):
            if path.suffix not in (".py", ".toml"):
                continue
            try:
                info = path.stat()
            except OSError:
                continue
            parts.append(f"{path.relative_to(root)}:{info.st_size}:{info.st_mtime_ns}")
    return hashlib.blake2b("\n".join(parts).encode(), digest_size=4).hexdigest()


class Cache:
    """Entries under `directory` (created on the first write, with .gitignore and CACHEDIR.TAG).

    `chosen`: the user named `directory` (it may be a link); otherwise it is the project's own
    folder and must be a real one. Never raises for a problem with the cache itself: an unreadable
    entry reads as None, and a write that fails (read-only tree, full disk) is skipped. A link
    where the cache keeps its files turns the cache off for the run, with `problem` saying why.
    """

    def __init__(self, directory: Path, version: str, chosen: bool = True) -> None:
        self.directory = directory
        layout = f"v{version}-{FORMAT}-{sys.implementation.cache_tag}-{code_stamp()}"
        self.entries = directory / layout
        self.chosen = chosen
        self.problem: str | None = None
        self._checked = False
        self._ready = False

    def key(self, *parts: str) -> str:
        """A file name for an entry made of `parts` (which may hold lone surrogates: file names
        that are not UTF-8)."""
        joined = "\0".join(parts).encode("utf-8", "surrogatepass")
        return hashlib.blake2b(joined, digest_size=16).hexdigest()

    def usable(self) -> bool:
        """Whether the cache may be read and written: no link where it keeps its files (checked
        once; a link sets `problem`)."""
        if not self._checked:
            self._checked = True
            if not self.chosen:
                self._refuse_link(self.directory)
            self._refuse_link(self.entries)
        return self.problem is None

    def _refuse_link(self, path: Path) -> bool:
        """Whether `path` is a link (or anything but a folder where a folder belongs); a link
        sets `problem`."""
        try:
            status = os.lstat(path)
        except OSError:
            return False  # not there (yet): created as a real folder
        if stat.S_ISLNK(status.st_mode):
            if self.problem is None:
                self.problem = (
                    f"cache not used: {path} is a symbolic link, and leakcheck never writes "
                    "through a link inside the checked tree (remove it, or choose the cache's "
                    f"place with --cache-dir or {ENVIRONMENT})"
                )
            return True
        return not stat.S_ISDIR(status.st_mode)

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
        return self._read(self.entries / key[:2] / key, Entry)

    def store(self, key: str, entry: Entry) -> None:
        """Write `entry` under `key` atomically (a temporary file, then `os.replace`)."""
        try:
            self.prepare()
            folder = self.entries / key[:2]
            with contextlib.suppress(FileExistsError):
                folder.mkdir()
            if self._refuse_link(folder):
                return
            self._write(folder, key, entry)
        except OSError:
            return

    def load_manifest(self, key: str) -> Manifest | None:
        """The manifest of the last run `key`, or None (also when it cannot be read)."""
        manifest = self._read(self.entries / f"{MANIFEST}-{key}", Manifest)
        return manifest if manifest is not None and manifest.key == key else None

    def _read(self, path: Path, expected: type[_Record]) -> _Record | None:
        """The record at `path` read as `expected`, or None: missing, not a regular file (a
        link, a FIFO, a folder), truncated, corrupt, forged or from another layout."""
        if not self.usable():
            return None
        try:
            descriptor = os.open(path, _OPEN_FLAGS)
        except OSError:
            return None
        try:
            with os.fdopen(descriptor, "rb") as handle:
                if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                    return None
                data = handle.read()
        except OSError:
            return None
        try:
            value = _READER.loads(data, expected)
        except records.Invalid:
            return None
        return value if isinstance(value, expected) and _consistent(value) else None

    def store_manifest(self, manifest: Manifest) -> None:
        """Write `manifest` atomically, and keep only the `MANIFESTS_KEPT` most recent: one per
        run (a full run, pre-commit's runs over a few changed files), never growing without
        bound."""
        try:
            self.prepare()
            self._write(self.entries, f"{MANIFEST}-{manifest.key}", manifest)
            kept = sorted(self.entries.glob(f"{MANIFEST}-*"), key=lambda p: p.lstat().st_mtime_ns)
            for old in kept[:-MANIFESTS_KEPT]:
                old.unlink()
        except OSError:
            return

    @staticmethod
    def _write(folder: Path, name: str, value: object) -> None:
        import tempfile  # here, not at the top: 5 ms of every start, for a run that writes

        data = records.dumps(value)
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
        Raises OSError when it cannot be created or may not be used (`usable`)."""
        if not self.usable():
            raise OSError(self.problem)
        if self._ready:
            return
        self.entries.mkdir(parents=True, exist_ok=True)
        self._checked = False  # what was missing is there now: look again
        if not self.usable():
            raise OSError(self.problem)
        for name, text in ((".gitignore", "# Created by leakcheck.\n*\n"), ("CACHEDIR.TAG", TAG)):
            self._create(self.directory / name, text)
        if self.problem is not None:
            raise OSError(self.problem)
        self._ready = True

    def _create(self, path: Path, text: str) -> None:
        """Write `path` if nothing (not even a dangling link) is there: `O_EXCL` never follows a
        link. A link there is a `problem`; another failure is ignored (the file is a courtesy)."""
        if os.path.lexists(path):
            self._refuse_link(path)
            return
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        try:
            descriptor = os.open(path, flags, 0o666)
        except OSError:
            return
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)


def _consistent(record: Entry | Manifest) -> bool:
    """Whether the results `record` holds could have been made by a run: each finding and error
    names its result's file, positions are 1-based lines and 0-based columns, in order. A forged
    record that fits the types but not this is ignored like a corrupt one (the report would
    otherwise trip on it)."""
    results = record.results if isinstance(record, Manifest) else (record.result,)
    if isinstance(record, Manifest) and len(record.shown) != len(record.results):
        return False
    for result in results:
        if result is None:
            continue
        for finding in result.findings:
            if finding.path != result.path or not _span_ok(finding):
                return False
            if finding.related_line is not None and finding.related_line < 1:
                return False
            for fix in finding.fixes:
                if not all(_span_ok(edit) for edit in fix.edits):
                    return False
        if any(e.path != result.path or (e.line is not None and e.line < 1) for e in result.errors):
            return False
    return True


def _span_ok(span: Finding | Edit) -> bool:
    return 1 <= span.line <= span.end_line and span.column >= 0 and span.end_column >= 0
