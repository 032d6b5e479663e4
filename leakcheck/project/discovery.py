"""Which files to check: Python files under the given paths, minus environments, build output,
`exclude` and what `.gitignore` / `.ignore` files ignore; and the paths that cannot be checked.

Cost: each given path is resolved once; below it, a directory entry's absolute path is its
parent's plus its name (symlinked directories are not followed, so that is its real path too), and
`exclude` globs and ignore files are matched against paths relative to the configuration's
directory and to the ignore file's directory, as strings. Per directory the walk makes one
`scandir`, one `stat` for `pyvenv.cfg` and, for ignore files and configuration, the look-ups
`ConfigFinder` and `Discovery` cache. (Before: every entry was resolved once per `exclude`
pattern, 92k resolves and 437k `lstat` calls on a 1,205-file tree.)

A path that cannot be checked (missing, a symlink loop, a directory that cannot be read, a FIFO or
device) is an error entry, as ruff's E902, and the rest of the run goes on; nothing here ever
opens a file, so nothing here can block on a FIFO.

Ignore files follow git's rules through `pathspec.GitIgnoreSpec` (negations, anchored patterns,
directory-only patterns, the last matching pattern wins); a deeper file's decision overrides a
shallower one's, as in git. Ignore files are read from the given path's directory upwards to the
repository root (the nearest directory holding `.git`), and in every directory walked; outside a
repository, from the directory of the configuration in force (a `pyproject.toml` with
`[tool.leakcheck]`, or `leakcheck.toml`) down. The repository's `.git/info/exclude` is read
too (below its root `.gitignore` in precedence); git's global excludes file (`core.excludesFile`)
is not.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import re
import stat
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING

from leakcheck.config.settings import DEFAULT, Config
from leakcheck.model import FileError
from leakcheck.project.names import real_path

if TYPE_CHECKING:
    import pathspec

IGNORE_FILES = (".gitignore", ".ignore")  # `.ignore` after `.gitignore`: it wins, as in ripgrep
ConfigFor = Callable[[str], Config]  # an absolute, resolved directory
Listed = Callable[[str, Collection[str]], None]  # a directory and the names it holds
NOT_REGULAR = "cannot read: not a regular file (a FIFO, socket or device)"
# A notebook is JSON holding cells, not Python: parsed as Python it would be one syntax error.
NOTEBOOK = "not analysed: Jupyter notebooks are not supported"


def _relative(absolute: str, root: str) -> str | None:
    if absolute == root:
        return "."
    prefix = root if root.endswith(os.sep) else root + os.sep
    if not absolute.startswith(prefix):
        return None
    return absolute[len(prefix) :].replace(os.sep, "/")


@cache
def _exclusions(patterns: tuple[str, ...]) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """`patterns` as two regular expressions: one for a bare name (patterns without `/`), one
    for the path relative to the configuration's directory (every pattern). One match per
    directory entry instead of one per pattern."""
    never = "(?!)"
    names = [fnmatch.translate(p) for p in patterns if "/" not in p]
    relatives = [fnmatch.translate(p.rstrip("/")) for p in patterns]
    return (
        re.compile("|".join(f"(?:{n})" for n in names) or never),
        re.compile("|".join(f"(?:{r})" for r in relatives) or never),
    )


def _excluded_by_config(absolute: str, config: Config, root: str) -> bool:
    """`exclude` / `extend-exclude` match `absolute`; `root` is `config.root` as a string."""
    by_name, by_relative = _exclusions(config.exclude + config.extend_exclude)
    if by_name.match(os.path.basename(absolute)):
        return True
    relative = _relative(absolute, root)
    return relative is not None and by_relative.match(relative) is not None


def _read_text(path: str) -> str | None:
    """A regular file's text, or None (missing, unreadable, or a FIFO or device: opened without
    blocking and never read)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return handle.read().decode("utf-8", "replace")


def _read_ignore_files(directory: str, repository_root: bool) -> pathspec.GitIgnoreSpec | None:
    """The patterns of `directory`'s ignore files, or None when it has none (an unreadable one
    ignores nothing, as in git). At a repository's root, `.git/info/exclude` comes first, so
    that the `.gitignore` beside it wins, as git ranks them (gitignore(5))."""
    lines: list[str] = []
    names = ((os.path.join(".git", "info", "exclude"),) if repository_root else ()) + IGNORE_FILES
    for name in names:
        text = _read_text(os.path.join(directory, name))
        if text is not None:
            lines += text.splitlines()
    if not lines:
        return None
    import pathspec  # only where there is an ignore file (a fifth of the CLI's imports)

    return pathspec.GitIgnoreSpec.from_lines(lines)


def _ancestors(directory: str, top: str) -> list[str]:
    """`top`, ..., `directory` (which is at or below `top`)."""
    chain = [directory]
    while directory != top:
        parent = os.path.dirname(directory)
        if parent == directory:
            break
        directory = parent
        chain.append(directory)
    return chain[::-1]


def _problem(error: OSError) -> str:
    return f"cannot read: {os.strerror(error.errno) if error.errno else error}"


@dataclass
class Discovery:
    """One run's file discovery. `config_for(directory)` gives the configuration in force in a
    directory (`ConfigFinder.for_dir`); `respect_gitignore` None follows each configuration's
    `respect-gitignore` (default true); `force_exclude` applies `exclude` and ignore files to
    files named explicitly too; `listed(directory, names)` is told each listing the walk makes
    (`ConfigFinder.listed`), before `config_for` is asked about that directory. After `files()`,
    `errors` holds the paths that could not be checked, in the order met."""

    config_for: ConfigFor = lambda directory: DEFAULT
    respect_gitignore: bool | None = None
    force_exclude: bool = False
    listed: Listed = lambda directory, names: None
    errors: list[FileError] = field(default_factory=list)
    _seen: dict[str, int] = field(default_factory=dict)  # real path -> its place in the list
    _roots: dict[int, tuple[Config, str]] = field(default_factory=dict)
    # Per run, not per process: a language server or a test may see the files change.
    _specs: dict[str, pathspec.GitIgnoreSpec | None] = field(default_factory=dict)
    _repositories: dict[str, str | None] = field(default_factory=dict)
    _failed: set[str] = field(default_factory=set)

    def _spec(self, directory: str) -> pathspec.GitIgnoreSpec | None:
        if directory not in self._specs:
            root = self._repository_root(directory) == directory
            self._specs[directory] = _read_ignore_files(directory, root)
        return self._specs[directory]

    def _learn(self, directory: str, names: set[str]) -> None:
        """What `directory`'s listing already says: whether it is a repository's root (below a
        known parent), and that it has no ignore file; spares a `stat` and two failed opens per
        directory of the walk."""
        if directory not in self._repositories:
            parent = os.path.dirname(directory)
            if ".git" in names:
                self._repositories[directory] = directory
            elif parent in self._repositories and parent != directory:
                self._repositories[directory] = self._repositories[parent]
        at_root = self._repositories.get(directory, "") == directory
        if directory not in self._specs and not at_root and not names.intersection(IGNORE_FILES):
            self._specs[directory] = None

    def _repository_root(self, directory: str) -> str | None:
        """The nearest directory at or above `directory` holding `.git`."""
        if directory not in self._repositories:
            if os.path.exists(os.path.join(directory, ".git")):
                found: str | None = directory
            else:
                parent = os.path.dirname(directory)
                found = None if parent == directory else self._repository_root(parent)
            self._repositories[directory] = found
        return self._repositories[directory]

    def _top(self, directory: str) -> str:
        """The highest directory whose ignore files apply to `directory`: the repository's root;
        outside a repository, the directory of the configuration in force (the project's
        root), if `directory` is below it; else `directory` itself."""
        repository = self._repository_root(directory)
        if repository is not None:
            return repository
        try:
            root = self._root(self.config_for(directory))
        except OSError:
            return directory
        return root if _relative(directory, root) is not None else directory

    def _ignored_by_files(self, absolute: str, is_dir: bool, directories: list[str]) -> bool:
        """Git's verdict for `absolute` from the ignore files of `directories` (shallowest
        first): the deepest file with a matching pattern decides."""
        for directory in reversed(directories):  # the deepest decisive file wins
            spec = self._spec(directory)
            if spec is None:
                continue
            relative = _relative(absolute, directory)
            if relative is None or relative == ".":
                continue
            verdict = spec.check_file(relative + "/" if is_dir else relative).include
            if verdict is not None:
                return verdict
        return False

    def _root(self, config: Config) -> str:
        """`config.root` (which resolves a path each time) once per configuration."""
        known = self._roots.get(id(config))
        if known is None:
            known = self._roots[id(config)] = (config, str(config.root))
        return known[1]

    def files(self, paths: list[str]) -> list[str]:
        """Files to check, in a stable order (each directory's files sorted, then its
        subdirectories); a file named explicitly is included unless `force_exclude` skips it;
        a file reached twice (`./a.py` and `../dir/a.py`) is listed once."""
        found: list[str] = []
        for given in paths:
            self._given(given, found)
        return found

    def _error(self, path: str, message: str) -> None:
        shown = os.path.normpath(path)
        if shown not in self._failed:  # a loop met while walking and named again: once
            self._failed.add(shown)
            self.errors.append(FileError(shown, None, message))

    def _given(self, given: str, found: list[str]) -> None:
        try:
            info = os.stat(given)  # follows links: a loop or a dangling link fails here
        except OSError as error:
            self._error(given, _problem(error))
            return
        absolute = os.path.realpath(given)  # once per given path
        if stat.S_ISDIR(info.st_mode):
            top = self._top(absolute)
            chain = _ancestors(os.path.dirname(absolute), top) if top != absolute else []
            chain = [d for d in chain if self._spec(d) is not None]
            self._walk(given, absolute, chain, found)
        elif not stat.S_ISREG(info.st_mode):
            self._error(given, NOT_REGULAR)
        elif not (self.force_exclude and self.named_excluded(absolute)):
            if given.lower().endswith(".ipynb"):  # named: walking lists `*.py` only
                self._error(given, NOTEBOOK)
            else:
                self._add(os.path.normpath(given), absolute, found)

    def _add(self, shown: str, real: str, found: list[str]) -> None:
        """List `shown` unless its file (`real`) is listed already; of a link and the file it
        names, both walked, the file is kept whichever came first: `--fix` writes no link."""
        at = self._seen.get(real)
        if at is None:
            self._seen[real] = len(found)
            found.append(shown)
        elif found[at] != shown and _through_link(found[at]) and not _through_link(shown):
            found[at] = shown

    def _respects(self, config: Config) -> bool:
        if self.respect_gitignore is not None:
            return self.respect_gitignore
        return config.respect_gitignore

    def named_excluded(self, absolute: str) -> bool:
        """For `--force-exclude`: `exclude` matches the file or a directory above it (below its
        configuration's directory), or an ignore file ignores it."""
        directory = os.path.dirname(absolute)
        config = self.config_for(directory)
        root = self._root(config)
        candidate = absolute
        while True:
            if _excluded_by_config(candidate, config, root):
                return True
            parent = os.path.dirname(candidate)
            if parent == candidate or _relative(parent, root) in (None, "."):
                break
            candidate = parent
        if not self._respects(config):
            return False
        chain = _ancestors(directory, self._top(directory))
        # An ignored directory above the file ignores it too.
        for upper in chain[1:]:
            if self._ignored_by_files(upper, True, chain):
                return True
        return self._ignored_by_files(absolute, False, chain)

    def _walk(
        self, shown: str, absolute: str, chain: list[str], found: list[str], top: bool = True
    ) -> None:
        """Walk the directory `shown` (whose real path is `absolute`); `chain` lists the
        directories above it whose ignore files apply. Below the directory given (`top`), a
        virtual environment (it holds a `pyvenv.cfg`) is skipped."""
        try:  # listing first: in a folder that cannot be read, looking for its config fails too
            with os.scandir(shown) as entries:
                listing = sorted((entry.name, entry) for entry in entries)
            names = {name for name, _ in listing}
            if (
                not top
                and "pyvenv.cfg" in names
                and os.path.exists(os.path.join(absolute, "pyvenv.cfg"))
            ):
                return  # a virtual environment (any tool's): not the project's code
            self.listed(absolute, names)
            config = self.config_for(absolute)
        except OSError as error:
            self._error(shown, _problem(error))
            return
        root = self._root(config)
        respects = self._respects(config)
        if respects:
            self._learn(absolute, names)
        # Only directories that have ignore files: the others never decide (a fifth of the
        # walk was asking each file's empty ancestors).
        if respects and self._spec(absolute) is not None:
            chain = [*chain, absolute]
        files: list[tuple[str, str]] = []
        dirs: list[tuple[str, str]] = []
        for name, entry in listing:
            path = os.path.join(absolute, name)
            try:
                if entry.is_dir(follow_symlinks=False):
                    if _excluded_by_config(path, config, root):
                        continue
                    if respects and self._ignored_by_files(path, True, chain):
                        continue
                    dirs.append((entry.path, path))
                    continue
                if not name.endswith(".py"):
                    continue
                if _excluded_by_config(path, config, root):
                    continue
                if respects and self._ignored_by_files(path, False, chain):
                    continue
                if entry.is_symlink():
                    info = os.stat(entry.path)  # a loop or a dangling link fails here
                    if stat.S_ISDIR(info.st_mode):
                        continue  # a link to a directory named `*.py` is not followed
                    if not stat.S_ISREG(info.st_mode):
                        self._error(entry.path, NOT_REGULAR)
                        continue
                    files.append((entry.path, os.path.realpath(entry.path)))
                elif entry.is_file(follow_symlinks=False):
                    files.append((entry.path, path))
                else:  # a FIFO or socket named `*.py`: never opened
                    self._error(entry.path, NOT_REGULAR)
            except OSError as error:
                if error.errno in (errno.ENOENT,) and not entry.is_symlink():
                    continue  # removed while we walked
                self._error(entry.path, _problem(error))
        for entry_path, real in files:
            self._add(os.path.normpath(entry_path), real, found)
        for entry_path, real in dirs:
            self._walk(entry_path, real, chain, found, top=False)


def iter_files(paths: list[str]) -> list[str]:
    """The files `leakcheck check PATHS` would check with the default configuration everywhere
    (for scripts: `scripts/bench.py`)."""
    return Discovery().files(paths)


def display_path(path: str, real: str | None = None) -> str:
    """Relative to the working directory when the file is under it, else as given; `real`:
    `path`'s real path when the caller has it already."""
    if real is None:
        real = real_path(path)
    cwd = _real_cwd(os.getcwd())
    if real == cwd:
        return "."
    prefix = cwd if cwd.endswith(os.sep) else cwd + os.sep
    return real[len(prefix) :] if real.startswith(prefix) else path


@cache
def _real_cwd(cwd: str) -> str:
    return os.path.realpath(cwd)


def _through_link(path: str) -> bool:
    """Whether `path` reaches its file through a symbolic link (itself or a folder above it)."""
    return os.path.realpath(path) != os.path.abspath(path)
