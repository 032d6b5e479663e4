"""The options and keys ruff users reach for: `--add-noqa`, `--show-files`, `--show-settings`,
`--exclude` / `--extend-exclude`, `--fix-only`, `fixable` / `unfixable`, `preview`, `extend`,
`.leakcheck.toml`, and "did you mean" for an unknown key."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cli_helpers import POOL, SESSION, found, invoke, invoke_split, write

from leakcheck.config.inherit import rebase
from leakcheck.model import FileError
from leakcheck.project.addnoqa import ENDS_IN_STRING, UNREADABLE_NOQA, with_noqa
from leakcheck.project.problems import summary_parts

BOTH = [("app/pool.py", 5, "LC102"), ("app/session.py", 5, "LC201")]


@pytest.fixture()
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, {"app/pool.py": POOL, "app/session.py": SESSION})
    return tmp_path


def pyproject(root: Path, body: str) -> None:
    (root / "pyproject.toml").write_text("[tool.leakcheck]\n" + body)


# --- unknown keys, `.leakcheck.toml` ---------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "suggested"),
    [
        ('extend-selct = ["LC1"]\n', "extend-select"),
        ('exlude = ["x"]\n', "exclude"),
        ("[tool.leakcheck.django]\npooler = []\n", "poolers"),
    ],
)
def test_an_unknown_key_suggests_the_closest_known_one(
    here: Path, body: str, suggested: str
) -> None:
    pyproject(here, body)
    code, _, err = invoke_split("check", "app")
    assert code == 2
    assert f"(did you mean `{suggested}`?)" in err
    assert str(here / "pyproject.toml") in err


def test_an_unknown_key_far_from_any_suggests_nothing(here: Path) -> None:
    pyproject(here, "zzzz = 1\n")
    code, _, err = invoke_split("check", "app")
    assert code == 2 and "unknown key `zzzz`" in err and "did you mean" not in err


def test_dot_leakcheck_toml_is_read_first(here: Path) -> None:
    (here / "leakcheck.toml").write_text('select = ["LC1"]\n')
    assert found("app") == [("app/pool.py", 5, "LC102")]
    (here / ".leakcheck.toml").write_text('select = ["LC2"]\n')
    assert found("app") == [("app/session.py", 5, "LC201")]


# --- extend ------------------------------------------------------------------------------------


def test_extend_inherits_and_this_file_overrides(here: Path) -> None:
    write(here, {"app/generated/gen.py": POOL, "app/legacy/old.py": POOL})
    (here / "shared.toml").write_text(
        'ignore = ["LC2"]\nextend-exclude = ["app/generated"]\nfixable = ["LC1"]\n'
    )
    (here / "app" / "leakcheck.toml").write_text(
        'extend = "../shared.toml"\nextend-exclude = ["legacy"]\n'
    )
    # The shared glob, written relative to the shared file, still means app/generated.
    assert found("app") == [("app/pool.py", 5, "LC102")]
    (here / "app" / "leakcheck.toml").write_text('extend = "../shared.toml"\nignore = []\n')
    assert found("app") == [
        ("app/legacy/old.py", 5, "LC102"),
        ("app/pool.py", 5, "LC102"),
        ("app/session.py", 5, "LC201"),
    ]
    code, out, _ = invoke_split("check", "--show-settings", "app/pool.py")
    assert code == 0
    assert f"Extends: {here.resolve() / 'shared.toml'}" in out
    assert 'fixable = ["LC1"]' in out and 'extend-exclude = ["generated/"]' in out


def test_a_select_in_the_extending_file_starts_afresh(here: Path) -> None:
    (here / "base.toml").write_text('select = ["LC1"]\nextend-select = ["LC201"]\n')
    (here / "leakcheck.toml").write_text('extend = "base.toml"\n')
    assert found("app") == BOTH
    (here / "leakcheck.toml").write_text('extend = "base.toml"\nselect = ["LC1"]\n')
    assert found("app") == [("app/pool.py", 5, "LC102")]


@pytest.mark.parametrize(
    ("files", "complaint"),
    [
        ({"leakcheck.toml": 'extend = "missing.toml"\n'}, "is not a file"),
        ({"leakcheck.toml": 'extend = "b.toml"', "b.toml": 'extend = "./leakcheck.toml"'}, "cycle"),
        ({"leakcheck.toml": 'extend = "leakcheck.toml"\n'}, "cycle"),
        ({"leakcheck.toml": "extend = 3\n"}, "must be the path"),
        ({"leakcheck.toml": 'extend = "b.toml"\n', "b.toml": 'ignor = ["LC1"]\n'}, "b.toml"),
        ({"leakcheck.toml": 'extend = "b.toml"\n', "b.toml": 'select = ["LC9"]\n'}, "b.toml"),
    ],
)
def test_a_bad_extend_is_a_configuration_error(
    here: Path, files: dict[str, str], complaint: str
) -> None:
    write(here, files)
    code, _, err = invoke_split("check", "app")
    assert code == 2, err
    assert complaint in err


def test_an_extend_chain_is_limited(here: Path) -> None:
    for number in range(40):
        (here / f"c{number}.toml").write_text(f'extend = "c{number + 1}.toml"\n')
    (here / "c40.toml").write_text('select = ["LC1"]\n')
    (here / "leakcheck.toml").write_text('extend = "c0.toml"\n')
    code, _, err = invoke_split("check", "app")
    assert code == 2 and "chains more than" in err
    (here / "leakcheck.toml").write_text('extend = "c35.toml"\n')
    assert found("app") == [("app/pool.py", 5, "LC102")]


@pytest.mark.parametrize(
    ("pattern", "anchor", "root", "expected"),
    [
        ("gen", "/p", "/p/sub", "gen"),  # a bare name matches anywhere
        ("sub/gen/*", "/p", "/p", "sub/gen/*"),
        ("gen/*", "/p/sub", "/p", "sub/gen/*"),
        ("sub/gen/*", "/p", "/p/sub", "gen/*"),
        ("sub/gen.py", "/p", "/p/sub", "gen.py/"),  # anchored: not any gen.py below
        ("s*/gen/*", "/p", "/p/sub", "gen/*"),
        ("other/gen/*", "/p", "/p/sub", None),
        ("sub/*", "/p", "/p/sub", "*/"),  # `*` spans `/`: everything below
        ("x/*", "/q", "/p", None),
        ("./sub/a/", "/p", "/p/sub", "a/"),
        ("/p/sub/gen/*", "/elsewhere", "/p/sub", "gen/*"),
    ],
)
def test_rebase_moves_a_glob_to_another_directory(
    pattern: str, anchor: str, root: str, expected: str | None
) -> None:
    assert rebase(pattern, Path(anchor), Path(root)) == expected


def test_rebase_escapes_glob_characters_in_the_directory() -> None:
    assert rebase("x/*", Path("/p/[ab]"), Path("/p")) == "[[]ab]/x/*"


# --- --exclude, --extend-exclude, --show-files, --show-settings --------------------------------


def test_show_files_lists_what_would_be_checked(here: Path) -> None:
    write(here, {"app/generated/gen.py": POOL, "build/out.py": POOL})
    code, out, _ = invoke_split("check", "--show-files", ".")
    assert code == 0
    assert out.splitlines() == ["app/pool.py", "app/session.py", "app/generated/gen.py"]
    code, out, _ = invoke_split("check", "--show-files", "--extend-exclude", "generated", ".")
    assert out.splitlines() == ["app/pool.py", "app/session.py"]
    code, out, _ = invoke_split("check", "--show-files", "--exclude", "app/session.py", ".")
    assert out.splitlines() == ["app/pool.py", "app/generated/gen.py", "build/out.py"]


def test_command_line_globs_are_relative_to_the_working_directory(here: Path) -> None:
    write(here, {"app/generated/gen.py": POOL})
    (here / "app" / "leakcheck.toml").write_text('extend-exclude = ["nothing"]\n')
    # app/leakcheck.toml's globs are relative to app/; the command line's to the working directory.
    assert found("--extend-exclude", "app/generated/*", ".") == BOTH
    assert found("--extend-exclude", "generated/*", ".") == [
        ("app/generated/gen.py", 5, "LC102"),
        *BOTH,
    ]
    assert found("--exclude", "app/pool.py", ".") == [
        ("app/generated/gen.py", 5, "LC102"),
        ("app/session.py", 5, "LC201"),
    ]


def test_show_settings_names_the_file_and_its_rules(here: Path) -> None:
    pyproject(here, 'select = ["LC2"]\nunfixable = ["LC201"]\npreview = true\n')
    code, out, _ = invoke_split("check", "--show-settings", "app/session.py")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "Resolved settings for: app/session.py"
    assert lines[1] == f"Settings path: {here.resolve() / 'pyproject.toml'}"
    assert 'select = ["LC2"]' in lines and "preview = true" in lines
    checked = next(line for line in lines if line.startswith("# rules checked"))
    fixing = next(line for line in lines if line.startswith("# rules --fix"))
    assert '"LC201"' in checked and '"LC102"' not in checked
    assert '"LC201"' not in fixing
    code, out, _ = invoke_split("check", "--show-settings", "--select", "LC1", "app/session.py")
    assert 'select = ["LC1"]' in out.splitlines()


def test_show_settings_without_a_file_is_a_usage_error(here: Path) -> None:
    (here / "empty").mkdir()
    code, _, err = invoke_split("check", "--show-settings", "empty")
    assert code == 2 and "no Python file" in err


@pytest.mark.parametrize(
    "args",
    [
        ("--show-files", "--show-settings"),
        ("--add-noqa", "--diff"),
        ("--add-noqa", "--fix"),
        ("--fix-only", "--add-noqa"),
        ("--show-files", "--write-baseline", "b.json"),
    ],
)
def test_modes_exclude_each_other(here: Path, args: tuple[str, ...]) -> None:
    code, _, err = invoke_split("check", *args, "app")
    assert code == 2 and "exclude each other" in err


# --- fixable, unfixable, --fix-only, preview ---------------------------------------------------


def test_unfixable_codes_are_neither_fixed_nor_offered(here: Path) -> None:
    code, out = invoke("check", "--output-format", "concise", "app")
    assert "LC102 [*]" in out and "1 more with `--fix --unsafe-fixes`" in out
    pyproject(here, 'unfixable = ["LC2"]\n')
    code, out = invoke("check", "--output-format", "concise", "app")
    assert code == 1
    assert "LC102 [*]" in out and "unsafe" not in out
    code, _ = invoke("check", "--fix", "--unsafe-fixes", "app")
    assert code == 1  # the session leak is left
    assert (here / "app/session.py").read_text() == SESSION
    assert (here / "app/pool.py").read_text() != POOL
    assert found("app") == [("app/session.py", 5, "LC201")]


def test_fixable_on_the_command_line_replaces_the_configuration(here: Path) -> None:
    pyproject(here, 'fixable = ["LC1"]\n')
    code, _ = invoke("check", "--fix", "--unsafe-fixes", "--fixable", "LC2", "app")
    assert code == 1
    assert (here / "app/pool.py").read_text() == POOL
    assert found("app") == [("app/pool.py", 5, "LC102")]
    code, _ = invoke("check", "--fix", "--unfixable", "LC201", "--fixable", "ALL", "app")
    assert found("app") == []


def test_unknown_fixable_code_is_an_error(here: Path) -> None:
    code, out = invoke("check", "--fixable", "LC9", "app")
    assert code == 2 and "--fixable" in out
    pyproject(here, 'unfixable = ["XX1"]\n')
    code, _, err = invoke_split("check", "app")
    assert code == 2 and "`unfixable`" in err


def test_fix_only_fixes_and_reports_nothing_left(here: Path) -> None:
    pyproject(here, 'unfixable = ["LC1"]\n')
    code, out, _ = invoke_split("check", "--fix-only", "--unsafe-fixes", "app")
    assert code == 0  # LC102 remains, unfixable: not reported
    assert out == "Fixed 1 leak.\n"
    assert found("app") == [("app/pool.py", 5, "LC102")]
    code, out, _ = invoke_split("check", "--fix-only", "--exit-non-zero-on-fix", "app")
    assert (code, out) == (0, "Fixed 0 leaks.\n")
    code, out, _ = invoke_split("check", "--fix-only", "-q", "app")
    assert (code, out) == (0, "")


def test_fix_only_fails_for_a_file_it_cannot_analyse(here: Path) -> None:
    write(here, {"app/broken.py": "import psycopg2\ndef f(:\n    psycopg2.connect()\n"})
    code, out, err = invoke_split("check", "--fix-only", "--unsafe-fixes", "app")
    assert code == 1
    assert "app/broken.py:2: error: syntax error" in err
    assert out == "Fixed 2 leaks.\n"


def test_preview_is_read_and_checked(here: Path) -> None:
    pyproject(here, 'preview = "yes"\n')
    code, _, err = invoke_split("check", "app")
    assert code == 2 and "`preview` must be true or false" in err
    pyproject(here, "preview = true\n")
    assert found("app") == BOTH
    code, out, _ = invoke_split("check", "--no-preview", "--show-settings", "app/pool.py")
    assert "preview = false" in out.splitlines()


# --- --add-noqa --------------------------------------------------------------------------------


def test_add_noqa_silences_each_finding_once(here: Path) -> None:
    code, _, err = invoke_split("check", "--add-noqa", "app")
    assert code == 0, err
    assert err == "Added 2 noqa directives.\n"
    pool = (here / "app/pool.py").read_text().splitlines()
    assert pool[4] == "    conn = pool.getconn()  # noqa: LC102"
    assert found("app") == []
    before = {p: p.read_bytes() for p in (here / "app").glob("*.py")}
    code, _, err = invoke_split("check", "--add-noqa", "app")
    assert (code, err) == (0, "Added 0 noqa directives.\n")
    assert {p: p.read_bytes() for p in (here / "app").glob("*.py")} == before


def test_add_noqa_merges_into_the_directive_on_the_line(here: Path) -> None:
    text = POOL.replace("conn = pool.getconn()", "conn = pool.getconn()  # noqa: E501")
    write(here, {"app/pool.py": text})
    code, _, err = invoke_split("check", "--add-noqa", "--select", "LC1", "app/pool.py")
    assert code == 0 and err == "Added 1 noqa directive.\n"
    line = (here / "app/pool.py").read_text().splitlines()[4]
    assert line == "    conn = pool.getconn()  # noqa: E501, LC102"


def test_add_noqa_keeps_line_endings_and_encoding(here: Path) -> None:
    text = "# -*- coding: latin-1 -*-\n# caf\xe9\n" + POOL
    (here / "app/pool.py").write_bytes(text.replace("\n", "\r\n").encode("latin-1"))
    code, _, err = invoke_split("check", "--add-noqa", "app/pool.py")
    assert code == 0, err
    data = (here / "app/pool.py").read_bytes()
    assert b"caf\xe9" in data and data.count(b"\r\n") == text.count("\n")
    assert b"conn = pool.getconn()  # noqa: LC102\r\n" in data


def test_add_noqa_does_not_write_through_a_link(here: Path) -> None:
    (here / "outside").mkdir()
    write(here, {"outside/pool.py": POOL})
    os.symlink(here / "outside/pool.py", here / "app/linked.py")
    code, _, err = invoke_split("check", "--add-noqa", "app/linked.py")
    assert code == 1
    assert "no noqa added: a symbolic link" in err
    assert (here / "outside/pool.py").read_text() == POOL


@pytest.mark.parametrize(
    ("source", "wanted", "expected", "left"),
    [
        ("x = f()\n", {1: ["LC101"]}, "x = f()  # noqa: LC101\n", {}),
        ("x = f()   \n", {1: ["LC2", "LC1", "LC1"]}, "x = f()  # noqa: LC1, LC2\n", {}),
        ("x = f()  # why\n", {1: ["LC1"]}, "x = f()  # why  # noqa: LC1\n", {}),
        ("x = f()  # NOQA:E1\n", {1: ["LC1"]}, "x = f()  # NOQA:E1, LC1\n", {}),
        ("x = f()  # noqa: LC1\n", {1: ["LC1"]}, "x = f()  # noqa: LC1\n", {}),
        (
            "x = f()  # leakcheck: ignore[LC2]\n",
            {1: ["LC1"]},
            "x = f()  # leakcheck: ignore[LC2, LC1]\n",
            {},
        ),
        ('x = f("""\n""")\n', {1: ["LC1"]}, 'x = f("""\n""")\n', {1: ENDS_IN_STRING}),
        ("x = \\\n  f()\n", {1: ["LC1"]}, "x = \\\n  f()\n", {1: ENDS_IN_STRING}),
        ("x = f(\n  1)\n", {1: ["LC1"]}, "x = f(  # noqa: LC1\n  1)\n", {}),
        ("x = f()  # noqa:lower\n", {1: ["LC1"]}, "x = f()  # noqa:lower\n", {1: UNREADABLE_NOQA}),
        ("x = f()", {1: ["LC1"]}, "x = f()  # noqa: LC1", {}),
    ],
)
def test_with_noqa_edits_only_what_it_must(
    source: str, wanted: dict[int, list[str]], expected: str, left: dict[int, str]
) -> None:
    edited = with_noqa(source.encode(), wanted)
    assert edited.source.decode() == expected
    assert edited.left == left
    assert edited.added == (0 if source == expected else 1)


# --- files that cannot be analysed -------------------------------------------------------------


def test_the_summary_counts_files_not_analysed_and_why(here: Path) -> None:
    (here / "app/broken.py").write_text("import psycopg2\ndef f(:\n    psycopg2.connect()\n")
    (here / "app/latin.py").write_bytes(b"import psycopg2\nx = '\xff'\nc = psycopg2.connect()\n")
    (here / "app/quiet.py").write_text("def g(:\n")  # no acquisition: never parsed, not counted
    code, out, _ = invoke_split("check", "--no-cache", "app")
    assert code == 1
    assert "app/broken.py:2: error: syntax error" in out
    assert out.splitlines()[-1] == (
        "Found 2 leaks in 2 files; 2 files not analysed: 1 not UTF-8, 1 syntax error; "
        "1 fixable with `--fix`; 1 more with `--fix --unsafe-fixes` (5 files in all)."
    )


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        ([], []),
        ([("a.py", "syntax error: invalid syntax")], ["1 file not analysed: 1 syntax error"]),
        (
            [("a.py", "syntax error: x"), ("a.py", "cannot read: gone"), ("b.py", "syntax error")],
            ["2 files not analysed: 2 syntax errors"],
        ),
        (
            [("a.py", "cannot decode: unknown encoding: klingon"), ("b.py", "cannot read: EACCES")],
            ["2 files not analysed: 1 not decodable, 1 unreadable"],
        ),
        (
            [("a.py", "not fixed: a symbolic link"), ("b.py", "not analysed: it takes longer")],
            ["1 file not analysed: 1 other problem", "1 file not written"],
        ),
        (
            [("n.ipynb", "not analysed: Jupyter notebooks are not supported")],
            ["1 file not analysed: 1 notebook"],
        ),
    ],
)
def test_summary_parts_count_each_file_once(
    messages: list[tuple[str, str]], expected: list[str]
) -> None:
    errors = [FileError(path, None, message) for path, message in messages]
    assert summary_parts(errors) == expected


def test_extend_expands_environment_variables(here: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (here / "shared").mkdir()
    (here / "shared" / "base.toml").write_text('select = ["LC2"]\n')
    monkeypatch.setenv("LEAKCHECK_SHARED", str(here / "shared"))
    (here / "leakcheck.toml").write_text('extend = "$LEAKCHECK_SHARED/base.toml"\n')
    assert found("app") == [("app/session.py", 5, "LC201")]


@pytest.mark.parametrize("mode", ["--add-noqa", "--show-files", "--show-settings"])
def test_modes_that_take_files_refuse_standard_input(here: Path, mode: str) -> None:
    code, _, err = invoke_split("check", mode, "-")
    assert code == 2 and f"{mode} takes files, not standard input" in err
