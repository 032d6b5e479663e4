"""`[tool.leakcheck]` / `leakcheck.toml`: rule selection, per-file ignores, exclusion, fix
helpers, errors that name the key and the file, `--config`, `--isolated` and command-line
overrides."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import POOL, SESSION, found, invoke, invoke_split, script, write

from leakcheck.config.settings import load


@pytest.fixture()
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, {"app/pool.py": POOL, "app/session.py": SESSION})
    return tmp_path


def pyproject(root: Path, body: str) -> None:
    (root / "pyproject.toml").write_text("[tool.leakcheck]\n" + body)


BOTH = [("app/pool.py", 5, "LC102"), ("app/session.py", 5, "LC201")]


def test_no_configuration_reports_every_rule(here: Path) -> None:
    assert found("app") == BOTH


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('select = ["LC1"]\n', [("app/pool.py", 5, "LC102")]),
        ('select = ["LC201"]\n', [("app/session.py", 5, "LC201")]),
        ('ignore = ["LC102"]\n', [("app/session.py", 5, "LC201")]),
        ('ignore = ["LC"]\n', []),
        # The more specific prefix wins; at equal specificity, ignore wins.
        ('select = ["LC"]\nignore = ["LC2"]\n', [("app/pool.py", 5, "LC102")]),
        ('select = ["LC2"]\nignore = ["LC"]\n', [("app/session.py", 5, "LC201")]),
        ('select = ["LC102"]\nignore = ["LC102"]\n', []),
        ('select = ["LC1"]\nextend-select = ["LC201"]\n', BOTH),
        ('select = ["ALL"]\n', BOTH),
    ],
)
def test_select_and_ignore_take_codes_and_prefixes(
    here: Path, body: str, expected: list[tuple[str, int, str]]
) -> None:
    pyproject(here, body)
    assert found("app") == expected


def test_command_line_select_replaces_the_file_and_ignore_adds_to_it(here: Path) -> None:
    pyproject(here, 'select = ["LC1"]\nignore = ["LC201"]\n')
    assert found("--select", "LC2", "app") == [("app/session.py", 5, "LC201")]
    assert found("--extend-select", "LC2", "app") == [("app/pool.py", 5, "LC102")]
    pyproject(here, "")
    assert found("--ignore", "LC102", "app") == [("app/session.py", 5, "LC201")]
    assert found("--ignore", "LC102,LC201", "app") == []


def test_unknown_code_on_the_command_line_is_a_usage_error(here: Path) -> None:
    code, out = invoke("check", "--select", "LC9", "app")
    assert code == 2
    assert "unknown rule code or prefix 'LC9'" in out


def test_per_file_ignores_match_globs_relative_to_the_configuration(here: Path) -> None:
    write(here, {"tests/test_pool.py": POOL, "app/legacy/old_pool.py": POOL})
    pyproject(
        here,
        '[tool.leakcheck.per-file-ignores]\n"tests/*" = ["LC1"]\n"old_*.py" = ["LC102"]\n'
        '"app/session.py" = ["LC2"]\n',
    )
    assert found(".") == [("app/pool.py", 5, "LC102")]


def test_exclude_replaces_the_defaults_and_extend_exclude_adds(here: Path) -> None:
    write(
        here, {"build/gen.py": POOL, "app/generated/models.py": POOL, "app/migrations/m1.py": POOL}
    )
    pyproject(here, 'extend-exclude = ["app/generated", "migrations"]\n')
    assert found(".") == BOTH  # build/ stays excluded by default
    pyproject(here, 'exclude = ["app/generated"]\n')
    assert found(".") == [
        ("app/migrations/m1.py", 5, "LC102"),
        ("app/pool.py", 5, "LC102"),
        ("app/session.py", 5, "LC201"),
        ("build/gen.py", 5, "LC102"),
    ]


def test_a_named_file_is_checked_unless_exclusion_is_forced(here: Path) -> None:
    write(here, {"app/generated/models.py": POOL})
    pyproject(here, 'extend-exclude = ["generated"]\n')
    assert found("app/generated/models.py") == [("app/generated/models.py", 5, "LC102")]
    assert found("--force-exclude", "app/generated/models.py", "app/pool.py") == [
        ("app/pool.py", 5, "LC102")
    ]


def test_leakcheck_toml_is_found_walking_up_from_the_checked_file(here: Path) -> None:
    (here / "leakcheck.toml").write_text('select = ["LC2"]\n')
    write(here, {"app/deep/er/pool.py": POOL, "app/deep/er/session.py": SESSION})
    assert found("app/deep/er") == [("app/deep/er/session.py", 5, "LC201")]


def test_a_walk_finds_each_directorys_configuration_from_its_listing(here: Path) -> None:
    # The walk tells the finder what each directory holds: a directory listed without a
    # configuration file is not looked in again, one listed with it is read.
    from leakcheck.config.settings import ConfigFinder

    (here / "app" / "inner").mkdir()
    (here / "app" / "inner" / "leakcheck.toml").write_text('select = ["LC2"]\n')
    write(here, {"app/inner/pool.py": POOL, "app/inner/session.py": SESSION})
    assert sorted(found("app")) == sorted([*BOTH, ("app/inner/session.py", 5, "LC201")])
    finder = ConfigFinder()
    inner = str((here / "app" / "inner").resolve())
    finder.listed(inner, {"pool.py"})  # (a listing made before the file was written)
    assert finder.for_dir(inner).select == ConfigFinder().for_dir(str(here.resolve())).select
    finder = ConfigFinder()
    finder.listed(inner, {"leakcheck.toml", "pool.py"})
    assert finder.for_dir(inner).select == ("LC2",)


def test_explicit_config_and_isolated(here: Path) -> None:
    pyproject(here, 'select = ["LC2"]\n')
    (here / "strict.toml").write_text('select = ["LC1"]\n')
    assert found("--config", "strict.toml", "app") == [("app/pool.py", 5, "LC102")]
    assert found("--isolated", "app") == BOTH
    (here / "wrapped.toml").write_text('[tool.leakcheck]\nselect = ["LC1"]\n')
    code, out = invoke("check", "--config", "wrapped.toml", "app")
    assert code == 2
    assert out == (
        "leakcheck: error: wrapped.toml: `[tool.leakcheck]` belongs in pyproject.toml; "
        "in this file, write the keys at the top level\n"
    )
    code, out = invoke("check", "--isolated", "--config", "strict.toml", "app")
    assert code == 2
    assert "--config and --isolated exclude each other" in out


def test_fix_helpers_are_read_and_kept_for_the_fixes_to_come(here: Path) -> None:
    pyproject(here, 'fix-helpers = ["self.get_connection", "release_conn"]\n')
    assert load(here / "pyproject.toml").fix_helpers == ("self.get_connection", "release_conn")
    assert found("app") == BOTH


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        ("selct = []\n", "unknown key `selct` in [tool.leakcheck]"),
        ('select = "LC101"\n', "`select` must be a list of strings"),
        ('select = ["LC9"]\n', "`select`: unknown rule code or prefix 'LC9'"),
        ('ignore = ["lc101"]\n', "`ignore`: unknown rule code or prefix 'lc101'"),
        ('per-file-ignores = ["tests/*"]\n', "`per-file-ignores` must be a table of glob"),
        (
            '[tool.leakcheck.per-file-ignores]\n"tests/*" = "LC101"\n',
            "`per-file-ignores` 'tests/*' must be a list of codes",
        ),
        (
            '[tool.leakcheck.per-file-ignores]\n"tests/*" = ["X1"]\n',
            "`per-file-ignores` 'tests/*': unknown rule code or prefix 'X1'",
        ),
        ("exclude = [1]\n", "`exclude` must be a list of strings"),
        ("extend-exclude = true\n", "`extend-exclude` must be a list of strings"),
        ('fix-helpers = ["self.get connection"]\n', "`fix-helpers` entry 'self.get connection'"),
    ],
)
def test_bad_values_name_the_key_and_the_file(here: Path, body: str, complaint: str) -> None:
    pyproject(here, body)
    code, out, err = invoke_split("check", "app")
    assert (code, out) == (2, "")
    assert err.startswith(f"leakcheck: error: {here / 'pyproject.toml'}: {complaint}")
    assert err.endswith("\n") and err.count("\n") == 1


def test_console_script_reads_the_configuration(here: Path) -> None:
    pyproject(here, 'ignore = ["LC102"]\n')
    done = script("check", "--format", "json", "app", cwd=here)
    assert done.returncode == 1
    assert [f["code"] for f in json.loads(done.stdout)["findings"]] == ["LC201"]
    pyproject(here, "colour = 1\n")
    bad = script("check", "app", cwd=here)
    assert bad.returncode == 2
    assert bad.stderr == (
        f"leakcheck: error: {here / 'pyproject.toml'}: unknown key `colour` in [tool.leakcheck]\n"
    )
