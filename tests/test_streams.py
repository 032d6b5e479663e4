"""LC401 (captured by a streaming generator) and LC402 (held across an unbounded await)."""

from __future__ import annotations

from helpers import verdicts

SESSIONS = """\
import asyncio
from fastapi import Depends
from sqlalchemy.orm import Session, sessionmaker
SessionLocal = sessionmaker()
"""


def held(body: str) -> list[tuple[int, str, int | None]]:
    """Verdicts of the stream rules only, lines counted from the first line of `body`."""
    offset = SESSIONS.count("\n")
    return [
        (line - offset, leak, escape - offset if escape is not None else None)
        for line, leak, escape in verdicts(SESSIONS + body)
        if leak in ("held-across-await", "captured-by-stream")
    ]


def test_session_used_before_a_polling_loop_is_held_across_the_sleep() -> None:
    assert held("""\
async def gen():
    db = SessionLocal()
    try:
        days = db.query(1).all()
        while True:
            await asyncio.sleep(5)
            yield days
    finally:
        db.close()
""") == [(2, "held-across-await", 6)]


def test_fresh_session_per_iteration_is_fine() -> None:
    assert (
        held("""\
async def gen():
    while True:
        with SessionLocal() as db:
            days = db.query(1).all()
        yield days
        await asyncio.sleep(5)
""")
        == []
    )


def test_commit_before_each_wait_is_fine_and_a_missing_one_is_not() -> None:
    assert held("""\
async def ok(websocket, db: Session = Depends(get_db)):
    while True:
        msg = await websocket.receive_text()
        db.add(msg)
        db.commit()

async def bad(websocket, db: Session = Depends(get_db)):
    while True:
        msg = await websocket.receive_text()
        db.add(msg)
""") == [(7, "held-across-await", 9)]


def test_unused_session_across_a_wait_is_fine() -> None:
    assert (
        held("""\
async def handler(websocket, db: Session = Depends(get_db)):
    while True:
        msg = await websocket.receive_text()
        await websocket.send_text(msg)
""")
        == []
    )


def test_a_single_sleep_outside_a_loop_is_not_unbounded() -> None:
    assert (
        held("""\
async def warmup():
    with SessionLocal() as db:
        db.query(1).all()
        await asyncio.sleep(1)
""")
        == []
    )


def test_long_poll_and_async_for_over_a_websocket() -> None:
    assert held("""\
async def poll(event, db: Session = Depends(get_db)):
    rows = db.query(1).all()
    await asyncio.wait_for(event.wait(), timeout=30)
    return rows

async def chat(websocket):
    async with SessionLocal() as db:
        db.query(1).all()
        async for message in websocket.iter_text():
            print(message)
""") == [(1, "held-across-await", 3), (7, "held-across-await", 9)]


def test_dependency_session_captured_by_a_returned_streaming_generator() -> None:
    assert held("""\
from sse_starlette.sse import EventSourceResponse
async def stream(db: Session = Depends(get_db)):
    async def event_gen():
        while True:
            yield db.query(1).all()
            await asyncio.sleep(5)
    return EventSourceResponse(event_gen())
""") == [(5, "captured-by-stream", None)]


def test_finite_streaming_read_and_prefetched_rows_are_fine() -> None:
    assert (
        held("""\
from fastapi.responses import StreamingResponse
def export(db: Session = Depends(get_db)):
    def rows():
        for row in db.execute("select 1").yield_per(1000):
            yield row
    return StreamingResponse(rows())

def export_list(db: Session = Depends(get_db)):
    items = db.execute("select 1").all()
    def rows():
        for row in items:
            yield row
    return StreamingResponse(rows())
""")
        == []
    )


def test_generator_consumed_inside_the_call_does_not_outlive_it() -> None:
    assert (
        held("""\
def report(db: Session = Depends(get_db)):
    def rows():
        while True:
            yield db.query(1).first()
    return list(zip(range(3), rows()))[0]
""")
        == []
    )


def test_a_session_opened_inside_the_generator_shadows_the_handlers() -> None:
    assert (
        held("""\
from sse_starlette.sse import EventSourceResponse
async def stream(db: Session = Depends(get_db)):
    async def event_gen():
        while True:
            with SessionLocal() as db:
                days = db.query(1).all()
            yield days
            await asyncio.sleep(5)
    return EventSourceResponse(event_gen())
""")
        == []
    )


def test_a_count_before_a_yield_per_loop_is_still_a_finite_read() -> None:
    assert (
        held("""\
from fastapi.responses import StreamingResponse
def export(db: Session = Depends(get_db)):
    def rows():
        yield db.scalar("select count(*)")
        for row in db.execute("select 1").yield_per(1000):
            yield row
    return StreamingResponse(rows())
""")
        == []
    )


def test_a_managed_session_lent_to_a_helper_is_still_held_across_the_sleep() -> None:
    assert held("""\
async def gen(request):
    async with SessionLocal() as db:
        while True:
            days = await load(db)
            yield days
            await asyncio.sleep(5)
""") == [(2, "held-across-await", 6)]


def test_a_connection_parameter_that_is_not_sqlalchemys_is_not_followed() -> None:
    # prefect's LISTEN generator: an asyncpg connection owned by the caller.
    assert (
        held("""\
from asyncpg import Connection
async def pg_listen(connection: Connection, channel, queue):
    await connection.add_listener(channel, queue.put_nowait)
    while True:
        yield await asyncio.wait_for(queue.get(), 5)
""")
        == []
    )
