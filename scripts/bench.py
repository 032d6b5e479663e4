"""Benchmark: leakcheck on a real corpus, side by side with the limit, ruff and pylint.

Builds the corpus of issue 9 in a temporary directory: `pip install --target` Django 5.2.x and
SQLAlchemy 2.1.x (no dependencies) and copies their package folders plus the standard library's
`asyncio` and `email`. ruff and pylint, only needed here, are installed into a temporary virtual
environment (never into leakcheck's). Then, in one run, each measurement `--repeat` times:

  cold        leakcheck check on the corpus, empty cache (--jobs default: the CPU count)
  warm        the same again, nothing changed (reads the cache; must not import libcst)
  one changed one file edited, then `leakcheck check FILE` as pre-commit runs it, warm cache:
              Django's postgresql/base.py (it holds connections: judged with libcst), and
              django/template/defaultfilters.py (no acquisition word: CPython's parser only)
  the limit   read every file, keep those whose bytes hold an acquisition token, libcst-parse
              those in --jobs processes: what a run that must parse cannot beat
  ruff        ruff check --select SIM115 --no-cache on the corpus
  pylint      pylint --disable=all --enable=consider-using-with -j2 on the Django part, and
              leakcheck cold and the limit on the same part (the limit bounds the ratio any
              run that parses with libcst can reach)
  x10         leakcheck cold on the corpus copied 10 times (cpu ratio to the corpus)
Measurements that are compared run alternately (cold and the limit, warm and ruff, pylint, leakcheck
and the limit on Django: one run of each, `--repeat` times), so that they see the same machine.
Prints wall-clock medians, cpu time (this process's children), peak memory (the largest sum of
PSS over the process tree, sampled every 100 ms: shared pages counted once), and each target's
ratio. Numbers are for the README and notes, never for tests.

    python scripts/bench.py                 # everything (long: x10 parses 10 corpora)
    python scripts/bench.py --repeat 1 --no-x10
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import venv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

PACKAGES = ("Django>=5.2,<5.3", "SQLAlchemy>=2.1.0b1,<2.2")
LIMIT = """
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from leakcheck.config.catalogue import builtin_kinds
from leakcheck.config.settings import DEFAULT
from leakcheck.project.names import module_name
from leakcheck.project.prefilter import acquisition_tokens, export_markers

def parse(path):
    import libcst
    try:
        libcst.parse_module(Path(path).read_bytes())
    except Exception:
        pass
    return path

if __name__ == "__main__":
    kinds = builtin_kinds()
    tokens = acquisition_tokens(kinds, DEFAULT.names)
    markers = export_markers(kinds, DEFAULT.names)
    keep = []
    for path in sorted(Path(sys.argv[1]).rglob("*.py")):
        data = path.read_bytes()
        package = module_name(path)[1]
        if tokens.matches(data, package) or markers.matches(data, package):
            keep.append(str(path))
    with ProcessPoolExecutor(int(sys.argv[2])) as pool:
        list(pool.map(parse, keep, chunksize=1))
    print(len(keep), file=sys.stderr)
"""


@dataclass
class Sample:
    wall: float
    cpu: float
    rss_mb: float


def _memory_kb(pid: int, fields: dict[str, str]) -> int:
    """The process's proportional set size (PSS: each shared page divided among the processes
    sharing it, so forked workers do not count the parent's pages again), else its VmRSS."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return int(fields.get("VmRSS", "0 kB").split()[0]) if "VmRSS" in fields else 0


def _tree_rss(root: int) -> int:
    """Memory (kB) of `root` and its descendants, from /proc: the sum of their PSS."""
    parents: dict[int, int] = {}
    status: dict[int, dict[str, str]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as handle:
                fields = dict(line.split(":", 1) for line in handle if ":" in line)
        except OSError:
            continue
        pid = int(entry)
        parents[pid] = int(fields.get("PPid", "0").strip() or 0)
        status[pid] = fields
    total, stack = 0, [root]
    seen = set()
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        if pid in status:
            total += _memory_kb(pid, status[pid])
        stack.extend(child for child, parent in parents.items() if parent == pid)
    return total


def measure(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> Sample:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss(process.pid))
            done.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    process.wait()
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Sample(wall, cpu, peak / 1024)


def median(samples: list[Sample]) -> Sample:
    return Sample(
        statistics.median(s.wall for s in samples),
        statistics.median(s.cpu for s in samples),
        max(s.rss_mb for s in samples),
    )


def build_corpus(work: Path) -> tuple[Path, str]:
    target = work / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(target),
            *PACKAGES,
        ],
        check=True,
    )
    corpus = work / "corpus"
    corpus.mkdir()
    for name in ("django", "sqlalchemy"):
        shutil.copytree(target / name, corpus / name, ignore=shutil.ignore_patterns("*.pyc"))
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for name in ("asyncio", "email"):
        shutil.copytree(stdlib / name, corpus / name, ignore=shutil.ignore_patterns("__pycache__"))
    versions = sorted(p.name for p in target.glob("*.dist-info"))
    return corpus, ", ".join(v.removesuffix(".dist-info") for v in versions)


def tools(work: Path) -> Path:
    """A virtual environment with ruff and pylint, apart from leakcheck's."""
    env = work / "tools"
    venv.create(env, with_pip=True)
    subprocess.run(
        [env / "bin" / "python", "-m", "pip", "install", "-q", "ruff", "pylint"], check=True
    )
    return env / "bin"


class _Results(dict[str, Sample]):
    """Prints each measurement as it is made (a long run shows its progress)."""

    def __setitem__(self, name: str, sample: Sample) -> None:
        super().__setitem__(name, sample)
        print(f"  {name}: {sample.wall:.2f} s wall, {sample.cpu:.2f} s cpu", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--no-x10", action="store_true", help="skip the corpus copied 10 times")
    parser.add_argument(
        "--x10-repeat", type=int, default=1, help="runs of the corpus x10 (each is long)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="leakcheck-bench-"))
    try:
        run(work, args)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept {work}")


def run(work: Path, args: argparse.Namespace) -> None:
    corpus, versions = build_corpus(work)
    files = list(corpus.rglob("*.py"))
    lines = sum(p.read_bytes().count(b"\n") for p in files)
    print(f"corpus: {len(files)} files, {lines} lines ({versions}, stdlib asyncio and email)")
    print(f"jobs: {args.jobs}, repeat: {args.repeat}, python {sys.version.split()[0]}")
    binaries = tools(work)
    leakcheck = [
        sys.executable,
        "-m",
        "leakcheck",
        "check",
        "-q",
        "--exit-zero",
        "-j",
        str(args.jobs),
    ]
    # As installed: bytecode caching on (pip writes `.pyc` files at install; a machine-wide
    # PYTHONDONTWRITEBYTECODE would make every run compile leakcheck's modules again, about
    # 0.17 s of a warm run), and no cache directory from the environment.
    dropped = ("LEAKCHECK_CACHE_DIR", "PYTHONDONTWRITEBYTECODE")
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    warmup = work / "warmup" / "a.py"  # writes the `.pyc` files, as an install would
    warmup.parent.mkdir()
    warmup.write_text("import sqlite3\n\nconn = sqlite3.connect('a.db')\n")
    subprocess.run(
        [*leakcheck, "--no-cache", str(warmup)], env=env, check=False, stdout=subprocess.DEVNULL
    )
    results: dict[str, Sample] = _Results()

    def cold(target: Path, name: str, number: int) -> Sample:
        cache = work / f"cache-{name}-{number}"
        return measure([*leakcheck, "--cache-dir", str(cache), "."], target, env)

    def side_by_side(*measurements: tuple[str, Callable[[int], Sample]]) -> None:
        """Medians of measurements made alternately (one run of each, `--repeat` times): on a
        shared machine the speed drifts over minutes, and all of them see the same drift."""
        samples: list[list[Sample]] = [[] for _ in measurements]
        for number in range(args.repeat):
            for (_, measure_one), taken in zip(measurements, samples, strict=True):
                taken.append(measure_one(number))
        for (name, _), taken in zip(measurements, samples, strict=True):
            results[name] = median(taken)

    script = work / "limit.py"
    script.write_text(LIMIT)
    ruff_command = [str(binaries / "ruff"), "check", "--select", "SIM115", "--no-cache"]
    pylint_command = [str(binaries / "pylint"), "--disable=all", "--enable=consider-using-with"]
    cache = work / "cache-corpus-0"
    side_by_side(
        ("cold", lambda number: cold(corpus, "corpus", number)),
        (
            "the limit",
            lambda _: measure(
                [sys.executable, str(script), str(corpus), str(args.jobs)], corpus, env
            ),
        ),
    )
    side_by_side(
        ("warm", lambda _: measure([*leakcheck, "--cache-dir", str(cache), "."], corpus, env)),
        (
            "ruff SIM115 --no-cache",
            lambda _: measure([*ruff_command, "--exit-zero", "-q", "."], corpus),
        ),
    )

    def one_changed(changed: Path, number: int) -> Sample:
        with changed.open("a") as handle:
            handle.write(f"\n# edit {number}\n")
        relative = str(changed.relative_to(corpus))
        return measure([*leakcheck, "--cache-dir", str(cache), relative], corpus, env)

    judged = corpus / "django" / "db" / "backends" / "postgresql" / "base.py"
    plain = corpus / "django" / "template" / "defaultfilters.py"
    side_by_side(
        ("one changed file (pre-commit)", lambda number: one_changed(judged, number)),
        ("one changed file, no connection word", lambda number: one_changed(plain, number)),
    )
    side_by_side(
        (
            "pylint consider-using-with -j2 (django)",
            lambda _: measure([*pylint_command, "-j2", "--exit-zero", "django"], corpus),
        ),
        ("leakcheck cold (django)", lambda number: cold(corpus / "django", "django", number)),
        (
            "the limit (django)",
            lambda _: measure(
                [sys.executable, str(script), str(corpus / "django"), str(args.jobs)],
                corpus / "django",
                env,
            ),
        ),
    )
    if not args.no_x10:
        big = work / "corpus-x10"
        for copy in range(10):
            shutil.copytree(corpus, big / f"copy{copy}")
        results["leakcheck cold (corpus x10)"] = median(
            [cold(big, "x10", number) for number in range(args.x10_repeat)]
        )

    print()
    print("| run | wall (s) | cpu (s) | peak memory (MB) |")
    print("|---|---|---|---|")
    for name, sample in results.items():
        print(f"| {name} | {sample.wall:.2f} | {sample.cpu:.2f} | {sample.rss_mb:.0f} |")
    print()
    c, w, limit = results["cold"], results["warm"], results["the limit"]
    ruff, pylint = (
        results["ruff SIM115 --no-cache"],
        results["pylint consider-using-with -j2 (django)"],
    )
    django = results["leakcheck cold (django)"]
    rows = [
        ("cold / the limit (wall)", c.wall / limit.wall, "<= 1.0x"),
        ("cold / the limit (cpu)", c.cpu / limit.cpu, "<= 1.0x"),
        ("pylint / leakcheck cold, django (wall)", pylint.wall / django.wall, ">= 30x"),
        # What no run that parses the files it must with libcst can beat: the target's ceiling.
        (
            "pylint / the limit, django (wall)",
            pylint.wall / results["the limit (django)"].wall,
            "-",
        ),
        ("warm / ruff no-cache (wall)", w.wall / ruff.wall, "<= 1.0x"),
        ("warm / ruff no-cache (cpu)", w.cpu / ruff.cpu, "<= 1.0x"),
        ("one changed file, warm (s)", results["one changed file (pre-commit)"].wall, "<= 0.25 s"),
        (
            "one changed file without a connection word, warm (s)",
            results["one changed file, no connection word"].wall,
            "<= 0.25 s",
        ),
        ("peak memory, cold (MB)", c.rss_mb, "<= 100 MB"),
        ("peak memory, the limit (MB)", limit.rss_mb, "-"),
    ]
    if "leakcheck cold (corpus x10)" in results:
        big_sample = results["leakcheck cold (corpus x10)"]
        rows.append(("corpus x10 / corpus (cpu)", big_sample.cpu / c.cpu, "<= 10.5x"))
        rows.append(("peak RSS, corpus x10 (MB)", big_sample.rss_mb, "flat"))
    print("| measure | value | target |")
    print("|---|---|---|")
    for name, value, target in rows:
        print(f"| {name} | {value:.2f} | {target} |")


if __name__ == "__main__":
    main()
