"""`leakcheck server` while a document is edited, over stdio as an editor drives it: typing is
debounced, a syntax error keeps the last findings, hover shows the rule's page, the client's
settings (`initializationOptions`, `workspace/didChangeConfiguration`) apply, a changed
`pyproject.toml` re-checks open documents."""

from __future__ import annotations

import os
import queue
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from test_server import BUFFER, DATABASE, ON_DISK, Client
from test_server_limits import codes, published, until

pytest.importorskip("pygls")

Start = Callable[..., tuple[Client, str]]
FINDINGS = [("LC201", 5), ("LC102", 9)]  # BUFFER's, with the project's `ignore = ["LC103"]`


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Start]:
    """Start a server in a project like `test_server`'s, initialized with `options` and
    `capabilities`; returns the client and the URI of `app/items.py`."""
    (tmp_path / "pyproject.toml").write_text('[tool.leakcheck]\nignore = ["LC103"]\n')
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "__init__.py").write_text("")
    (tmp_path / "app" / "database.py").write_text(DATABASE)
    (tmp_path / "app" / "items.py").write_text(ON_DISK)
    clients: list[Client] = []

    def run(options: Any = None, capabilities: Any = None) -> tuple[Client, str]:
        client = Client(tmp_path)
        clients.append(client)
        params = {
            "processId": os.getpid(),
            "rootUri": tmp_path.as_uri(),
            "capabilities": capabilities or {},
            "initializationOptions": options,
        }
        client.request("initialize", params)
        client.notify("initialized", {})
        return client, (tmp_path / "app" / "items.py").as_uri()

    yield run
    for client in clients:
        if client.process.poll() is None:
            client.process.kill()
        client.process.communicate(timeout=30)


def _open(client: Client, uri: str, text: str = BUFFER) -> list[dict[str, Any]]:
    item = {"uri": uri, "languageId": "python", "version": 1, "text": text}
    client.notify("textDocument/didOpen", {"textDocument": item})
    return client.diagnostics(uri)


def _change(client: Client, uri: str, version: int, text: str) -> None:
    client.notify(
        "textDocument/didChange",
        {"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"text": text}]},
    )


def _silent(client: Client, seconds: float) -> list[dict[str, Any]]:
    """What the server sends within `seconds`."""
    seen = []
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        try:
            seen.append(client.messages.get(timeout=left))
        except queue.Empty:
            break
    return seen


def test_typing_is_checked_once_it_pauses(start: Start) -> None:
    from leakcheck.server import DEBOUNCE

    client, uri = start()
    assert codes(_open(client, uri)) == FINDINGS
    for version in range(2, 7):  # a key every 0.1 s: faster than the debounce delay
        _change(client, uri, version, BUFFER + f"\nx = {version}\n")
        last = time.monotonic()
        time.sleep(0.1)
    seen = until(client, published(uri))
    waited = time.monotonic() - last
    versions = [m["params"]["version"] for m in seen if published(uri)(m)]
    assert versions == [6]  # no text before the pause was published
    assert waited >= DEBOUNCE
    assert codes(seen[-1]["params"]["diagnostics"]) == FINDINGS


def test_a_syntax_error_while_typing_keeps_the_last_findings(start: Start) -> None:
    client, uri = start()
    assert codes(_open(client, uri)) == FINDINGS
    _change(client, uri, 2, BUFFER + "\ndef broken(:\n")
    found = client.diagnostics(uri)
    assert codes(found) == [*FINDINGS, ("", 20)]
    assert found[-1]["severity"] == 1 and found[-1]["message"].startswith("syntax error")
    _change(client, uri, 3, ON_DISK)  # parses again: the findings are the new text's
    assert client.diagnostics(uri) == []


def test_hover_on_a_diagnostic_shows_its_rule_page(start: Start) -> None:
    client, uri = start()
    _open(client, uri)
    shown = client.request(
        "textDocument/hover",
        {"textDocument": {"uri": uri}, "position": {"line": 5, "character": 12}},
    )
    assert shown["contents"]["kind"] == "markdown"
    assert shown["contents"]["value"].startswith("# ") and "(LC201)" in shown["contents"]["value"]
    nothing = client.request(
        "textDocument/hover",
        {"textDocument": {"uri": uri}, "position": {"line": 0, "character": 0}},
    )
    assert nothing is None


def test_settings_from_initialization_and_configuration_changes(start: Start) -> None:
    client, uri = start({"leakcheck": {"ignore": ["LC102"], "unsafeFixes": False}})
    assert codes(_open(client, uri)) == [("LC201", 5)]
    actions = client.request(
        "textDocument/codeAction",
        {
            "textDocument": {"uri": uri},
            "range": {"start": {"line": 5, "character": 0}, "end": {"line": 5, "character": 0}},
            "context": {"diagnostics": []},
        },
    )
    # LC201's only fix is unsafe: without unsafe fixes, only the action silencing it is left.
    assert [a["title"] for a in actions] == ["Disable LC201 for this line"]
    client.notify("workspace/didChangeConfiguration", {"settings": {"leakcheck": {"ignore": []}}})
    assert codes(client.diagnostics(uri)) == FINDINGS


def test_run_on_save_waits_for_the_save(start: Start) -> None:
    client, uri = start({"run": "onSave"})
    assert codes(_open(client, uri)) == FINDINGS
    _change(client, uri, 2, ON_DISK)
    assert not [m for m in _silent(client, 1.5) if published(uri)(m)]
    client.notify("textDocument/didSave", {"textDocument": {"uri": uri}})
    assert client.diagnostics(uri) == []


def test_a_changed_pyproject_rechecks_open_documents(start: Start) -> None:
    watching = {"workspace": {"didChangeWatchedFiles": {"dynamicRegistration": True}}}
    client, uri = start(None, watching)
    registration = until(client, lambda m: m.get("method") == "client/registerCapability")[-1]
    client.send({"id": registration["id"], "result": None})
    (watch,) = registration["params"]["registrations"]
    assert watch["method"] == "workspace/didChangeWatchedFiles"
    patterns = [w["globPattern"] for w in watch["registerOptions"]["watchers"]]
    assert "**/pyproject.toml" in patterns
    assert codes(_open(client, uri)) == FINDINGS
    root = Path(uri.removeprefix("file://")).parent.parent
    (root / "pyproject.toml").write_text('[tool.leakcheck]\nignore = ["LC103", "LC102"]\n')
    changed = {"uri": (root / "pyproject.toml").as_uri(), "type": 2}
    client.notify("workspace/didChangeWatchedFiles", {"changes": [changed]})
    assert codes(client.diagnostics(uri)) == [("LC201", 5)]
