"""Running the CLI as a user for whom `chmod 000` means unreadable: root reads everything, so
as root the command runs as `nobody` (`setpriv`, else `os.setuid` in the child); as anyone else
it runs directly. A way is used only if its child then cannot read a chmod 000 file (so a test
cannot pass vacuously) and can import leakcheck. Shared by the reliability and hostile-name tests.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

Runner = Callable[..., "subprocess.CompletedProcess[str]"]


def command(prefix: list[str], preexec: Callable[[], None] | None) -> Runner:
    def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*prefix, sys.executable, "-m", "leakcheck", *args],
            cwd=cwd,
            preexec_fn=preexec,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )

    return run


@pytest.fixture()
def unprivileged() -> Iterator[tuple[Path, Runner]]:
    """A world-writable scratch folder, and a way to run the CLI there as a user for whom chmod
    000 means unreadable. Skips when there is none (root without `nobody`, a checkout `nobody`
    cannot enter)."""
    ways: list[tuple[list[str], Callable[[], None] | None]] = []
    if os.geteuid() != 0:
        ways.append(([], None))
    else:
        try:
            nobody = pwd.getpwnam("nobody")
        except KeyError:
            pytest.skip("no `nobody` user to drop privileges to")

        def drop() -> None:
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)

        setpriv = shutil.which("setpriv")
        if setpriv is not None:
            flags = [f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups"]
            ways.append(([setpriv, *flags], None))
        ways.append(([], drop))
    folder = Path(tempfile.mkdtemp(prefix="leakcheck-nobody-"))
    folder.chmod(0o777)
    secret = folder / "secret"
    secret.write_text("unreadable")
    secret.chmod(0o000)
    probe = f"import leakcheck.cli; open({str(secret)!r}).read()"
    try:
        for prefix, preexec in ways:
            try:
                done = subprocess.run(
                    [*prefix, sys.executable, "-c", probe],
                    preexec_fn=preexec,
                    capture_output=True,
                    text=True,
                    check=False,
                    cwd="/",
                )
            except OSError:
                continue
            if done.returncode != 0 and "PermissionError" in done.stderr:
                secret.unlink()
                yield folder, command(prefix, preexec)
                return
        pytest.skip("cannot run leakcheck as a user that chmod 000 stops here")
    finally:
        for inner in folder.rglob("*"):  # give back what the test locked, so it can be removed
            if inner.is_dir() and not inner.is_symlink():
                inner.chmod(0o755)
        shutil.rmtree(folder, ignore_errors=True)
