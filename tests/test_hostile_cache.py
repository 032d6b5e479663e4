"""A repository under check controls what is in its `.leakcheck_cache/`: nothing there may run
code, make leakcheck write outside the tree, fail the run, or hang it. Each test plants the attack,
runs a real check, and asserts: nothing executed, nothing written outside, the findings of a run
without a cache, and at most one error entry saying why.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from cli_helpers import POOL, write

from leakcheck.model import Applicability, Edit, FileError, FileResult, Finding, Fix
from leakcheck.project import records
from leakcheck.project.cache import DIRECTORY, Cache, Entry
from leakcheck.project.manifest import Manifest
from leakcheck.project.summaries import Summary

PROJECT = {
    "pyproject.toml": "[project]\nname = 'svc'\n",
    "app/__init__.py": "",
    "app/db.py": """\
from psycopg2.pool import ThreadedConnectionPool
pool = ThreadedConnectionPool(1, 5)

def get_conn():
    return pool.getconn()
""",
    "app/items.py": """\
from app.db import get_conn

def items():
    conn = get_conn()
    return conn.cursor().fetchall()
""",
    "app/pool.py": POOL,
}


def check(root: Path, *extra: str) -> tuple[int, dict[str, object]]:
    """`leakcheck check app --output-format json` as CI runs it: the installed command, in `root`,
    with the default cache place."""
    env = {k: v for k, v in os.environ.items() if k != "LEAKCHECK_CACHE_DIR"}
    done = subprocess.run(
        [sys.executable, "-m", "leakcheck", "check", "--output-format", "json", *extra, "app"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


def findings(report: dict[str, object]) -> list[tuple[str, int, str]]:
    rows = report["findings"]
    assert isinstance(rows, list)
    return sorted((f["path"], f["line"], f["code"]) for f in rows)


def errors(report: dict[str, object]) -> list[str]:
    rows = report["errors"]
    assert isinstance(rows, list)
    return [e["message"] for e in rows]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    write(root, PROJECT)
    return root


def cache_files(root: Path) -> list[Path]:
    return [
        p
        for p in (root / DIRECTORY).rglob("*")
        if p.is_file() and p.name not in (".gitignore", "CACHEDIR.TAG")
    ]


def _payload(command: str) -> bytes:
    """What an attacker commits: a pickle that calls `os.system(command)`, reached through a
    dotted name from a leakcheck module (`leakcheck.project.cache` + `os.system`), which an
    unpickler allowing only `leakcheck.*` modules still builds."""

    def text(value: str) -> bytes:
        data = value.encode()
        return b"\x8c" + bytes([len(data)]) + data  # SHORT_BINUNICODE

    module, name = text("leakcheck.project.cache"), text("os.system")
    # PROTO 4, STACK_GLOBAL, the argument, TUPLE1, REDUCE, STOP
    return b"\x80\x04" + module + name + b"\x93" + text(command) + b"\x85R."


def test_a_committed_pickle_payload_in_every_cache_file_runs_nothing(
    project: Path, tmp_path: Path
) -> None:
    code, clean = check(project, "--no-cache")
    assert code == 1 and findings(clean)
    check(project)  # fills the cache: the attacker's copy of it, at the predictable places
    mark = tmp_path / "pwned"
    planted = cache_files(project)
    assert len(planted) >= 4  # the entries and the manifest
    payload = _payload(f"touch {mark}")
    for path in planted:
        path.write_bytes(payload)
    # Also where a leakcheck that read pickles would look (the layout before JSON records).
    old = project / DIRECTORY / "v0.2.0-11" / "ab"
    old.mkdir(parents=True)
    (old / "ab0123").write_bytes(payload)
    code, again = check(project)
    assert not mark.exists()
    assert code == 1 and findings(again) == findings(clean) and errors(again) == []


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: len(data) // 2],  # truncated
        lambda data: b"\x00garbage",
        lambda data: b"[" * 200_000 + b"]" * 200_000,  # deeper than json's recursion
        lambda data: data.replace(b'"size":', b'"size":"12","x":', 1),  # wrong type
        lambda data: data.replace(b'"line":', b'"line":true,"y":', 1),
        lambda data: data.replace(b"{", b'{"unknown":1,', 1),  # a field no version had
        lambda data: b'{"key":null}',
        lambda data: json.dumps({"size": 1, "mtime_ns": 2}).encode(),  # missing fields
    ],
    ids=["truncated", "garbage", "deep", "wrong-type", "bool-as-int", "unknown", "null", "missing"],
)
def test_a_damaged_or_forged_cache_file_is_ignored(project: Path, damage: object) -> None:
    assert callable(damage)
    _, clean = check(project, "--no-cache")
    check(project)
    for path in cache_files(project):
        path.write_bytes(damage(path.read_bytes()))
    code, again = check(project)
    assert code == 1 and findings(again) == findings(clean) and errors(again) == []
    code, third = check(project)  # and the run after it, from what this one wrote
    assert code == 1 and findings(third) == findings(clean) and errors(third) == []


def test_a_fifo_planted_as_a_cache_entry_does_not_hang_the_run(project: Path) -> None:
    _, clean = check(project, "--no-cache")
    check(project)
    for path in cache_files(project):
        path.unlink()
        os.mkfifo(path)
    code, again = check(project)  # (`check` fails on its timeout if a read blocks)
    assert code == 1 and findings(again) == findings(clean)


def test_a_cache_folder_linked_outside_is_not_used_and_nothing_is_written_there(
    project: Path, tmp_path: Path
) -> None:
    _, clean = check(project, "--no-cache")
    outside = tmp_path / "outside"
    outside.mkdir()
    (project / DIRECTORY).symlink_to(outside)
    code, report = check(project)
    assert list(outside.iterdir()) == []
    assert code == 1 and findings(report) == findings(clean)
    assert len(errors(report)) == 1
    assert "is a symbolic link" in errors(report)[0] and "cache not used" in errors(report)[0]


def test_a_user_chosen_cache_folder_may_be_a_link(project: Path, tmp_path: Path) -> None:
    outside = tmp_path / "ramdisk"
    outside.mkdir()
    link = tmp_path / "cache-link"
    link.symlink_to(outside)
    _, clean = check(project, "--no-cache")
    code, report = check(project, "--cache-dir", str(link))
    assert code == 1 and findings(report) == findings(clean) and errors(report) == []
    assert any(p.name.startswith("manifest-") for p in outside.rglob("*"))


@pytest.mark.parametrize("name", [".gitignore", "CACHEDIR.TAG"])
def test_a_dangling_link_for_the_cache_tag_files_writes_nothing_outside(
    project: Path, tmp_path: Path, name: str
) -> None:
    _, clean = check(project, "--no-cache")
    target = tmp_path / "outside" / "planted"
    target.parent.mkdir()
    (project / DIRECTORY).mkdir()
    (project / DIRECTORY / name).symlink_to(target)
    code, report = check(project)
    assert not target.exists()
    assert code == 1 and findings(report) == findings(clean)
    assert len(errors(report)) == 1 and "is a symbolic link" in errors(report)[0]


def test_a_linked_entry_folder_writes_nothing_outside(project: Path, tmp_path: Path) -> None:
    _, clean = check(project, "--no-cache")
    check(project)
    outside = tmp_path / "outside"
    outside.mkdir()
    folders = [p for p in (project / DIRECTORY).glob("v*/*") if p.is_dir()]
    assert folders
    for folder in folders:
        for entry in folder.iterdir():
            entry.unlink()
        folder.rmdir()
        folder.symlink_to(outside)
    for name in PROJECT:  # every file changed: every entry is written again
        (project / name).write_text(PROJECT[name] + "# edited\n")
    code, report = check(project)
    assert list(outside.iterdir()) == []
    assert code == 1 and findings(report) == findings(clean)
    assert len(errors(report)) == 1 and "is a symbolic link" in errors(report)[0]


def test_entries_are_kept_apart_per_interpreter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file CPython 3.11 rejects may be valid for 3.12: one's entries are never the other's."""
    entry = Entry(1, 2, "c", False)
    Cache(tmp_path, "1.0").store("ab12", entry)
    assert Cache(tmp_path, "1.0").load("ab12") == entry
    monkeypatch.setattr(sys.implementation, "cache_tag", "cpython-399")
    other = Cache(tmp_path, "1.0")
    assert other.is_empty() and other.load("ab12") is None


def test_an_entry_key_may_name_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    name = os.fsdecode(b"app/bad\xff.py")
    cache = Cache(tmp_path, "1.0")
    assert cache.key(name, "x") != cache.key(os.fsdecode(b"app/bad\xfe.py"), "x")


# -- the record format itself -------------------------------------------------------------------


def test_results_summaries_and_manifests_read_back_as_they_were_written() -> None:
    finding = Finding(
        os.fsdecode(b"app/caf\xe9.py"), 4, 12, 4, 30, "LC102", "pool-connection", "m",
        related_line=6, fixes=(Fix("wrap", (Edit(1, 0, 2, 0, "x\r\n"),), "unsafe"),),
    )  # fmt: skip
    result = FileResult("app/a.py", (finding,), (FileError("app/a.py", None, "e", True),))
    summary = Summary({"get": "app.db.get"}, {"get": "abc"}, '{"get":{"role":"factory"}}', ("get",))
    entry = Entry(3, 4, "h", True, ("app.db",), summary, result, {"app.db.x": ("export", "p")})
    manifest = Manifest("k", (("/a", 1, 2),), (("/", None),), (result,), ("a.py",), ((0, ""),))
    reader = records.Reader()
    assert reader.loads(records.dumps(entry), Entry) == entry
    assert reader.loads(records.dumps(manifest), Manifest) == manifest


@pytest.mark.parametrize("applicability", list(Applicability))
def test_a_fix_applicability_is_written_as_its_text_and_read_back_as_the_enum(
    applicability: Applicability,
) -> None:
    fix = Fix("wrap", (Edit(1, 0, 2, 0, "x"),), applicability)
    data = records.dumps(fix)
    written = json.loads(data).get("applicability", "safe")  # the default is left out
    assert written == applicability.value and type(written) is str
    back = records.Reader().loads(data, Fix)
    assert back == fix and type(back.applicability) is Applicability
    assert f"{back.applicability}" == str(back.applicability) == applicability.value


def test_exports_read_back_as_they_were_written() -> None:
    import libcst as cst

    from leakcheck.analysis.facts import ModuleFacts
    from leakcheck.config.catalogue import builtin_kinds

    module = cst.parse_module(PROJECT["app/db.py"])
    exports = ModuleFacts(module, builtin_kinds()).exports()
    assert exports["get_conn"].kind is not None  # a factory of pool connections, with its kind
    summary = Summary(blob=records.dumps(exports).decode())
    assert summary.exports() == exports


@dataclass(frozen=True)
class _Shape:
    number: int
    names: tuple[str, ...] = ()
    maybe: int | None = None


@pytest.mark.parametrize(
    "raw",
    [
        '{"number": "1"}',
        '{"number": true}',
        '{"number": 1.5}',
        '{"number": 1, "names": ["a", 2]}',
        '{"number": 1, "names": "ab"}',
        '{"number": 1, "maybe": "x"}',
        '{"number": 1, "__class__": "os.system"}',
        '{"names": []}',
        "[1]",
        "{",
    ],
)
def test_a_record_that_does_not_fit_its_type_is_invalid(raw: str) -> None:
    with pytest.raises(records.Invalid):
        records.Reader().loads(raw, _Shape)


def test_a_record_is_plain_json_naming_no_class() -> None:
    data = records.dumps(_Shape(1, ("a",)))
    assert json.loads(data) == {"number": 1, "names": ["a"]}
    assert records.Reader().loads(data, _Shape) == _Shape(1, ("a",))


@pytest.mark.parametrize(
    "forge",
    [
        lambda finding: finding.update(path="app/other.py"),  # names another file
        lambda finding: finding.update(related_line=0),
        lambda finding: finding.update(line=-3),
    ],
    ids=["other-file", "related-line-0", "negative-line"],
)
def test_forged_results_that_fit_the_types_are_ignored(project: Path, forge: object) -> None:
    """The last run's results are replayed as they are: ones no run could make are not."""
    assert callable(forge)
    env = {k: v for k, v in os.environ.items() if k != "LEAKCHECK_CACHE_DIR"}
    command = [sys.executable, "-m", "leakcheck", "check", "app"]
    clean = subprocess.run([*command, "--no-cache"], cwd=project, env=env, capture_output=True)
    subprocess.run(command, cwd=project, env=env, capture_output=True, check=False)
    (manifest,) = (project / DIRECTORY).glob("v*/manifest-*")
    record = json.loads(manifest.read_text())
    forged = [f for r in record["results"] for f in r.get("findings", ())]
    assert forged
    for finding in forged:
        forge(finding)
    manifest.write_text(json.dumps(record))
    again = subprocess.run(command, cwd=project, env=env, capture_output=True)
    assert (again.returncode, again.stdout) == (1, clean.stdout), again.stderr
