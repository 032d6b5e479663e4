"""The walker's path reasoning, one control-flow construct at a time (verdict classes, not codes).

Snippet lines are numbered from 1 at the first line after the opening triple quote.
"""

from __future__ import annotations

from helpers import messages, verdicts

from leakcheck.config.catalogue import parse_kind


def test_sequence_release_after_raising_call_leaks_on_exception() -> None:
    assert verdicts("""\
        def f():
            conn = pool.getconn()
            conn.cursor().execute("select 1")
            pool.putconn(conn)
        """) == [(2, "exception", 3)]


def test_sequence_without_raising_statement_is_clean() -> None:
    assert (
        verdicts("""\
        def f():
            conn = pool.getconn()
            x = 1
            pool.putconn(conn)
        """)
        == []
    )


def test_never_released() -> None:
    assert verdicts("""\
        def f():
            conn = pool.getconn()
            conn.cursor().execute("select 1")
        """) == [(2, "never", 3)]


def test_discarded_acquisition() -> None:
    assert verdicts("""\
        def f():
            pool.getconn()
        """) == [(2, "never", None)]


def test_if_release_in_one_branch_only() -> None:
    assert verdicts("""\
        def f(ok):
            conn = pool.getconn()
            if ok:
                pool.putconn(conn)
        """) == [(2, "early-exit", 4)]


def test_if_elif_else_all_release() -> None:
    assert (
        verdicts("""\
        def f(a, b):
            conn = pool.getconn()
            if a:
                pool.putconn(conn)
            elif b:
                pool.putconn(conn)
            else:
                pool.putconn(conn)
        """)
        == []
    )


def test_early_return_skips_release() -> None:
    assert verdicts("""\
        def f(x):
            conn = pool.getconn()
            if x is None:
                return None
            pool.putconn(conn)
        """) == [(2, "early-exit", 4)]


def test_explicit_raise_skips_release() -> None:
    assert verdicts("""\
        def f(x):
            conn = pool.getconn()
            if not x:
                raise ValueError("empty")
            pool.putconn(conn)
        """) == [(2, "early-exit", 4)]


def test_none_guard_in_finally_is_understood() -> None:
    assert (
        verdicts("""\
        def f():
            conn = None
            try:
                conn = pool.getconn()
                conn.cursor().execute("x")
            finally:
                if conn is not None:
                    pool.putconn(conn)
        """)
        == []
    )


def test_truthiness_guard_negated() -> None:
    assert (
        verdicts("""\
        def f():
            conn = pool.getconn()
            try:
                conn.cursor()
            finally:
                if not conn:
                    return
                pool.putconn(conn)
        """)
        == []
    )


def test_try_finally_releases_on_every_path() -> None:
    assert (
        verdicts("""\
        def f(rows):
            conn = pool.getconn()
            try:
                for row in rows:
                    if row is None:
                        return None
                    conn.cursor().execute(row)
            finally:
                pool.putconn(conn)
        """)
        == []
    )


def test_release_only_in_except() -> None:
    assert verdicts("""\
        def f():
            conn = pool.getconn()
            try:
                conn.cursor().execute("x")
            except Exception:
                pool.putconn(conn)
                raise
        """) == [(2, "early-exit", 7)]


def test_specific_handler_lets_other_errors_through() -> None:
    assert verdicts("""\
        def f():
            conn = pool.getconn()
            try:
                conn.cursor().execute("x")
            except ValueError:
                pool.putconn(conn)
                raise
            pool.putconn(conn)
        """) == [(2, "exception", 4)]


def test_catch_all_handler_that_releases_and_reraises_is_clean() -> None:
    assert (
        verdicts("""\
        def f():
            conn = pool.getconn()
            try:
                conn.cursor().execute("x")
            except BaseException:
                pool.putconn(conn)
                raise
            pool.putconn(conn)
        """)
        == []
    )


def test_swallowing_handler_continues_holding() -> None:
    assert verdicts("""\
        def f(log):
            conn = pool.getconn()
            try:
                conn.cursor().execute("x")
                pool.putconn(conn)
            except Exception:
                log.warning("failed")
        """) == [(2, "early-exit", 7)]


def test_nested_try_in_finally_is_clean() -> None:
    assert (
        verdicts("""\
        def f():
            conn = pool.getconn()
            try:
                conn.cursor().execute("x")
            finally:
                try:
                    conn.autocommit = True
                finally:
                    pool.putconn(conn)
        """)
        == []
    )


def test_raising_statement_before_release_in_finally() -> None:
    assert verdicts("""\
        def f():
            conn = pool.getconn()
            try:
                conn.cursor().execute("x")
            finally:
                conn.rollback()
                pool.putconn(conn)
        """) == [(2, "finally-order", 6)]


def test_try_else_release_is_happy_path_only() -> None:
    assert verdicts("""\
        def f():
            conn = pool.getconn()
            try:
                conn.cursor().execute("x")
            except KeyError:
                return None
            else:
                pool.putconn(conn)
        """) == [(2, "early-exit", 6)]


def test_for_loop_acquire_each_iteration_release_after() -> None:
    assert verdicts("""\
        def f(jobs):
            for job in jobs:
                conn = pool.getconn()
                job.run()
            pool.putconn(conn)
        """) == [(3, "loop", 2)]


def test_per_iteration_try_finally_is_clean() -> None:
    assert (
        verdicts("""\
        def f(jobs):
            for job in jobs:
                conn = pool.getconn()
                try:
                    job.run(conn)
                finally:
                    pool.putconn(conn)
        """)
        == []
    )


def test_break_skips_release() -> None:
    assert verdicts("""\
        def f(jobs):
            conn = pool.getconn()
            for job in jobs:
                if job is None:
                    break
                conn.cursor().execute(job)
            else:
                pool.putconn(conn)
        """) == [(2, "early-exit", 8)]


def test_continue_skips_release_then_loop_acquires_again() -> None:
    assert verdicts("""\
        def f(jobs):
            for job in jobs:
                conn = pool.getconn()
                if not job:
                    continue
                pool.putconn(conn)
        """) == [(3, "loop", 2)]


def test_while_true_exits_only_through_break() -> None:
    assert verdicts("""\
        def f(queue):
            conn = pool.getconn()
            while True:
                item = queue.pop()
                if item is None:
                    pool.putconn(conn)
                    break
        """) == [(2, "exception", 4)]


def test_while_true_with_try_finally_is_clean() -> None:
    assert (
        verdicts("""\
        def f(queue):
            while True:
                conn = pool.getconn()
                try:
                    if queue.pop() is None:
                        break
                finally:
                    pool.putconn(conn)
        """)
        == []
    )


CLOSABLE = parse_kind(
    {
        "name": "closable",
        "acquire": ["<pool>.borrow"],
        "release": ["<resource>.close()"],
        "source-names": ["pool"],
    },
    "test",
)


def test_with_closing_releases_a_resource_that_close_gives_back() -> None:
    found = verdicts(
        """\
        from contextlib import closing
        def f():
            conn = pool.borrow()
            with closing(conn):
                conn.cursor().execute("x")
        def g():
            conn = pool.borrow()
            try:
                conn.cursor().execute("x")
            finally:
                conn.close()
        def h():
            conn = pool.borrow()
            conn.cursor().execute("x")
            conn.close()
        """,
        (CLOSABLE,),
    )
    assert found == [(13, "exception", 14)]


def test_closing_a_pool_connection_does_not_return_it() -> None:
    # conn.close() leaves the connection counted as used by a psycopg2 pool.
    assert verdicts("""\
        from contextlib import closing
        def f():
            conn = pool.getconn()
            with closing(conn):
                conn.cursor().execute("x")
        """) == [(3, "never", 5)]


def test_with_on_acquiring_call_does_not_release_a_psycopg2_connection() -> None:
    assert verdicts("""\
        def f():
            with pool.getconn() as conn:
                conn.cursor().execute("x")
        """) == [(2, "never", None)]


def test_return_hands_off() -> None:
    assert (
        verdicts("""\
        def f():
            conn = pool.getconn()
            return conn
        def g():
            conn = pool.getconn()
            return conn, conn.cursor()
        def h(wrap):
            conn = pool.getconn()
            return wrap(conn)
        """)
        == []
    )


def test_setup_that_may_raise_before_the_hand_off_loses_it() -> None:
    # Until the return, the function owns the connection: nobody else can give it back.
    assert verdicts("""\
        def f():
            conn = pool.getconn()
            conn.autocommit = True
            return conn
        """) == [(2, "exception", 3)]


def test_handler_statements_do_not_hide_the_original_error() -> None:
    found = messages("""\
        def f(log):
            conn = pool.getconn()
            try:
                conn.cursor().execute("x")
            except Exception as e:
                log.error(e)
                raise
            pool.putconn(conn)
        """)
    assert found == ["if `conn.cursor().execute(...)` on line 4 raises"]


def test_message_names_the_errors_a_specific_handler_lets_through() -> None:
    found = messages("""\
        def f():
            conn = pool.getconn()
            try:
                conn.cursor().execute("x")
            except (ValueError, KeyError):
                pool.putconn(conn)
                raise
            pool.putconn(conn)
        """)
    assert found == [
        "if `conn.cursor().execute(...)` on line 4 raises an error other than "
        "`(ValueError, KeyError)`"
    ]


def test_stored_on_attribute_hands_off() -> None:
    assert (
        verdicts("""\
        class Repo:
            def __enter__(self):
                conn = pool.getconn()
                self.conn = conn
                return self
            def __exit__(self, *exc):
                pool.putconn(self.conn)
        """)
        == []
    )


def test_exit_stack_callback_hands_off() -> None:
    assert (
        verdicts("""\
        from contextlib import ExitStack
        def f(stack: ExitStack):
            conn = pool.getconn()
            stack.callback(pool.putconn, conn)
            conn.cursor().execute("x")
        """)
        == []
    )


def test_unknown_callee_is_a_hand_off_only_when_never_released() -> None:
    assert verdicts("""\
        def f(worker):
            conn = pool.getconn()
            worker.adopt(conn)
        def g(worker):
            conn = pool.getconn()
            worker.use(conn)
            pool.putconn(conn)
        """) == [(5, "exception", 6)]


def test_module_helper_that_releases_its_parameter() -> None:
    assert (
        verdicts("""\
        def release(c):
            pool.putconn(c)
        def f():
            conn = pool.getconn()
            try:
                conn.cursor().execute("x")
            finally:
                release(conn)
        """)
        == []
    )


def test_module_factory_makes_call_sites_acquisitions() -> None:
    assert verdicts("""\
        def get_conn():
            return pool.getconn()
        def f():
            conn = get_conn()
            conn.cursor().execute("x")
        """) == [(4, "never", 5)]


def test_reassignment_while_held() -> None:
    assert verdicts("""\
        def f():
            conn = pool.getconn()
            conn = pool.getconn()
            pool.putconn(conn)
        """) == [(2, "overwritten", 3)]


def test_alias_keeps_it_alive_across_reassignment() -> None:
    assert (
        verdicts("""\
        def f():
            conn = pool.getconn()
            first = conn
            conn = None
            pool.putconn(first)
        """)
        == []
    )


def test_del_while_held() -> None:
    assert verdicts("""\
        def f():
            conn = pool.getconn()
            del conn
        """) == [(2, "overwritten", 3)]


def test_match_with_release_in_every_case() -> None:
    assert (
        verdicts("""\
        def f(cmd):
            conn = pool.getconn()
            match cmd:
                case "a":
                    pool.putconn(conn)
                case _:
                    pool.putconn(conn)
        """)
        == []
    )


def test_match_without_wildcard_can_fall_through() -> None:
    assert verdicts("""\
        def f(cmd):
            conn = pool.getconn()
            match cmd:
                case "a":
                    pool.putconn(conn)
        """) == [(2, "early-exit", 5)]


def test_async_acquire_and_release() -> None:
    assert verdicts("""\
        async def f():
            conn = await pool.getconn()
            try:
                await conn.execute("x")
            finally:
                await pool.putconn(conn)
        async def g():
            conn = await pool.getconn()
            await conn.execute("x")
            await pool.putconn(conn)
        """) == [(8, "exception", 9)]


def test_yield_in_generator_that_releases_in_finally() -> None:
    assert verdicts("""\
        from contextlib import contextmanager
        @contextmanager
        def connection():
            conn = pool.getconn()
            try:
                yield conn
            finally:
                pool.putconn(conn)
        @contextmanager
        def careless():
            conn = pool.getconn()
            yield conn
            pool.putconn(conn)
        """) == [(11, "yield", 12)]


def test_nested_function_capture_is_a_hand_off() -> None:
    assert (
        verdicts("""\
        def f(register):
            conn = pool.getconn()
            def done():
                pool.putconn(conn)
            register(done)
        """)
        == []
    )


def test_global_declared_name_is_a_store() -> None:
    assert (
        verdicts("""\
        CONN = None
        def f():
            global CONN
            CONN = pool.getconn()
        """)
        == []
    )


def test_module_level_global_used_by_functions_is_long_lived() -> None:
    assert (
        verdicts("""\
        conn = pool.getconn()
        def f():
            return conn.cursor()
        """)
        == []
    )


def test_module_level_script_leak() -> None:
    assert verdicts("""\
        if __name__ == "__main__":
            conn = pool.getconn()
            conn.cursor().execute("x")
        """) == [(2, "never", 3)]


def test_with_suppress_swallows_the_error() -> None:
    assert (
        verdicts("""\
        from contextlib import suppress
        def f():
            conn = pool.getconn()
            with suppress(Exception):
                conn.cursor().execute("x")
            pool.putconn(conn)
        """)
        == []
    )


def test_release_guarded_by_the_connection_and_the_pool() -> None:
    assert (
        verdicts("""\
        class Store:
            def save(self, row):
                conn = None
                try:
                    conn = self.pool.getconn()
                    conn.cursor().execute(row)
                finally:
                    if conn and self.pool and not self.pool.closed:
                        self.pool.putconn(conn)
        """)
        == []
    )


def test_a_guard_with_a_call_is_not_assumed_true() -> None:
    assert verdicts("""\
        def f(healthy):
            conn = pool.getconn()
            try:
                conn.cursor().execute("x")
            finally:
                if conn and healthy():
                    pool.putconn(conn)
        """) == [(2, "early-exit", 7)]


def test_receivers_that_are_calls_or_subscripts() -> None:
    assert verdicts("""\
        def f(app):
            conn = get_db_pool().getconn()
            conn.cursor().execute("x")
        def g(app):
            conn = app.config["POOL"].getconn()
            try:
                conn.cursor().execute("x")
            finally:
                app.config["POOL"].putconn(conn)
        """) == [(2, "never", 3)]


def test_any_receiver_of_getconn_is_a_pool_and_cast_is_seen_through() -> None:
    assert verdicts("""\
        from typing import cast
        def f(self):
            conn = cast("connection", self.db.getconn())
            conn.cursor().execute("x")
            self.db.putconn(conn)
        """) == [(3, "exception", 4)]


def test_a_semaphore_is_not_a_pool() -> None:
    assert (
        verdicts("""\
        import threading
        def f():
            sem = threading.Semaphore(2)
            sem.acquire()
            sem.release(2)
        """)
        == []
    )


# False alarms found on real packages (huey, jupyterhub, mlflow, advanced-alchemy, databases).


def test_a_session_bound_to_an_existing_connection_or_to_nothing_is_not_tracked() -> None:
    assert verdicts("""\
        from alembic import op
        from sqlalchemy.orm import Session
        from sqlalchemy import create_engine
        engine = create_engine("sqlite://")
        def upgrade():
            session = Session(bind=op.get_bind())
            session.execute("x")
            session.commit()
        def pending(obj):
            s = Session()
            s.add(obj)
            return list(s.new)
        def leaky():
            s = Session(engine)
            s.execute("x")
        """) == [(14, "never", 15)]


def test_a_sync_acquire_release_pair_is_not_an_asyncpg_pool() -> None:
    assert verdicts("""\
        def run(sem, fn):
            tid = sem.acquire()
            try:
                return fn()
            finally:
                sem.release(tid)
        async def fetch(db_pool):
            conn = await db_pool.acquire()
            await conn.fetch("x")
        """) == [(8, "never", 9)]


def test_a_closed_guard_before_close_holds_for_an_open_connection() -> None:
    assert (
        verdicts("""\
        import sqlite3
        def f(path):
            conn = sqlite3.connect(path)
            try:
                conn.execute("x")
            finally:
                if not conn.closed:
                    conn.close()
        """)
        == []
    )


def test_entering_a_fresh_connection_is_part_of_opening_it() -> None:
    assert (
        verdicts("""\
        import aiosqlite
        async def open_db(path):
            c = aiosqlite.connect(path)
            await c.__aenter__()
            return c
        """)
        == []
    )
