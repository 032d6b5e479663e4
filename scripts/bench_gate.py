"""What the runtime gate (`pytest --leakcheck`) costs per checkout: N checkouts and checkins of a
SQLAlchemy QueuePool on a SQLite file, without the gate and with it recording, median of rounds.

    .venv/bin/python scripts/bench_gate.py [--n 20000] [--rounds 7] [--depth 60] [--url URL]

Two workloads: the pool alone (`pool.connect()` / `close()`, the worst case for the ratio, since
nothing else happens) and `engine.connect()` with one `SELECT 1` (what a test does). The timed
loop runs `--depth` frames below the top of the stack, in frames that are not the project's, as
under pytest; the walk ends, as under pytest, at the function that calls the test (`--no-stop`:
it climbs them all, as under a test runner the gate does not know).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import create_engine, text

from leakcheck.gate.ledger import Ledger
from leakcheck.gate.recorders import sqlalchemy as recorder

# A recursion compiled under a synthetic file name: frames the gate walks but does not keep, as
# it walks pytest's and pluggy's.
_DEEP: dict[str, object] = {}
exec(
    compile(
        "def deep(n, work):\n    return work() if n == 0 else deep(n - 1, work)\n", "<deep>", "exec"
    ),
    _DEEP,
)


def timed(work: Callable[[], None], n: int, depth: int) -> float:
    """Seconds for `n` calls of `work`, run `depth` frames down."""

    def loop() -> float:
        start = time.perf_counter()
        for _ in range(n):
            work()
        return time.perf_counter() - start

    gc.collect()
    return float(_DEEP["deep"](depth, loop))  # type: ignore[operator]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20000, help="checkouts per round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--depth", type=int, default=60, help="frames above the timed loop")
    parser.add_argument("--no-stop", action="store_true", help="walk every frame to the top")
    parser.add_argument("--url", help="another database than a SQLite file (a PostgreSQL URL)")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="bench-gate-"))
    url = args.url or f"sqlite:///{folder / 'bench.db'}"
    engine = create_engine(url, pool_size=5, max_overflow=0)
    pool = engine.pool

    def pool_checkout() -> None:
        pool.connect().close()

    def engine_checkout() -> None:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    ledger = Ledger()
    # As under pytest, the walk ends where the runner calls the test (`deep` calls the loop);
    # with --no-stop it climbs all `--depth` frames (a runner the gate does not know).
    stops = [] if args.no_stop else [_DEEP["deep"].__code__]  # type: ignore[attr-defined]
    walk = "walking all of them" if args.no_stop else "the walk ending at the test's caller"
    print(f"{args.n} checkouts a round, median of {args.rounds} rounds, {args.depth} frames deep,")
    print(walk)
    for name, work in (
        ("pool.connect()/close()", pool_checkout),
        ("engine.connect() + SELECT 1", engine_checkout),
    ):
        work()  # the first connection is made outside the timing
        off: list[float] = []
        on: list[float] = []
        for _ in range(args.rounds):
            off.append(timed(work, args.n, args.depth))
            undo = recorder.install(ledger)
            ledger.begin("bench")
            ledger.frames.stop_at(stops)
            try:
                on.append(timed(work, args.n, args.depth))
            finally:
                ledger.settle("bench")
                undo()
        base, gated = statistics.median(off), statistics.median(on)
        per_off, per_on = base / args.n * 1e6, gated / args.n * 1e6
        print(
            f"{name:30} without gate {per_off:7.2f} us/checkout   with gate {per_on:7.2f} us"
            f"   overhead {per_on - per_off:6.2f} us ({gated / base:.2f}x)"
        )
    assert ledger.recorded >= args.n * args.rounds, "the gate recorded nothing: the bench is wrong"
    engine.dispose()


if __name__ == "__main__":
    main()
