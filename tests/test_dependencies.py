"""The FastAPI version a project declares, read from its dependency files (LC403's fix)."""

from __future__ import annotations

from pathlib import Path

import pytest

from leakcheck.config.dependencies import forget, package_version


@pytest.fixture(autouse=True)
def fresh() -> None:
    forget()


def version(root: Path, files: dict[str, str], where: str = "app/api.py") -> str | None:
    (root / ".git").mkdir(parents=True)
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    found = package_version("fastapi", root / where)
    return None if found is None else f"{found.version} {found.text} {found.file.name}"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("fastapi==0.121.2", "(0, 121, 2) ==0.121.2 requirements.txt"),
        (
            "FastAPI[standard] >= 0.122 ; python_version >= '3.10'",
            "(0, 122) >= 0.122 requirements.txt",
        ),
        ("fastapi~=0.121.1", "(0, 121, 1) ~=0.121.1 requirements.txt"),
        ("fastapi>0.121.0", "(0, 121, 1) >0.121.0 requirements.txt"),
        ("fastapi<0.130,>=0.118", "(0, 118) >=0.118 requirements.txt"),
        ("fastapi<1", None),
        ("fastapi-users==14.0.0", None),
        ("# fastapi==0.121.2", None),
    ],
)
def test_requirement_lines(tmp_path: Path, line: str, expected: str | None) -> None:
    assert version(tmp_path, {"requirements.txt": line + "\n"}) == expected


def test_a_lock_pin_wins_over_a_declared_bound(tmp_path: Path) -> None:
    files = {
        "pyproject.toml": '[project]\ndependencies = ["fastapi>=0.100"]\n',
        "poetry.lock": '[[package]]\nname = "FastAPI"\nversion = "0.121.3"\n',
    }
    assert version(tmp_path, files) == "(0, 121, 3) 0.121.3 poetry.lock"


def test_poetry_constraints(tmp_path: Path) -> None:
    files = {"pyproject.toml": '[tool.poetry.dependencies]\nfastapi = {version = "~0.121.1"}\n'}
    assert version(tmp_path, files) == "(0, 121, 1) ~0.121.1 pyproject.toml"


def test_the_nearest_directory_answers_and_the_project_root_ends_the_search(tmp_path: Path) -> None:
    files = {"requirements.txt": "fastapi==0.110.0\n", "app/requirements.txt": "fastapi==0.122.0\n"}
    assert version(tmp_path / "a", files) == "(0, 122, 0) ==0.122.0 requirements.txt"
    outside = tmp_path / "b"
    (outside / "requirements.txt").parent.mkdir(parents=True)
    (outside / "requirements.txt").write_text("fastapi==0.122.0\n")
    assert version(outside / "project", {"app/x.txt": ""}) is None  # above the root: not read


def test_unreadable_or_malformed_files_answer_nothing(tmp_path: Path) -> None:
    assert version(tmp_path, {"uv.lock": "not [toml", "pyproject.toml": "[project\n"}) is None
