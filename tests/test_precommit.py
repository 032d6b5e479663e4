"""The pre-commit hooks, as a user's repository meets them: `pre-commit try-repo` installs this
checkout's hooks (from `.pre-commit-hooks.yaml`) into an isolated cache; the checking hook fails on
a leak, the fixing hook rewrites it (and fails, as fixing hooks do when they change a file), then
the checking hook passes. Needs git and PyPI (for the hooks' environment), nothing else."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from cli_helpers import POOL

ROOT = Path(__file__).resolve().parent.parent

FIXED = """\
from psycopg2.pool import ThreadedConnectionPool
pool = ThreadedConnectionPool(1, 5)

def count(sql):
    conn = pool.getconn()
    try:
        cur = conn.cursor()
        cur.execute(sql)
    finally:
        pool.putconn(conn)
"""


def test_hook_fails_on_a_leak_and_passes_after_the_fix(tmp_path: Path) -> None:
    assert (ROOT / ".pre-commit-hooks.yaml").is_file()
    repo = tmp_path / "repo"
    repo.mkdir()
    env = {
        **os.environ,
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-cache"),
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)

    def hook(name: str = "leakcheck") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "pre_commit",
                "try-repo",
                str(ROOT),
                name,
                "--files",
                "db.py",
            ],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )

    git("init", "-q")
    (repo / "db.py").write_text(POOL)
    git("add", "db.py")
    leaking = hook()
    assert leaking.returncode == 1, leaking.stdout + leaking.stderr
    assert re.search(r"^leakcheck\.+Failed$", leaking.stdout, re.M)
    assert (
        "db.py:5:12: LC102 Connection from `pool.getconn()` is not returned to the pool if "
        "`conn.cursor()` on line 6 raises\n"
    ) in leaking.stdout
    assert "Found 1 leak in 1 file; 1 fixable with `--fix` (1 file in all)." in leaking.stdout

    fixing = hook("leakcheck-fix")
    assert fixing.returncode == 1, fixing.stdout + fixing.stderr
    assert "files were modified by this hook" in fixing.stdout
    assert (repo / "db.py").read_text() == FIXED
    git("add", "db.py")
    fixed = hook()
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert re.search(r"^leakcheck\.+Passed$", fixed.stdout, re.M)
