"""Where leakcheck may write: the trust boundary between the repository under check and the user.

A repository under check is untrusted (CI checks pull requests from strangers). It controls every
name inside the project root, symbolic links included; it does not control the paths the user
types above or outside it (`/dev/stdout`, a home folder that is itself a link).

- The project root is the nearest directory at or above the working directory holding
  pyproject.toml, setup.cfg, setup.py or .git (the working directory itself when there is none),
  resolved: the root the cache uses too.
- A symbolic link at or below the project root is the repository's: leakcheck never writes
  through one (`--fix`, `--output-file`, `--write-baseline`). A link outside the root is the
  user's choice and is followed, and so is any link under /dev or /proc (the system's).
- `--fix` never writes through a link at all, wherever it is: a `.py` file that is a link is
  checked and reported, not fixed.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

# Links there are the system's (`/dev/stdout` -> /proc/self/fd/1 -> a pipe, a tty, a file).
SYSTEM_FOLDERS = ("/dev/", "/proc/")


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def repository_link(path: str | os.PathLike[str], root: Path, last: bool = True) -> str | None:
    """The first symbolic link the repository controls on the way to `path`, or None.

    Inputs: `path` as given (relative to the working directory or absolute); `root` the resolved
    project root; `last`: whether `path`'s own final component counts (a dangling link does).
    A link counts when it sits at or below `root` and not under /dev or /proc; links outside
    the root are followed, as the user typed them. `..` is taken after the links before it, as
    the system does. Output: the link's path (real folder plus its name), or None. Raises
    nothing (a component that cannot be examined is not a link).
    """
    text = os.fspath(path)
    parts = [p for p in text.split(os.sep) if p not in ("", ".")]
    current = os.sep if os.path.isabs(text) else os.path.realpath(os.getcwd())
    home = str(root)
    for index, part in enumerate(parts):
        if part == "..":
            current = os.path.dirname(current)
            continue
        candidate = os.path.join(current, part)
        final = index == len(parts) - 1
        try:
            linked = stat.S_ISLNK(os.lstat(candidate).st_mode)
        except OSError:
            linked = False
        if not linked:
            current = candidate
            continue
        system = candidate.startswith(SYSTEM_FOLDERS)
        if _inside(candidate, home) and not system and (last or not final):
            return candidate
        current = os.path.realpath(candidate)
    return None


def fix_refusal(path: str, root: Path, shown: str | None = None) -> str | None:
    """Why `--fix` must not write the file found as `path` (walked or named), or None.

    The file must be a regular file reached without a link: `path` itself is not a symbolic link
    (anywhere), no folder on the way is a link the repository controls (`repository_link`), and
    it has its owner's write permission bit (as root `os.access` always says yes, so the mode
    decides; a file the user may not write is refused too). `shown`: how the report names the
    file (its real path when that is inside the working directory); a link `path` that the
    report shows under another name is named in the message. Output: a message for an error
    entry ("not fixed: ..."), or None. Raises nothing.
    """
    try:
        info = os.lstat(path)
    except OSError as error:
        return f"not fixed: {error.strerror or error}"
    if stat.S_ISLNK(info.st_mode):
        named = "" if shown in (None, os.path.normpath(path)) else f" ({path})"
        return f"not fixed: a symbolic link{named}; leakcheck does not write through links"
    if not stat.S_ISREG(info.st_mode):
        return "not fixed: not a regular file"
    link = repository_link(path, root, last=False)
    if link is not None:
        return (
            f"not fixed: reached through the symbolic link {link}; "
            "leakcheck does not write through links"
        )
    if not info.st_mode & stat.S_IWUSR:
        return f"not fixed: read-only (mode {stat.S_IMODE(info.st_mode):04o})"
    if not os.access(path, os.W_OK):
        return "not fixed: not writable (permission denied)"
    return None
