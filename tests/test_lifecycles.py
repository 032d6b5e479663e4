"""The framework lifecycle data (`rules/lifecycles.toml`) and the analyses that read it."""

from __future__ import annotations

import textwrap

import pytest

from leakcheck.config.catalogue import CatalogueError, builtin_kinds
from leakcheck.config.lifecycles import lifecycles, parse_lifecycles
from leakcheck.engine import check_source


def codes(source: str) -> list[tuple[str, int]]:
    result = check_source(textwrap.dedent(source).encode(), "app.py", builtin_kinds())
    assert result.errors == ()
    return sorted((f.code, f.line) for f in result.findings)


def test_flask_hooks_say_which_run_on_errors() -> None:
    flask = next(pair for pair in lifecycles().hooks if pair.framework == "Flask")
    after = flask.closer("after_request")
    teardown = flask.closer("teardown_appcontext")
    assert after is not None and not after.on_error and after.why
    assert teardown is not None and teardown.on_error
    assert flask.closer(flask.safe) is not None


def test_a_hook_skipped_on_errors_needs_a_reason() -> None:
    data = {
        "hooks": [
            {
                "framework": "X",
                "open": ["before"],
                "close": [{"hook": "after", "on-error": False}],
                "safe": {"hook": "after"},
            }
        ]
    }
    with pytest.raises(CatalogueError, match="why"):
        parse_lifecycles(data)


def test_safe_hook_must_run_on_errors() -> None:
    data = {
        "hooks": [
            {
                "framework": "X",
                "open": ["before"],
                "close": [{"hook": "after", "on-error": False, "why": "skipped"}],
                "safe": {"hook": "after"},
            }
        ]
    }
    with pytest.raises(CatalogueError, match="safe"):
        parse_lifecycles(data)


def test_entry_point_receiver_filter() -> None:
    data = lifecycles()
    submit = data.methods["submit"][0]
    assert submit.accepts("self.executor") and not submit.accepts("form")
    assert data.methods["call_soon"][0].accepts("loop")


FLASK = """\
import psycopg2
from flask import Flask, g

app = Flask(__name__)


@app.before_request
def open_db():
    g.db = psycopg2.connect("x")


def close_db(response):
    g.db.close()
    return response


app.{hook}(close_db)
"""


@pytest.mark.parametrize(
    ("hook", "expected"),
    [("after_request", [("LC405", 9)]), ("teardown_request", []), ("teardown_appcontext", [])],
)
def test_call_form_registers_the_closing_hook(hook: str, expected: list[tuple[str, int]]) -> None:
    assert codes(FLASK.format(hook=hook)) == expected


def test_flask_hooks_in_a_module_without_flask_are_not_judged() -> None:
    source = FLASK.replace("from flask import Flask, g", "from myweb import Flask, g")
    assert codes(source.format(hook="after_request")) == []


def test_middleware_release_counts_only_in_finally_around_call_next() -> None:
    source = """\
    from fastapi import FastAPI
    from sqlalchemy.orm import sessionmaker

    SessionLocal = sessionmaker()
    app = FastAPI()


    @app.middleware("http")
    async def db(request, call_next):
        request.state.db = SessionLocal()
        try:
            response = await call_next(request)
        finally:
            request.state.db.close()
        return response
    """
    assert codes(source) == []
    unsafe = source.replace("        try:\n", "        if True:\n").replace(
        "        finally:\n", "        if True:\n"
    )
    assert codes(unsafe) == [("LC406", 10)]


def test_registry_used_only_by_views_is_not_judged() -> None:
    source = """\
    import threading
    from sqlalchemy.orm import scoped_session, sessionmaker

    Session = scoped_session(sessionmaker())


    def view():
        return Session.query(1).all()


    def job():
        return Session.query(2).all()


    threading.Timer(5, job).start()
    """
    assert codes(source) == [("LC407", 12)]


ORM_JOB = """\
import asyncio

from django.db import models


class Order(models.Model):
    pass


def sync_orders():
    return Order.objects.count()


loop = asyncio.get_event_loop()
loop.{call}
"""


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        ("run_in_executor(None, sync_orders)", [("LC506", 11)]),  # a pool's worker thread
        ("call_soon(sync_orders)", []),  # the loop's own thread: not a thread of its own
    ],
)
def test_orm_thread_entry_points_come_from_the_data(
    call: str, expected: list[tuple[str, int]]
) -> None:
    assert codes(ORM_JOB.format(call=call)) == expected


def test_middleware_stores_match_the_request_parameter_only() -> None:
    by_framework = {shape.framework: shape for shape in lifecycles().middleware}
    starlette, aiohttp = by_framework["Starlette"], by_framework["aiohttp"]
    assert starlette.stored("req.state.db", "req")
    assert not starlette.stored("request.app.state.db", "request")  # the app's, not the request's
    assert not starlette.stored("other.state.db", "req")
    assert aiohttp.stored("request['db']", "request")
    assert aiohttp.stored('request["db"]', "request")
    assert not aiohttp.stored("request.db", "request")


SPLIT_HELPER = """\
from flask import g
import pymysql


def get_db():
    db = getattr(g, "_database", None)
    if db is None:
        db = g._database = pymysql.connect(host="localhost")
    return db
"""


def test_a_store_on_g_in_a_module_without_hooks_is_an_assumed_handoff() -> None:
    # The teardown that closes g._database is registered by the app module, which this check does
    # not read: not reported, but counted so the silence shows in the summary.
    alone = check_source(SPLIT_HELPER.encode(), "connexion_db.py", builtin_kinds())
    assert list(alone.findings) == []
    [handoff] = alone.handoffs
    assert (handoff.line, handoff.acquired, handoff.taken_line) == (8, "pymysql.connect(...)", 0)
    assert "`g._database`" in handoff.why
    # The same store in a module that registers a teardown closing something else is reported.
    with_hook = SPLIT_HELPER.replace("from flask import g", "from flask import Flask, g") + (
        "\n\napp = Flask(__name__)\n\n\n@app.teardown_appcontext\n"
        "def forget(exc):\n    g.pop('user', None)\n"
    )
    reported = check_source(with_hook.encode(), "connexion_db.py", builtin_kinds())
    assert [(f.code, f.line) for f in reported.findings] == [("LC201", 8)]
    assert reported.handoffs == ()
