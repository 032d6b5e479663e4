"""A pool API that differs from the built-in ones only in its method names and its kind flags is
one `[[tool.leakcheck.kinds]]` entry, no Python: it gets its findings *and* its fixes (issue 30).

Each test writes a project with its own pyproject.toml, runs the command line on it, and checks
the exact (code, line) of every finding and what `--fix` writes.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import libcst as cst
import pytest
from click.testing import CliRunner

import leakcheck
from leakcheck.cli import main
from leakcheck.config.catalogue import builtin_kinds

# A session whose `with` closes it and does nothing else (like SQLAlchemy's), and a pool whose
# release takes a keyword that discards a broken handle (like psycopg2's `putconn(c, close=True)`).
KINDS = """\
[tool.leakcheck]

[[tool.leakcheck.kinds]]
name = "ledger-session"
family = "session"
resource = "session"
acquire = ["<source>.open_session"]
release = ["<resource>.close()"]
with-releases = true
with-only-releases = {with_only_releases}
release-is-idempotent = true
source-constructors = ["ledger.Book"]

[[tool.leakcheck.kinds]]
name = "vault-pool"
family = "pool"
resource = "handle"
acquire = ["<pool>.lend"]
release = ["<pool>.take_back(<resource>)"]
source-names = ["*vault*"]
discard-keyword = "close"
"""

JOBS = """\
from ledger import Book

book = Book("ledger://main")


def record(account, amount):
    s = book.open_session()
    s.add(account, amount)
    s.commit()
    s.close()


def balance(vault, account):
    handle = vault.lend()
    total = handle.sum(account)
    vault.take_back(handle)
    return total
"""

RETRY = """\
from vaultlib import OperationalError


def refresh(vault, account):
    handle = vault.lend()
    try:
        handle.ping()
    except OperationalError:
        handle = vault.lend()
    total = handle.sum(account)
    vault.take_back(handle)
    return total
"""


def _project(root: Path, with_only_releases: bool = True) -> Path:
    (root / "pyproject.toml").write_text(
        KINDS.format(with_only_releases=str(with_only_releases).lower())
    )
    (root / "app").mkdir()
    (root / "app" / "jobs.py").write_text(JOBS)
    (root / "app" / "retry.py").write_text(RETRY)
    return root


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["check", "--no-cache", *args])
    return result.exit_code, result.output


def _findings(path: str) -> list[tuple[str, int]]:
    code, out = _run("--output-format", "json", path)
    assert code == 1, out
    return [(f["code"], f["line"]) for f in json.loads(out)["findings"]]


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return _project(tmp_path)


def test_a_kind_of_the_configuration_is_found_where_it_leaks(project: Path) -> None:
    assert _findings("app/jobs.py") == [("LC202", 7), ("LC102", 14)]
    assert _findings("app/retry.py") == [("LC105", 5), ("LC102", 9)]


def test_with_only_releases_makes_the_fix_a_with_and_the_pool_gets_try_finally(
    project: Path,
) -> None:
    code, out = _run("--fix", "app/jobs.py")
    assert code == 0, out
    fixed = (project / "app" / "jobs.py").read_text()
    cst.parse_module(fixed)
    assert (
        "def record(account, amount):\n"
        "    with book.open_session() as s:\n"
        "        s.add(account, amount)\n"
        "        s.commit()\n"
    ) in fixed
    assert "s.close()" not in fixed
    assert (
        "    handle = vault.lend()\n"
        "    try:\n"
        "        total = handle.sum(account)\n"
        "    finally:\n"
        "        vault.take_back(handle)\n"
        "    return total\n"
    ) in fixed
    assert _run("app/jobs.py")[0] == 0  # nothing left to report


def test_without_with_only_releases_the_session_is_closed_in_finally(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    root = _project(tmp_path, with_only_releases=False)
    assert _findings("app/jobs.py") == [("LC202", 7), ("LC102", 14)]
    assert _run("--fix", "app/jobs.py")[0] == 0
    fixed = (root / "app" / "jobs.py").read_text()
    cst.parse_module(fixed)
    assert (
        "    s = book.open_session()\n"
        "    try:\n"
        "        s.add(account, amount)\n"
        "        s.commit()\n"
        "    finally:\n"
        "        s.close()\n"
    ) in fixed


def test_discard_keyword_is_passed_when_a_broken_handle_is_replaced(project: Path) -> None:
    code, out = _run("--fix", "app/retry.py")
    assert code == 0, out
    fixed = (project / "app" / "retry.py").read_text()
    cst.parse_module(fixed)
    assert (
        "        except OperationalError:\n"
        "            old_handle = handle\n"
        "            handle = vault.lend()\n"
        "            vault.take_back(old_handle, close=True)\n"
    ) in fixed
    assert "    finally:\n        vault.take_back(handle)\n" in fixed
    assert _run("app/retry.py")[0] == 0


@pytest.mark.parametrize(
    ("key", "value", "complaint"),
    [
        ("with-only-releases", '"yes"', "`with-only-releases` must be true or false"),
        ("not-context-managers", '["<pool>.other"]', "`not-context-managers` pattern"),
        ("annotations", '["Session"]', "`annotations` entry 'Session' is not `package.Class`"),
        ("autocommit-drivers", '["a.b"]', "`autocommit-drivers` entry 'a.b'"),
        ("sources-listed-in", '["pools"]', "`sources-listed-in` entry 'pools' is none of"),
        ("discard-keyword", '"not a keyword"', "`discard-keyword` must be a keyword"),
        ("closing-runners", '["tortoise.run_async"]', "for a `resource-is-source` kind"),
    ],
)
def test_a_malformed_flag_names_the_file_and_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: str, value: str, complaint: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text(
        '[tool.leakcheck]\n[[tool.leakcheck.kinds]]\nname = "x"\nacquire = ["<pool>.lend"]\n'
        f'release = ["<pool>.take_back(<resource>)"]\n{key} = {value}\n'
    )
    (tmp_path / "a.py").write_text("x = 1\n")
    code, out = _run("a.py")
    assert code == 2
    assert "pyproject.toml" in out
    assert complaint in out


def test_no_python_module_but_the_kind_loader_names_a_kind_or_its_library() -> None:
    """What differs between kinds is read from `rules/kinds.toml`: a string in the code that is a
    built-in kind's name (`"sqlalchemy-session"`) or names one of their libraries (`"asyncpg"`,
    `"psycopg2.pool"`) is behaviour that a new kind would not get from its entry."""
    kinds = builtin_kinds()
    names = {kind.name for kind in kinds}
    packages = {
        dotted.split(".", 1)[0]
        for kind in kinds
        for dotted in (
            *kind.acquire_callables,
            *kind.source_constructors,
            *kind.annotations,
            *kind.library_modules,
            *kind.autocommit_drivers,
        )
    }
    root = Path(leakcheck.__file__).parent
    loader = root / "config" / "catalogue.py"
    # The runtime gate's table of recorders names the libraries it patches while tests run (each
    # recorder is given its library's module): that table is the libraries' adapter, not analysis.
    recorders = root / "gate" / "recorders" / "__init__.py"
    found = []
    for path in sorted(root.rglob("*.py")):
        if path in (loader, recorders):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Constant) or not isinstance(node.value, str):
                continue
            text = node.value
            if (
                text in names
                or text in packages
                or text.startswith(tuple(f"{p}." for p in packages))
            ):
                found.append(f"{path.relative_to(root)}:{node.lineno}: {text!r}")
    assert found == []


# A library whose client object holds the connection itself, as peewee's database does
# (`db.connect()` / `db.close()`): one entry with `resource-is-source`.
HELD_BY_SOURCE = """\
[tool.leakcheck]

[[tool.leakcheck.kinds]]
name = "archive-store"
family = "session"
acquire = ["<source>.attach"]
release = ["<source>.detach()"]
resource-is-source = true
source-constructors = ["archivelib.Store"]
"""

STORE = """\
from archivelib import Store

store = Store("archive://main")


def copy_rows(rows):
    store.attach()
    store.write(rows)
    store.detach()


def count_rows():
    store.attach()
    return store.count()


def safe_rows(rows):
    store.attach()
    try:
        store.write(rows)
    finally:
        store.detach()


def on_request():
    store.attach()


def on_teardown(exc):
    store.detach()


def warm_up():
    store.attach()
    store.ping()
"""


def test_a_kind_whose_source_holds_the_resource_is_judged_at_the_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text(HELD_BY_SOURCE)
    (tmp_path / "jobs.py").write_text(STORE)
    # Not closed on an error, never closed; the try/finally form and the functions that only
    # open it (a request hook, a warm-up that only calls the store itself) are silent.
    assert _findings("jobs.py") == [("LC202", 7), ("LC201", 13)]
    assert _run("--fix", "jobs.py")[0] == 0
    fixed = (tmp_path / "jobs.py").read_text()
    cst.parse_module(fixed)
    assert (
        "    store.attach()\n"
        "    try:\n"
        "        store.write(rows)\n"
        "    finally:\n"
        "        store.detach()\n"
    ) in fixed
    assert "        return store.count()\n    finally:\n        store.detach()\n" in fixed


def test_resource_is_source_needs_a_release_on_the_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text(
        HELD_BY_SOURCE.replace('"<source>.detach()"', '"<resource>.detach()"')
    )
    (tmp_path / "a.py").write_text("x = 1\n")
    code, out = _run("a.py")
    assert code == 2
    assert "`resource-is-source` kind acquires by `<source>.METHOD` only" in out
