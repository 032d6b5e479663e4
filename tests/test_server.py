"""`leakcheck server` driven over stdio as an editor's LSP client drives it: a subprocess,
`initialize`, `didOpen` / `didChange` / `didSave`, `publishDiagnostics`, `codeAction`,
`shutdown` and `exit`, framed with `Content-Length` headers (LSP 3.17, "Base Protocol")."""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from leakcheck.report.ruledocs import RULES_URL

pytest.importorskip("pygls")

DATABASE = """\
from sqlalchemy.orm import sessionmaker
make_session = sessionmaker()
"""
# On disk: clean. In the editor (unsaved): LC201 on line 6 via the other module's factory (not a
# conventional name: only the project-wide index knows it), LC102 on line 10 with a safe fix, and
# LC103 on line 16 silenced by the project's `ignore`.
ON_DISK = "from app.database import make_session\n"
BUFFER = """\
from app.database import make_session
from psycopg2.pool import ThreadedConnectionPool
pool = ThreadedConnectionPool(1, 5)

def items():
    db = make_session()
    return db.execute("select 1").all()

def count(sql):
    conn = pool.getconn()
    cur = conn.cursor()
    cur.execute(sql)
    pool.putconn(conn)

def early(flag):
    conn = pool.getconn()
    if flag:
        return None
    pool.putconn(conn)
"""


class Client:
    """A minimal LSP client over a subprocess's pipes."""

    def __init__(self, cwd: Path) -> None:
        command = shutil.which("leakcheck", path=os.path.dirname(sys.executable))
        assert command is not None
        self.process = subprocess.Popen(
            [command, "server"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
        )
        self.messages: queue.Queue[dict[str, Any]] = queue.Queue()
        self.next_id = 0
        assert self.process.stdout is not None
        threading.Thread(target=self._read, args=(self.process.stdout,), daemon=True).start()

    def _read(self, stream: IO[bytes]) -> None:
        while True:
            headers: dict[str, str] = {}
            while True:
                line = stream.readline()
                if not line:
                    return
                if line in (b"\r\n", b"\n"):
                    break
                name, _, value = line.decode("ascii").partition(":")
                headers[name.strip().lower()] = value.strip()
            body = stream.read(int(headers["content-length"]))
            self.messages.put(json.loads(body))

    def send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode("utf-8")
        assert self.process.stdin is not None
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.process.stdin.flush()

    def notify(self, method: str, params: dict[str, Any]) -> None:
        self.send({"method": method, "params": params})

    def request(self, method: str, params: dict[str, Any] | None) -> Any:
        self.next_id += 1
        self.send({"id": self.next_id, "method": method, "params": params})
        while True:
            message = self.wait()
            if message.get("id") == self.next_id and "method" not in message:
                assert "error" not in message, message
                return message.get("result")

    def wait(self) -> dict[str, Any]:
        try:
            return self.messages.get(timeout=60)
        except queue.Empty:
            self.process.kill()
            _, err = self.process.communicate()
            raise AssertionError(f"no message from the server; stderr: {err.decode()}") from None

    def diagnostics(self, uri: str) -> list[dict[str, Any]]:
        while True:
            message = self.wait()
            method = message.get("method")
            if method == "textDocument/publishDiagnostics" and message["params"]["uri"] == uri:
                found: list[dict[str, Any]] = message["params"]["diagnostics"]
                return found


@pytest.fixture
def session(tmp_path: Path) -> Iterator[tuple[Client, Path]]:
    (tmp_path / "pyproject.toml").write_text('[tool.leakcheck]\nignore = ["LC103"]\n')
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "__init__.py").write_text("")
    (tmp_path / "app" / "database.py").write_text(DATABASE)
    (tmp_path / "app" / "items.py").write_text(ON_DISK)
    client = Client(tmp_path)
    result = client.request(
        "initialize",
        {"processId": os.getpid(), "rootUri": tmp_path.as_uri(), "capabilities": {}},
    )
    assert result["serverInfo"]["name"] == "leakcheck"
    kinds = result["capabilities"]["codeActionProvider"]["codeActionKinds"]
    assert "quickfix" in kinds and "source.fixAll.leakcheck" in kinds
    client.notify("initialized", {})
    yield client, tmp_path
    assert client.request("shutdown", None) is None
    client.notify("exit", {})
    assert client.process.wait(timeout=30) == 0
    for stream in (client.process.stdin, client.process.stdout, client.process.stderr):
        assert stream is not None
        stream.close()


def test_diagnostics_quick_fixes_and_fix_all_over_stdio(session: tuple[Client, Path]) -> None:
    client, root = session
    uri = (root / "app" / "items.py").as_uri()
    client.notify(
        "textDocument/didOpen",
        {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": BUFFER}},
    )
    diagnostics = client.diagnostics(uri)
    # The unsaved text is checked, with the other module's factory and the project's `ignore`.
    assert [(d["code"], d["range"]["start"]) for d in diagnostics] == [
        ("LC201", {"line": 5, "character": 9}),
        ("LC102", {"line": 9, "character": 11}),
    ]
    session_leak, pool_leak = diagnostics
    assert session_leak["codeDescription"]["href"] == f"{RULES_URL}LC201.md"
    assert session_leak["source"] == "leakcheck"
    assert session_leak["range"]["end"] == {"line": 5, "character": 23}
    related = pool_leak["relatedInformation"]
    assert [(r["location"]["uri"], r["location"]["range"]["start"]["line"]) for r in related] == [
        (uri, 10)
    ]

    actions = client.request(
        "textDocument/codeAction",
        {
            "textDocument": {"uri": uri},
            "range": {"start": {"line": 0, "character": 0}, "end": {"line": 20, "character": 0}},
            "context": {"diagnostics": diagnostics},
        },
    )
    assert [(a["kind"], a["diagnostics"][0]["code"]) for a in actions] == [
        ("quickfix", "LC201"),
        ("quickfix", "LC102"),
        ("quickfix", "LC201"),
        ("quickfix", "LC102"),
    ]
    unsafe, safe, silence, _ = actions
    assert silence["title"] == "Disable LC201 for this line"
    (added,) = silence["edit"]["changes"][uri]
    assert added["newText"] == "  # noqa: LC201"
    assert added["range"]["start"] == {"line": 5, "character": 23}
    assert "(unsafe)" in unsafe["title"] and "(unsafe)" not in safe["title"]
    (edit,) = safe["edit"]["changes"][uri]
    assert edit["range"] == {
        "start": {"line": 10, "character": 0},
        "end": {"line": 13, "character": 0},
    }
    assert edit["newText"].startswith("    try:\n        cur = conn.cursor()\n")

    # Only the quick fixes on the requested lines.
    narrow = client.request(
        "textDocument/codeAction",
        {
            "textDocument": {"uri": uri},
            "range": {"start": {"line": 9, "character": 0}, "end": {"line": 9, "character": 5}},
            "context": {"diagnostics": []},
        },
    )
    assert [a["diagnostics"][0]["code"] for a in narrow] == ["LC102", "LC102"]

    fix_all = client.request(
        "textDocument/codeAction",
        {
            "textDocument": {"uri": uri},
            "range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}},
            "context": {"diagnostics": [], "only": ["source.fixAll"]},
        },
    )
    assert [a["kind"] for a in fix_all] == ["source.fixAll.leakcheck"]
    (whole,) = fix_all[0]["edit"]["changes"][uri]
    fixed = whole["newText"]
    assert "    finally:\n        pool.putconn(conn)\n" in fixed
    assert "db = make_session()\n    return" in fixed  # the unsafe fix is not applied

    # An edit that removes the leaks clears the diagnostics; the file on disk is untouched.
    client.notify(
        "textDocument/didChange",
        {
            "textDocument": {"uri": uri, "version": 2},
            "contentChanges": [{"text": ON_DISK}],
        },
    )
    assert client.diagnostics(uri) == []
    client.notify("textDocument/didSave", {"textDocument": {"uri": uri}})
    assert client.diagnostics(uri) == []
    assert (root / "app" / "items.py").read_text() == ON_DISK
    # Reopened with the leaks, then closed: the editor's list is emptied.
    client.notify(
        "textDocument/didChange",
        {"textDocument": {"uri": uri, "version": 3}, "contentChanges": [{"text": BUFFER}]},
    )
    assert len(client.diagnostics(uri)) == 2
    client.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
    assert client.diagnostics(uri) == []


def test_a_syntax_error_is_one_error_diagnostic(session: tuple[Client, Path]) -> None:
    client, root = session
    uri = (root / "app" / "broken.py").as_uri()
    client.notify(
        "textDocument/didOpen",
        {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": "def (:\n"}},
    )
    (error,) = client.diagnostics(uri)
    assert error["severity"] == 1 and error["message"].startswith("syntax error")
    assert error["range"]["start"]["line"] == 0


def test_excluded_and_gitignored_files_are_not_checked(session: tuple[Client, Path]) -> None:
    client, root = session
    (root / ".gitignore").write_text("generated/\n")
    for relative in ("build/x.py", "generated/y.py"):
        uri = (root / relative).as_uri()
        client.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": BUFFER}},
        )
        assert client.diagnostics(uri) == []
    uri = (root / "app" / "other.py").as_uri()  # the same text where nothing skips it
    client.notify(
        "textDocument/didOpen",
        {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": BUFFER}},
    )
    assert len(client.diagnostics(uri)) == 2


def test_without_pygls_the_server_says_what_to_install(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "sys.modules['pygls'] = None  # as if the `server` extra were not installed\n"
        "from leakcheck.cli import main\n"
        "main(['server'])\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=False
    )
    assert run.returncode == 2
    assert "pip install 'leakcheck-db[server]'" in run.stderr


def test_the_check_path_does_not_import_pygls(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(ON_DISK)
    code = (
        "import sys\n"
        "from leakcheck.cli import main\n"
        "try:\n"
        "    main(['check', 'a.py'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pygls', 'lsprotocol')))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=False
    )
    assert run.stdout.strip().splitlines()[-1] == "[]", run.stderr


def test_columns_are_sent_in_utf16_units() -> None:
    """Findings count characters; LSP counts UTF-16 code units unless negotiated otherwise: an
    emoji before the call is one character but two units."""
    from pygls.workspace import TextDocument

    from leakcheck.model import Finding
    from leakcheck.server import diagnostic

    text = "s = '😀'; conn = pool.getconn()\n"
    column = text.index("pool") + 1  # 1-based, in characters
    document = TextDocument("file:///tmp/x.py", text)
    finding = Finding("x.py", 1, column, 1, column + 14, "LC101", "r", "m")
    start = diagnostic(document, finding).range.start
    assert (start.line, start.character) == (0, column)  # column - 1 characters + 1 surrogate


def test_each_candidate_fix_is_its_own_quick_fix() -> None:
    """One code action per candidate, in order; only the first, when safe, is preferred."""
    from lsprotocol import types
    from pygls.workspace import TextDocument

    from leakcheck.model import Edit, FileResult, Finding, Fix
    from leakcheck.server import quick_fixes

    text = "def f(pool):\n    conn = pool.getconn()\n    conn.cursor()\n"
    document = TextDocument("file:///tmp/x.py", text)
    first = Fix("Release `conn` in `finally`", (Edit(3, 1, 4, 1, "    try:\n"),))
    second = Fix("Use `with pooled() as conn:`", (Edit(2, 1, 4, 1, "    with x:\n"),), "unsafe")
    finding = Finding("x.py", 2, 12, 2, 26, "LC102", "r", "m", fixes=(first, second))
    everything = types.Range(types.Position(0, 0), types.Position(3, 0))
    actions = quick_fixes(document, FileResult("x.py", (finding,)), everything)
    *actions, silence = actions
    assert silence.title == "Disable LC102 for this line"
    safe_only = quick_fixes(document, FileResult("x.py", (finding,)), everything, unsafe=False)
    assert [a.title for a in safe_only] == ["Release `conn` in `finally` (LC102)", silence.title]
    assert [(a.title, a.is_preferred) for a in actions] == [
        ("Release `conn` in `finally` (LC102)", True),
        ("Use `with pooled() as conn:` (unsafe) (LC102)", False),
    ]
    assert [
        a.edit.changes[document.uri][0].new_text for a in actions if a.edit and a.edit.changes
    ] == [
        "    try:\n",
        "    with x:\n",
    ]
