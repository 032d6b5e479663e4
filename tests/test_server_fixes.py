"""The language server publishes diagnostics without working out fixes, and works them out
afterwards (in the background, or when a code action asks): the check behind diagnostics never
calls the fixer's candidates, and a quick fix is still the edit `leakcheck check --fix` makes."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from test_server import BUFFER, DATABASE, ON_DISK, Client

import leakcheck.engine
from leakcheck.model import FileResult
from leakcheck.serverwork import Job, perform

pytest.importorskip("pygls")

ROOT = Path(__file__).resolve().parent.parent
# Fixtures with one finding whose first fix is safe: `--fix` applies exactly that fix.
ONE_SAFE_FIX = [
    "cmclass/exit_commit_branch.py",
    "kinds/asyncpg_terminate.py",
    "pool/nightly_reports.py",
]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """`test_server`'s project: `app/items.py` on disk is clean, BUFFER leaks."""
    (tmp_path / "pyproject.toml").write_text('[tool.leakcheck]\nignore = ["LC103"]\n')
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "__init__.py").write_text("")
    (tmp_path / "app" / "database.py").write_text(DATABASE)
    (tmp_path / "app" / "items.py").write_text(ON_DISK)
    return tmp_path


@pytest.fixture
def started() -> Iterator[list[Client]]:
    clients: list[Client] = []
    yield clients
    for client in clients:
        if client.process.poll() is None:
            client.process.kill()
        client.process.communicate(timeout=30)


def _start(clients: list[Client], root: Path) -> Client:
    client = Client(root)
    clients.append(client)
    params = {"processId": os.getpid(), "rootUri": root.as_uri(), "capabilities": {}}
    client.request("initialize", params)
    client.notify("initialized", {})
    return client


def _open(client: Client, uri: str, text: str) -> list[dict[str, Any]]:
    """Open `uri` with `text`; every message up to and including its first diagnostics."""
    item = {"uri": uri, "languageId": "python", "version": 1, "text": text}
    client.notify("textDocument/didOpen", {"textDocument": item})
    seen = []
    while True:
        message = client.wait()
        seen.append(message)
        method, params = message.get("method"), message.get("params") or {}
        if method == "textDocument/publishDiagnostics" and params["uri"] == uri:
            return seen


def _logged(message: dict[str, Any], what: str) -> bool:
    if message.get("method") != "window/logMessage":
        return False
    return str(message["params"]["message"]).startswith(f"leakcheck: {what} ")


def _code_actions(client: Client, uri: str, lines: int) -> list[dict[str, Any]]:
    """Ask for the code actions of lines 0..`lines`: every message up to and including the
    answer."""
    everything = {"start": {"line": 0, "character": 0}, "end": {"line": lines, "character": 0}}
    asked = {"textDocument": {"uri": uri}, "range": everything, "context": {"diagnostics": []}}
    client.next_id += 1
    client.send({"id": client.next_id, "method": "textDocument/codeAction", "params": asked})
    seen = [client.wait()]
    while seen[-1].get("id") != client.next_id or "method" in seen[-1]:
        seen.append(client.wait())
    return seen


def _apply(text: str, edits: list[dict[str, Any]]) -> str:
    """`text` with LSP `TextEdit`s applied (ASCII text: UTF-16 units are characters)."""
    starts = [0]
    for line in text.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))

    def offset(position: dict[str, int]) -> int:
        return starts[position["line"]] + position["character"]

    for edit in sorted(edits, key=lambda e: offset(e["range"]["start"]), reverse=True):
        start, end = offset(edit["range"]["start"]), offset(edit["range"]["end"])
        text = text[:start] + edit["newText"] + text[end:]
    return text


def _without_fixes(result: FileResult) -> FileResult:
    return replace(
        result, findings=tuple(replace(f, fixes=(), no_fix_reason="") for f in result.findings)
    )


def test_the_check_behind_diagnostics_works_out_no_fix(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A "check" job never asks for a finding's candidate fixes; a "fixes" job does, and finds
    the same findings, with their fixes."""
    asked: list[object] = []
    candidates = leakcheck.engine.candidates

    def spy(*args: Any, **kwargs: Any) -> Any:
        asked.append(args[0])
        return candidates(*args, **kwargs)

    monkeypatch.setattr(leakcheck.engine, "candidates", spy)
    monkeypatch.chdir(project)
    path = str(project / "app" / "items.py")
    checked = perform(Job("check", BUFFER.encode(), path))
    assert checked.failure is None and isinstance(checked.value, FileResult)
    assert asked == []
    assert checked.value.findings and all(not f.fixes for f in checked.value.findings)
    fixed = perform(Job("fixes", BUFFER.encode(), path))
    assert isinstance(fixed.value, FileResult)
    assert len(asked) >= len(fixed.value.findings)  # and LC103's, which `ignore` drops after
    assert any(f.fixes for f in fixed.value.findings)
    assert _without_fixes(fixed.value) == _without_fixes(checked.value)


def test_diagnostics_are_published_before_fixes_are_worked_out(
    project: Path, started: list[Client]
) -> None:
    """didOpen: the findings-only check and its diagnostics; the fixes are worked out when a
    code action asks for them, for the functions holding the findings on its lines."""
    client = _start(started, project)
    uri = (project / "app" / "items.py").as_uri()
    before = _open(client, uri, BUFFER)
    assert [m for m in before if _logged(m, "checked")]
    assert not [m for m in before if _logged(m, "worked out the fixes of")]
    assert len(before[-1]["params"]["diagnostics"]) == 2
    seen = _code_actions(client, uri, 20)
    (logged,) = [m for m in seen if _logged(m, "worked out the fixes of")]
    assert logged["params"]["message"].endswith("(2 units judged again)")
    actions = seen[-1]["result"]
    titles = [a["title"] for a in actions]
    assert any("(unsafe) (LC201)" in t for t in titles), titles
    assert any(a.get("isPreferred") for a in actions if a["title"].endswith("(LC102)"))
    assert "Disable LC201 for this line" in titles
    client.request("shutdown", None)
    client.notify("exit", {})


@pytest.mark.parametrize("name", ONE_SAFE_FIX)
def test_a_quick_fix_is_the_edit_check_fix_makes(
    name: str, tmp_path: Path, started: list[Client]
) -> None:
    """The preferred quick fix applied to a fixture gives the file `leakcheck check --fix`
    writes (the fixtures' configuration applies to both)."""
    source = (ROOT / "fixtures" / name).read_text()
    for side in ("editor", "cli"):
        (tmp_path / side).mkdir()
        shutil.copy(ROOT / "fixtures" / "pyproject.toml", tmp_path / side / "pyproject.toml")
        (tmp_path / side / "module.py").write_text(source)
    command = shutil.which("leakcheck", path=os.path.dirname(sys.executable))
    assert command is not None
    subprocess.run(
        [command, "check", "--fix", "--no-cache", "module.py"],
        cwd=tmp_path / "cli",
        capture_output=True,
        check=False,
    )
    written = (tmp_path / "cli" / "module.py").read_text()
    assert written != source

    client = _start(started, tmp_path / "editor")
    uri = (tmp_path / "editor" / "module.py").as_uri()
    _open(client, uri, source)
    *before, answer = _code_actions(client, uri, source.count("\n") + 1)
    # Worked out for the finding's function alone, in a reduced text.
    (logged,) = [m for m in before if _logged(m, "worked out the fixes of")]
    assert re.search(r"\(\d+ units? judged again\)$", logged["params"]["message"])
    (preferred,) = [a for a in answer["result"] if a.get("isPreferred")]
    assert _apply(source, preferred["edit"]["changes"][uri]) == written
    client.request("shutdown", None)
    client.notify("exit", {})
