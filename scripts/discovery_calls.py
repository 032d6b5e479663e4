"""Count the path look-ups file discovery makes: `Path.resolve`, `os.path.realpath`, `os.stat`
and `os.lstat` calls (Python-level; `strace -c` sees the system calls) while `leakcheck check`
finds the files under PATHS with the default configuration.

    python scripts/discovery_calls.py /usr/lib/python3.11

Run it with another checkout first on PYTHONPATH to compare versions.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from leakcheck.project.runner import Checker


def main(paths: list[str]) -> None:
    counts: Counter[str] = Counter()
    originals: dict[str, Any] = {
        "resolve": Path.resolve,
        "realpath": os.path.realpath,
        "stat": os.stat,
        "lstat": os.lstat,
    }

    def counted(name: str) -> Any:
        original = originals[name]

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            counts[name] += 1
            return original(*args, **kwargs)

        return wrapper

    Path.resolve = counted("resolve")  # type: ignore[method-assign]
    os.path.realpath = counted("realpath")
    os.stat = counted("stat")
    os.lstat = counted("lstat")
    found = Checker().files(paths)
    files = found[0] if isinstance(found, tuple) else found
    print(f"{len(files)} files: " + ", ".join(f"{k} {counts[k]}" for k in originals))


if __name__ == "__main__":
    main(sys.argv[1:] or ["."])
