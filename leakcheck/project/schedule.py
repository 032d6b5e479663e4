"""When each module of a run is worked on, and where: import order, readiness, the workers.

Modules that can export are summarised after what they import: the import graph's strongly
connected components, deps first (`order`); inside a cycle, a member waits only for the earlier
members it imports (`phase_modules`), so the members of one large cycle run side by side with
the findings they would have one after another. `execute` hands each ready unit to the run
(`Work`: reuse it, parse it here, or give it to a worker) and draws from a generator only when
a worker is idle. What is done with a unit is the run's; this module decides only when.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import Protocol

from leakcheck.project.summaries import Summary
from leakcheck.project.unit import Unit
from leakcheck.project.workers import Done, Limits, Task, WorkerPool


class Work(Protocol):
    """What the schedule asks of the run about one unit."""

    units: list[Unit]  # by index (`Done.key`)

    def imported(self, unit: Unit, module: str) -> Unit | None:
        """The unit `unit` imports as `module`, if it is one of the run's."""
        ...

    def promote(self, unit: Unit) -> bool:
        """Decide a relay whose imports are done: True if it is summarised after all."""
        ...

    def reused(self, unit: Unit) -> bool:
        """Whether `unit` was done from its cached entry (then it is done)."""
        ...

    def run_inline(self, unit: Unit) -> None:
        """Parse `unit` in this process."""
        ...

    def task(self, unit: Unit) -> Task:
        """What a worker needs to parse `unit`."""
        ...

    def complete(self, unit: Unit, done: Done) -> None:
        """Take what a worker found about `unit`."""
        ...


# The summary a task may see for a module's path (`whole`: as `SummarySource.summary`)
Answer = Callable[[Task, str, bool], Summary | None]


class Schedule:
    """The import graph's order and the worker processes of one run."""

    def __init__(self, jobs: int, limits: Limits | None) -> None:
        self.jobs = jobs
        self.limits = limits
        self.pool: WorkerPool | None = None
        self.edges: dict[int, list[Unit]] = {}
        self._components = 0

    # -- the workers -----------------------------------------------------------------------------

    def start_early(self, files: int, cold: bool, answer: Answer) -> None:
        """Start the workers before the `files` checked files are read, when the run is `cold`
        (no cache, or an empty one: a first run, CI on a fresh checkout). Each then imports the
        analysis (libcst, about 0.2 s) while this process walks and reads the tree, instead of
        this process importing it first while the workers wait. A run that may find its
        results cached starts them later (`start`), and only if something is to be parsed."""
        if self.jobs > 1 and files > 0 and cold:
            self.pool = WorkerPool(min(self.jobs, files), answer, self.limits)

    def start(self, work: int, answer: Answer) -> None:
        """Start the workers for `work` files to parse, unless started early or not worth it;
        `answer(task, path)`: the summary a task may see for the module at `path`."""
        if self.pool is not None:
            return  # started early (`start_early`)
        jobs = min(self.jobs, work)
        if jobs > 1 or (self.jobs > 1 and work > 0):
            # Import the analysis (libcst) here, once, before the workers fork: they inherit it
            # instead of each importing it again (a third of a one-file run's CPU). A run with
            # nothing to parse never gets here and never imports libcst.
            import leakcheck.engine  # noqa: F401

            self.pool = WorkerPool(jobs, answer, self.limits)

    def stop(self) -> None:
        """Stop the workers, if any were started."""
        if self.pool is not None:
            self.pool.close()
            self.pool = None

    # -- the order -------------------------------------------------------------------------------

    def new_component(self) -> int:
        """A component number of its own (for a module summarised out of order)."""
        self._components += 1
        return self._components - 1

    def order(self, nodes: list[Unit], work: Work) -> list[list[Unit]]:
        """Strongly connected components of the import graph among `nodes` (the modules with an
        export marker, and the relays: modules without one that import names), deps first."""
        edges: dict[int, list[Unit]] = {}
        for unit in nodes:
            targets: list[Unit] = []
            if unit.marker:
                for module in unit.imports:
                    _depends(work.imported(unit, module), unit, targets)
            else:  # a relay needs only what its names come from: no cycle through its other imports
                for target in sorted(set(unit.table.values())):
                    for module in (target, target.rpartition(".")[0]):  # a submodule, or a name's
                        if module:
                            _depends(work.imported(unit, module), unit, targets)
            edges[unit.index] = targets
        components = _tarjan(nodes, edges)
        for members in components:
            number = self.new_component()
            # By path, not by discovery order: a module sees the same part of its import cycle
            # whichever files a run was given, so answers stored by one run hold in the next.
            members.sort(key=lambda u: u.real)
            for position, unit in enumerate(members):
                unit.component, unit.position = number, position
        self.edges = edges
        return components

    def phase_modules(self, components: list[list[Unit]], work: Work) -> None:
        """Summarise (and judge) the modules that can export, each after what it depends on.

        A component (an import cycle) starts when the components it imports are done. Inside
        it, a member sees only the members before it (`Project.visible`), so it may start as
        soon as the earlier members it imports are done: members of one large cycle (SQLAlchemy
        is one) run side by side, with the same findings as one after another.
        """
        by_number = {c[0].component: c for c in components}
        waiting: dict[int, int] = {}
        dependents: dict[int, set[int]] = {}
        left: dict[int, int] = {}  # component -> members not done yet
        blocked: dict[int, int] = {}  # unit index -> earlier members it still waits for
        unblocks: dict[int, list[Unit]] = {}  # unit index -> later members waiting for it
        for members in components:
            number = members[0].component
            needs = {t.component for u in members for t in self.edges[u.index]} - {number}
            waiting[number] = len(needs)
            for need in needs:
                dependents.setdefault(need, set()).add(number)
            left[number] = len(members)
            if len(members) > 1:
                for unit in members:
                    earlier = self._earlier_imports(unit)
                    blocked[unit.index] = len(earlier)
                    for other in earlier:
                        unblocks.setdefault(other.index, []).append(unit)

        def start(members: list[Unit]) -> list[Unit]:
            return [u for u in members if blocked.get(u.index, 0) == 0]

        def advance(unit: Unit) -> list[Unit]:
            ready = []
            for later in unblocks.get(unit.index, ()):
                blocked[later.index] -= 1
                if blocked[later.index] == 0:
                    ready.append(later)
            left[unit.component] -= 1
            if left[unit.component] == 0:
                for other in sorted(dependents.get(unit.component, ())):
                    waiting[other] -= 1
                    if waiting[other] == 0:
                        ready.extend(start(by_number[other]))
            return ready

        first = [u for c in components if waiting[c[0].component] == 0 for u in start(c)]
        self.execute(first, advance, work)

    def _earlier_imports(self, unit: Unit) -> list[Unit]:
        """The members of `unit`'s import cycle before it (by position) that it imports: whose
        summaries its names resolve through. A name re-exported through one of them from a
        further member is rare; if that member is not done yet, `Project._settle` judges `unit`
        again (its answer changed), so the findings are the same in any order."""
        found: dict[int, Unit] = {}
        for target in self.edges.get(unit.index, ()):
            if target.component == unit.component and target.position < unit.position:
                found[target.index] = target
        return list(found.values())

    # -- the work --------------------------------------------------------------------------------

    def execute(
        self, ready: Iterable[Unit], advance: Callable[[Unit], list[Unit]], work: Work
    ) -> None:
        """Process units as they become ready: reuse, or parse here or in a worker. `ready` is
        drawn from only when a worker is idle, so a generator's work overlaps the workers'."""
        queue: deque[Unit] = deque()
        more = iter(ready)
        pool = self.pool

        def finished(unit: Unit) -> None:
            if unit.relay:  # demoted just now: decided as a relay before its importers run
                queue.appendleft(unit)
            else:
                queue.extend(advance(unit))

        while True:
            while pool is None or pool.idle():
                if not queue:
                    unit = next(more, None)
                    if unit is None:
                        break
                    queue.append(unit)
                unit = queue.popleft()
                if unit.relay and not work.promote(unit):
                    queue.extend(advance(unit))
                    continue
                if unit.done:
                    queue.extend(advance(unit))
                    continue
                if work.reused(unit):
                    queue.extend(advance(unit))
                    continue
                if pool is None:
                    work.run_inline(unit)
                    finished(unit)
                else:
                    pool.submit(work.task(unit))
            if pool is None or not pool.busy():
                if not queue:
                    return
                continue
            for done in pool.collect():
                unit = work.units[done.key]
                work.complete(unit, done)
                finished(unit)


def _depends(other: Unit | None, unit: Unit, targets: list[Unit]) -> None:
    """Add to `targets` `other`, the unit `unit` imports, if it is a node of the import graph."""
    if other is None or other is unit or other.unreadable:
        return
    if (other.marker or other.table) and all(other is not t for t in targets):
        targets.append(other)


def _tarjan(nodes: list[Unit], edges: dict[int, list[Unit]]) -> list[list[Unit]]:
    """Strongly connected components, each after the components it has edges to (iterative)."""
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    on_stack: set[int] = set()
    stack: list[Unit] = []
    found: list[list[Unit]] = []
    counter = 0
    for root in nodes:
        if root.index in index:
            continue
        work: list[tuple[Unit, int]] = [(root, 0)]
        while work:
            node, child = work.pop()
            if child == 0:
                index[node.index] = low[node.index] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node.index)
            targets = edges[node.index]
            recursed = False
            while child < len(targets):
                target = targets[child]
                child += 1
                if target.index not in index:
                    work.append((node, child))
                    work.append((target, 0))
                    recursed = True
                    break
                if target.index in on_stack:
                    low[node.index] = min(low[node.index], index[target.index])
            if recursed:
                continue
            if low[node.index] == index[node.index]:
                members = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member.index)
                    members.append(member)
                    if member is node:
                        break
                found.append(members)
            if work:
                parent = work[-1][0]
                low[parent.index] = min(low[parent.index], low[node.index])
    return found
