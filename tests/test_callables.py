"""Issue 27 §1: what a module's summary says about acquisitions behind a value (a provider that
keeps its resource when dropped, a class's factory methods, a calling wrapper) survives the
summary's record, and the prefilter's starters name a class whose methods acquire. The findings
themselves are the fixtures' (fixtures/callables/, fixtures/project/app/by_hand.py, billing.py,
loader.py)."""

from __future__ import annotations

import textwrap

from leakcheck.analysis.records import Export
from leakcheck.config.catalogue import builtin_kinds
from leakcheck.engine import analyse
from leakcheck.project.summaries import summarise

SOURCE = textwrap.dedent(
    """
    from sqlalchemy import create_engine
    from sqlalchemy.orm import sessionmaker

    engine = create_engine("postgresql://db/app")
    SessionLocal = sessionmaker(bind=engine)


    def get_db():
        db = SessionLocal()
        yield db
        db.close()


    def get_db_safe():
        db = SessionLocal()
        try:
            yield db
        finally:
            db.close()


    class Repo:
        def sessions(self):
            return SessionLocal()

        def shared(self):
            return self._db


    def retry(fn, tries=3):
        return fn()


    def with_backoff(fn):
        def run(*args):
            return fn(*args)

        return run


    repo = Repo()
    """
).encode()


def exported() -> dict[str, Export]:
    done = analyse(SOURCE, "app/db.py", builtin_kinds(), "app", None, judge=False)
    assert done.exports is not None and done.imports is not None
    return dict(summarise(done.exports, done.imports).exports())


def test_a_provider_says_whether_dropping_it_keeps_the_resource() -> None:
    exports = exported()
    unsafe, safe = exports["get_db"], exports["get_db_safe"]
    assert unsafe.role == safe.role == "provider"
    assert unsafe.held_when_dropped is True
    assert safe.held_when_dropped is False


def test_a_class_and_its_module_level_object_list_their_factory_methods() -> None:
    exports = exported()
    for name in ("Repo", "repo"):
        methods = dict(exports[name].method_factories)
        assert set(methods) == {"sessions"}, name  # `shared` returns what the object keeps
        kind = exports["get_db"].kind
        assert kind is not None and methods["sessions"].name == kind.name


def test_calling_wrappers_name_the_parameter_they_call() -> None:
    exports = exported()
    assert exports["retry"].calls_argument == 0
    assert exports["retry"].wraps_argument == -1
    assert exports["with_backoff"].wraps_argument == 0
    assert exports["with_backoff"].calls_argument == -1


def test_a_class_with_factory_methods_is_a_starter_for_the_prefilter() -> None:
    done = analyse(SOURCE, "app/db.py", builtin_kinds(), "app", None, judge=False)
    assert done.exports is not None and done.imports is not None
    starters = summarise(done.exports, done.imports).starters
    assert "Repo" in starters and "repo" in starters
    assert "retry" not in starters  # a wrapper alone never starts a finding
