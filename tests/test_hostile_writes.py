"""What `--fix`, `--output-file` and `--write-baseline` never write, whatever the repository under
check holds (issue 24, items 2 to 4): nothing outside the project through a link it planted, no
link, no read-only file; and what a rewrite keeps (mode, owner and group, hard links, each line's
own ending).

Each test sets up one attack (or one thing the user owns) in `tmp_path`: `repo/` is the project
(the working directory, with a pyproject.toml), `outside/` is what the repository must not reach.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import POOL, invoke, invoke_split, script, write

import leakcheck.fix.writer
from leakcheck.fix.boundary import fix_refusal, repository_link

FIXED = POOL.replace(
    "    cur = conn.cursor()\n    cur.execute(sql)\n    pool.putconn(conn)\n",
    "    try:\n        cur = conn.cursor()\n        cur.execute(sql)\n"
    "    finally:\n        pool.putconn(conn)\n",
)
VICTIM = "# not the project's: must stay byte for byte\n"


@pytest.fixture()
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "repo"
    write(root, {"pyproject.toml": "", "good.py": POOL})
    (tmp_path / "outside").mkdir()
    monkeypatch.chdir(root)
    return root


@pytest.fixture()
def outside(repo: Path) -> Path:
    return repo.parent / "outside"


def fix_json(*args: str) -> tuple[int, dict[str, Any]]:
    code, out = invoke("check", "--fix", "--output-format", "json", *args)
    return code, json.loads(out)


def errors(document: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e["path"], e["message"]) for e in document["errors"]]


def finding_paths(document: dict[str, Any]) -> list[str]:
    return sorted(f["path"] for f in document["findings"])


# --- Temporaries: a random name, O_EXCL ------------------------------------------------------


def test_a_link_planted_at_the_temporary_name_is_not_written_through(
    repo: Path, outside: Path
) -> None:
    victim = outside / "victim"
    victim.write_text(VICTIM)
    planted = repo / f".good.py.leakcheck-tmp-{os.getpid()}"  # the old, predictable name
    planted.symlink_to(victim)
    code, document = fix_json("good.py")
    assert victim.read_text() == VICTIM
    assert (repo / "good.py").read_text() == FIXED
    assert not (repo / "good.py").is_symlink()
    assert planted.is_symlink()  # not ours: left alone
    assert (code, errors(document)) == (0, [])


def test_a_link_planted_at_the_output_files_temporary_name_is_not_written_through(
    repo: Path, outside: Path
) -> None:
    victim = outside / "victim"
    victim.write_text(VICTIM)
    (repo / f".out.json.leakcheck-tmp-{os.getpid()}").symlink_to(victim)
    code, _out = invoke("check", "--output-format", "json", "-o", "out.json", "good.py")
    assert victim.read_text() == VICTIM
    assert code == 1
    assert finding_paths(json.loads((repo / "out.json").read_text())) == ["good.py"]


def test_stray_cleanup_removes_only_our_regular_files(repo: Path, outside: Path) -> None:
    victim = outside / "victim"
    victim.write_text(VICTIM)
    dead = 999999999  # no such process
    stray = repo / f".good.py.leakcheck-tmp-{dead}-abc123de"  # a killed run's, new names
    stray.write_text("half written")
    old_stray = repo / f".good.py.leakcheck-tmp-{dead}"  # an older version's name
    old_stray.write_text("half written")
    link = repo / f".other.py.leakcheck-tmp-{dead}-zzzzzzzz"
    link.symlink_to(victim)
    folder = repo / f".dir.py.leakcheck-tmp-{dead}"
    folder.mkdir()
    unrelated = repo / f"notes.leakcheck-tmp-{dead}"  # no leading dot: not our pattern
    unrelated.write_text("mine")
    assert invoke("check", "--fix", "good.py")[0] == 0
    assert not stray.exists()
    assert not old_stray.exists()
    assert link.is_symlink() and victim.read_text() == VICTIM
    assert folder.is_dir()
    assert unrelated.read_text() == "mine"


# --- What --fix rewrites: regular files, reached through no link, writable --------------------


@pytest.mark.parametrize("named", [False, True], ids=["walked", "named"])
def test_a_py_link_pointing_outside_is_reported_not_rewritten(
    repo: Path, outside: Path, named: bool
) -> None:
    victim = outside / "victim.py"
    victim.write_text(POOL)
    (repo / "link.py").symlink_to(victim)
    code, document = fix_json(*(["link.py", "good.py"] if named else ["."]))
    assert victim.read_text() == POOL
    assert (repo / "link.py").is_symlink()
    assert (repo / "good.py").read_text() == FIXED
    assert finding_paths(document) == ["link.py"]  # still checked, still reported
    assert errors(document) == [
        ("link.py", "not fixed: a symbolic link; leakcheck does not write through links")
    ]
    assert code == 1


def test_a_link_to_a_file_inside_the_project_is_not_written_either(repo: Path) -> None:
    write(repo, {"lib/real.py": POOL})
    (repo / "alias.py").symlink_to(repo / "lib" / "real.py")
    code, document = fix_json("alias.py", "good.py")
    assert (repo / "lib" / "real.py").read_text() == POOL
    assert errors(document) == [  # shown by its real path, as its finding is
        (
            "lib/real.py",
            "not fixed: a symbolic link (alias.py); leakcheck does not write through links",
        )
    ]
    assert code == 1


@pytest.mark.parametrize("named", ["lib/victim.py", "lib"], ids=["file", "folder"])
def test_a_file_reached_through_a_linked_folder_of_the_project_is_not_rewritten(
    repo: Path, outside: Path, named: str
) -> None:
    (outside / "victim.py").write_text(POOL)
    (repo / "lib").symlink_to(outside)
    code, document = fix_json(named, "good.py")
    assert (outside / "victim.py").read_text() == POOL
    assert (repo / "good.py").read_text() == FIXED
    [(path, message)] = errors(document)
    assert path == os.path.join("lib", "victim.py")
    assert message == (
        f"not fixed: reached through the symbolic link {repo / 'lib'}; "
        "leakcheck does not write through links"
    )
    assert code == 1


def test_a_read_only_file_is_not_rewritten_even_as_root(repo: Path) -> None:
    write(repo, {"frozen.py": POOL})
    os.chmod(repo / "frozen.py", 0o444)
    code, document = fix_json("frozen.py", "good.py")
    assert (repo / "frozen.py").read_text() == POOL
    assert stat.S_IMODE((repo / "frozen.py").stat().st_mode) == 0o444
    assert (repo / "good.py").read_text() == FIXED
    assert finding_paths(document) == ["frozen.py"]
    assert errors(document) == [("frozen.py", "not fixed: read-only (mode 0444)")]
    assert code == 1


def test_diff_shows_no_change_for_a_file_fix_would_not_write(repo: Path, outside: Path) -> None:
    (outside / "victim.py").write_text(POOL)
    (repo / "link.py").symlink_to(outside / "victim.py")
    code, out, err = invoke_split("check", "--diff", "link.py")
    assert code == 1
    assert out == ""
    assert "link.py: error: not fixed: a symbolic link" in err


# --- What a rewrite keeps ---------------------------------------------------------------------


def test_a_rewrite_keeps_hard_links(repo: Path) -> None:
    os.link(repo / "good.py", repo / "twin.py")
    assert invoke("check", "--fix", "good.py")[0] == 0
    assert (repo / "twin.py").read_text() == FIXED  # the same file, under both names
    assert (repo / "good.py").stat().st_nlink == 2
    assert not [p.name for p in repo.iterdir() if "leakcheck-tmp" in p.name]


def test_a_file_whose_owner_cannot_be_kept_is_written_in_place(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Not root, someone else's group-writable file: a new file would be ours.
    monkeypatch.setattr(leakcheck.fix.writer, "_keep_owner", lambda descriptor, info: False)
    inode = (repo / "good.py").stat().st_ino
    assert invoke("check", "--fix", "good.py")[0] == 0
    assert (repo / "good.py").read_text() == FIXED
    assert (repo / "good.py").stat().st_ino == inode
    assert not [p.name for p in repo.iterdir() if "leakcheck-tmp" in p.name]


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="chown needs root")
def test_a_rewrite_as_root_keeps_owner_group_and_mode(repo: Path) -> None:
    nobody = 65534
    os.chown(repo / "good.py", nobody, nobody)
    os.chmod(repo / "good.py", 0o640)
    assert invoke("check", "--fix", "good.py")[0] == 0
    info = (repo / "good.py").stat()
    assert (repo / "good.py").read_text() == FIXED
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (nobody, nobody, 0o640)


def test_a_lone_crlf_line_in_a_rewritten_block_keeps_its_ending(repo: Path) -> None:
    lone = POOL.replace("    cur.execute(sql)\n", "    cur.execute(sql)\r\n").encode()
    (repo / "good.py").write_bytes(lone)
    assert invoke("check", "--fix", "good.py")[0] == 0
    fixed = FIXED.replace("        cur.execute(sql)\n", "        cur.execute(sql)\r\n").encode()
    assert (repo / "good.py").read_bytes() == fixed


# --- Output files: never through the repository's links --------------------------------------


@pytest.mark.parametrize("option", ["--output-file", "--write-baseline"])
@pytest.mark.parametrize("dangling", [True, False], ids=["dangling", "existing"])
def test_an_output_path_that_is_a_link_in_the_project_is_refused_before_fix(
    repo: Path, outside: Path, option: str, dangling: bool
) -> None:
    target = outside / "gone" / "b.json" if dangling else outside / "victim"
    if not dangling:
        target.write_text(VICTIM)
    (repo / "b.json").symlink_to(target)
    code, _out, err = invoke_split("check", "--fix", option, "b.json", "good.py")
    assert code == 2
    assert err == (
        f"leakcheck: error: {option} b.json: {repo / 'b.json'} is a symbolic link inside the "
        "project; leakcheck does not write through links\n"
    )
    assert (repo / "good.py").read_text() == POOL  # refused before any rewrite
    assert not (outside / "gone").exists()
    if not dangling:
        assert target.read_text() == VICTIM


def test_an_output_path_through_a_linked_folder_of_the_project_is_refused(
    repo: Path, outside: Path
) -> None:
    (repo / "reports").symlink_to(outside)
    code, _out, err = invoke_split("check", "-o", "reports/out.txt", "good.py")
    assert code == 2
    assert "is a symbolic link inside the project" in err
    assert list(outside.iterdir()) == []


def test_an_output_link_outside_the_project_is_the_users_and_is_followed(
    repo: Path, outside: Path
) -> None:
    # Replaces `test_the_output_file_replaces_an_old_one_whole_keeping_its_mode_and_links` of
    # test_reliability.py for a link outside the project; inside it, a link is refused (above).
    (outside / "mine").mkdir()
    real = outside / "mine" / "out.json"
    real.write_text("old report, longer than the new one will be" * 1000)
    real.chmod(0o640)
    (outside / "reports").symlink_to(outside / "mine")
    (outside / "out.json").symlink_to(real)
    for out in (outside / "reports" / "out.json", outside / "out.json"):
        code, _out = invoke("check", "--output-format", "json", "-o", str(out), "good.py")
        assert code == 1
        assert finding_paths(json.loads(real.read_text())) == ["good.py"]
    assert (outside / "reports").is_symlink() and (outside / "out.json").is_symlink()
    assert stat.S_IMODE(real.stat().st_mode) == 0o640
    assert sorted(p.name for p in (outside / "mine").iterdir()) == ["out.json"]


def test_device_links_are_the_systems(tmp_path: Path) -> None:
    # /dev/stdout is a link to /proc/self/fd/1: followed even when the project root is `/`.
    assert repository_link("/dev/stdout", Path("/")) is None
    (tmp_path / "a").symlink_to(tmp_path)
    assert repository_link(str(tmp_path / "a" / "x"), tmp_path) == str(tmp_path / "a")
    assert repository_link(str(tmp_path / "a" / "x"), tmp_path / "elsewhere") is None
    assert fix_refusal(str(tmp_path / "a"), tmp_path) is not None  # a link: never fixed


@pytest.mark.skipif(not os.path.exists("/dev/stdout"), reason="no /dev/stdout")
def test_output_to_dev_stdout_through_a_pipe_is_written(repo: Path) -> None:
    done = script("check", "--output-format", "json", "-o", "/dev/stdout", "good.py", cwd=repo)
    assert done.returncode == 1, done.stderr
    assert finding_paths(json.loads(done.stdout)) == ["good.py"]


@pytest.mark.skipif(not os.path.exists("/dev/stdout"), reason="no /dev/stdout")
def test_output_to_dev_stdout_redirected_to_a_file_appends_to_it(repo: Path) -> None:
    # `leakcheck check -o /dev/stdout >> log`: the log is the user's, written as `>>` would.
    command = shutil.which("leakcheck", path=os.path.dirname(sys.executable))
    assert command is not None
    log = repo.parent / "log"
    log.write_text("earlier\n")
    inode = log.stat().st_ino
    with open(log, "ab") as handle:
        done = subprocess.run(
            [command, "check", "-o", "/dev/stdout", "good.py"],
            stdout=handle,
            stderr=subprocess.PIPE,
            cwd=repo,
            check=False,
        )
    assert done.returncode == 1, done.stderr
    assert log.stat().st_ino == inode  # not replaced
    text = log.read_text()
    assert text.startswith("earlier\ngood.py:5:12: LC102 ")


def test_a_file_walked_both_as_itself_and_through_a_link_is_fixed_as_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`alias.py` sorts before `lib/real.py`: the walk meets the link first, yet the file is
    listed under its own name, so `--fix` may write it."""
    root = tmp_path / "repo"
    (root / "lib").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (root / "lib" / "real.py").write_text(POOL)
    (root / "alias.py").symlink_to(root / "lib" / "real.py")
    monkeypatch.chdir(root)
    code, output = invoke("check", "--no-cache", "--fix", "--output-format", "json", ".")
    report = json.loads(output)
    assert code == 0 and report["errors"] == [] and report["summary"]["fixed"] == 1, report
    assert "finally:" in (root / "lib" / "real.py").read_text()
    assert (root / "alias.py").is_symlink()
