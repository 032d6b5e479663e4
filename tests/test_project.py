"""Project-wide names: imports resolved through the defining module, found on disk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from leakcheck.cli import main

DATABASE = """\
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

engine = create_engine("sqlite://")
SessionLocal = sessionmaker(bind=engine)
"""
ROUTER = """\
from {module} import SessionLocal

def count_items():
    db = SessionLocal()
    return db.execute("select count(*) from items").scalar()
"""


def findings(*args: str) -> list[tuple[str, int, str]]:
    result = CliRunner().invoke(main, ["check", "--format", "json", *args])
    assert result.exit_code in (0, 1), result.output
    return [(f["path"], f["line"], f["code"]) for f in json.loads(result.output)["findings"]]


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.fixture()
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_only_the_changed_file_is_checked_and_its_import_is_read_from_disk(here: Path) -> None:
    # pre-commit passes only changed files: app/database.py is not among them.
    write(here, {
        "pyproject.toml": "[project]\nname = 'svc'\n",
        "app/__init__.py": "",
        "app/database.py": DATABASE,
        "app/routers/__init__.py": "",
        "app/routers/items.py": ROUTER.format(module="app.database"),
    })
    assert findings("app/routers/items.py") == [("app/routers/items.py", 4, "LC201")]


def test_relative_import_and_module_alias(here: Path) -> None:
    write(here, {
        "app/__init__.py": "",
        "app/database.py": DATABASE,
        "app/routers/__init__.py": "",
        "app/routers/a.py": ROUTER.format(module="..database"),
        "app/routers/b.py": (
            "import app.database as database\n\n"
            "def f():\n    db = database.SessionLocal()\n    db.query(1)\n"
        ),
    })
    assert findings("app/routers") == [
        ("app/routers/a.py", 4, "LC201"),
        ("app/routers/b.py", 4, "LC201"),
    ]


def test_src_layout_and_a_reexport_through_the_package(here: Path) -> None:
    write(here, {
        "pyproject.toml": "[project]\nname = 'svc'\n",
        "src/svc/__init__.py": "from .database import SessionLocal\n",
        "src/svc/database.py": DATABASE,
        "scripts/report.py": ROUTER.format(module="svc"),
    })
    assert findings("scripts/report.py") == [("scripts/report.py", 4, "LC201")]


def test_a_name_the_defining_module_does_not_make_a_factory_is_not_one(here: Path) -> None:
    write(here, {
        "app/__init__.py": "",
        "app/database.py": "def SessionLocal():\n    return object()\n",
        "app/items.py": ROUTER.format(module="app.database"),
    })
    assert findings("app/items.py") == []


def test_conventional_names_apply_only_when_the_module_cannot_be_found(here: Path) -> None:
    write(here, {"app/__init__.py": "", "app/items.py": ROUTER.format(module="app.gone")})
    assert findings("app/items.py") == [("app/items.py", 4, "LC201")]
    (here / "pyproject.toml").write_text(
        "[tool.leakcheck]\nconventional-factory-names = []\n"
    )
    assert findings("app/items.py") == []


def test_configured_factories_pools_and_engines(here: Path) -> None:
    write(here, {
        "pyproject.toml": (
            "[tool.leakcheck]\n"
            'session-factories = ["vendor.db.make_session"]\n'
            'pools = ["vendor.db.POOL"]\n'
            'engines = ["vendor.db.warehouse"]\n'
        ),
        "jobs.py": (
            "from vendor.db import POOL, make_session, warehouse\n\n"
            "def a():\n    s = make_session()\n    s.query(1)\n\n"
            "async def b():\n    conn = await POOL.acquire()\n    await conn.fetch('x')\n\n"
            "def c():\n    conn = warehouse.connect()\n    conn.execute('x')\n"
        ),
    })
    assert findings("jobs.py") == [
        ("jobs.py", 4, "LC201"),
        ("jobs.py", 8, "LC101"),
        ("jobs.py", 12, "LC201"),
    ]


def test_imported_helpers_release_and_wrap(here: Path) -> None:
    write(here, {
        "app/__init__.py": "",
        "app/database.py": DATABASE,
        "app/deps.py": (
            "from contextlib import contextmanager\n"
            "from app.database import SessionLocal\n\n"
            "def close_session(db):\n    db.close()\n\n"
            "@contextmanager\n"
            "def session_scope():\n    db = SessionLocal()\n    try:\n        yield db\n"
            "    finally:\n        db.close()\n"
        ),
        "app/jobs.py": (
            "from app.database import SessionLocal\n"
            "from app.deps import close_session, session_scope\n\n"
            "def ok():\n    db = SessionLocal()\n    try:\n        db.query(1)\n"
            "    finally:\n        close_session(db)\n\n"
            "def unentered():\n    db = session_scope()\n    db.query(1)\n"
        ),
    })
    assert findings("app/jobs.py") == [("app/jobs.py", 12, "LC301")]
