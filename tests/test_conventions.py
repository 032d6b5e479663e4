"""ruff's conventions, one test per row of issue 15's table (the language server row is
`tests/test_server.py`; `-o` into a missing folder belongs to the robustness work): standard
input, `.gitignore`, `--output-format`, bad paths as error entries, `extend-select` /
`extend-ignore` / `--per-file-ignores`, `NO_COLOR` / `--color`, `leakcheck rule NAME`, and the
distribution name."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from importlib.metadata import distribution
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import POOL, SESSION, found, invoke, invoke_split, write

from leakcheck import __version__
from leakcheck.config.catalogue import tomllib
from leakcheck.project import discovery
from leakcheck.report.ruledocs import RULES_URL

ROOT = Path(__file__).resolve().parent.parent
FIXED_POOL_TAIL = "    try:\n        cur = conn.cursor()\n        cur.execute(sql)\n    finally:\n"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    return tmp_path


def _stdin(args: list[str], text: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "leakcheck", *args],
        input=text,
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
        timeout=120,
    )


# --- check a buffer from stdin ------------------------------------------------------------------


def test_stdin_is_checked_as_the_file_at_stdin_filename(project: Path) -> None:
    # A project-wide factory (not a conventional name) and a per-file ignore for tests/.
    write(
        project,
        {
            "pyproject.toml": '[tool.leakcheck.per-file-ignores]\n"tests/*" = ["LC102"]\n',
            "app/__init__.py": "",
            "app/database.py": "from sqlalchemy.orm import sessionmaker\nmake = sessionmaker()\n",
        },
    )
    buffer = "from app.database import make\n\ndef f():\n    db = make()\n    return db.get(1)\n"
    run = _stdin(
        ["check", "-", "--stdin-filename", "app/x.py", "--output-format", "json"], buffer, project
    )
    assert run.returncode == 1, run.stderr
    (finding,) = json.loads(run.stdout)["findings"]
    assert (finding["path"], finding["line"], finding["code"]) == ("app/x.py", 4, "LC201")
    # The project's per-file-ignores apply to the path given, not to where the text came from.
    tests = _stdin(["check", "-", "--stdin-filename", "tests/test_x.py", "-q"], POOL, project)
    assert (tests.returncode, tests.stdout) == (0, "")
    app = _stdin(["check", "-", "--stdin-filename", "app/pool.py", "-q"], POOL, project)
    assert app.returncode == 1 and "app/pool.py:5:12: LC102" in app.stdout
    to_file = _stdin(["check", "-", "--output-format", "json", "-o", "out.json"], POOL, project)
    assert to_file.stdout == "" and json.loads((project / "out.json").read_text())["findings"]
    bare = _stdin(["check", "-", "-q"], POOL, project)  # no filename: shown as `-`
    assert bare.returncode == 1 and "-:5:12: LC102" in bare.stdout
    # As ruff: with --force-exclude, an excluded --stdin-filename is not checked (and --fix
    # gives the text back unchanged).
    args = ["check", "-", "--force-exclude", "--stdin-filename", "build/x.py"]
    assert _stdin([*args, "-q"], POOL, project).returncode == 0
    assert _stdin([*args, "--fix"], POOL, project).stdout == POOL


def test_stdin_fix_prints_the_fixed_source(project: Path) -> None:
    (project / "app.py").write_text("unchanged on disk\n")
    run = _stdin(["check", "-", "--stdin-filename", "app.py", "--fix"], POOL, project)
    assert run.returncode == 0, run.stderr  # nothing left
    assert run.stdout.startswith(POOL.split("    cur = ")[0]) and FIXED_POOL_TAIL in run.stdout
    assert (project / "app.py").read_text() == "unchanged on disk\n"
    # With a leak --fix cannot fix safely: the source still goes to stdout, the finding to stderr.
    left = _stdin(["check", "-", "--stdin-filename", "app.py", "--fix"], SESSION, project)
    assert (left.returncode, left.stdout) == (1, SESSION)
    assert "app.py:5:10: LC201" in left.stderr
    diff = _stdin(["check", "-", "--stdin-filename", "app.py", "--diff"], POOL, project)
    assert diff.returncode == 1 and diff.stdout.startswith("--- app.py\n+++ app.py\n")


def test_stdin_cannot_be_mixed_with_paths(project: Path) -> None:
    code, out = invoke("check", "-", "app.py")
    assert code == 2 and "checked alone" in out


# --- .gitignore ----------------------------------------------------------------------------------


def test_gitignore_and_ignore_files_are_respected(project: Path) -> None:
    write(
        project,
        {
            ".git/HEAD": "ref: refs/heads/main\n",
            ".git/info/exclude": "scratch.py\n",
            "scratch.py": POOL,  # the repository's own exclude file
            ".gitignore": "generated/\n/top_only.py\n*_pb2.py\n!keep_pb2.py\n",
            "top_only.py": POOL,  # anchored: ignored here ...
            "pkg/top_only.py": POOL,  # ... but not in a subdirectory
            "generated/a.py": POOL,  # a directory pattern
            "pkg/x_pb2.py": POOL,
            "pkg/keep_pb2.py": POOL,  # negated
            "pkg/.gitignore": "local.py\n",  # nested
            "pkg/local.py": POOL,
            "pkg/sub/.gitignore": "!local.py\n",  # a deeper file overrides
            "pkg/sub/local.py": POOL,
            "tools/.ignore": "*.py\n",  # `.ignore` too
            "tools/t.py": POOL,
            "app.py": POOL,
        },
    )
    checked = {path for path, _, _ in found(".")}
    assert checked == {"app.py", "pkg/top_only.py", "pkg/keep_pb2.py", "pkg/sub/local.py"}
    # From a subdirectory, the repository's top .gitignore still applies.
    assert {path for path, _, _ in found("pkg")} == {
        "pkg/top_only.py",
        "pkg/keep_pb2.py",
        "pkg/sub/local.py",
    }
    everything = {
        "app.py",
        "scratch.py",
        "top_only.py",
        "pkg/top_only.py",
        "generated/a.py",
        "pkg/x_pb2.py",
        "pkg/keep_pb2.py",
        "pkg/local.py",
        "pkg/sub/local.py",
        "tools/t.py",
    }
    assert {path for path, _, _ in found("--no-respect-gitignore", ".")} == everything
    (project / "pyproject.toml").write_text("[tool.leakcheck]\nrespect-gitignore = false\n")
    assert {path for path, _, _ in found(".")} == everything
    assert {path for path, _, _ in found("--respect-gitignore", ".")} == checked
    # A file named explicitly is checked, unless --force-exclude (pre-commit).
    (project / "pyproject.toml").unlink()
    assert found("generated/a.py") == [("generated/a.py", 5, "LC102")]
    assert found("--force-exclude", "generated/a.py", "pkg/local.py", "app.py") == [
        ("app.py", 5, "LC102")
    ]


def test_discovery_resolves_once_per_given_path(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Exclusion matches relative paths: no `Path.resolve` and no `realpath` per entry."""
    write(project, {f"pkg{i}/m{j}.py": "x = 1\n" for i in range(5) for j in range(8)})
    write(project, {"pkg0/__pycache__/c.py": "", "pkg1/build/b.py": "", "z.txt": ""})
    calls: list[str] = []
    real_resolve, real_realpath = Path.resolve, os.path.realpath

    def resolve(self: Path, strict: bool = False) -> Path:
        calls.append("resolve")
        return real_resolve(self, strict)

    def realpath(path: Any, **kwargs: Any) -> Any:
        calls.append("realpath")
        return real_realpath(path, **kwargs)

    monkeypatch.setattr(Path, "resolve", resolve)
    monkeypatch.setattr(discovery.os.path, "realpath", realpath)
    files = discovery.Discovery().files(["."])
    assert len(files) == 40 and "pkg0/__pycache__/c.py" not in files
    # The given path's realpath, the configuration's root (a resolve, itself a realpath): the
    # same with 40 files as with one.
    assert calls.count("realpath") <= 2 and calls.count("resolve") <= 1


# --- --output-format -----------------------------------------------------------------------------


def test_output_format_with_format_as_its_alias(project: Path) -> None:
    write(project, {"app.py": POOL})
    new, old = (
        invoke("check", "--output-format", "json", "."),
        invoke("check", "--format", "json", "."),
    )
    assert new[0] == old[0] == 1 and json.loads(new[1]) == json.loads(old[1])
    assert json.loads(new[1])["findings"][0]["code"] == "LC102"
    assert "--output-format" in invoke("check", "--help")[1]


# --- bad paths are error entries ---------------------------------------------------------------


def _errors_and_findings(*args: str) -> tuple[int, list[tuple[str, str]], list[str]]:
    code, out = invoke("check", "--output-format", "json", *args)
    document = json.loads(out)
    errors = [(e["path"], e["message"]) for e in document["errors"]]
    return code, errors, [f["path"] for f in document["findings"]]


def test_a_missing_path_among_others_is_an_error_entry(project: Path) -> None:
    write(project, {"app.py": POOL})
    code, errors, findings = _errors_and_findings("missing.py", "app.py", "gone/")
    assert code == 1 and findings == ["app.py"]
    assert errors == [
        ("missing.py", "cannot read: No such file or directory"),
        ("gone", "cannot read: No such file or directory"),
    ]


def test_a_symlink_loop_is_an_error_entry(project: Path) -> None:
    write(project, {"app.py": POOL, "pkg/ok.py": POOL})
    os.symlink("b.py", project / "pkg" / "a.py")
    os.symlink("a.py", project / "pkg" / "b.py")
    code, errors, findings = _errors_and_findings(".", "pkg/a.py")
    assert code == 1 and findings == ["app.py", "pkg/ok.py"]
    loop = "cannot read: Too many levels of symbolic links"
    assert errors == [("pkg/a.py", loop), ("pkg/b.py", loop)]  # each once


@pytest.mark.parametrize("kind", ["fifo", "/dev/null", "link to /dev/zero"])
def test_a_fifo_or_device_given_as_a_path_is_an_error_entry_not_a_read(
    project: Path, kind: str
) -> None:
    write(project, {"app.py": POOL})
    if kind == "fifo":
        os.mkfifo(project / "pipe.py")
        path = "pipe.py"
    elif kind == "/dev/null":
        path = "/dev/null"
    else:
        os.symlink("/dev/zero", project / "zero.py")
        path = "zero.py"
    # A subprocess with a timeout: a read of a FIFO without a writer would block forever.
    run = subprocess.run(
        [sys.executable, "-m", "leakcheck", "check", "--output-format", "json", path, "app.py"],
        capture_output=True,
        text=True,
        cwd=project,
        timeout=120,
        check=False,
    )
    assert run.returncode == 1, run.stderr
    document = json.loads(run.stdout)
    assert [f["path"] for f in document["findings"]] == ["app.py"]
    assert [(e["path"], e["message"]) for e in document["errors"]] == [
        (path, "cannot read: not a regular file (a FIFO, socket or device)")
    ]


@pytest.fixture
def unreadable() -> Iterator[tuple[Path, list[str], dict[str, Any]]]:
    """A tree with a folder its user cannot read, and how to run the CLI as that user: as root
    (where mode 000 blocks nothing), the CLI runs as `nobody`."""
    root = Path(tempfile.mkdtemp(prefix="leakcheck-unreadable-"))
    os.chmod(root, 0o777)
    write(root, {"app.py": POOL, "secret/hidden.py": POOL})
    os.chmod(root / "app.py", 0o666)
    os.chmod(root / "secret", 0)
    command = [sys.executable, "-m", "leakcheck"]
    extra: dict[str, Any] = {}
    if os.geteuid() == 0:
        drop = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        ways: list[tuple[list[str], dict[str, Any]]] = [
            (drop + command, {}),
            (command, {"user": 65534, "group": 65534, "extra_groups": []}),
        ]
        for command, extra in ways:
            try:
                probe = subprocess.run(
                    [*command, "--version"], capture_output=True, check=False, **extra
                )
            except OSError:
                continue
            if probe.returncode == 0:
                break
        else:
            pytest.skip("cannot run leakcheck as `nobody` here (setpriv missing, or no access)")
    try:
        yield root, command, extra
    finally:
        os.chmod(root / "secret", 0o755)
        subprocess.run(["rm", "-rf", str(root)], check=False)


def test_an_unreadable_folder_is_an_error_entry(
    unreadable: tuple[Path, list[str], dict[str, Any]],
) -> None:
    root, command, extra = unreadable
    for fix in ([], ["--fix"]):
        run = subprocess.run(
            [*command, "check", "--output-format", "json", *fix, "."],
            capture_output=True,
            text=True,
            cwd=root,
            check=False,
            timeout=120,
            **extra,
        )
        assert run.returncode == 1, run.stderr
        document = json.loads(run.stdout)
        assert [(e["path"], e["message"]) for e in document["errors"]] == [
            ("secret", "cannot read: Permission denied")
        ]
        if fix:
            assert document["summary"]["fixed"] == 1 and document["findings"] == []
            assert FIXED_POOL_TAIL in (root / "app.py").read_text()
        else:
            assert [f["path"] for f in document["findings"]] == ["app.py"]


# --- extend-select / extend-ignore / --per-file-ignores -----------------------------------------


def test_extend_select_extend_ignore_and_per_file_ignores_on_the_command_line(
    project: Path,
) -> None:
    write(project, {"app/pool.py": POOL, "app/session.py": SESSION, "tests/t.py": POOL})
    everything = [
        ("app/pool.py", 5, "LC102"),
        ("app/session.py", 5, "LC201"),
        ("tests/t.py", 5, "LC102"),
    ]
    assert found(".") == everything
    (project / "pyproject.toml").write_text(
        '[tool.leakcheck]\nselect = ["LC2"]\nextend-select = ["LC102"]\nextend-ignore = ["LC201"]\n'
    )
    assert found(".") == [("app/pool.py", 5, "LC102"), ("tests/t.py", 5, "LC102")]
    assert found("--per-file-ignores", "tests/*:LC1", ".") == [("app/pool.py", 5, "LC102")]
    assert (
        found("--per-file-ignores", "tests/*:LC1", "--per-file-ignores", "pool.py:LC102", ".") == []
    )
    code, out = invoke("check", "--per-file-ignores", "tests/*", ".")
    assert code == 2 and "GLOB:CODES" in out
    code, out = invoke("check", "--per-file-ignores", "tests/*:LC9", ".")
    assert code == 2 and "LC9" in out
    (project / "pyproject.toml").write_text('[tool.leakcheck]\nextend-ignore = ["LC9"]\n')
    code, out = invoke("check", ".")
    assert code == 2 and "`extend-ignore`: unknown rule code or prefix 'LC9'" in out


# --- NO_COLOR / --color --------------------------------------------------------------------------


def test_no_color_and_the_color_option(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(project, {"app.py": POOL})
    escape = "\x1b["
    monkeypatch.setenv("FORCE_COLOR", "1")  # as on a terminal
    assert escape in invoke("check", ".")[1]
    monkeypatch.setenv("NO_COLOR", "1")
    assert escape not in invoke("check", ".")[1]  # bold included
    assert escape in invoke("check", "--color", "always", ".")[1]
    monkeypatch.delenv("NO_COLOR")
    assert escape not in invoke("check", "--color", "never", ".")[1]
    monkeypatch.delenv("FORCE_COLOR")
    assert escape not in invoke("check", ".")[1]  # not a terminal
    assert escape in invoke("check", "--color", "always", ".")[1]
    assert invoke("check", "--color", "sometimes", ".")[0] == 2


# --- leakcheck rule NAME ---------------------------------------------------------------------


def test_rule_by_code_or_name_and_as_json() -> None:
    by_code, by_name = (
        invoke("rule", "LC102"),
        invoke("rule", "pool-connection-not-returned-on-exception"),
    )
    assert by_code == by_name and by_code[0] == 0
    assert by_code[1].startswith("# pool-connection-not-returned-on-exception (LC102)\n")
    assert invoke("rule", "lc102") == by_code
    code, out = invoke("rule", "LC102", "--output-format", "json")
    data = json.loads(out)
    assert code == 0 and set(data) == {"code", "name", "summary", "explanation", "url"}
    assert (data["code"], data["name"]) == ("LC102", "pool-connection-not-returned-on-exception")
    assert data["url"] == f"{RULES_URL}LC102.md" and "## Why is this bad?" in data["explanation"]
    code, out = invoke("rule", "--all", "--output-format", "json")
    assert code == 0 and "LC201" in [r["code"] for r in json.loads(out)]
    code, _, err = invoke_split("rule", "no-such-rule")
    assert code == 2 and "unknown rule 'no-such-rule'" in err


# --- install by name ---------------------------------------------------------------------------


def test_distribution_name_readme_install_line_and_rule_urls() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] == "leakcheck-db"
    assert project["scripts"] == {"leakcheck": "leakcheck.cli:main"}
    assert "pygls" not in " ".join(project["dependencies"])  # an extra: see README
    assert project["optional-dependencies"]["server"]
    assert project["urls"]["Documentation"] == RULES_URL
    assert distribution("leakcheck-db").entry_points.select(name="leakcheck")
    readme = (ROOT / "README.md").read_text()
    assert re.search(r"pip install 'leakcheck-db(\[server\])?'", readme)
    assert not re.search(r"pip install leakcheck\b(?!-)", readme)
    hooks = re.findall(r"rev: (v\d+\.\d+\.\d+)", readme)
    assert hooks and set(hooks) == {f"v{__version__}"}  # the tag of the version it documents


# --- the README's JSON section -------------------------------------------------------------------


def _shape(value: Any) -> Any:
    """Keys and value types, recursively; a list is the shape of its first element."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return type(value).__name__


def test_the_readme_json_example_has_the_shape_of_a_real_run(project: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("`--output-format json` prints", 1)[1]
    example = json.loads(section.split("```json\n", 1)[1].split("```", 1)[0])
    write(project, {"app/db.py": POOL, "app/broken.py": "def (:\n    pool.getconn()\n"})
    code, out = invoke("check", "--output-format", "json", ".")
    real = json.loads(out)
    assert code == 1 and real["findings"] and real["errors"]
    assert real["findings"][0]["fix"] is not None
    assert _shape(example) == _shape(real)
    assert example["version"] == real["version"] == __version__
    assert (example["findings"][0]["code"], example["findings"][0]["line"]) == ("LC102", 5)
    assert example["findings"][0]["message"] == real["findings"][0]["message"]


def test_error_entries_do_not_stop_a_fifo_inside_a_walk(project: Path) -> None:
    """A FIFO named `*.py` met while walking is an error entry too, never opened; a FIFO named
    `.gitignore` is not read."""
    write(project, {"app.py": POOL})
    os.mkfifo(project / "pipe.py")
    os.mkfifo(project / ".gitignore")
    run = subprocess.run(
        [sys.executable, "-m", "leakcheck", "check", "--output-format", "json", "."],
        capture_output=True,
        text=True,
        cwd=project,
        timeout=120,
        check=False,
    )
    document = json.loads(run.stdout)
    assert [f["path"] for f in document["findings"]] == ["app.py"]
    assert stat.S_ISFIFO(os.stat(project / "pipe.py").st_mode)
    assert [e["path"] for e in document["errors"]] == ["pipe.py"]


def test_fifos_named_like_the_projects_own_settings_are_never_read(project: Path) -> None:
    """A FIFO `pyproject.toml` or `ruff.toml` (where the fixes read the line length) and a FIFO
    `requirements.txt` (where the FastAPI rules read the version) read as absent: the run ends
    with its finding instead of waiting on the pipe."""
    write(project, {"app.py": POOL})
    for name in ("pyproject.toml", "ruff.toml", "requirements.txt"):
        os.mkfifo(project / name)
    run = subprocess.run(
        [sys.executable, "-m", "leakcheck", "check", "--no-cache", "--output-format", "json", "."],
        capture_output=True,
        text=True,
        cwd=project,
        timeout=120,
        check=False,
    )
    document = json.loads(run.stdout)
    assert [f["path"] for f in document["findings"]] == ["app.py"]
    assert document["findings"][0]["fix"] is not None  # the fix was offered: the length was read
