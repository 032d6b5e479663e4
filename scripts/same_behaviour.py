"""Same behaviour: two revisions of leakcheck, the same inputs, byte-for-byte the same output?

The safety net for refactorings that must change no behaviour (issue 30). For each PATH it runs
the base revision's and the head revision's leakcheck twice,

  leakcheck check --output-format json --no-cache --jobs N PATH
  leakcheck check --diff --unsafe-fixes --no-cache --jobs N PATH

and compares standard output, standard error and the exit code byte for byte. It prints one row
per PATH (files, findings, errors, json / diff / stderr the same?), then the first differing
lines of each difference (a unified diff, capped), and exits 0 when everything is identical, 1
when something differs, 2 when it could not run.

How each side runs the right code: `git archive REV leakcheck rules` is unpacked into a
temporary directory (the working tree, for a head given as none, is copied: its `leakcheck/` and
`rules/` as they are when the script starts, uncommitted edits included, so edits made during
the run do not mix in). Each side runs `python -m leakcheck` with `PYTHONPATH` set to its tree;
`rules_dir()` finds `rules/` beside the package, so nothing is installed. Both sides use this
script's interpreter and its site-packages (libcst, click, ...): run it with the project's venv.
The script prints `leakcheck.__file__` per side and refuses to go on unless it lies in that
side's tree. The git working tree, its index and its worktree list are never touched.

What both sides share, so that only the code differs: every PATH is copied once (links kept as
links) into a temporary folder, and both sides run there, on the same relative path, with the
same `--jobs`, the same environment and the same `PYTHONHASHSEED` (default 0; `--hash-seed
random` leaves it unset, to look for output that depends on set order). Configuration is found
as a user's run finds it (a fixture folder's own `pyproject.toml` applies); the `LEAKCHECK_*`
environment variables are removed. Output is compared as it is; the one normalisation is the JSON
`"version"` field, and only when the two revisions declare different versions (it is printed).

    .venv/bin/python scripts/same_behaviour.py                       # HEAD vs the working tree,
                                                                     # over fixtures/ and examples/
    .venv/bin/python scripts/same_behaviour.py --base b532b62 fixtures examples /tmp/projects/*
    .venv/bin/python scripts/same_behaviour.py --base v0.2.0 --head HEAD --jobs 2 fixtures
"""

from __future__ import annotations

import argparse
import difflib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_PATHS = ("fixtures", "examples")
# What a revision needs to run: the package and the rule data `rules_dir()` finds beside it.
TREE_PARTS = ("leakcheck", "rules")
MODES: dict[str, tuple[str, ...]] = {
    "json": ("--output-format", "json"),
    "diff": ("--diff", "--unsafe-fixes"),
}
WORKING_TREE = "working tree"


class SetupError(Exception):
    """The comparison cannot run: a revision that does not exist, a path that is missing."""


@dataclass(frozen=True)
class Run:
    """One leakcheck run's observable behaviour."""

    stdout: bytes
    stderr: bytes
    returncode: int
    seconds: float


@dataclass(frozen=True)
class Side:
    """One revision, unpacked: its label and the directory that goes on `PYTHONPATH`."""

    label: str
    tree: Path
    version: str


@dataclass(frozen=True)
class Difference:
    """One output that is not the same on both sides."""

    path: str
    mode: str
    stream: str  # "stdout", "stderr" or "exit code"
    lines: tuple[str, ...]  # the unified diff (or the two codes), capped


@dataclass(frozen=True)
class Row:
    """One input path's result."""

    path: str
    files: str
    findings: str
    errors: str  # files not checked: two sides failing alike are "the same", and say nothing
    same: dict[str, bool]  # "json", "diff", "stderr"
    seconds: tuple[float, float]  # base, head: the two modes together


def git(*args: str, stdout: int | None = subprocess.PIPE) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", "-C", str(REPO), *args], stdout=stdout, check=False)


def resolve(rev: str) -> str:
    """The commit REV names, or a SetupError."""
    found = git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    if found.returncode != 0:
        raise SetupError(f"no such revision: {rev}")
    return found.stdout.decode().strip()


def unpack(rev: str | None, dest: Path) -> str:
    """Put REV's `leakcheck/` and `rules/` (the working tree's, for None) under DEST.

    Returns a label: the commit's short hash and subject, or "working tree"."""
    dest.mkdir(parents=True)
    if rev is None:
        for part in TREE_PARTS:
            shutil.copytree(
                REPO / part, dest / part, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
            )
        return WORKING_TREE
    commit = resolve(rev)
    archive = git("archive", "--format=tar", commit, "--", *TREE_PARTS)
    if archive.returncode != 0:
        raise SetupError(f"git archive {rev} failed")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        if hasattr(tarfile, "data_filter"):  # 3.12, and 3.10.12 / 3.11.4 onwards
            tar.extractall(dest, filter="data")
        else:  # pragma: no cover - older interpreters; the archive is our own repository's
            tar.extractall(dest)
    subject = git("log", "-1", "--format=%h %s", commit).stdout.decode().strip()
    return f"{rev} = {subject}" if not commit.startswith(rev) else subject


def environment(tree: Path, hash_seed: str) -> dict[str, str]:
    """The environment both sides run in, differing only in `PYTHONPATH`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEAKCHECK_")}
    env["PYTHONPATH"] = str(tree)
    env.pop("PYTHONHASHSEED", None)
    if hash_seed != "random":
        env["PYTHONHASHSEED"] = hash_seed
    env.pop("NO_COLOR", None)
    env.pop("FORCE_COLOR", None)
    return env


def identify(side_tree: Path, label: str, cwd: Path, hash_seed: str) -> Side:
    """Check that `python -m leakcheck`, run as the comparison runs it, imports SIDE_TREE's copy."""
    probe = (
        "import leakcheck, sys; "
        "print(leakcheck.__file__); print(getattr(leakcheck, '__version__', '?'))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=cwd,
        env=environment(side_tree, hash_seed),
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        raise SetupError(f"{label}: leakcheck does not import: {done.stderr.decode()}")
    where, version = done.stdout.decode().splitlines()[:2]
    if not Path(where).resolve().is_relative_to(side_tree.resolve()):
        raise SetupError(f"{label}: imported {where}, not the copy in {side_tree}")
    print(f"  {label}\n    leakcheck {version} from {where}")
    return Side(label, side_tree, version)


def copy_inputs(paths: Sequence[str], dest: Path) -> list[str]:
    """Copy each path once into DEST; return the names both sides check, in order."""
    dest.mkdir(parents=True)
    names: list[str] = []
    for given in paths:
        source = Path(given)
        if not source.is_absolute() and not source.exists():
            source = REPO / given
        if not source.exists():
            raise SetupError(f"no such path: {given}")
        name = source.resolve().name or "root"
        # `python -m` puts the working directory first on sys.path: an input named `leakcheck`
        # would be the package both sides import.
        base, n = ("input-" + name if name == "leakcheck" else name), 1
        name = base
        while name in names:
            n += 1
            name = f"{base}-{n}"
        if source.is_dir():
            shutil.copytree(source, dest / name, symlinks=True)
        else:
            shutil.copy2(source, dest / name)
        names.append(name)
    return names


def run(side: Side, mode: str, name: str, cwd: Path, jobs: int, hash_seed: str) -> Run:
    """One leakcheck run of SIDE's code on the input NAME."""
    command = [
        sys.executable,
        "-m",
        "leakcheck",
        "check",
        *MODES[mode],
        "--no-cache",
        "--jobs",
        str(jobs),
        name,
    ]
    started = time.perf_counter()
    done = subprocess.run(
        command,
        cwd=cwd,
        env=environment(side.tree, hash_seed),
        capture_output=True,
        check=False,
    )
    return Run(done.stdout, done.stderr, done.returncode, time.perf_counter() - started)


def normalise_version(stdout: bytes, version: str) -> bytes:
    """The JSON document with its top-level `"version"` value replaced by a placeholder."""
    needle = f'"version": {json.dumps(version)}'.encode()
    return stdout.replace(needle, b'"version": "<version>"', 1)


def text(line: bytes) -> str:
    """A line of output for the diff: as it is when it is UTF-8, else marked and escaped (so a
    byte 0xE9 never shows as the four characters `\\xe9` a line may really hold)."""
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return f"<not UTF-8> {line!r}"


def unified(base: bytes, head: bytes, base_label: str, head_label: str, cap: int) -> list[str]:
    """The unified diff of two outputs, at most CAP lines (and a line saying how many more)."""
    lines = list(
        difflib.unified_diff(
            [text(line) for line in base.splitlines()],
            [text(line) for line in head.splitlines()],
            base_label,
            head_label,
            lineterm="",
        )
    )
    if len(lines) > cap:
        lines = [*lines[:cap], f"... {len(lines) - cap} more lines"]
    return lines


def compare(
    path: str, mode: str, base: Run, head: Run, labels: tuple[str, str], cap: int
) -> list[Difference]:
    """What differs between two runs of one mode on one path: nothing, when they are the same."""
    found: list[Difference] = []
    streams = (("stdout", base.stdout, head.stdout), ("stderr", base.stderr, head.stderr))
    for stream, a, b in streams:
        if a != b:
            lines = unified(a, b, f"{labels[0]} {stream}", f"{labels[1]} {stream}", cap)
            if not lines:  # equal as text lines, different as bytes: line endings, a final newline
                lines = [f"bytes differ ({len(a)} vs {len(b)}) but no line does"]
            found.append(Difference(path, mode, stream, tuple(lines)))
    if base.returncode != head.returncode:
        lines = [f"exit code {base.returncode} (base) vs {head.returncode} (head)"]
        found.append(Difference(path, mode, "exit code", tuple(lines)))
    return found


def counts(stdout: bytes) -> tuple[str, str, str]:
    """Files, findings and errors from a JSON report's summary (`?` when it is not one)."""
    try:
        summary = json.loads(stdout)["summary"]
        return str(summary["files"]), str(summary["findings"]), str(summary["errors"])
    except (ValueError, KeyError, TypeError):
        return "?", "?", "?"


def check_path(
    name: str,
    sides: tuple[Side, Side],
    cwd: Path,
    jobs: int,
    hash_seed: str,
    cap: int,
) -> tuple[Row, list[Difference]]:
    base_side, head_side = sides
    labels = ("base", "head")
    same: dict[str, bool] = {}
    differences: list[Difference] = []
    seconds = [0.0, 0.0]
    files = findings = errors = "?"
    for mode in MODES:
        base = run(base_side, mode, name, cwd, jobs, hash_seed)
        head = run(head_side, mode, name, cwd, jobs, hash_seed)
        seconds[0] += base.seconds
        seconds[1] += head.seconds
        if mode == "json":
            if base_side.version != head_side.version:
                base = Run(
                    normalise_version(base.stdout, base_side.version),
                    base.stderr,
                    base.returncode,
                    base.seconds,
                )
                head = Run(
                    normalise_version(head.stdout, head_side.version),
                    head.stderr,
                    head.returncode,
                    head.seconds,
                )
            base_counts, head_counts = counts(base.stdout), counts(head.stdout)
            files, findings, errors = (
                (c1 if c1 == c2 else f"{c1}->{c2}")
                for c1, c2 in zip(base_counts, head_counts, strict=True)
            )
        found = compare(name, mode, base, head, labels, cap)
        differences.extend(found)
        same[mode] = not any(d.stream != "stderr" for d in found)
        same["stderr"] = same.get("stderr", True) and not any(d.stream == "stderr" for d in found)
    return Row(name, files, findings, errors, same, (seconds[0], seconds[1])), differences


def table(rows: Sequence[Row]) -> list[str]:
    headers = ("path", "files", "findings", "errors", "json", "diff", "stderr", "base s", "head s")
    cells = [
        (
            row.path,
            row.files,
            row.findings,
            row.errors,
            *("same" if row.same[key] else "DIFFERS" for key in ("json", "diff", "stderr")),
            f"{row.seconds[0]:.1f}",
            f"{row.seconds[1]:.1f}",
        )
        for row in rows
    ]
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *cells, strict=False)]
    out = []
    for i, line in enumerate([headers, *cells]):
        out.append("  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
        if i == 0:
            out.append("  ".join("-" * w for w in widths))
    return out


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Run two revisions of leakcheck on the same inputs; compare the outputs "
        "byte for byte (check --output-format json, check --diff --unsafe-fixes).",
    )
    parser.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="inputs (each one row; default: the repo's fixtures and examples)",
    )
    parser.add_argument("--base", default="HEAD", help="the old revision (default: HEAD)")
    parser.add_argument(
        "--head",
        default=None,
        help="the new revision (default: the working tree, uncommitted edits included)",
    )
    parser.add_argument("--jobs", type=int, default=2, help="leakcheck --jobs, both sides")
    parser.add_argument(
        "--hash-seed",
        default="0",
        help="PYTHONHASHSEED for both sides (default 0; 'random' leaves it unset)",
    )
    parser.add_argument(
        "--max-lines", type=int, default=40, help="lines of each difference shown (default 40)"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary trees and inputs, print where"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    options = parse(argv)
    paths = options.paths or [str(REPO / p) for p in DEFAULT_PATHS]
    scratch = Path(tempfile.mkdtemp(prefix="same-behaviour-"))
    started = time.perf_counter()
    try:
        inputs = scratch / "inputs"
        names = copy_inputs(paths, inputs)
        print("revisions:")
        sides = (
            identify(
                scratch / "base",
                f"base: {unpack(options.base, scratch / 'base')}",
                inputs,
                options.hash_seed,
            ),
            identify(
                scratch / "head",
                f"head: {unpack(options.head, scratch / 'head')}",
                inputs,
                options.hash_seed,
            ),
        )
        print(
            f"both: {sys.executable}, --no-cache --jobs {options.jobs}, "
            f"PYTHONHASHSEED={options.hash_seed}, in {inputs}"
        )
        if sides[0].version != sides[1].version:
            print(
                f'normalised: the JSON "version" field ({sides[0].version} vs '
                f"{sides[1].version}); nothing else"
            )
        else:
            print("normalised: nothing")
        rows: list[Row] = []
        differences: list[Difference] = []
        for name in names:
            row, found = check_path(
                name, sides, inputs, options.jobs, options.hash_seed, options.max_lines
            )
            rows.append(row)
            differences.extend(found)
            print(f"  {name}: {'identical' if not found else 'DIFFERS'}", flush=True)
    except SetupError as error:
        print(f"same_behaviour: {error}", file=sys.stderr)
        return 2
    finally:
        if options.keep:
            print(f"kept: {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    print()
    print("\n".join(table(rows)))
    for difference in differences:
        print(f"\n== {difference.path}: {difference.mode} {difference.stream}")
        print("\n".join(difference.lines))
    elapsed = time.perf_counter() - started
    verdict = "identical" if not differences else f"{len(differences)} differences"
    print(f"\n{verdict}: {len(rows)} paths, 2 modes each, in {elapsed:.0f} s")
    return 0 if not differences else 1


if __name__ == "__main__":
    sys.exit(main())
