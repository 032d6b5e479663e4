"""Benchmark: `leakcheck server` over stdio, as an editor drives it, on a generated module.

Writes a module of about `--lines` lines (module-level pool and session factory, a context
manager helper, then blocks of functions and classes, some leaking) into a temporary project,
starts `leakcheck server` (the real process, LSP 3.17 framing with `Content-Length`), and measures:

  open    `didOpen` to the first `publishDiagnostics` (target: 1 s)
  edit    a one-line `didChange` inside one function (a different one each run) to its
          `publishDiagnostics`, minus the server's debounce delay (target: 0.15 s); the delay
          is printed separately (`leakcheck.server.DEBOUNCE`)
  fixes   then a `codeAction` on the last diagnostic's line to its answer (the quick fixes
          of the text after the edits: the server works fixes out after publishing)

Prints medians over `--runs` runs. Numbers are for the README and notes, never for tests.
With `--baseline DIR` (a checkout of another revision, e.g. a `git worktree`), each run is made
with that checkout's server too (`PYTHONPATH=DIR`), alternately, and both are printed.

    python scripts/bench_server.py --lines 3000 --runs 15
    git worktree add --detach /tmp/old de0b99e
    python scripts/bench_server.py --baseline /tmp/old
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from queue import Queue
from typing import IO, Any

from leakcheck.server import DEBOUNCE

CHECKED = r"leakcheck: checked .* in ([0-9.]+) s \((\w+)"  # the server's log of each check

HEADER = '''"""A generated service module for the language server benchmark."""
from __future__ import annotations

import logging
from contextlib import contextmanager

import psycopg2
from psycopg2.pool import ThreadedConnectionPool
from sqlalchemy.orm import sessionmaker

logger = logging.getLogger(__name__)
pool = ThreadedConnectionPool(1, 10, dsn="dbname=app")
Session = sessionmaker()


@contextmanager
def pooled():
    conn = pool.getconn()
    try:
        yield conn
    finally:
        pool.putconn(conn)

'''
BLOCK = """
def count_{i}(sql: str) -> int:
    conn = pool.getconn()
    cur = conn.cursor()
    cur.execute(sql)
    total = cur.fetchone()[0]
    pool.putconn(conn)
    return total


def early_{i}(flag: bool) -> None:
    conn = pool.getconn()
    if flag:
        return None
    conn.cursor().execute("select {i}")
    pool.putconn(conn)


def safe_{i}() -> list[int]:
    with pooled() as conn:
        cur = conn.cursor()
        cur.execute("select {i}")
        return [row[0] for row in cur.fetchall()]


class Repository{i}:
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    def load(self, key: int) -> object:
        session = Session()
        try:
            return session.get(object, key)
        finally:
            session.close()

    def store(self, key: int, value: str) -> None:
        conn = psycopg2.connect(self.dsn)
        conn.cursor().execute("insert into t values (%s, %s)", (key, value))
        conn.commit()
        conn.close()

"""


def module(lines: int) -> str:
    """A module of at least `lines` lines: `HEADER`, then `BLOCK`s."""
    parts, count, i = [HEADER], HEADER.count("\n"), 0
    while count < lines:
        parts.append(BLOCK.format(i=i))
        count += BLOCK.count("\n")
        i += 1
    return "".join(parts)


class Client:
    """A minimal LSP client over the server's pipes."""

    def __init__(self, cwd: Path, checkout: Path | None = None) -> None:
        command = shutil.which("leakcheck", path=os.path.dirname(sys.executable)) or "leakcheck"
        env = dict(os.environ)
        if checkout is not None:  # its `leakcheck` package first (workers get the same path)
            env["PYTHONPATH"] = os.pathsep.join([str(checkout), env.get("PYTHONPATH", "")])
        self.process = subprocess.Popen(
            [command, "server"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=cwd, env=env
        )
        self.messages: Queue[tuple[float, dict[str, Any]]] = Queue()
        assert self.process.stdout is not None
        threading.Thread(target=self._read, args=(self.process.stdout,), daemon=True).start()
        self.next_id = 0

    def _read(self, stream: IO[bytes]) -> None:
        while True:
            length = 0
            while True:
                line = stream.readline()
                if not line:
                    return
                if line in (b"\r\n", b"\n"):
                    break
                name, _, value = line.decode("ascii").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            self.messages.put((time.perf_counter(), json.loads(stream.read(length))))

    def send(self, message: dict[str, Any]) -> float:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode("utf-8")
        assert self.process.stdin is not None
        sent = time.perf_counter()
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.process.stdin.flush()
        return sent

    def request(self, method: str, params: Any) -> Any:
        self.next_id += 1
        self.send({"id": self.next_id, "method": method, "params": params})
        return self.answer()

    def answer(self) -> Any:
        """The result of the last request sent."""
        while True:
            _, message = self.messages.get(timeout=120)
            if message.get("id") == self.next_id and "method" not in message:
                return message.get("result")

    def diagnostics(self, version: int) -> tuple[float, int, float, str, int]:
        """When the diagnostics of `version` arrived, how many, the last check's time in the
        worker and how it was made (from the server's log message), and the last one's line."""
        worked, mode = 0.0, ""
        while True:
            at, message = self.messages.get(timeout=120)
            logged = re.match(CHECKED, message.get("params", {}).get("message", ""))
            if message.get("method") == "window/logMessage" and logged:
                worked, mode = float(logged[1]), logged[2]
            elif "not analysed" in message.get("params", {}).get("message", ""):
                raise SystemExit(f"the check failed: {message['params']['message']}")
            if message.get("method") != "textDocument/publishDiagnostics":
                continue
            if message["params"].get("version") == version:
                found = message["params"]["diagnostics"]
                last = found[-1]["range"]["start"]["line"] if found else 0
                return at, len(found), worked, mode, last


@dataclass
class Figures:
    """One server's measurements, over the runs."""

    opens: list[float] = field(default_factory=list)
    edits: list[float] = field(default_factory=list)
    worker: list[float] = field(default_factory=list)
    modes: list[str] = field(default_factory=list)
    fixes: list[float] = field(default_factory=list)
    count: int = 0


def session(root: Path, text: str, run: int, figures: Figures, checkout: Path | None) -> None:
    """One server's run: open, three edits, a code action (see the module docstring)."""
    uri = (root / "service.py").as_uri()
    client = Client(root, checkout)
    client.request("initialize", {"processId": os.getpid(), "capabilities": {}})
    client.send({"method": "initialized", "params": {}})
    time.sleep(2.0)  # the workers' import of the analysis, as while an editor starts
    version = 1
    item = {"uri": uri, "languageId": "python", "version": version, "text": text}
    sent = client.send({"method": "textDocument/didOpen", "params": {"textDocument": item}})
    at, count, _, _, _ = client.diagnostics(version)
    figures.opens.append(at - sent)
    figures.count = count
    current = text
    for edit in range(3):
        target = f'conn.cursor().execute("select {run * 3 + edit}")'
        current = current.replace(target, target.replace("select", "select 1 +"), 1)
        version += 1
        sent = client.send(
            {
                "method": "textDocument/didChange",
                "params": {
                    "textDocument": {"uri": uri, "version": version},
                    "contentChanges": [{"text": current}],
                },
            }
        )
        at, after, worked, mode, last = client.diagnostics(version)
        assert after == count, (after, count)
        figures.edits.append(at - sent - DEBOUNCE)
        figures.worker.append(worked)
        figures.modes.append(mode)
    where = {"start": {"line": last, "character": 0}, "end": {"line": last + 1, "character": 0}}
    client.next_id += 1
    asked = {"textDocument": {"uri": uri}, "range": where, "context": {"diagnostics": []}}
    sent = client.send({"id": client.next_id, "method": "textDocument/codeAction", "params": asked})
    actions = client.answer()
    figures.fixes.append(time.perf_counter() - sent)
    assert any(not a["title"].startswith("Disable ") for a in actions), actions  # a fix
    client.request("shutdown", None)
    client.send({"method": "exit", "params": None})
    client.process.wait(timeout=30)


def report(name: str, figures: Figures) -> None:
    """Print one server's medians."""
    modes = figures.modes
    print(f"{name}:")
    print(f"  open  -> diagnostics: median {statistics.median(figures.opens):.3f} s (target 1 s)")
    print(
        f"  edit  -> diagnostics: median {statistics.median(figures.edits):.3f} s after the"
        f" debounce (target 0.15 s); debounce {DEBOUNCE:.2f} s; max {max(figures.edits):.3f} s"
    )
    print(
        f"          of which in the worker: median {statistics.median(figures.worker):.3f} s;"
        f" checks: {', '.join(f'{modes.count(m)} {m}' for m in sorted(set(modes)))}"
    )
    print(f"  then a quick fix: median {statistics.median(figures.fixes):.3f} s")


def main() -> None:
    """Run the benchmark (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=3000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--baseline", type=Path, help="a checkout of another revision")
    args = parser.parse_args()
    text = module(args.lines)
    servers: dict[str, tuple[Figures, Path | None]] = {"this checkout": (Figures(), None)}
    if args.baseline is not None:
        servers[f"baseline {args.baseline}"] = (Figures(), args.baseline.resolve())
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        (root / "pyproject.toml").write_text("[tool.leakcheck]\n")
        (root / "service.py").write_text(text)
        for run in range(args.runs):
            for figures, checkout in servers.values():
                session(root, text, run, figures, checkout)
    counts = {figures.count for figures, _ in servers.values()}
    print(f"module: {text.count(chr(10))} lines, {counts} diagnostics; {args.runs} runs")
    for name, (figures, _) in servers.items():
        report(name, figures)


if __name__ == "__main__":
    main()
